-- holdlib.lua: the hold record and the expiry step, shared by every script that touches holds.
-- scripts.py prepends this file (after skulib.lua) to hold, confirm, release, read_hold, purchase, read_sale and
-- reap, so the record format below is written in exactly one place on the Lua side.
--
-- Hold record, in the holds hash (fs:{<sale>}:holds) under its hold id:
--   "<state>\t<buyer>\t<quantity>\t<expires_ms>\t<order_id>\t<done_ms>" and, for a hold on a sale's SKUs,
--   "\t<lines>" (skulib.lua; quantity is then the sum of the lines)
--   state     held | confirmed | released | expired
--   order_id  the ledger entry id once confirmed, else ""
--   done_ms   Redis time when the hold left `held`, else ""
-- A live hold (state held) is also in the expiry sorted set (fs:{<sale>}:hold-expiry), scored by expires_ms.
-- A hold is live while TIME < expires_ms; at expires_ms it is expired, whether or not a script reclaimed it yet.
--
-- Sale hash counters for holds: held (units in live holds), holds (holds ever created), holds_confirmed,
-- holds_released, holds_expired, hold_ttl_ms. The buyers hash counts a buyer's held plus bought units.

local function hold_decode(raw)
  local state, buyer, quantity, expires_ms, order_id, done_ms, lines =
    string.match(raw, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t?([^\t]*)$')
  return {state = state, buyer = buyer, quantity = tonumber(quantity), expires_ms = tonumber(expires_ms),
          order_id = order_id, done_ms = done_ms, lines = lines or ''}
end

local function hold_encode(h)
  local fields = {h.state, h.buyer, h.quantity, h.expires_ms, h.order_id, h.done_ms}
  if h.lines ~= '' then
    fields[7] = h.lines
  end
  return table.concat(fields, '\t')
end

-- A live hold ends (released or expired): its units go back on sale (every line's, on its SKU and quotas), the
-- buyer's counts drop.
local function hold_end(sale, buyers, holds, expiry, id, h, state, now_ms)
  h.state = state
  h.done_ms = now_ms
  redis.call('HSET', holds, id, hold_encode(h))
  redis.call('ZREM', expiry, id)
  redis.call('HINCRBY', sale, 'remaining', h.quantity)
  redis.call('HINCRBY', sale, 'held', -h.quantity)
  redis.call('HINCRBY', sale, 'holds_' .. state, 1)
  redis.call('HINCRBY', buyers, h.buyer, -h.quantity)
  if h.lines ~= '' then
    lines_move(sale, buyers, h.buyer, lines_decode(h.lines), 'held', 'remaining', -1, now_ms)
  end
end

-- One hold as of now, for a step on it (confirm, release, read) by `owner`: a live hold past its expiry is
-- expired on the spot (units back on sale), so every step meets the state a confirm would. Returns the record
-- (state held, confirmed, released or expired) and Redis time, or nil, nil and the reply for an unknown hold or
-- sale. Another buyer's hold is unknown to the caller, exactly as a hold that does not exist ("" as `owner`:
-- any buyer's, for the admin's reads).
local function hold_now(sale, buyers, holds, expiry, id, owner)
  local raw = redis.call('HGET', holds, id)
  if not raw then
    if redis.call('EXISTS', sale) == 0 then
      return nil, nil, {'unknown_sale'}
    end
    return nil, nil, {'unknown_hold'}
  end
  local h = hold_decode(raw)
  if owner ~= '' and h.buyer ~= owner then
    return nil, nil, {'unknown_hold'}
  end
  local now_ms = redis_now_ms()
  if h.state == 'held' and now_ms >= h.expires_ms then
    hold_end(sale, buyers, holds, expiry, id, h, 'expired', now_ms)
  end
  return h, now_ms
end

-- Expire at most `max` holds whose expiry has passed, oldest first: O(log n) each. Returns the units reclaimed.
local function reclaim(sale, buyers, holds, expiry, now_ms, max)
  local units = 0
  local ids = redis.call('ZRANGEBYSCORE', expiry, '-inf', now_ms, 'LIMIT', 0, max)
  for _, id in ipairs(ids) do
    local raw = redis.call('HGET', holds, id)
    local h = raw and hold_decode(raw)
    if h and h.state == 'held' then
      hold_end(sale, buyers, holds, expiry, id, h, 'expired', now_ms)
      units = units + h.quantity
    else
      redis.call('ZREM', expiry, id)
    end
  end
  return units
end

-- ---- end of holdlib.lua ----
