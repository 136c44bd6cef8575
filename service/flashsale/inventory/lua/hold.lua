-- hold.lua: reserve units for one buyer until the sale's hold TTL runs out (skulib, holdlib, admitlib and
-- eligibilitylib are prepended).
--
-- KEYS[1] sale hash  fs:{<sale>}:sale         KEYS[2] buyers  fs:{<sale>}:buyers
-- KEYS[3] holds      fs:{<sale>}:holds        KEYS[4] expiry  fs:{<sale>}:hold-expiry
-- KEYS[5] hold idempotency record  fs:{<sale>}:hold-idem:<Idempotency-Key>  -> hold id
-- KEYS[6] admissions fs:{<sale>}:admissions  (admitlib.lua: as in purchase.lua, a sale with a waiting room needs
--         an unspent admission, spent by the hold)
-- ARGV[1] buyer_id  ARGV[2] quantity (> 0; with lines, their sum)  ARGV[3] idempotency TTL (s)
-- ARGV[4] a fresh random hold id   ARGV[5] how many expired holds to reclaim first, at most
-- ARGV[6] the admission, or "" (admitlib.lua)
-- ARGV[7] the buyer's verified facts, judged against the sale's `eligibility` rules (eligibilitylib.lua)
-- ARGV[8] lines "<sku>:<quantity>,..." or "" (as in purchase.lua)
--
-- Returns {code, ...} (Outcome values, inventory/outcomes.py), decoded by replies.hold_reply:
--   {"held", hold_id, expires_ms, remaining}
--   {"replayed", hold_id, expires_ms, buyer, quantity, state, lines}  key used before by this very request
--   {"idempotency_conflict", buyer, quantity}           key used before for another buyer, quantity or lines
--   {"unknown_sale"}  {"not_open", opens_ms}  {"closed"}  {"buyer_not_eligible", rule}
--   {"limit_reached", committed, limit}   {"sold_out", remaining, held}
--   {"admission_required"}  {"admission_invalid"}  {"admission_used"}  {"admission_units_exceeded", units}
--   with lines, as purchase.lua: {"unknown_sku", line, sku}, {"limit_reached", committed, limit, line, sku},
--   {"sold_out", remaining, held, line, "sku"|"quota", name}
--
-- The expiry is fixed here, from Redis TIME, and nothing ever moves it: a replay returns the same expiry.
-- The per-buyer limit counts the buyer's held and bought units. Expired holds are reclaimed before the stock
-- check, so units of abandoned holds are back on sale without waiting for the reaper (the reclaim is complete on
-- its own). Then, as in purchase.lua, every check before the first write of the hold itself.
local sale, buyers, holds, expiry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local s = redis.call('HMGET', sale, 'remaining', 'limit', 'opens_ms', 'closes_ms', 'closed', 'hold_ttl_ms', 'skus',
  'eligibility')
if not s[1] or not s[2] then  -- no limit field: debris of the unsafe demo path (see purchase.lua), no sale
  return {'unknown_sale'}
end
local buyer = ARGV[1]
local quantity = tonumber(ARGV[2])
local lines_text = ARGV[8] or ''

-- ---- validate ----

local seen = redis.call('GET', KEYS[5])
if seen then
  local raw = redis.call('HGET', holds, seen)
  if raw then
    local h = hold_decode(raw)
    if h.buyer ~= buyer or h.quantity ~= quantity or h.lines ~= lines_text then
      return {'idempotency_conflict', h.buyer, h.quantity}
    end
    return {'replayed', seen, h.expires_ms, h.buyer, h.quantity, h.state, h.lines}
  end
end

local now_ms = redis_now_ms()
if s[5] == '1' or (s[4] and now_ms >= tonumber(s[4])) then
  return {'closed'}
end
if s[3] and now_ms < tonumber(s[3]) then
  return {'not_open', s[3]}
end

if s[8] then
  local rule = ineligible(s[8], ARGV[7], now_ms)
  if rule then
    return {'buyer_not_eligible', rule}
  end
end

local refusal, admission = admission_check(sale, KEYS[6], ARGV[6], quantity)
if refusal then
  return refusal
end

reclaim(sale, buyers, holds, expiry, now_ms, tonumber(ARGV[5]))

local limit = tonumber(s[2])
local committed = tonumber(redis.call('HGET', buyers, buyer) or '0')
if limit > 0 and committed + quantity > limit then
  return {'limit_reached', committed, limit}
end
local lines = nil
if s[7] then
  if lines_text == '' then
    return {'unknown_sku', 0, 'default'}
  end
  lines = lines_decode(lines_text)
  local line_refusal = lines_check(sale, buyers, nil, buyer, lines)
  if line_refusal and line_refusal[1] == 'sold_out' then  -- a hold's sold_out carries no ledger length
    return {'sold_out', line_refusal[2], line_refusal[4], line_refusal[5], line_refusal[6], line_refusal[7]}
  elseif line_refusal then
    return line_refusal
  end
elseif lines_text ~= '' then
  return {'unknown_sku', 0, lines_decode(lines_text)[1][1]}
end
local remaining = tonumber(redis.call('HGET', sale, 'remaining'))
if remaining < quantity then
  return {'sold_out', remaining, tonumber(redis.call('HGET', sale, 'held') or '0')}
end

-- ---- write ----

local id = ARGV[4]
local expires_ms = now_ms + tonumber(s[6] or '600000')
redis.call('HINCRBY', sale, 'remaining', -quantity)
redis.call('HINCRBY', sale, 'held', quantity)
redis.call('HINCRBY', sale, 'holds', 1)
redis.call('HINCRBY', buyers, buyer, quantity)
if lines then
  lines_move(sale, buyers, buyer, lines, 'remaining', 'held', 1, now_ms)
end
redis.call('HSET', holds, id, hold_encode({state = 'held', buyer = buyer, quantity = quantity,
  expires_ms = expires_ms, order_id = '', done_ms = '', lines = lines_text}))
redis.call('ZADD', expiry, expires_ms, id)
redis.call('SET', KEYS[5], id, 'EX', ARGV[3])
admission_spend(sale, KEYS[6], admission, quantity, id)
return {'held', id, expires_ms, remaining - quantity}
