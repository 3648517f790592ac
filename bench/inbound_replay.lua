-- wrk script for bench/inbound.py: replays pre-signed Twilio webhooks, in order, then stops.
--
-- wrk -t N -c N -s inbound_replay.lua URL DIRECTORY PARKING_PORT PERIOD_US CONNECTIONS
--
-- Thread i of wrk reads DIRECTORY/requests-i.tsv (one request a line: the X-Twilio-Signature,
-- a tab, the url-encoded form) and sends its lines in file order. Each thread has exactly one
-- connection and wrk does not pipeline a script's requests, so a line is sent only after the
-- one before it was answered: every number's texts reach the server in the order written.
-- When its last answer arrives a thread prints "replay: connection finished" and stops; once
-- all have, bench/inbound.py interrupts wrk (which otherwise sleeps out its -d duration) and
-- done() prints the figures as one JSON line after "replay: ".
--
-- With PERIOD_US above 0, each connection sends on a clock: its k-th text is due PERIOD_US × k
-- after its first, and it waits (wrk's delay() hook) until then. A text answered late is
-- followed at once, so the rate holds unless the server cannot keep up. wrk's latency counts
-- from the text written, never the wait before it.

local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } replay_timespec;
  int clock_gettime(int clock_id, replay_timespec *now);
]])
local CLOCK_MONOTONIC = 1
local clock_now = ffi.new("replay_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock_now)
  return tonumber(clock_now.tv_sec) * 1000 + tonumber(clock_now.tv_nsec) / 1e6
end

local threads = {}

function setup(thread)
  thread:set("connection", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1] .. "/requests-" .. connection .. ".tsv"
  local file = assert(io.open(path, "r"))
  queue = {}
  for line in file:lines() do
    local signature, form = line:match("^([^\t]+)\t(.*)$")
    local headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = signature,
    }
    queue[#queue + 1] = wrk.format("POST", nil, headers, form)
  end
  file:close()
  parking = wrk.lookup("127.0.0.1", args[2])[1]
  answered = 0
  non_2xx = 0
  local period_ms = tonumber(args[3] or "0") / 1000
  if period_ms > 0 then
    -- Connections start a fraction of a period apart, so texts arrive evenly, not in volleys.
    local offset_ms = period_ms * connection / tonumber(args[4])
    local next_ms = nil
    -- Defined only when pacing: wrk asks whether a script has delay() once, after init().
    delay = function()
      local now = now_ms()
      next_ms = next_ms or (now + offset_ms)
      local wait_ms = next_ms - now
      next_ms = next_ms + period_ms
      return math.max(0, math.floor(wait_ms + 0.5))
    end
  end
end

-- wrk also calls request() before the run, to check the script, and again after a socket
-- error: the queue moves on when an answer arrives, so neither skips a text. (After the last
-- answer the thread has stopped; the empty request is only there so wrk never gets nil.)
function request()
  return queue[answered + 1] or ""
end

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
  if answered == #queue then
    -- gunicorn closes each connection after its answer and wrk opens the next at once, even
    -- now. At the server, a worker would hold that idle connection until wrk exits: it goes
    -- to a listener of bench/inbound.py's that never accepts instead.
    wrk.thread.addr = parking
    io.write("replay: connection finished\n")
    io.stdout:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local answered_total, non_2xx_total = 0, 0
  for _, thread in ipairs(threads) do
    answered_total = answered_total + thread:get("answered")
    non_2xx_total = non_2xx_total + thread:get("non_2xx")
  end
  local errors = summary.errors
  io.write(string.format(
    'replay: {"answered": %d, "microseconds": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d}\n',
    answered_total,
    summary.duration,
    non_2xx_total,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50),
    latency:percentile(99)
  ))
end
