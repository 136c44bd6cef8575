-- admitlib.lua: the admission check of a purchase or a hold on a sale with a waiting room, in one place
-- (scripts.py prepends it to purchase.lua and hold.lua). Both scripts call admission_check before their first
-- write and admission_spend after their own write, so the block moves unchanged into any rewrite of them.
--
-- Sale hash fields it reads (written by create_sale.lua):
--   queued            "1" when the sale has a waiting room
--   room              the room's random id (a deleted and re-created sale has another: old tokens are refused)
--   admission_units   units one admission may buy or hold, at most (>= 1)
-- Spent admissions: hash fs:{<sale>}:admissions, field "<room>:<place>" -> the order or hold id that spent it,
-- so a place buys once whatever key signed its token, however many tokens were issued for it.
-- Sale hash counters: admissions_spent (+1 per spent admission), waitlist_units (units bought or held with an
-- admission given from the waitlist, after the sale first sold out).
--
-- The admission argument is "" (no token came) or "<room>:<place>:<exp_ms>[:w]" (queue/tokens.py
-- Admission.spent_as): the API checked the token's signature, sale, buyer and time (with clock skew) before the
-- call; the expiry is judged again here by Redis time (clocklib.lua), the clock the admission controller counts
-- no-shows by; ":w" marks a waitlist admission.

-- Returns nil and what to spend ({field, waitlist}, or nil on a sale without a waiting room) when the attempt
-- may go on, else the refusal to return:
--   {"admission_required"}  {"admission_invalid"} (a token of another room)  {"admission_expired"}  {"admission_used"}
--   {"admission_units_exceeded", units}  more units than one admission admits
local function admission_check(sale, admissions, admission, quantity)
  local a = redis.call('HMGET', sale, 'queued', 'room', 'admission_units')
  if a[1] ~= '1' then
    return nil, nil
  end
  if admission == '' then
    return {'admission_required'}
  end
  local room, place, exp_ms, flag = string.match(admission, '^([^:]+):(%d+):(%d+):?(w?)$')
  if not room or room ~= a[2] then
    return {'admission_invalid'}
  end
  if redis_now_ms() >= tonumber(exp_ms) then  -- by Redis time: the controller may have given its unit away
    return {'admission_expired'}
  end
  local field = room .. ':' .. place
  if redis.call('HEXISTS', admissions, field) == 1 then
    return {'admission_used'}
  end
  local units = tonumber(a[3] or '0')
  if units > 0 and quantity > units then
    return {'admission_units_exceeded', units}
  end
  return nil, {field, flag == 'w'}
end

-- Marks the admission spent by `what` (an order or hold id): `spend` is what admission_check returned.
local function admission_spend(sale, admissions, spend, quantity, what)
  if not spend then
    return
  end
  redis.call('HSET', admissions, spend[1], what)
  redis.call('HINCRBY', sale, 'admissions_spent', 1)
  if spend[2] then
    redis.call('HINCRBY', sale, 'waitlist_units', quantity)
  end
end

-- ---- end of admitlib.lua ----
