-- create_sale.lua: create a sale once; never overwrite a live one.
--
-- KEYS[1] sale hash fs:{<sale>}:sale
-- ARGV[1] name  ARGV[2] stock (>= 0)  ARGV[3] per-buyer limit (0: none)  ARGV[4] opens_ms or ""
-- ARGV[5] closes_ms or ""  ARGV[6] hold TTL in ms (> 0)
-- ARGV[7] "1" when the sale has a waiting room (purchases and holds then need an admission token), else "0"
-- ARGV[8] units one admission may buy or hold (admitlib.lua; "0" without a waiting room)
-- ARGV[9] the waiting room's random id ("" without a waiting room)
-- ARGV[10] eligibility rules (identity/claims.py encodes them, eligibilitylib.lua judges them), "" for none
--
-- Returns 1 when created, 0 when the sale already exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'total', ARGV[2], 'remaining', ARGV[2], 'sold', 0, 'orders', 0,
  'limit', ARGV[3], 'closed', 0, 'held', 0, 'hold_ttl_ms', ARGV[6], 'holds', 0, 'holds_confirmed', 0,
  'holds_released', 0, 'holds_expired', 0, 'cancels', 0, 'restocked', 0, 'withdrawn', 0, 'queued', ARGV[7],
  'admissions_spent', 0, 'admission_units', ARGV[8], 'room', ARGV[9],
  'waitlist_units', 0)
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'opens_ms', ARGV[4])
end
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'eligibility', ARGV[10])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'closes_ms', ARGV[5])
end
return 1
