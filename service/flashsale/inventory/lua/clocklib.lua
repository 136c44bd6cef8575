-- clocklib.lua: the one clock every script uses. scripts.py prepends it to each script that reads the time.
--
-- Time always comes from the server (TIME), never from an API replica, so every replica agrees on when a sale
-- opens, a hold expires and an admission step happened.

local function redis_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
