-- queue_join.lua: one place in the waiting room per (sale, buyer) (clocklib and queuelib are prepended).
--
-- KEYS[1] queue hash fs:{<sale>:q}:conf   KEYS[2] places fs:{<sale>:q}:buyers (buyer -> join index)
-- KEYS[3] join idempotency record fs:{<sale>:q}:join-idem:<Idempotency-Key> -> buyer
-- ARGV[1] buyer_id  ARGV[2] idempotency TTL (s)  ARGV[3] the room id the caller's ticket will name ("": any)
--
-- Returns (Outcome values, inventory/outcomes.py; decoded by replies.decode_join):
--   {"joined", index}     a new place: join index `index` (0-based, arrival order)
--   {"replayed", index}   this buyer has a place already (whatever the key): the same place
--   {"idempotency_conflict", buyer}   the key was used by another buyer
--   {"unknown_sale"}  no waiting room    {"sold_out"}  {"closed"}  admission ended: no new places
--   {"room_changed"}  the sale's room is another one than ARGV[3] (deleted and re-created meanwhile)
--
-- The place is keyed by the buyer, so one buyer on 50 connections gets one place; an existing place is
-- returned even after admission ended (its poll then says sold_out or closed).
local room = redis.call('HGET', KEYS[1], 'room')
if not room then
  return {'unknown_sale'}
end
if ARGV[3] ~= '' and room ~= ARGV[3] then
  return {'room_changed'}
end
local buyer = ARGV[1]
local seen = redis.call('GET', KEYS[3])
if seen and seen ~= buyer then
  return {'idempotency_conflict', seen}
end
local index = redis.call('HGET', KEYS[2], buyer)
if index then
  return {'replayed', index}
end
local now_ms = redis_now_ms()
queue_open_if_due(KEYS[1], now_ms)
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'open' then
  return {state}
end
index = redis.call('HINCRBY', KEYS[1], 'joined', 1) - 1
redis.call('HSET', KEYS[2], buyer, index)
if index == 0 then
  redis.call('PEXPIREAT', KEYS[2], redis.call('HGET', KEYS[1], 'expires_ms'))
end
redis.call('SET', KEYS[3], buyer, 'EX', ARGV[2])
return {'joined', index}
