-- read_sale.lua: one consistent snapshot of a sale, with the server's clock and the ledger length
-- (skulib.lua and holdlib.lua are prepended).
--
-- KEYS[1] sale hash  KEYS[2] buyers  KEYS[3] holds  KEYS[4] hold expiry  KEYS[5] ledger fs:{<sale>}:orders
-- ARGV[1] how many expired holds to reclaim first, at most (so `remaining` is what a new hold can get)
-- ARGV[2] "1" to also sum the units of live holds (the audit: O(live holds)), else "0"
--
-- Returns {} when the sale does not exist, else (decoded by replies.read_sale_reply)
--   {now_ms, ledger_length, live_holds, live_held_units or -1, live_lines, field1, value1, field2, value2, ...}
--   live_holds: holds in the expiry set; live_lines: the live holds' units per SKU, as lines text
--   ("<sku>:<units>,...", skulib.lua; "" without the audit or for a one-stock sale); the rest is the sale
--   hash, flattened (a sale with SKUs has its SKU and quota counters there, skulib.lua).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local now_ms = redis_now_ms()
reclaim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], now_ms, tonumber(ARGV[1]))
local units = -1
local per_sku, skus = {}, {}
if ARGV[2] == '1' then
  units = 0
  for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
    local raw = redis.call('HGET', KEYS[3], id)
    if raw then
      local h = hold_decode(raw)
      if h.state == 'held' then
        units = units + h.quantity
        for _, l in ipairs(lines_decode(h.lines)) do
          if per_sku[l[1]] == nil then
            per_sku[l[1]] = 0
            skus[#skus + 1] = l[1]
          end
          per_sku[l[1]] = per_sku[l[1]] + l[2]
        end
      end
    end
  end
end
local live = {}
for _, sku in ipairs(skus) do
  live[#live + 1] = sku .. ':' .. per_sku[sku]
end
local out = {now_ms, redis.call('XLEN', KEYS[5]), redis.call('ZCARD', KEYS[4]), units, table.concat(live, ',')}
local sale = redis.call('HGETALL', KEYS[1])
for i = 1, #sale do
  out[#out + 1] = sale[i]
end
return out
