-- wrk driver of the identity benchmark (load/bench/identity.py): purchases that differ only in how the buyer is
-- told to the server.
--
--   wrk -t1 -c50 -d4s -s load/wrk/auth.lua http://127.0.0.1:PORT -- <path> <tag> <mode>
--
-- <mode>: "tokens=<file>"  a new buyer and token per request, from the file's lines (the rush: every request a
--                          different buyer, so every verification is a cache miss; -t1 only)
--         "token=<file>"   the first line's token on every request (a buyer's repeated requests: cache hits)
--         "unverified"     no token: an X-Bench-Buyer header per request (the /bench/unverified/... route)
-- Every request has its own Idempotency-Key and a sale whose stock never runs out, so each runs the whole script.
-- done() prints "WRK_JSON {...}" as load/wrk/purchase.lua does (load/bench/measuring.py parses it).

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local path, tag, mode = "/", "run", "unverified"
local counter = 0
local headers = { ["Content-Type"] = "application/json" }
local tokens = {}
local body = '{"quantity":1}'

function init(args)
  path, tag, mode = args[1] or path, args[2] or tag, args[3] or mode
  local file = string.match(mode, "^tokens?=(.+)$")
  if file then
    for line in io.lines(file) do
      table.insert(tokens, line)
    end
    mode = string.match(mode, "^(tokens?)=")
  end
  statuses = {}
end

function request()
  counter = counter + 1
  headers["Idempotency-Key"] = "key-" .. tag .. "-" .. tid .. "-" .. counter
  if mode == "tokens" then
    headers["Authorization"] = "Bearer " .. (tokens[counter] or tokens[#tokens])
  elseif mode == "token" then
    headers["Authorization"] = "Bearer " .. tokens[1]
  else
    headers["X-Bench-Buyer"] = "b-" .. tag .. "-" .. tid .. "-" .. counter
  end
  return wrk.format("POST", path, headers, body)
end

function response(status, _, _)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, _)
  local counts = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses") or {}) do
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
