-- release.lua: the buyer gives a hold up; its units (every line's, with its quotas) go back on sale at once
-- (skulib.lua and holdlib.lua are prepended).
--
-- KEYS[1] sale hash  KEYS[2] buyers  KEYS[3] holds  KEYS[4] expiry
-- ARGV[1] hold id   ARGV[2] the caller (buyer id): another buyer's hold is "unknown_hold"
--
-- Returns (decoded by replies.release_reply):
--   {"released"}                     this call released it
--   {"hold_released"}                released before (nothing changes)
--   {"hold_expired", expires_ms}     expired before or at this call (units back on sale; nothing else changes)
--   {"hold_confirmed", order_id}     confirmed: a release cannot undo an order (cancel the order instead)
--   {"unknown_hold"}  {"unknown_sale"}
local sale, buyers, holds, expiry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local h, now_ms, refusal = hold_now(sale, buyers, holds, expiry, ARGV[1], ARGV[2])
if not h then
  return refusal
end
if h.state == 'confirmed' then
  return {'hold_confirmed', h.order_id}
end
if h.state == 'released' then
  return {'hold_released'}
end
if h.state == 'expired' then
  return {'hold_expired', h.expires_ms}
end
hold_end(sale, buyers, holds, expiry, ARGV[1], h, 'released', now_ms)
return {'released'}
