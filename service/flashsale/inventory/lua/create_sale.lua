-- create_sale.lua: create a sale once; never overwrite a live one.
--
-- KEYS[1] sale hash fs:{<sale>}:sale
-- ARGV[1] name  ARGV[2] stock (>= 0)  ARGV[3] per-buyer limit (0: none)  ARGV[4] opens_ms or ""  ARGV[5] closes_ms or ""
--
-- Returns 1 when created, 0 when the sale already exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'total', ARGV[2], 'remaining', ARGV[2], 'sold', 0, 'orders', 0,
  'limit', ARGV[3], 'closed', 0)
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'opens_ms', ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'closes_ms', ARGV[5])
end
return 1
