-- admitlib.lua: the admission check of a purchase or a hold on a sale with a waiting room, in one place
-- (scripts.py prepends it to purchase.lua and hold.lua). Both scripts call admission_check before their first
-- write and admission_spend after their own write, so the block moves unchanged into any rewrite of them.
--
-- Sale hash fields it reads (written by create_sale.lua):
--   queued            "1" when the sale has a waiting room
--   admission_units   units one admission may buy or hold, at most (>= 1)
-- Spent admissions: hash fs:{<sale>}:admissions, field <the token's jti> -> the order or hold id that spent it.
-- Sale hash counter: admissions_spent (+1 per spent admission).
--
-- The admission argument is "" (no token came) or the token's jti: the API checked the token's signature,
-- sale, buyer and time before the call.

-- Returns nil and the admission to spend ("" on a sale without a waiting room) when the attempt may go on,
-- else the refusal to return:
--   {"admission_required"}  {"admission_used"}
--   {"admission_units_exceeded", units}  more units than one admission admits
local function admission_check(sale, admissions, admission, quantity)
  local a = redis.call('HMGET', sale, 'queued', 'admission_units')
  if a[1] ~= '1' then
    return nil, ''
  end
  if admission == '' then
    return {'admission_required'}
  end
  if redis.call('HEXISTS', admissions, admission) == 1 then
    return {'admission_used'}
  end
  local units = tonumber(a[2] or '0')
  if units > 0 and quantity > units then
    return {'admission_units_exceeded', units}
  end
  return nil, admission
end

-- Marks the admission spent by `what` (an order or hold id): `admission` is what admission_check returned.
local function admission_spend(sale, admissions, admission, what)
  if admission == '' then
    return
  end
  redis.call('HSET', admissions, admission, what)
  redis.call('HINCRBY', sale, 'admissions_spent', 1)
end

-- ---- end of admitlib.lua ----
