-- wrk script: POST a body read from BENCH_BODY to BENCH_PATH, optionally at a fixed rate, and
-- optionally stop after BENCH_STOP_AFTER responses. Prints one JSON line at the end.
--   BENCH_BODY        file holding the request body
--   BENCH_PATH        request path (default /v1/chat/completions)
--   BENCH_RATE        total requests per second across all threads (0: as fast as possible)
--   BENCH_STOP_AFTER  stop each thread after this many responses (0: run for -d); wrk still waits -d
--   BENCH_ACCEPT      Accept header (optional)
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

local function read_file(name)
  local f = assert(io.open(name, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

local threads = {}
local body = read_file(os.getenv("BENCH_BODY"))
local path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
local accept = os.getenv("BENCH_ACCEPT")
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "0")

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  if accept then headers["Accept"] = accept end
  req = wrk.format("POST", path, headers, body)
  bad = 0
  seen = 0
  interval = 0
  if rate > 0 then
    interval = 1000.0 * #threads_count_hint / rate
  end
  next_at = 0
end

-- wrk gives each thread its own Lua state; the thread count is passed in BENCH_THREADS.
threads_count_hint = {}
for i = 1, tonumber(os.getenv("BENCH_THREADS") or "1") do threads_count_hint[i] = i end

function request()
  return req
end

function delay()
  if interval <= 0 then return 0 end
  local t = now_ms()
  if next_at == 0 then next_at = t end
  next_at = next_at + interval
  local d = next_at - t
  if d < 0 then return 0 end
  return d
end

function response(status, headers, body)
  seen = seen + 1
  if status < 200 or status > 299 then bad = bad + 1 end
  if stop_after > 0 and seen >= stop_after then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do non2xx = non2xx + (tonumber(t:get("bad")) or 0) end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_timeout":%d,"err_status":%d,"lat_mean_us":%.1f,"lat_p50_us":%d,' ..
    '"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, non2xx, e.connect, e.read, e.write,
    e.timeout, e.status, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
