-- wrk script for bench/run.py: authenticated requests, one pre-built body per request, exact
-- status counts.
--
-- Environment:
--   BENCH_METHOD        GET or POST
--   BENCH_PATH          request path
--   BENCH_TOKEN         API token (Authorization: Token <key>)
--   BENCH_CONTENT_TYPE  media type of the bodies (POST)
--   BENCH_BODY_FILE     bodies, one per line (POST): each is sent once. Thread t of T sends
--                       lines t, t+T, t+2T, ...; a thread that runs out stops and marks the
--                       run "exhausted" (its throughput is then a lower bound).
--   BENCH_THREADS       wrk's --threads (each thread's Lua state needs it to pick its lines)
--   BENCH_COUNT_BATCH   "1": read {"created":n,"replayed":n,"failed":n,...} answers and sum them
--
-- done() prints one line "BENCH_JSON {...}" that bench/load.py parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local function load_bodies(file_name, tid, thread_count)
  local mine = {}
  local line_no = 0
  for line in io.lines(file_name) do
    if line_no % thread_count == tid - 1 then
      table.insert(mine, line)
    end
    line_no = line_no + 1
  end
  return mine
end

function init(args)
  method = os.getenv("BENCH_METHOD") or "GET"
  path = os.getenv("BENCH_PATH")
  headers = { ["Authorization"] = "Token " .. os.getenv("BENCH_TOKEN") }
  bodies = nil
  if method == "POST" then
    headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
    -- setup() ran in the main state: each thread learns the thread count from BENCH_THREADS.
    bodies = load_bodies(os.getenv("BENCH_BODY_FILE"), tid, tonumber(os.getenv("BENCH_THREADS")))
  end
  count_batch = os.getenv("BENCH_COUNT_BATCH") == "1"
  sent = 0
  ok = 0
  not_ok = 0
  exhausted = 0
  statuses = {}
  items = { created = 0, replayed = 0, failed = 0 }
end

function request()
  sent = sent + 1
  if bodies == nil then
    return wrk.format(method, path, headers)
  end
  if sent > #bodies then
    exhausted = 1
    wrk.thread:stop()
    sent = #bodies
  end
  return wrk.format(method, path, headers, bodies[sent])
end

function response(status, resp_headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    not_ok = not_ok + 1
  end
  statuses[status] = (statuses[status] or 0) + 1
  if count_batch and status == 200 then
    local created, replayed, failed = body:match('^{"created":(%d+),"replayed":(%d+),"failed":(%d+)')
    if created then
      items.created = items.created + tonumber(created)
      items.replayed = items.replayed + tonumber(replayed)
      items.failed = items.failed + tonumber(failed)
    end
  end
end

function done(summary, latency, requests)
  local total = { ok = 0, not_ok = 0, exhausted = 0, created = 0, replayed = 0, failed = 0 }
  local by_status = {}
  for _, thread in ipairs(threads) do
    total.ok = total.ok + thread:get("ok")
    total.not_ok = total.not_ok + thread:get("not_ok")
    total.exhausted = math.max(total.exhausted, thread:get("exhausted"))
    local thread_items = thread:get("items")
    total.created = total.created + thread_items.created
    total.replayed = total.replayed + thread_items.replayed
    total.failed = total.failed + thread_items.failed
    for status, count in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(by_status) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"ok":%d,"not_ok":%d,"exhausted":%d,'
      .. '"statuses":{%s},"items":{"created":%d,"replayed":%d,"failed":%d},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, total.ok, total.not_ok, total.exhausted,
    table.concat(parts, ","), total.created, total.replayed, total.failed,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max
  ))
end
