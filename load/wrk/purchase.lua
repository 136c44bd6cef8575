-- wrk driver of the purchase route, the hold route and the bare reference route (load/bench/).
--
--   wrk -t1 -c50 -d5s -s load/wrk/purchase.lua http://127.0.0.1:PORT -- <path> <tag>
--
-- <path> is /sales/<sale>/purchases, /sales/<sale>/holds (the same body and header), /sales/<sale>/queue (a
-- join: sent without a body) or /bench/bare/<sale>; <tag> makes this run's keys unique. An optional third
-- argument: "get" sends GET <path> (a queue poll), "tokens=<file>" takes the buyer's token and the
-- Admission-Token of each request from the file's lines "<buyer token>\t<admission token>" (purchases on a sale
-- with a waiting room, -t1 only), "lines=<sku>:<n>,<sku>:<n>" sends those lines instead of a quantity (a sale of
-- SKUs). A GET (a queue poll, an availability read) carries the token too.
--
-- The buyer is the token's: every request carries "Authorization: Bearer <token>", the tokens taken in turn
-- from the file named by the environment variable FLASHSALE_WRK_BUYERS (lines "<buyer>\t<token>", minted
-- beforehand from the issuer of the server under test: a signature costs ~1 ms, far more than a request here;
-- load/wrk/hold.lua reads the same file). Without it no token is sent (the buyer routes answer 401;
-- /bench/bare needs none). Every request carries its own Idempotency-Key, and the sales driven here have no
-- per-buyer limit, so neither a limit nor an idempotent replay can answer it early: each one runs the whole
-- purchase (or hold) script. done() prints one line "WRK_JSON {...}" with the counts, the latency
-- percentiles in microseconds and "over_2s" (answers that took 2 s or more), for load/bench/measuring.py to parse.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local path = "/"
local tag = "run"
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

local mode = "post"
local tokens = {}
local buyers = {}
local order = '"quantity":1'

-- The next buyer's token, in turn (threads start at different lines), or nil when there is none.
local function buyer_token()
  if #buyers == 0 then
    return nil
  end
  return buyers[(counter + (tid or 1) * 7919) % #buyers + 1]
end

function init(args)
  path = args[1] or path
  tag = args[2] or tag
  mode = args[3] or mode
  if string.sub(mode, 1, 7) == "tokens=" then
    for line in io.lines(string.sub(mode, 8)) do
      local jwt, admission = string.match(line, "^([^\t]+)\t(.+)$")
      table.insert(tokens, { jwt, admission })
    end
    mode = "tokens"
  elseif string.sub(mode, 1, 6) == "lines=" then
    local lines = {}
    for sku, n in string.gmatch(string.sub(mode, 7), "([^,:]+):(%d+)") do
      table.insert(lines, '{"sku":"' .. sku .. '","quantity":' .. n .. '}')
    end
    order = '"lines":[' .. table.concat(lines, ",") .. ']'
    mode = "post"
  end
  local file = os.getenv("FLASHSALE_WRK_BUYERS")
  if file and file ~= "" then
    for line in io.lines(file) do
      local token = string.match(line, "^[^\t]+\t(.+)$")
      if token then
        table.insert(buyers, token)
      end
    end
  end
  statuses = {}
end

function request()
  counter = counter + 1
  local token = buyer_token()
  headers["Authorization"] = token and ("Bearer " .. token) or nil
  if mode == "get" then
    return wrk.format("GET", path, token and { ["Authorization"] = "Bearer " .. token } or nil)
  end
  if mode == "tokens" then
    local t = tokens[counter] or tokens[#tokens]
    headers["Idempotency-Key"] = "key-" .. tag .. "-" .. counter
    headers["Authorization"] = "Bearer " .. t[1]
    headers["Admission-Token"] = t[2]
    return wrk.format("POST", path, headers, "{" .. order .. "}")
  end
  headers["Idempotency-Key"] = "key-" .. tag .. "-" .. tid .. "-" .. counter
  if string.sub(path, -6) == "/queue" then  -- a join takes no body: the buyer is the token's
    return wrk.format("POST", path, headers)
  end
  return wrk.format("POST", path, headers, "{" .. order .. "}")
end

function response(status, _, _)
  statuses[status] = (statuses[status] or 0) + 1
end

-- Answers that took at least `us` microseconds. wrk gives Lua percentiles, not counts, so: the smallest
-- percentile whose latency reaches `us` (bisection; wrk's percentiles are exact per microsecond), times the
-- answers recorded. wrk records answers faster than its --timeout only; slower ones are timeout errors.
local function at_least(latency, us, recorded)
  if recorded <= 0 or latency.max < us then
    return 0
  end
  local lo, hi = 0.0, 100.0
  for _ = 1, 60 do
    local mid = (lo + hi) / 2
    if latency:percentile(mid) >= us then hi = mid else lo = mid end
  end
  return math.floor(recorded * (100.0 - hi) / 100.0 + 0.5)
end

function done(summary, latency, _)
  local counts = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses") or {}
    for code, n in pairs(seen) do
      counts[code] = (counts[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', code, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d},"statuses":{%s},"latency_us":{"mean":%.1f,"p50":%d,"p75":%d,"p90":%d,' ..
    '"p95":%d,"p99":%d,"p999":%d,"max":%d},"over_2s":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ","), latency.mean, latency:percentile(50), latency:percentile(75),
    latency:percentile(90), latency:percentile(95), latency:percentile(99), latency:percentile(99.9),
    latency.max, at_least(latency, 2000000, summary.requests - e.timeout)))
end
