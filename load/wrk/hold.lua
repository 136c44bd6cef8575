-- wrk driver of the hold routes: holds only, or a checkout (each hold confirmed by the next request).
--
--   wrk -t1 -c50 -d5s -s load/wrk/hold.lua http://127.0.0.1:PORT -- <sale> <tag> [hold|checkout]
--
-- hold:     POST /sales/<sale>/holds, a new Idempotency-Key per request (the whole hold script runs every time),
--           to compare with load/wrk/purchase.lua on /sales/<sale>/purchases.
-- checkout: the same holds, and each 201's hold is confirmed (POST .../holds/<id>/confirm) by a later request
--           of the same thread with the same buyer's token (a hold is its buyer's), so half of the requests are
--           confirms.
-- The buyers' tokens come in turn from the file named by FLASHSALE_WRK_BUYERS (lines "<buyer>\t<token>"), as in
-- load/wrk/purchase.lua; the confirm of a hold sends the token of the buyer its 201 names. The sale has no
-- per-buyer limit, so a buyer's earlier holds never refuse the next.
-- done() prints "WRK_JSON {...}": requests, statuses, holds and confirms answered 201, latency percentiles (µs).

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local sale, tag, mode = "sale", "run", "hold"
local counter = 0
local pending = {}
local headers = { ["Content-Type"] = "application/json" }
local buyers = {}
local token_of = {}

function init(args)
  sale = args[1] or sale
  tag = args[2] or tag
  mode = args[3] or mode
  local file = os.getenv("FLASHSALE_WRK_BUYERS")
  if file and file ~= "" then
    for line in io.lines(file) do
      local buyer, token = string.match(line, "^([^\t]+)\t(.+)$")
      if token then
        table.insert(buyers, token)
        token_of[buyer] = token
      end
    end
  end
  statuses, held, confirmed = {}, 0, 0
end

function request()
  local hold = table.remove(pending)
  if hold then
    local token = token_of[hold[2]]
    headers["Idempotency-Key"] = nil
    headers["Authorization"] = token and ("Bearer " .. token) or nil
    return wrk.format("POST", "/sales/" .. sale .. "/holds/" .. hold[1] .. "/confirm", headers, "")
  end
  counter = counter + 1
  local token = #buyers > 0 and buyers[(counter + tid * 7919) % #buyers + 1] or nil
  headers["Idempotency-Key"] = "key-" .. tag .. "-" .. tid .. "-" .. counter
  headers["Authorization"] = token and ("Bearer " .. token) or nil
  return wrk.format("POST", "/sales/" .. sale .. "/holds", headers, '{"quantity":1}')
end

function response(status, _, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    local hold_id = string.match(body, '"hold_id":"(%x+)"')
    if hold_id then
      held = held + 1
      if mode == "checkout" then
        table.insert(pending, { hold_id, string.match(body, '"buyer_id":"([^"]*)"') })
      end
    else
      confirmed = confirmed + 1
    end
  end
end

function done(summary, latency, _)
  local counts, holds, confirms = {}, 0, 0
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses") or {}) do
      counts[code] = (counts[code] or 0) + n
    end
    holds = holds + (thread:get("held") or 0)
    confirms = confirms + (thread:get("confirmed") or 0)
  end
  local parts = {}
  for code, n in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', code, n))
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"statuses":{%s},"held":%d,"confirmed":%d,' ..
    '"latency_us":{"p50":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, table.concat(parts, ","), holds, confirms,
    latency:percentile(50), latency:percentile(99), latency.max))
end
