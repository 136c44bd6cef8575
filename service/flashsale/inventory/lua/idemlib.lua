-- idemlib.lua: the idempotency record of an order, written and read in exactly this one place on the Lua
-- side (inventory/records.py on the Python side; a test ties the two). scripts.py prepends this file to
-- purchase.lua, which writes and replays records, and repair.lua, which restores them after a failover.
--
-- Record, under fs:{<sale>}:idem:<Idempotency-Key>, with a TTL (FLASHSALE_IDEMPOTENCY_TTL_S):
--   "<order_id>\t<buyer>\t<quantity>\t<created_ms>" and, for an order of a sale's SKUs, "\t<lines>"
--   (skulib.lua's lines text)

local function idem_encode(order_id, buyer, quantity, created_ms, lines)
  local raw = order_id .. '\t' .. buyer .. '\t' .. quantity .. '\t' .. created_ms
  if lines and lines ~= '' then
    raw = raw .. '\t' .. lines
  end
  return raw
end

-- Returns order_id, buyer, quantity (a string), created_ms, lines ("" for a one-stock order).
local function idem_decode(raw)
  return string.match(raw, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t?([^\t]*)$')
end

-- ---- end of idemlib.lua ----
