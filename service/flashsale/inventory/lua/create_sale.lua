-- create_sale.lua: create a sale once; never overwrite a live one (clocklib.lua is prepended).
--
-- KEYS[1] sale hash fs:{<sale>}:sale
-- ARGV[1] name  ARGV[2] stock (>= 0; with items, their sum)  ARGV[3] per-buyer limit (0: none; with items, units
-- across every SKU)  ARGV[4] opens_ms or ""  ARGV[5] closes_ms or ""  ARGV[6] hold TTL in ms (> 0)
-- ARGV[7] "1" when the sale has a waiting room (purchases and holds then need an admission token), else "0"
-- ARGV[8] units one admission may buy or hold (admitlib.lua; "0" without a waiting room)
-- ARGV[9] the waiting room's random id ("" without a waiting room)
-- ARGV[10] eligibility rules (identity/claims.py encodes them, eligibilitylib.lua judges them), "" for none
-- ARGV[11] how many items (SKUs) n, "0" or absent for a one-stock sale; then n times: sku, stock, per-SKU limit;
-- then how many quotas m; then m times: name, cap, "<sku>,<sku>,..." (inventory/skus.py checked them all:
-- distinct names, known SKUs, bounded counts). The fields written are listed in skulib.lua.
--
-- Returns 1 when created, 0 when the sale already exists (read by Administration.create_sale, admin.py).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'total', ARGV[2], 'remaining', ARGV[2], 'sold', 0, 'orders', 0,
  'limit', ARGV[3], 'closed', 0, 'held', 0, 'hold_ttl_ms', ARGV[6], 'holds', 0, 'holds_confirmed', 0,
  'holds_released', 0, 'holds_expired', 0, 'cancels', 0, 'restocked', 0, 'withdrawn', 0, 'queued', ARGV[7],
  'admissions_spent', 0, 'admission_units', ARGV[8], 'room', ARGV[9], 'waitlist_units', 0)
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'eligibility', ARGV[10])
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'opens_ms', ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'closes_ms', ARGV[5])
end
-- The counters of one SKU or quota, all at zero but its units, and one more field (its limit or its SKUs).
local function counters(fields, prefix, units, extra, value)
  for _, pair in ipairs({{'total', units}, {'remaining', units}, {'held', 0}, {'sold', 0}, {'withdrawn', 0},
                         {'restocked', 0}, {extra, value}}) do
    fields[#fields + 1] = prefix .. pair[1]
    fields[#fields + 1] = pair[2]
  end
end

local n = tonumber(ARGV[11] or '0')
if n > 0 then
  local skus, quotas_of, fields = {}, {}, {}
  for i = 0, n - 1 do
    local sku = ARGV[12 + 3 * i]
    skus[#skus + 1] = sku
    quotas_of[sku] = {}
    counters(fields, 'sku:' .. sku .. ':', ARGV[13 + 3 * i], 'limit', ARGV[14 + 3 * i])
  end
  local base = 12 + 3 * n
  local quota_names = {}
  for i = 0, tonumber(ARGV[base]) - 1 do
    local name, members = ARGV[base + 1 + 3 * i], ARGV[base + 3 + 3 * i]
    quota_names[#quota_names + 1] = name
    counters(fields, 'quota:' .. name .. ':', ARGV[base + 2 + 3 * i], 'skus', members)
    for sku in string.gmatch(members, '[^,]+') do
      table.insert(quotas_of[sku], name)
    end
  end
  for _, sku in ipairs(skus) do
    fields[#fields + 1] = 'sku:' .. sku .. ':quotas'
    fields[#fields + 1] = table.concat(quotas_of[sku], ',')
  end
  redis.call('HSET', KEYS[1], 'skus', table.concat(skus, ','), 'quotas', table.concat(quota_names, ','),
    'created_ms', redis_now_ms(), unpack(fields))
end
return 1
