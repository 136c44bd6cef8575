-- read_hold.lua: one hold's state, judged by Redis TIME (skulib.lua and holdlib.lua are prepended).
--
-- KEYS[1] sale hash  KEYS[2] buyers  KEYS[3] holds  KEYS[4] expiry
-- ARGV[1] hold id   ARGV[2] the caller (buyer id): another buyer's hold is "unknown_hold"
--
-- Returns (decoded by replies.read_hold_reply):
--   {"found", state, buyer, quantity, expires_ms, order_id, lines}   state: held | confirmed | released | expired
--   {"unknown_hold"}  {"unknown_sale"}
-- A live hold past its expiry is expired here (units back on sale), so the state read is the state a confirm
-- would meet.
local sale, buyers, holds, expiry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local h, _, refusal = hold_now(sale, buyers, holds, expiry, ARGV[1], ARGV[2])
if not h then
  return refusal
end
return {'found', h.state, h.buyer, h.quantity, h.expires_ms, h.order_id, h.lines}
