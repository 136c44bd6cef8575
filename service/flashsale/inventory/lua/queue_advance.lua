-- queue_advance.lua: one admission step, and the queue's state for the worker that asked
-- (clocklib and queuelib are prepended). Every API worker calls it every tick (queue/controller.py); the step
-- is paced by Redis time since the last step, so more workers never admit faster.
--
-- KEYS[1] queue hash fs:{<sale>:q}:conf
-- KEYS[2] admission steps fs:{<sale>:q}:admit-times (member "<serving after the step>:<admissions spent then>",
--         score: the step's Redis time, ms)
-- ARGV[1] units left to sell: the sale's remaining (read from the sale's slot just before; units in live holds
--         count once they come back)
-- ARGV[2] admissions spent by purchases and holds (the sale hash's admissions_spent)
-- ARGV[3] the sale's state: open | sold_out (no unit left to sell now) | closed
-- ARGV[4] return admission steps later than this Redis time (ms)   ARGV[5] shortest step (ms)
-- ARGV[6] units one admission may buy or hold (the sale's admission_units, >= 1)
-- ARGV[7] units bought or held with waitlist admissions (the sale's waitlist_units), kept for the figures
--
-- The room's state: closed is final (the sale closed); otherwise it follows the sale, so a sold-out room stays
-- open as a waitlist: units coming back (expired or released holds, restocks, cancellations with restock) are
-- admitted to the next places in order, by the same step. Before its open a room is open whatever its stock.
-- waitlist_from: the serving counter when the room first sold out after admitting someone: admissions of places
-- from there on are waitlist admissions; reoffered: the units those admissions were offered.
--
-- Admits n = min(rate x elapsed + carry, max_active - active, ceil(units / per admission) - promised,
-- joined - serving), n >= 0: the stock-aware cap counts units, so no more buyers hold admissions than the units
-- left can serve; promised = min(serving - spent, admitted within the last token_ttl) never counts low.
-- active = min(serving - spent, admitted within the last token_ttl - spent within it): admitted buyers that
-- neither spent their admission nor let it expire. Admissions older than token_ttl count as no-shows unless
-- spent, so abandoning buyers stop holding admission capacity once their token expired.
--
-- Returns {} without a waiting room, else (decoded by replies.queue_advance_reply):
--   {now_ms, state, active, no_shows, admitted_now, {ms1, serving1, ms2, serving2, ...}, {field1, value1, ...}}
--   state: the room's state after this step; no_shows: admissions older than token_ttl that were not spent (a
--   lower bound); then the admission steps later than ARGV[4], and the queue hash's fields (queuelib.lua).
local conf, times = KEYS[1], KEYS[2]
if redis.call('EXISTS', conf) == 0 then
  return {}
end
local now_ms = redis_now_ms()
queue_open_if_due(conf, now_ms)
local q = redis.call('HMGET', conf, 'state', 'mode', 'opened', 'pre_count', 'joined', 'serving', 'paused', 'rate',
  'max_active', 'token_ttl_ms', 'opens_ms', 'commitment', 'seed', 'last_ms', 'carry', 'expires_ms',
  'waitlist_from', 'reoffered', 'waitlist_bought')
local state, opened, paused = q[1], q[3] == '1', q[7] == '1'
local joined, serving = tonumber(q[5]), tonumber(q[6])
local rate, max_active, ttl = tonumber(q[8]), tonumber(q[9]), tonumber(q[10])
local units, spent = tonumber(ARGV[1]), tonumber(ARGV[2])
local per_admission = math.max(1, tonumber(ARGV[6]) or 1)

if state ~= 'closed' then
  local wanted = ARGV[3]
  if wanted == 'sold_out' and not opened then
    wanted = 'open'
  end
  if wanted ~= state then
    state = wanted
    redis.call('HSET', conf, 'state', state)
    if state == 'sold_out' and not q[17] and serving > 0 then
      q[17] = tostring(serving)
      redis.call('HSET', conf, 'waitlist_from', serving)
    end
  end
end
if ARGV[7] and ARGV[7] ~= '' and ARGV[7] ~= q[19] then
  redis.call('HSET', conf, 'waitlist_bought', ARGV[7])
end

local function counters_at(ms)  -- serving and spent as the last step at or before ms left them
  local last = redis.call('ZREVRANGEBYSCORE', times, ms, '-inf', 'LIMIT', 0, 1)
  if last[1] then
    local at_serving, at_spent = string.match(last[1], '^(%d+):(%d+)$')
    return tonumber(at_serving), tonumber(at_spent)
  end
  return 0, 0
end

local cutoff, cutoff_spent = counters_at(now_ms - ttl)
local active = math.max(0, math.min(serving - spent, (serving - cutoff) - (spent - cutoff_spent)))
-- The units still promised: admissions of the last TTL (they may still buy; older ones cannot, purchase.lua
-- judges the expiry by this clock) that are unspent, counted high rather than low. `active` above subtracts every
-- spend of the window, including spends of admissions made before it, so near sell-out it could admit more
-- buyers than units (measured: 34-36 admitted for 30 units under an overloaded worker); the stock cap uses this.
local promised = math.max(0, math.min(serving - spent, serving - cutoff))
local admitted = 0
-- A random open admits once its draw is sealed (queue_seal.lua): before that no place is known.
local drawn = q[2] ~= 'random_at_open' or (q[13] and q[13] ~= '')
if state ~= 'closed' and opened and drawn and not paused then
  local elapsed = math.min(now_ms - tonumber(q[14]), 1000)
  if elapsed >= tonumber(ARGV[5]) then
    local budget = rate * elapsed / 1000 + tonumber(q[15])
    local by_rate = math.floor(budget)
    local by_units = math.ceil(math.max(0, units) / per_admission) - promised
    admitted = math.max(0, math.min(by_rate, max_active - active, by_units, joined - serving))
    local carry = 0
    if admitted == by_rate then
      carry = budget - by_rate
    end
    if admitted > 0 and q[17] then
      local offered = math.min(admitted * per_admission, math.max(0, units - promised * per_admission))
      redis.call('HINCRBY', conf, 'reoffered', offered)
    end
    if admitted > 0 then
      serving = serving + admitted
      active = active + admitted
      redis.call('ZADD', times, now_ms, serving .. ':' .. spent)
      if q[16] then
        redis.call('PEXPIREAT', times, q[16])
      end
      -- Steps older than two token lifetimes only ever answer "expired" (queue/view.py): forget them, but keep
      -- the newest of them. It is what counters_at(now - ttl) reads when no step fell in the last two TTLs (a
      -- pause, an empty line): without it every no-show since the open counted as active after such a gap.
      local old = redis.call('ZCOUNT', times, '-inf', '(' .. (now_ms - 2 * ttl))
      if old > 1 then
        redis.call('ZREMRANGEBYRANK', times, 0, old - 2)
      end
    end
    redis.call('HSET', conf, 'serving', serving, 'last_ms', now_ms, 'carry', carry)
  end
elseif state ~= 'closed' then
  redis.call('HSET', conf, 'last_ms', now_ms, 'carry', 0)  -- a pause or the pre-open banks no admissions
end

local steps = {}
local raw = redis.call('ZRANGEBYSCORE', times, '(' .. ARGV[4], '+inf', 'WITHSCORES')
for i = 1, #raw, 2 do
  steps[#steps + 1] = raw[i + 1]
  steps[#steps + 1] = string.match(raw[i], '^(%d+):')
end
local fields = redis.call('HGETALL', conf)
return {now_ms, state, active, math.max(0, cutoff - spent), admitted, steps, fields}
