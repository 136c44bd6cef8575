-- queue_create.lua: give a sale its waiting room, once (queuelib.lua lists the fields).
--
-- KEYS[1] queue hash fs:{<sale>:q}:conf
-- ARGV[1] mode (fifo | random_at_open)  ARGV[2] rate (admissions/s)  ARGV[3] max_active  ARGV[4] token_ttl_ms
-- ARGV[5] opens_ms or ""  ARGV[6] the sale's eligibility rules (eligibilitylib.lua; "" for none): the room's slot
--         cannot read the sale's hash in a cluster, so the room keeps its own copy for queue_join.lua  ARGV[7] commitment: SHA-256 of the room's secret (hex; the secret
--         itself is derived from the admission key by the API and never stored here, queue/fair.py)
-- ARGV[8] the room's random id  ARGV[9] id of the key the room's secrets derive from (queue/tokens.py key_id)
-- ARGV[10] closes_ms: when the room closes (the sale's closes_at)  ARGV[11] expires_ms: when its keys go
-- ARGV[12] max_places: places the room gives at most  ARGV[13] salt: 16 random bytes (hex) the buyer digests
--          of this room are keyed with (queue/joinlog.py)
--
-- Returns the room id in effect: ARGV[8] when created, else the existing room's (left untouched); read by
-- Administration._create_room (admin.py).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HGET', KEYS[1], 'room') or ''
end
local now_ms = redis_now_ms()
redis.call('HSET', KEYS[1], 'mode', ARGV[1], 'rate', ARGV[2], 'max_active', ARGV[3], 'token_ttl_ms', ARGV[4],
  'commitment', ARGV[7], 'joined', 0, 'serving', 0, 'state', 'open', 'paused', 0, 'opened', 0,
  'pre_count', 0, 'last_ms', now_ms, 'carry', 0, 'room', ARGV[8], 'kid', ARGV[9], 'closes_ms', ARGV[10],
  'expires_ms', ARGV[11], 'max_places', ARGV[12], 'salt', ARGV[13], 'eligibility', ARGV[6])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'opens_ms', ARGV[5])
else
  redis.call('HSET', KEYS[1], 'opens_ms', now_ms)
end
redis.call('PEXPIREAT', KEYS[1], ARGV[11])
queue_open_if_due(KEYS[1], now_ms)
return ARGV[8]
