-- purchase.lua: decide and record one purchase attempt atomically (idemlib, holdlib, admitlib and eligibilitylib
-- are prepended).
-- prepended).
--
-- KEYS[1] sale hash    fs:{<sale>}:sale    fields total, remaining, held, sold, orders, cancels, limit, opens_ms,
--                      closes_ms, closed, hold_ttl_ms, holds, holds_confirmed, holds_released, holds_expired,
--                      restocked, withdrawn (see holdlib.lua and cancel_order.lua)
-- KEYS[2] buyer hash   fs:{<sale>}:buyers  field <buyer_id> -> units held plus bought
-- KEYS[3] ledger       fs:{<sale>}:orders  stream, one entry per order or cancellation
-- KEYS[4] idempotency  fs:{<sale>}:idem:<Idempotency-Key>  "<order_id>\t<buyer>\t<quantity>\t<created_ms>"
--                      (inventory/records.py reads and writes the same format)
-- KEYS[5] holds        fs:{<sale>}:holds         KEYS[6] hold expiry  fs:{<sale>}:hold-expiry
-- ARGV[1] buyer_id   ARGV[2] quantity (> 0)   ARGV[3] Idempotency-Key   ARGV[4] idempotency TTL in seconds
-- ARGV[5] how many expired holds to reclaim first, at most
-- KEYS[7] admissions  fs:{<sale>}:admissions   ARGV[6] the admission, or "" (admitlib.lua: sales with a waiting
--                     room need one, spent by this very step)
-- ARGV[7] the buyer's verified facts (eligibilitylib.lua), judged against the sale's `eligibility` rules
-- KEYS[8] the buyer's orders  fs:{<sale>}:buyer-orders:<buyer digest>  list of order ids (GET /sales/{id}/orders)
--
-- Returns {code, ...}; the codes are the Outcome values of inventory/outcomes.py (replies.decode_purchase):
--   {"sold", order_id, created_ms, remaining}
--   {"replayed", order_id, created_ms, buyer, quantity}  key used before by this very request
--   {"idempotency_conflict", buyer, quantity}            key used before with another buyer or quantity
--   {"unknown_sale"}   {"not_open", opens_ms}   {"closed"}
--   {"limit_reached", committed, limit}   {"sold_out", remaining, ledger_length, held}
--   {"admission_required"}  {"admission_used"}  {"admission_units_exceeded", units}   (admitlib.lua)
--   {"buyer_not_eligible", rule}  the buyer's facts fail the sale's rule named (eligibilitylib.lua)
--
-- Ledger entry written (XADD; the stream id is the order id), fields in this order:
--   kind "order"  buyer  quantity  created_ms  key <Idempotency-Key>
--
-- Every check runs before the first write: Lua has no rollback (the hold reclaim is complete on its own). Time
-- comes from the server (TIME), so all API replicas agree on when a sale opens and when a hold expires. Only
-- orders are remembered under the key: a rejection changed nothing, so evaluating a retried rejection again is
-- safe and lets a buyer retry once the sale opens. Sales without live holds (held == 0) skip the reclaim step.
local sale = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'opens_ms', 'closes_ms', 'closed', 'held', 'eligibility')
if not sale[1] or not sale[2] then
  -- No limit field: not a hash create_sale wrote, but what the unsafe demo path leaves when it writes to a
  -- sale deleted under it (remaining, sold, orders only). That debris is no sale (it would fail below).
  return {'unknown_sale'}
end

local buyer = ARGV[1]
local quantity = tonumber(ARGV[2])

local seen = redis.call('GET', KEYS[4])
if seen then
  local order_id, old_buyer, old_quantity, created_ms = idem_decode(seen)
  if old_buyer ~= buyer or tonumber(old_quantity) ~= quantity then
    return {'idempotency_conflict', old_buyer, old_quantity}
  end
  return {'replayed', order_id, created_ms, old_buyer, old_quantity}
end

local now_ms = redis_now_ms()
if sale[5] == '1' or (sale[4] and now_ms >= tonumber(sale[4])) then
  return {'closed'}
end
if sale[3] and now_ms < tonumber(sale[3]) then
  return {'not_open', sale[3]}
end

if sale[7] then
  local rule = ineligible(sale[7], ARGV[7], now_ms)
  if rule then
    return {'buyer_not_eligible', rule}
  end
end

local refusal, admission = admission_check(KEYS[1], KEYS[7], ARGV[6], quantity)
if refusal then
  return refusal
end

local remaining = tonumber(sale[1])
local held = tonumber(sale[6] or '0')
if held > 0 then
  local reclaimed = reclaim(KEYS[1], KEYS[2], KEYS[5], KEYS[6], now_ms, tonumber(ARGV[5]))
  remaining = remaining + reclaimed
  held = held - reclaimed
end

local limit = tonumber(sale[2])
local bought = tonumber(redis.call('HGET', KEYS[2], buyer) or '0')
if limit > 0 and bought + quantity > limit then
  return {'limit_reached', bought, limit}
end

if remaining < quantity then
  return {'sold_out', remaining, redis.call('XLEN', KEYS[3]), held}
end

redis.call('HINCRBY', KEYS[1], 'remaining', -quantity)
redis.call('HINCRBY', KEYS[1], 'sold', quantity)
redis.call('HINCRBY', KEYS[1], 'orders', 1)
redis.call('HINCRBY', KEYS[2], buyer, quantity)
local order_id = redis.call('XADD', KEYS[3], '*', 'kind', 'order', 'buyer', buyer, 'quantity', quantity,
  'created_ms', now_ms, 'key', ARGV[3])
redis.call('SET', KEYS[4], idem_encode(order_id, buyer, quantity, now_ms), 'EX', ARGV[4])
redis.call('RPUSH', KEYS[8], order_id)
admission_spend(KEYS[1], KEYS[7], admission, quantity, order_id)
return {'sold', order_id, now_ms, remaining - quantity}
