-- skulib.lua: a sale's SKUs and quotas, and the lines of an order or a hold: read, checked and moved only here.
-- scripts.py prepends it (before holdlib.lua) to every script that sells, holds, returns or audits units.
--
-- A sale created with one `stock` has none of the fields below: its one SKU is implicit (the API calls it
-- "default") and every script takes the path it always took. A sale created with items has, in its sale hash
-- (fs:{<sale>}:sale, so one script reaches all of it on Redis Cluster without another key):
--   skus                      "<sku>,<sku>,..." in creation order; its presence makes the sale a SKU sale
--   quotas                    "<name>,..." or ""
--   created_ms                Redis ms at creation (the start of a sell-out time when the sale has no opens_ms)
--   sku:<sku>:total|remaining|held|sold|withdrawn|restocked    the sale's own counters, for one SKU
--   sku:<sku>:limit           units of this SKU one buyer may hold plus buy (0: only the sale's limit)
--   sku:<sku>:quotas          "<name>,..." the quotas the SKU draws on
--   sku:<sku>:sold_out_ms     Redis ms when its remaining last reached 0 (absent while it has units)
--   quota:<name>:total|remaining|held|sold|withdrawn|restocked  a cap over some SKUs, and where its units are
--   quota:<name>:skus         "<sku>,..."
-- The sale's own counters (total, remaining, held, sold, ...) stay the sums over its SKUs: every script keeps
-- writing them as for a one-stock sale. In the buyers hash, "<sku>\t<buyer>" counts a buyer's held plus bought
-- units of a SKU that has a limit (buyer ids never hold a tab), next to "<buyer>" (the sale's limit).
--
-- Lines: "<sku>:<quantity>,<sku>:<quantity>,..." (SKU names never hold ':' or ','); "" for a one-stock request.
-- The same text is the purchase and hold scripts' lines argument, the ledger entry's `lines` field, the hold
-- record's 7th field, the idempotency record's 5th field and read_sale's live units (inventory/skus.py).

local function lines_decode(raw)
  local lines = {}
  for sku, quantity in string.gmatch(raw or '', '([^,:]+):(%d+)') do
    lines[#lines + 1] = {sku, tonumber(quantity)}
  end
  return lines
end

local function names(raw)
  local out = {}
  for name in string.gmatch(raw or '', '[^,]+') do
    out[#out + 1] = name
  end
  return out
end

-- Check every line of a purchase or hold: the SKU exists, the buyer's per-SKU limit, the SKU's stock and the
-- stock of each quota it draws on (lines that share a quota add up). Reads only: at most 3 calls whatever the
-- lines (one more for the `held` of a refusal).
-- Returns nil when every line passes, else the refusal of the first line or quota that fails, in line order
-- (`line` is the 0-based index of the line in the request):
--   {'unknown_sku', line, sku}
--   {'limit_reached', committed, limit, line, sku}              the SKU's own limit
--   {'sold_out', remaining, ledger_length (0 without a ledger key), held, line, 'sku'|'quota', name}
local function lines_check(sale, buyers, ledger, buyer, lines)
  local fields = {}
  for _, l in ipairs(lines) do
    local p = 'sku:' .. l[1] .. ':'
    fields[#fields + 1] = p .. 'remaining'
    fields[#fields + 1] = p .. 'limit'
    fields[#fields + 1] = p .. 'quotas'
  end
  local v = redis.call('HMGET', sale, unpack(fields))
  local quota_fields, limited = {}, {}
  for i, l in ipairs(lines) do
    for _, name in ipairs(names(v[3 * i])) do
      quota_fields[#quota_fields + 1] = 'quota:' .. name .. ':remaining'
    end
    if tonumber(v[3 * i - 1] or '0') > 0 then
      limited[#limited + 1] = l[1] .. '\t' .. buyer
    end
  end
  local quota_left = {}
  if #quota_fields > 0 then
    local left = redis.call('HMGET', sale, unpack(quota_fields))
    for i, field in ipairs(quota_fields) do
      quota_left[field] = tonumber(left[i])
    end
  end
  local committed = #limited > 0 and redis.call('HMGET', buyers, unpack(limited)) or {}
  local demand, next_limited = {}, 1
  for i, l in ipairs(lines) do
    local sku, quantity = l[1], l[2]
    if not v[3 * i - 2] then
      return {'unknown_sku', i - 1, sku}
    end
    local limit = tonumber(v[3 * i - 1])
    if limit > 0 then
      local has = tonumber(committed[next_limited] or '0')
      next_limited = next_limited + 1
      if has + quantity > limit then
        return {'limit_reached', has, limit, i - 1, sku}
      end
    end
    local remaining = tonumber(v[3 * i - 2])
    if remaining < quantity then
      local held = tonumber(redis.call('HGET', sale, 'sku:' .. sku .. ':held') or '0')
      return {'sold_out', remaining, ledger and redis.call('XLEN', ledger) or 0, held, i - 1, 'sku', sku}
    end
    for _, name in ipairs(names(v[3 * i])) do
      local field = 'quota:' .. name .. ':remaining'
      demand[field] = (demand[field] or 0) + quantity
      if quota_left[field] < demand[field] then
        local held = tonumber(redis.call('HGET', sale, 'quota:' .. name .. ':held') or '0')
        local length = ledger and redis.call('XLEN', ledger) or 0
        return {'sold_out', quota_left[field], length, held, i - 1, 'quota', name}
      end
    end
  end
  return nil
end

-- Move every line's units from one counter to another (remaining, held, sold or withdrawn), on its SKU and on
-- each quota it draws on, and change the buyer's per-SKU counts by `sign` * quantity (1: taken, -1: given
-- back, 0: a hold confirmed). `also`: a counter that grows by the units too ('restocked'), or nil. A SKU whose
-- remaining reaches 0 is stamped sold out at now_ms; one that gets units back loses the stamp. Two reads and
-- one write of the sale hash whatever the lines (plus one HINCRBY per line of a SKU with a limit).
local function lines_move(sale, buyers, buyer, lines, from, to, sign, now_ms, also)
  local meta_fields = {}
  for _, l in ipairs(lines) do
    meta_fields[#meta_fields + 1] = 'sku:' .. l[1] .. ':quotas'
    meta_fields[#meta_fields + 1] = 'sku:' .. l[1] .. ':limit'
  end
  local meta = redis.call('HMGET', sale, unpack(meta_fields))
  local delta, order = {}, {}
  local function add(field, n)
    if delta[field] == nil then
      delta[field] = 0
      order[#order + 1] = field
    end
    delta[field] = delta[field] + n
  end
  for i, l in ipairs(lines) do
    local sku, quantity = l[1], l[2]
    local prefixes = {'sku:' .. sku .. ':'}
    for _, name in ipairs(names(meta[2 * i - 1])) do
      prefixes[#prefixes + 1] = 'quota:' .. name .. ':'
    end
    for _, p in ipairs(prefixes) do
      add(p .. from, -quantity)
      add(p .. to, quantity)
      if also then
        add(p .. also, quantity)
      end
    end
    if sign ~= 0 and tonumber(meta[2 * i] or '0') > 0 then
      redis.call('HINCRBY', buyers, sku .. '\t' .. buyer, sign * quantity)
    end
  end
  local old = redis.call('HMGET', sale, unpack(order))
  local set, was = {}, {}
  for i, field in ipairs(order) do
    local before = tonumber(old[i] or '0')
    was[field] = before
    set[#set + 1] = field
    set[#set + 1] = before + delta[field]
  end
  local unstamp = {}
  if from == 'remaining' or to == 'remaining' then
    for _, l in ipairs(lines) do
      local field = 'sku:' .. l[1] .. ':remaining'
      local after = was[field] + delta[field]
      if after <= 0 and was[field] > 0 then
        set[#set + 1] = 'sku:' .. l[1] .. ':sold_out_ms'
        set[#set + 1] = now_ms
      elseif after > 0 and was[field] <= 0 then
        unstamp[#unstamp + 1] = 'sku:' .. l[1] .. ':sold_out_ms'
      end
    end
  end
  redis.call('HSET', sale, unpack(set))
  if #unstamp > 0 then
    redis.call('HDEL', sale, unpack(unstamp))
  end
end

-- ---- end of skulib.lua ----
