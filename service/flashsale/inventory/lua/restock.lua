-- restock.lua: add units to an existing sale, keeping total == remaining + held + sold + withdrawn, for the sale
-- and, on a sale with SKUs, for the one SKU restocked (its quotas are caps: a restock leaves them as they are).
--
-- KEYS[1] sale hash fs:{<sale>}:sale
-- ARGV[1] units to add (> 0)   ARGV[2] the SKU to restock: "" on a one-stock sale (required on a sale with SKUs)
--
-- Returns (decoded by replies.restock_reply) the new remaining stock of the sale (of the SKU when one is named),
-- -1 when the sale does not exist, -2 when the SKU is not one of the sale's (or a one-stock sale got a SKU, or a
-- sale with SKUs got none).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local sku = ARGV[2] or ''
local has_skus = redis.call('HEXISTS', KEYS[1], 'skus') == 1
if sku == '' then
  if has_skus then
    return -2
  end
  redis.call('HINCRBY', KEYS[1], 'total', ARGV[1])
  return redis.call('HINCRBY', KEYS[1], 'remaining', ARGV[1])
end
if not has_skus or redis.call('HEXISTS', KEYS[1], 'sku:' .. sku .. ':total') == 0 then
  return -2
end
redis.call('HINCRBY', KEYS[1], 'total', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'remaining', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'sku:' .. sku .. ':total', ARGV[1])
local remaining = redis.call('HINCRBY', KEYS[1], 'sku:' .. sku .. ':remaining', ARGV[1])
if remaining > 0 then
  redis.call('HDEL', KEYS[1], 'sku:' .. sku .. ':sold_out_ms')
end
return remaining
