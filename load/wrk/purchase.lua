-- wrk driver of the purchase route, the hold route and the bare reference route (load/bench/).
--
--   wrk -t1 -c50 -d5s -s load/wrk/purchase.lua http://127.0.0.1:PORT -- <path> <tag>
--
-- <path> is /sales/<sale>/purchases, /sales/<sale>/holds (the same body and header), /sales/<sale>/queue (a
-- join: the same body, quantity ignored) or /bench/bare/<sale>; <tag> makes this run's keys unique. An optional
-- third argument: "get" sends GET <path> (a queue poll, an availability read), "tokens=<file>" takes the buyer
-- and Admission-Token of each request from the file's lines "<buyer>\t<token>" (purchases on a sale with a
-- waiting room, -t1 only), "lines=<sku>:<n>,<sku>:<n>" sends those lines instead of a quantity (a sale of
-- SKUs). Every request carries its own buyer id and Idempotency-Key, so neither a
-- per-buyer limit nor an idempotent replay can answer it early: each one runs the whole purchase (or hold)
-- script. done() prints one line "WRK_JSON {...}" with the counts and the latency percentiles in
-- microseconds, for load/bench/measuring.py to parse.

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
local order = '"quantity":1'

function init(args)
  path = args[1] or path
  tag = args[2] or tag
  mode = args[3] or mode
  if string.sub(mode, 1, 7) == "tokens=" then
    for line in io.lines(string.sub(mode, 8)) do
      local buyer, token = string.match(line, "^([^\t]+)\t(.+)$")
      table.insert(tokens, { buyer, token })
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
  statuses = {}
end

function request()
  counter = counter + 1
  if mode == "get" then
    return wrk.format("GET", path)
  end
  if mode == "tokens" then
    local t = tokens[counter] or tokens[#tokens]
    headers["Idempotency-Key"] = "key-" .. tag .. "-" .. counter
    headers["Admission-Token"] = t[2]
    return wrk.format("POST", path, headers, '{"buyer_id":"' .. t[1] .. '","quantity":1}')
  end
  local n = tag .. "-" .. tid .. "-" .. counter
  headers["Idempotency-Key"] = "key-" .. n
  return wrk.format("POST", path, headers, '{"buyer_id":"b-' .. n .. '",' .. order .. '}')
end

function response(status, _, _)
  statuses[status] = (statuses[status] or 0) + 1
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
    '"p95":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ","), latency.mean, latency:percentile(50), latency:percentile(75),
    latency:percentile(90), latency:percentile(95), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
