-- reap.lua: expire the holds whose time has passed, for a sale nobody is buying from (skulib.lua and holdlib.lua
-- are prepended).
--
-- KEYS[1] sale hash  KEYS[2] buyers  KEYS[3] holds  KEYS[4] expiry
-- ARGV[1] how many holds at most (keeps one call short: O(log n) each)
--
-- Returns {units reclaimed, live holds left} (decoded by replies.reap_reply). Hold and purchase scripts reclaim
-- expired holds themselves; this only tidies quiet sales, so `held` and the gauges do not show units of holds
-- that already ran out.
local units = reclaim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], redis_now_ms(), tonumber(ARGV[1]))
return {units, redis.call('ZCARD', KEYS[4])}
