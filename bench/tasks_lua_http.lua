-- make bench, the in-flight rows' peer (bench/async.lua drives it): lua-http on cqueues,
-- INFLIGHT coroutines on one controller, each with its own keep-alive HTTP/1.1 connection,
-- POSTing the get_outcomes request in a loop and decoding the answer with lua-cjson: what a
-- script does for concurrency without lcm (no retries, no LCM semantics, no records).
-- Debian packages lua-http for Lua 5.1-5.3; run it with lua5.3 (on Debian 12 its
-- dependencies lpeg_patterns, basexx and fifo are installed for 5.1/5.2 only: add
-- /usr/share/lua/5.1/?.lua to LUA_PATH, which bench/async.lua does).
--   lua5.3 bench/tasks_lua_http.lua run URL N INFLIGHT
--       N calls after a warm-up of 2 x INFLIGHT; prints calls per second.
--   lua5.3 bench/tasks_lua_http.lua rss URL INFLIGHT MS
--       for a URL that answers after more than MS ms: the RSS (KiB) with nothing in
--       flight, then INFLIGHT requests started and the loop driven for MS ms, the RSS
--       again; then every request finished. Prints: rss_before rss_during, then the
--       calls that succeeded.
local cqueues = require "cqueues"
local client = require "http.client"
local new_headers = require("http.headers").new
local cjson = require "cjson"

local REQUEST = [[{"channel":"LCM","topic":"WebService","subtopic":"GetOutcomeByOutcomegroup",]] ..
                [["source":"bench","data":{"callid":"","type":"MANUAL"}}]]

local mode, url = arg[1], arg[2]
local host, port, path = url:match("^http://([^:/]+):(%d+)(/.*)$")
assert(host, "an http://host:port/path URL")
port = tonumber(port)

local function rss_kib()
  local f = assert(io.open("/proc/self/statm"))
  local _, resident = f:read("*n", "*n")
  f:close()
  return resident * 4
end

local function connect()
  return assert(client.connect { host = host, port = port, tls = false, version = 1.1 })
end

-- One POST on conn; the decoded answer's message.
local function post(conn)
  local stream = assert(conn:new_stream())
  local h = new_headers()
  h:append(":method", "POST")
  h:append(":scheme", "http")
  h:append(":authority", host .. ":" .. port)
  h:append(":path", path)
  h:append("content-type", "application/json")
  h:append("content-length", tostring(#REQUEST))
  assert(stream:write_headers(h, false))
  assert(stream:write_chunk(REQUEST, true))
  local answer = assert(stream:get_headers())
  assert(answer:get(":status") == "200", "status " .. tostring(answer:get(":status")))
  local body = assert(stream:get_body_as_string())
  stream:shutdown()
  local message = cjson.decode(body).message
  assert(message and message.response, "no message in the answer")
  return message
end

-- `total` calls with `inflight` coroutines on cq.
local function calls(cq, conns, total, inflight)
  local started, done = 0, 0
  for i = 1, inflight do
    cq:wrap(function()
      while started < total do
        started = started + 1
        post(conns[i])
        done = done + 1
      end
    end)
  end
  assert(cq:loop())
  return done
end

if mode == "run" then
  local n, inflight = tonumber(arg[3]), tonumber(arg[4])
  local cq = cqueues.new()
  local conns = {}
  for i = 1, inflight do conns[i] = connect() end
  calls(cq, conns, 2 * inflight, inflight)
  local start = cqueues.monotime()
  calls(cq, conns, n, inflight)
  print(string.format("%.1f", n / (cqueues.monotime() - start)))
elseif mode == "rss" then
  local inflight, ms = tonumber(arg[3]), tonumber(arg[4])
  local cq = cqueues.new()
  collectgarbage()
  local before = rss_kib()
  local ok = 0
  for _ = 1, inflight do
    cq:wrap(function()
      post(connect())
      ok = ok + 1
    end)
  end
  local deadline = cqueues.monotime() + ms / 1000
  while cqueues.monotime() < deadline and not cq:empty() do
    assert(cq:step(math.max(0, deadline - cqueues.monotime())))
  end
  local during = rss_kib()
  if ok > 0 then
    io.stderr:write(string.format("tasks_lua_http: %d calls ended within %d ms: the URL is not slow enough\n", ok, ms))
  end
  assert(cq:loop())
  print(before .. " " .. during)
  print(ok)
else
  io.stderr:write("usage: tasks_lua_http.lua run URL N INFLIGHT | rss URL INFLIGHT MS\n")
  os.exit(2)
end
