-- queue_pause.lua: pause or resume admission (admin). Places and the order never change.
--
-- KEYS[1] queue hash fs:{<sale>:q}:conf   ARGV[1] "1" to pause, "0" to resume
-- Returns 1, or 0 when the sale has no waiting room (read by WaitingRoom.pause_queue, room.py).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'paused', ARGV[1])
return 1
