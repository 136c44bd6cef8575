-- purchase.lua: decide and record one purchase attempt atomically (idemlib, skulib, holdlib, admitlib and
-- eligibilitylib are prepended).
--
-- KEYS[1] sale hash    fs:{<sale>}:sale    fields total, remaining, held, sold, orders, cancels, limit, opens_ms,
--                      closes_ms, closed, hold_ttl_ms, holds, holds_confirmed, holds_released, holds_expired,
--                      restocked, withdrawn (see holdlib.lua and cancel_order.lua), skus (skulib.lua),
--                      eligibility (eligibilitylib.lua)
-- KEYS[2] buyer hash   fs:{<sale>}:buyers  field <buyer_id> -> units held plus bought
-- KEYS[3] ledger       fs:{<sale>}:orders  stream, one entry per order or cancellation
-- KEYS[4] idempotency  fs:{<sale>}:idem:<Idempotency-Key>  "<order_id>\t<buyer>\t<quantity>\t<created_ms>"
--                      ["\t<lines>"] (idemlib.lua; inventory/records.py reads and writes the same format)
-- KEYS[5] holds        fs:{<sale>}:holds         KEYS[6] hold expiry  fs:{<sale>}:hold-expiry
-- KEYS[7] admissions   fs:{<sale>}:admissions   (admitlib.lua: sales with a waiting room need an admission, spent
--                      by this very step)
-- KEYS[8] the buyer's orders  fs:{<sale>}:buyer-orders:<buyer digest>  list of order ids (GET /sales/{id}/orders)
-- ARGV[1] buyer_id   ARGV[2] quantity (> 0; with lines, their sum)   ARGV[3] Idempotency-Key
-- ARGV[4] idempotency TTL in seconds   ARGV[5] how many expired holds to reclaim first, at most
-- ARGV[6] the admission, or "" (admitlib.lua)
-- ARGV[7] the buyer's verified facts (eligibilitylib.lua), judged against the sale's `eligibility` rules
-- ARGV[8] lines "<sku>:<quantity>,..." (skulib.lua; distinct SKUs, at most skus.MAX_LINES), or "" for a
--         one-stock request. A sale with SKUs needs lines; a one-stock sale takes none (its one SKU is implicit).
-- Every key is on the sale's slot whatever the lines: SKU and quota counters are fields of the sale hash.
--
-- Returns {code, ...}; the codes are the Outcome values of inventory/outcomes.py (replies.purchase_reply):
--   {"sold", order_id, created_ms, remaining}
--   {"replayed", order_id, created_ms, buyer, quantity, lines}  key used before by this very request
--   {"idempotency_conflict", buyer, quantity}            key used before with another buyer, quantity or lines
--   {"unknown_sale"}   {"not_open", opens_ms}   {"closed"}   {"buyer_not_eligible", rule} (eligibilitylib.lua)
--   {"limit_reached", committed, limit}   {"sold_out", remaining, ledger_length, held}
--   {"admission_required"}  {"admission_invalid"}  {"admission_used"}  {"admission_units_exceeded", units}
--   with lines, the first line or quota that fails (skulib.lua lines_check): {"unknown_sku", line, sku},
--   {"limit_reached", committed, limit, line, sku}, {"sold_out", remaining, ledger_length, held, line,
--   "sku"|"quota", name}; a request without lines on a sale with SKUs is {"unknown_sku", 0, "default"}
--
-- Ledger entry written (XADD; the stream id is the order id), fields in this order:
--   kind "order"  buyer  quantity  created_ms  key <Idempotency-Key>  [lines <lines>]
--
-- Two phases: every check (the sale, the key, the clock, eligibility, the admission, the buyer's limit across
-- SKUs, then every line, SKU and quota) runs before the first write, since Lua has no rollback (the hold reclaim
-- is complete on its own); then every write. A refused request wrote nothing. Time comes from the server (TIME),
-- so all API replicas agree on when a sale opens and when a hold expires. Only orders are remembered under the
-- key: a rejection changed nothing, so evaluating a retried rejection again is safe and lets a buyer retry once
-- the sale opens. Sales without live holds (held == 0) skip the reclaim step.
local sale = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'opens_ms', 'closes_ms', 'closed', 'held', 'skus',
  'eligibility')
if not sale[1] or not sale[2] then
  -- No limit field: not a hash create_sale wrote, but what the unsafe demo path leaves when it writes to a
  -- sale deleted under it (remaining, sold, orders only). That debris is no sale (it would fail below).
  return {'unknown_sale'}
end

local buyer = ARGV[1]
local quantity = tonumber(ARGV[2])
local lines_text = ARGV[8] or ''

-- ---- validate: nothing below writes until every check passed ----

local seen = redis.call('GET', KEYS[4])
if seen then
  local order_id, old_buyer, old_quantity, created_ms, old_lines = idem_decode(seen)
  if old_buyer ~= buyer or tonumber(old_quantity) ~= quantity or old_lines ~= lines_text then
    return {'idempotency_conflict', old_buyer, old_quantity}
  end
  return {'replayed', order_id, created_ms, old_buyer, old_quantity, old_lines}
end

local now_ms = redis_now_ms()
if sale[5] == '1' or (sale[4] and now_ms >= tonumber(sale[4])) then
  return {'closed'}
end
if sale[3] and now_ms < tonumber(sale[3]) then
  return {'not_open', sale[3]}
end

if sale[8] then
  local rule = ineligible(sale[8], ARGV[7], now_ms)
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

local lines = nil
if sale[7] then
  if lines_text == '' then
    return {'unknown_sku', 0, 'default'}
  end
  lines = lines_decode(lines_text)
  local line_refusal = lines_check(KEYS[1], KEYS[2], KEYS[3], buyer, lines)
  if line_refusal then
    return line_refusal
  end
elseif lines_text ~= '' then
  return {'unknown_sku', 0, lines_decode(lines_text)[1][1]}
end

if remaining < quantity then
  return {'sold_out', remaining, redis.call('XLEN', KEYS[3]), held}
end

-- ---- write: every check passed ----

redis.call('HINCRBY', KEYS[1], 'remaining', -quantity)
redis.call('HINCRBY', KEYS[1], 'sold', quantity)
redis.call('HINCRBY', KEYS[1], 'orders', 1)
redis.call('HINCRBY', KEYS[2], buyer, quantity)
local entry = {'kind', 'order', 'buyer', buyer, 'quantity', quantity, 'created_ms', now_ms, 'key', ARGV[3]}
if lines then
  lines_move(KEYS[1], KEYS[2], buyer, lines, 'remaining', 'sold', 1, now_ms)
  entry[#entry + 1] = 'lines'
  entry[#entry + 1] = lines_text
end
local order_id = redis.call('XADD', KEYS[3], '*', unpack(entry))
redis.call('SET', KEYS[4], idem_encode(order_id, buyer, quantity, now_ms, lines_text), 'EX', ARGV[4])
redis.call('RPUSH', KEYS[8], order_id)
admission_spend(KEYS[1], KEYS[7], admission, quantity, order_id)
return {'sold', order_id, now_ms, remaining - quantity}
