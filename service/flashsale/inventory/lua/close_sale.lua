-- close_sale.lua: stop selling now; stock and orders stay for the audit.
--
-- KEYS[1] sale hash fs:{<sale>}:sale   ARGV none
--
-- Returns 1 when closed, 0 when the sale does not exist (read by Administration.close_sale, admin.py).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'closed', 1)
return 1
