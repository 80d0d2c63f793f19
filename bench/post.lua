-- wrk script: POST the same body on every request.
--
--   wrk -s bench/post.lua URL -- BODY_FILE ["Header: value" ...]
--
-- BODY_FILE holds the request body (bench/run writes a ~1 KB JSON event,
-- or a signed one together with its X-Signature header). The body carries
-- no "id", so hookd gives every request an id of its own and never answers
-- one as a duplicate. done() prints one line, "BENCH {json}", with the
-- figures bench/run keeps (latencies in microseconds); wrk counts a
-- response as an error in `status` when its status is 400 or more.

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

function init(args)
  wrk.method = "POST"
  wrk.body = read_file(args[1])
  wrk.headers["Content-Type"] = "application/json"
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
