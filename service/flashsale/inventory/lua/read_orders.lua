-- read_orders.lua: a buyer's own orders in one sale, read back (GET /sales/{id}/orders[/{order_id}]).
--
-- KEYS[1] sale hash  fs:{<sale>}:sale      KEYS[2] ledger  fs:{<sale>}:orders
-- KEYS[3] cancelled  fs:{<sale>}:cancelled (order id -> its cancellation)
-- KEYS[4] restored   fs:{<sale>}:restored  (original order id -> ledger id of a repair's copy)
-- KEYS[5] the buyer's orders  fs:{<sale>}:buyer-orders:<buyer digest>  (purchase.lua and confirm.lua append)
-- ARGV[1] the caller (buyer id)   ARGV[2] one order id, or "" for the caller's orders   ARGV[3] at most this many
--         (the newest)
--
-- Returns (decoded by replies.read_orders_reply) {"unknown_sale"}, or {"orders", n, then per order: order_id,
-- buyer, quantity, created_ms, cancelled 0|1, lines ("" for a one-stock order; skulib.lua's lines text)}.
-- An order of another buyer is left out exactly as one that does not exist: the caller cannot tell them apart.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'unknown_sale'}
end
local function one(order_id, out)
  local entry = redis.call('XRANGE', KEYS[2], order_id, order_id)[1]
  if not entry then
    local copy = redis.call('HGET', KEYS[4], order_id)
    entry = copy and redis.call('XRANGE', KEYS[2], copy, copy)[1]
  end
  if not entry then
    return
  end
  local f = {}
  local fields = entry[2]
  for i = 1, #fields, 2 do
    f[fields[i]] = fields[i + 1]
  end
  if f.kind ~= 'order' or f.buyer ~= ARGV[1] then
    return
  end
  local cancelled = redis.call('HEXISTS', KEYS[3], order_id)
  table.insert(out, order_id)
  table.insert(out, f.buyer)
  table.insert(out, f.quantity)
  table.insert(out, f.created_ms)
  table.insert(out, cancelled)
  table.insert(out, f.lines or '')
end
local found = {}
if ARGV[2] ~= '' then
  one(ARGV[2], found)
else
  local ids = redis.call('LRANGE', KEYS[5], -tonumber(ARGV[3]), -1)
  for _, id in ipairs(ids) do
    one(id, found)
  end
end
return {'orders', #found / 6, unpack(found)}
