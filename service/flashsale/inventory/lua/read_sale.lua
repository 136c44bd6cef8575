-- read_sale.lua: one consistent snapshot of a sale, with the server's clock and the ledger length.
--
-- KEYS[1] sale hash fs:{<sale>}:sale   KEYS[2] ledger fs:{<sale>}:orders
--
-- Returns {} when the sale does not exist, else
--   {now_ms, ledger_length, field1, value1, field2, value2, ...} (the sale hash, flattened).
local sale = redis.call('HGETALL', KEYS[1])
if #sale == 0 then
  return {}
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {now_ms, redis.call('XLEN', KEYS[2])}
for i = 1, #sale do
  out[#out + 1] = sale[i]
end
return out
