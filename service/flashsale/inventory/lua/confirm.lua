-- confirm.lua: turn a live hold into an order, once (skulib.lua and holdlib.lua are prepended).
--
-- KEYS[1] sale hash  KEYS[2] buyers  KEYS[3] holds  KEYS[4] expiry  KEYS[5] ledger  fs:{<sale>}:orders
-- ARGV[1] hold id   ARGV[2] payment_ref ("" for none)   ARGV[3] the caller (buyer id): another buyer's hold is
-- "unknown_hold"   KEYS[6] the buyer's orders  fs:{<sale>}:buyer-orders:<buyer digest>  (the order id is appended)
--
-- Returns (decoded by replies.confirm_reply):
--   {"confirmed", order_id, created_ms, buyer, quantity, lines}
--   {"replayed", order_id, created_ms, buyer, quantity, lines}   confirmed before: the same order
--   {"hold_expired", expires_ms}   {"hold_released"}   {"unknown_hold"}   {"unknown_sale"}
--
-- Expiry is judged here by Redis TIME: at or after expires_ms the hold is expired (its units go back on sale
-- now if no script reclaimed them yet) and the confirm sells nothing. A confirm is allowed after the sale
-- closed: the unit was reserved while it was open.
--
-- Ledger entry written (XADD, the stream id is the order id), fields in this order:
--   kind "order"  buyer  quantity  created_ms  key ""  hold <hold id>  payment_ref  [lines <the hold's lines>]
-- (purchase.lua writes the same fields with key = its Idempotency-Key and hold = ""). Every line's units move
-- from held to sold on its SKU and quotas.
local sale, buyers, holds, expiry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local h, now_ms, refusal = hold_now(sale, buyers, holds, expiry, ARGV[1], ARGV[3])
if not h then
  return refusal
end
if h.state == 'confirmed' then
  return {'replayed', h.order_id, h.done_ms, h.buyer, h.quantity, h.lines}
end
if h.state == 'released' then
  return {'hold_released'}
end
if h.state == 'expired' then
  return {'hold_expired', h.expires_ms}
end

local entry = {'kind', 'order', 'buyer', h.buyer, 'quantity', h.quantity, 'created_ms', now_ms, 'key', '', 'hold',
  ARGV[1], 'payment_ref', ARGV[2]}
if h.lines ~= '' then
  lines_move(sale, buyers, h.buyer, lines_decode(h.lines), 'held', 'sold', 0, now_ms)
  entry[#entry + 1] = 'lines'
  entry[#entry + 1] = h.lines
end
local order_id = redis.call('XADD', KEYS[5], '*', unpack(entry))
h.state = 'confirmed'
h.order_id = order_id
h.done_ms = now_ms
redis.call('HSET', holds, ARGV[1], hold_encode(h))
redis.call('ZREM', expiry, ARGV[1])
redis.call('HINCRBY', sale, 'held', -h.quantity)
redis.call('HINCRBY', sale, 'sold', h.quantity)
redis.call('HINCRBY', sale, 'orders', 1)
redis.call('HINCRBY', sale, 'holds_confirmed', 1)
redis.call('RPUSH', KEYS[6], order_id)
return {'confirmed', order_id, now_ms, h.buyer, h.quantity, h.lines}
