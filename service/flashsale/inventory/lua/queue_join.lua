-- queue_join.lua: one place per (room, buyer) (clocklib, queuelib and eligibilitylib are prepended).
--
-- KEYS[1] queue hash fs:{<sale>:q}:conf   KEYS[2] places fs:{<sale>:q}:buyers (buyer digest -> join index)
-- KEYS[3] join log fs:{<sale>:q}:log (16 bytes per pre-queue join of a random_at_open room)
-- ARGV[1] the buyer's 16-byte digest in this room (queue/joinlog.py: a fixed size whatever the buyer id, and no
--         buyer id in the published join log)
-- ARGV[2] the room id the caller's ticket will name ("": any)
-- ARGV[3] the buyer's verified facts (eligibilitylib.lua), judged against the room's copy of the sale's rules
--
-- Returns (Outcome values, inventory/outcomes.py; decoded by replies.queue_join_reply):
--   {"joined", index}     a new place: join index `index` (0-based, arrival order)
--   {"replayed", index}   this buyer has a place already: the same place
--   {"unknown_sale"}  no waiting room   {"room_changed"}  the sale's room is another one than ARGV[2]
--   {"queue_full", max_places}   the room gave every place it may   {"closed"}  the room closed
--   {"buyer_not_eligible", rule}  the sale would refuse this buyer (the first rule failed): no place
-- A sold-out room still gives places: they wait on its waitlist (queue_advance.lua).
--
-- The place is keyed by the buyer, so one buyer on 50 connections, with any Idempotency-Key, gets one place; an
-- existing place is returned even after admission ended (its poll then says so). Stored per place: the digest
-- and the index in the buyers hash, plus 16 bytes in the join log before a random open. Every key expires
-- with the room (expires_ms).
local q = redis.call('HMGET', KEYS[1], 'room', 'expires_ms')
if not q[1] then
  return {'unknown_sale'}
end
if ARGV[2] ~= '' and q[1] ~= ARGV[2] then
  return {'room_changed'}
end
local digest = ARGV[1]
local index = redis.call('HGET', KEYS[2], digest)
if index then
  return {'replayed', index}
end
local now_ms = redis_now_ms()
queue_open_if_due(KEYS[1], now_ms)
local r = redis.call('HMGET', KEYS[1], 'state', 'joined', 'max_places', 'mode', 'opened', 'eligibility')
if r[1] == 'closed' then
  return {'closed'}
end
local rule = ineligible(r[6], ARGV[3], now_ms)
if rule then
  return {'buyer_not_eligible', rule}
end
if r[3] and tonumber(r[2]) >= tonumber(r[3]) then
  return {'queue_full', r[3]}
end
index = redis.call('HINCRBY', KEYS[1], 'joined', 1) - 1
redis.call('HSET', KEYS[2], digest, index)
if r[4] == 'random_at_open' and r[5] ~= '1' then
  redis.call('APPEND', KEYS[3], digest)  -- at offset 16 x index: the join index is the position in the log
end
if index == 0 then
  redis.call('PEXPIREAT', KEYS[2], q[2])
  redis.call('PEXPIREAT', KEYS[3], q[2])
end
return {'joined', index}
