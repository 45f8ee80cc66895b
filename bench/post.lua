-- bench/post.lua: wrk script for bench/ingest.sh.
--
-- POSTs a JSON fixture with its top-level "time" changed on every request:
-- identical bodies are duplicates to psabridge and would skip the commit
-- that the benchmark is meant to measure.  time = BENCH_TIME_BASE +
-- BENCH_SEQ_BASE + n * BENCH_THREADS + thread_id, so bodies are unique
-- across wrk's threads, and across runs when each run gets its own
-- BENCH_SEQ_BASE.
--
-- Environment:
--   BENCH_FIXTURE    path of the JSON body (required)
--   BENCH_TOKEN      sent as "Authorization: Bearer TOKEN" when set
--   BENCH_THREADS    wrk's -t value (default 1; must match, or bodies repeat)
--   BENCH_SEQ_BASE   offset of this run's sequence (default 0)
--   BENCH_TIME_BASE  first "time" (default: the fixture's own)
--
-- done() prints one line that bench/ingest.sh parses:
--   wrk_result requests=N duration_us=N rps=F p50_us=N p90_us=N p99_us=N
--     max_us=N errors_connect=N errors_read=N errors_write=N
--     errors_timeout=N errors_status=N non2xx=N statuses=200:N,...
-- non2xx counts every answer outside 200..299 (wrk's own errors_status
-- only counts >= 400); statuses lists every code seen, so the caller can
-- also insist on one code (202 from psabridge, not a 200 for a duplicate).

local threads = {}
local next_id = 0

-- Runs in wrk's main Lua state, once per thread, before init().
function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local prefix, suffix
local time_base, stride, n = 0, 1, 0
statuses = {}

local function env_number(name, default)
   local v = os.getenv(name)
   if v == nil or v == "" then
      return default
   end
   local num = tonumber(v)
   if num == nil then
      error(name .. " is not a number: " .. v)
   end
   return num
end

-- Runs in each thread's own Lua state.
function init(args)
   local path = os.getenv("BENCH_FIXTURE")
   if path == nil or path == "" then
      error("BENCH_FIXTURE is not set")
   end
   local f = assert(io.open(path, "rb"))
   local body = f:read("*a")
   f:close()

   -- The first "time" key is the event's (the fixtures keep it before
   -- "payload"); everything around its value is sent unchanged.
   local pre, t, post = body:match('^(.-"time"%s*:%s*)(%d+)(.*)$')
   if pre == nil then
      error(path .. ': no integer "time" field')
   end
   prefix, suffix = pre, post
   time_base = env_number("BENCH_TIME_BASE", tonumber(t))
      + env_number("BENCH_SEQ_BASE", 0)
   stride = env_number("BENCH_THREADS", 1)
   if id >= stride then
      error("BENCH_THREADS=" .. stride .. " but thread id is " .. id)
   end

   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   local token = os.getenv("BENCH_TOKEN")
   if token ~= nil and token ~= "" then
      wrk.headers["Authorization"] = "Bearer " .. token
   end
end

function request()
   local t = time_base + n * stride + id
   n = n + 1
   return wrk.format(nil, nil, nil,
                     prefix .. string.format("%d", t) .. suffix)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

-- Runs in the main state after the run; threads' counters are copied over.
function done(summary, latency, requests)
   local total, non2xx = {}, 0
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses") or {}
      for code, count in pairs(s) do
         total[code] = (total[code] or 0) + count
      end
   end
   local codes = {}
   for code, count in pairs(total) do
      table.insert(codes, code)
      if code < 200 or code > 299 then
         non2xx = non2xx + count
      end
   end
   table.sort(codes)
   local parts = {}
   for _, code in ipairs(codes) do
      table.insert(parts, string.format("%d:%d", code, total[code]))
   end

   local e = summary.errors
   io.write(string.format(
      "wrk_result requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d"
         .. " p99_us=%d max_us=%d errors_connect=%d errors_read=%d"
         .. " errors_write=%d errors_timeout=%d errors_status=%d"
         .. " non2xx=%d statuses=%s\n",
      summary.requests, summary.duration,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.timeout, e.status,
      non2xx, #parts > 0 and table.concat(parts, ",") or "none"))
end
