-- repair.lua: re-apply orders that PostgreSQL holds and Redis lost (a failover), each exactly once (idemlib.lua is prepended).
--
-- KEYS[1] sale hash fs:{<sale>}:sale   KEYS[2] buyer hash fs:{<sale>}:buyers   KEYS[3] ledger fs:{<sale>}:orders
-- KEYS[4] restored hash fs:{<sale>}:restored (original order id -> ledger id of its copy)
-- KEYS[4 + i] idempotency record of order i (fs:{<sale>}:idem:<Idempotency-Key>)
-- ARGV, 6 per order i (ARGV[6 * (i - 1) + 1 .. 6 * i]): order_id, buyer, quantity, created_ms, Idempotency-Key
--   ("" for none), record TTL in seconds (0: write no record, its time is over)
--
-- Returns {"unknown_sale"} or {"repaired", restored, present, key_reused, remaining, id1, id2, ...}:
--   restored: orders re-applied now (stock decremented again, ledger entry appended, record written)
--   present: orders the ledger already has (their own id, or a copy from an earlier repair): left alone
--   key_reused: restored orders whose Idempotency-Key meanwhile bought another order (record left as is)
--   id1..: the order ids restored now
--
-- Ledger entry written per restored order: kind "order"  buyer  quantity  created_ms  key  order_id <original id>
-- (purchase.lua's fields plus order_id). Stream ids only grow, so the copy gets a new ledger id and names the
-- original in its order_id field; the idempotency record carries the original id, so a retry of that order
-- replays it. Stock is decremented even below zero: the order exists (PostgreSQL has it); an oversell caused by
-- the lost decrements shows in the audit.
if redis.call('HEXISTS', KEYS[1], 'limit') == 0 then
  return {'unknown_sale'}
end
local restored, present, reused = 0, 0, 0
local ids = {}
local n = (#KEYS - 4)
for i = 1, n do
  local base = 6 * (i - 1)
  local order_id, buyer, quantity = ARGV[base + 1], ARGV[base + 2], tonumber(ARGV[base + 3])
  local created_ms, key, ttl = ARGV[base + 4], ARGV[base + 5], tonumber(ARGV[base + 6])
  if #redis.call('XRANGE', KEYS[3], order_id, order_id) > 0 or redis.call('HEXISTS', KEYS[4], order_id) == 1 then
    present = present + 1
  else
    redis.call('HINCRBY', KEYS[1], 'remaining', -quantity)
    redis.call('HINCRBY', KEYS[1], 'sold', quantity)
    redis.call('HINCRBY', KEYS[1], 'orders', 1)
    redis.call('HINCRBY', KEYS[2], buyer, quantity)
    local copy = redis.call('XADD', KEYS[3], '*', 'kind', 'order', 'buyer', buyer, 'quantity', quantity,
      'created_ms', created_ms, 'key', key, 'order_id', order_id)
    redis.call('HSET', KEYS[4], order_id, copy)
    if ttl > 0 and key ~= '' then
      if not redis.call('SET', KEYS[4 + i], idem_encode(order_id, buyer, quantity, created_ms), 'EX', ttl, 'NX') then
        reused = reused + 1
      end
    end
    restored = restored + 1
    ids[#ids + 1] = order_id
  end
end
local out = {'repaired', restored, present, reused, tonumber(redis.call('HGET', KEYS[1], 'remaining'))}
for _, id in ipairs(ids) do
  out[#out + 1] = id
end
return out
