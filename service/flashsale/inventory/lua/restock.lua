-- restock.lua: add units to an existing sale, keeping total == remaining + held + sold + withdrawn.
--
-- KEYS[1] sale hash fs:{<sale>}:sale
-- ARGV[1] units to add (> 0)
--
-- Returns the new remaining stock, or -1 when the sale does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
redis.call('HINCRBY', KEYS[1], 'total', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'remaining', ARGV[1])
