-- queuelib.lua: the waiting room's open step, shared by every queue script (scripts.py prepends it, after
-- clocklib.lua).
--
-- Queue hash fs:{<sale>:q}:conf fields (written by queue_create.lua):
--   mode         fifo | random_at_open
--   rate         admissions per second at most          max_active   admitted buyers not yet done, at most
--   token_ttl_ms how long an admission lasts            opens_ms     the sale's opening time, if scheduled
--   commitment   SHA-256 of the room's secret (hex), published from creation; the secret is derived from the
--                admission key and the room id by the API and is not stored before the open
--   root, reveal, seed  a random_at_open room's draw, written once right after the open (queue_seal.lua): the
--                join log's Merkle root, the secret, and the permutation's key HMAC-SHA256(reveal, root)
--   joined       places given (the next join index)     serving      places admitted (positions < serving)
--   state        open | sold_out (a waitlist) | closed  paused       "1" while an operator paused admission
--   opened       "1" once the open happened             opened_ms    Redis time of the open
--   pre_count    how many joined before the open (random_at_open: the shuffled pre-queue; fifo: 0)
--   last_ms      Redis time of the last admission step  carry        fraction of an admission owed by the rate
--   room         random id of this room (in every ticket, token and spent admission; a re-created sale gets
--                another)                               kid          id of the key the room's secrets derive from
--   closes_ms    when the room closes (the sale's closes_at)
--   expires_ms   when the room's keys expire: closes_ms plus the retention (FLASHSALE_QUEUE_RETENTION_S)
--   max_places   places the room gives at most          salt         key of its buyer digests (queue/joinlog.py)
--   waitlist_from  serving when the room first sold out  reoffered   units offered to waitlist admissions
--   waitlist_bought  units bought or held with waitlist admissions (copied from the sale hash each step)
--
-- The open is one atomic step inside whichever queue script first runs at or after opens_ms: it fixes
-- pre_count, so the pre-queue's places (a keyed permutation of the join index, queue/fair.py) never change.

local function queue_open_if_due(conf, now_ms)
  local q = redis.call('HMGET', conf, 'opened', 'opens_ms', 'mode', 'joined')
  if q[1] == '1' or not q[2] or now_ms < tonumber(q[2]) then
    return
  end
  local pre_count = 0
  if q[3] == 'random_at_open' then
    pre_count = tonumber(q[4])
  end
  redis.call('HSET', conf, 'opened', 1, 'opened_ms', now_ms, 'last_ms', now_ms, 'carry', 0, 'pre_count', pre_count)
end
