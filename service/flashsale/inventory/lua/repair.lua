-- repair.lua: re-apply orders that PostgreSQL holds and Redis lost (a failover), each exactly once (clocklib.lua,
-- idemlib.lua and skulib.lua are prepended).
--
-- KEYS[1] sale hash fs:{<sale>}:sale   KEYS[2] buyer hash fs:{<sale>}:buyers   KEYS[3] ledger fs:{<sale>}:orders
-- KEYS[4] restored hash fs:{<sale>}:restored (original order id -> ledger id of its copy)
-- KEYS[4 + i] idempotency record of order i (fs:{<sale>}:idem:<Idempotency-Key>)
-- ARGV, 7 per order i (ARGV[7 * (i - 1) + 1 .. 7 * i]): order_id, buyer, quantity, created_ms, Idempotency-Key
--   ("" for none), record TTL in seconds (0: write no record, its time is over), lines ("" for a one-stock order;
--   else skulib.lua's text: every line's units are taken again from its SKU and quotas)
--
-- Returns (decoded by replies.repair_reply) {"unknown_sale"} or
--   {"repaired", restored, present, key_reused, remaining, id1, id2, ...}:
--   restored: orders re-applied now (stock decremented again, ledger entry appended, record written)
--   present: orders the ledger already has (their own id, or a copy from an earlier repair): left alone
--   key_reused: restored orders whose Idempotency-Key meanwhile bought another order (record left as is)
--   id1..: the order ids restored now
--
-- Ledger entry written per restored order: kind "order"  buyer  quantity  created_ms  key  order_id <original id>
-- [lines <lines>] (purchase.lua's fields plus order_id). Stream ids only grow, so the copy gets a new ledger id and names the
-- original in its order_id field; the idempotency record carries the original id, so a retry of that order
-- replays it. Stock is decremented even below zero: the order exists (PostgreSQL has it); an oversell caused by
-- the lost decrements shows in the audit.
if redis.call('HEXISTS', KEYS[1], 'limit') == 0 then
  return {'unknown_sale'}
end
local restored, present, reused = 0, 0, 0
local ids = {}
local n = (#KEYS - 4)
local now_ms = redis_now_ms()
for i = 1, n do
  local base = 7 * (i - 1)
  local order_id, buyer, quantity = ARGV[base + 1], ARGV[base + 2], tonumber(ARGV[base + 3])
  local created_ms, key, ttl, lines = ARGV[base + 4], ARGV[base + 5], tonumber(ARGV[base + 6]), ARGV[base + 7]
  if #redis.call('XRANGE', KEYS[3], order_id, order_id) > 0 or redis.call('HEXISTS', KEYS[4], order_id) == 1 then
    present = present + 1
  else
    redis.call('HINCRBY', KEYS[1], 'remaining', -quantity)
    redis.call('HINCRBY', KEYS[1], 'sold', quantity)
    redis.call('HINCRBY', KEYS[1], 'orders', 1)
    redis.call('HINCRBY', KEYS[2], buyer, quantity)
    local entry = {'kind', 'order', 'buyer', buyer, 'quantity', quantity, 'created_ms', created_ms, 'key', key,
      'order_id', order_id}
    if lines ~= '' then
      lines_move(KEYS[1], KEYS[2], buyer, lines_decode(lines), 'remaining', 'sold', 1, now_ms)
      entry[#entry + 1] = 'lines'
      entry[#entry + 1] = lines
    end
    local copy = redis.call('XADD', KEYS[3], '*', unpack(entry))
    redis.call('HSET', KEYS[4], order_id, copy)
    if ttl > 0 and key ~= '' then
      local record = idem_encode(order_id, buyer, quantity, created_ms, lines)
      if not redis.call('SET', KEYS[4 + i], record, 'EX', ttl, 'NX') then
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
