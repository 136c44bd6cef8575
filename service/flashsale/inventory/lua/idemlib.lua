-- idemlib.lua: the idempotency record of an order, written and read in exactly this one place on the Lua
-- side (inventory/records.py on the Python side; a test ties the two). scripts.py prepends this file to
-- purchase.lua, which writes and replays records, and repair.lua, which restores them after a failover.
--
-- Record, under fs:{<sale>}:idem:<Idempotency-Key>, with a TTL (FLASHSALE_IDEMPOTENCY_TTL_S):
--   "<order_id>\t<buyer>\t<quantity>\t<created_ms>"

local function idem_encode(order_id, buyer, quantity, created_ms)
  return order_id .. '\t' .. buyer .. '\t' .. quantity .. '\t' .. created_ms
end

-- Returns order_id, buyer, quantity (a string), created_ms.
local function idem_decode(raw)
  return string.match(raw, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$')
end

-- ---- end of idemlib.lua ----
