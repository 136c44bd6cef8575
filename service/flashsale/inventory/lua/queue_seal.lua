-- queue_seal.lua: publish a random_at_open room's draw, once, right after its open (queue/controller.py).
--
-- KEYS[1] queue hash fs:{<sale>:q}:conf
-- ARGV[1] pre_count the draw is over (must be the room's)   ARGV[2] root: Merkle root of the join log (hex)
-- ARGV[3] reveal: the secret whose SHA-256 is the room's commitment (hex)
-- ARGV[4] seed: HMAC-SHA256(key=reveal, message=root) (hex), the permutation's key (queue/fair.py)
--
-- Returns 1 when sealed now, 0 when the room is not open yet, the pre-queue differs, or it was sealed before
-- (by another worker: the first one wins, every later one computed the same values anyway). Read by
-- WaitingRoom.seal_room (room.py).
local q = redis.call('HMGET', KEYS[1], 'opened', 'pre_count', 'seed')
if q[1] ~= '1' or q[2] ~= ARGV[1] or (q[3] and q[3] ~= '') then
  return 0
end
redis.call('HSET', KEYS[1], 'root', ARGV[2], 'reveal', ARGV[3], 'seed', ARGV[4])
return 1
