-- cancel_order.lua: cancel one order, exactly once; optionally put its units back on sale (skulib.lua is
-- prepended).
--
-- KEYS[1] sale hash  fs:{<sale>}:sale   KEYS[2] buyers  fs:{<sale>}:buyers   KEYS[3] ledger  fs:{<sale>}:orders
-- KEYS[4] cancellations  fs:{<sale>}:cancelled  (hash: order id -> "<cancel_id>\t<restock>\t<created_ms>")
-- KEYS[5] restored  fs:{<sale>}:restored  (hash: order id -> ledger id of its copy, written by repair.lua: an order
--         re-applied after a failover is found under its original id)
-- ARGV[1] order id (a stream id, checked by the caller)   ARGV[2] restock: "1" or "0"
--
-- Returns (decoded by replies.cancel_order_reply):
--   {"cancelled", cancel_id, created_ms, buyer, quantity, restock, lines}
--   {"replayed", cancel_id, created_ms, buyer, quantity, restock, lines}   cancelled before: the first
--                                                   cancellation, whatever `restock` this call asked for
--   {"unknown_order"}  {"unknown_sale"}
--
-- Ledger entry written (its stream id is the cancel id), fields in this order:
--   kind "cancel"  order_id  buyer  quantity  restock ("1"|"0")  created_ms  [lines <the order's lines>]
-- Accounting: sold -= quantity, cancels += 1, the buyer's count drops; with restock remaining += quantity and
-- restocked += quantity, without it withdrawn += quantity (the units leave the sale). So
-- stock_added == remaining + held + sold + withdrawn still holds, and ledger length == orders + cancels. An order
-- with lines moves every line's units the same way on its SKU and on each quota the SKU draws on.
local sale, buyers, ledger, cancelled = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HEXISTS', sale, 'limit') == 0 then
  return {'unknown_sale'}
end
local entry = redis.call('XRANGE', ledger, ARGV[1], ARGV[1])[1]
if not entry then
  local copy = redis.call('HGET', KEYS[5], ARGV[1])
  entry = copy and redis.call('XRANGE', ledger, copy, copy)[1]
end
if not entry then
  return {'unknown_order'}
end
local f = {}
for i = 1, #entry[2], 2 do
  f[entry[2][i]] = entry[2][i + 1]
end
if f.kind == 'cancel' then
  return {'unknown_order'}
end
local done = redis.call('HGET', cancelled, ARGV[1])
if done then
  local cancel_id, restock, created_ms = string.match(done, '^([^\t]*)\t([^\t]*)\t([^\t]*)$')
  return {'replayed', cancel_id, created_ms, f.buyer, f.quantity, restock, f.lines or ''}
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local quantity = tonumber(f.quantity)
local restock = ARGV[2]
local record = {'kind', 'cancel', 'order_id', ARGV[1], 'buyer', f.buyer, 'quantity', quantity, 'restock', restock,
  'created_ms', now_ms}
if f.lines and f.lines ~= '' then
  local to, also = 'withdrawn', nil
  if restock == '1' then
    to, also = 'remaining', 'restocked'
  end
  lines_move(sale, buyers, f.buyer, lines_decode(f.lines), 'sold', to, -1, now_ms, also)
  record[#record + 1] = 'lines'
  record[#record + 1] = f.lines
end
local cancel_id = redis.call('XADD', ledger, '*', unpack(record))
redis.call('HSET', cancelled, ARGV[1], cancel_id .. '\t' .. restock .. '\t' .. now_ms)
redis.call('HINCRBY', sale, 'sold', -quantity)
redis.call('HINCRBY', sale, 'cancels', 1)
redis.call('HINCRBY', buyers, f.buyer, -quantity)
if restock == '1' then
  redis.call('HINCRBY', sale, 'remaining', quantity)
  redis.call('HINCRBY', sale, 'restocked', quantity)
else
  redis.call('HINCRBY', sale, 'withdrawn', quantity)
end
return {'cancelled', cancel_id, now_ms, f.buyer, quantity, restock, f.lines or ''}
