-- make bench, the in-flight rows' lcm side (bench/async.lua drives it): one Lua state,
-- INFLIGHT tasks (lcm.spawn), each calling client:get_outcomes in a loop, then lcm.run().
--   lua5.4 bench/tasks_lcm.lua run URL N INFLIGHT [CAFILE|-]
--       N calls after a warm-up of 2 x INFLIGHT; prints calls per second.
--   lua5.4 bench/tasks_lcm.lua rss URL INFLIGHT MS [CAFILE|-]
--       for a URL that answers after more than MS ms: the RSS (KiB) with nothing in
--       flight, then INFLIGHT tasks spawned and the engine driven for MS ms, the RSS
--       again; then every call finished. Prints: rss_before rss_during, then the calls
--       that succeeded.
--   lua5.4 bench/tasks_lcm.lua flat URL N INFLIGHT [CAFILE|-]
--       N calls; prints the RSS (KiB) after the first 10% and at the end, and N.
-- With no lcm.spawn (a build before the engine) it prints "skip: <reason>" and exits 0.
local lcm = require "lcm"

local mode, url = arg[1], arg[2]
if type(lcm.spawn) ~= "function" then
  print("skip: this lcm has no lcm.spawn (no engine)")
  return
end

local function rss_kib()
  local f = assert(io.open("/proc/self/statm"))
  local _, resident = f:read("*n", "*n")
  f:close()
  return resident * 4
end

local function fail(what, err) error(what .. ": " .. tostring(err and err.message or err), 0) end

-- Runs `total` calls with `inflight` tasks; `at(done)` is called after each call.
local function calls(client, total, inflight, at)
  local done, started = 0, 0
  local function agent()
    while started < total do
      started = started + 1
      local list, err = client:get_outcomes("", "MANUAL")
      if not list then fail("get_outcomes", err) end
      done = done + 1
      if at then at(done) end
    end
  end
  for _ = 1, inflight do assert(lcm.spawn(agent)) end
  local left, failures = lcm.run()
  if left ~= 0 or #failures > 0 then fail("lcm.run", failures[1] and failures[1].error or left) end
  return done
end

local function client_for(cafile, inflight)
  assert(lcm.configure_engine { max_in_flight = inflight })
  return assert(lcm.new { url = url, ca_file = cafile ~= "-" and cafile or nil, timeout_ms = 60000 })
end

if mode == "run" then
  local n, inflight = tonumber(arg[3]), tonumber(arg[4])
  local client = client_for(arg[5], inflight)
  calls(client, 2 * inflight, inflight)
  local start = require("lcm.core").monotonic_ms()
  calls(client, n, inflight)
  print(string.format("%.1f", n * 1000 / (require("lcm.core").monotonic_ms() - start)))
elseif mode == "rss" then
  local inflight, ms = tonumber(arg[3]), tonumber(arg[4])
  local client = client_for(arg[5], inflight)
  collectgarbage()
  local before = rss_kib()
  local ok = 0
  for _ = 1, inflight do
    assert(lcm.spawn(function()
      local list, err = client:get_outcomes("", "MANUAL")
      if not list then fail("get_outcomes", err) end
      ok = ok + 1
    end))
  end
  local left = lcm.run(ms)
  local during = rss_kib()
  if left < inflight then
    io.stderr:write(string.format("tasks_lcm: %d calls ended within %d ms: the URL is not slow enough\n",
                                  inflight - left, ms))
  end
  local _, failures = lcm.run()
  if #failures > 0 then fail("lcm.run", failures[1].error) end
  print(before .. " " .. during)
  print(ok)
elseif mode == "flat" then
  local n, inflight = tonumber(arg[3]), tonumber(arg[4])
  local client = client_for(arg[5], inflight)
  local early
  calls(client, n, inflight, function(done)
    if done == n // 10 then
      collectgarbage()
      early = rss_kib()
    end
  end)
  collectgarbage()
  print(early .. " " .. rss_kib())
  print(n)
else
  io.stderr:write("usage: tasks_lcm.lua run URL N INFLIGHT [CAFILE|-] | rss URL INFLIGHT MS [CAFILE|-] | " ..
                  "flat URL N INFLIGHT [CAFILE|-]\n")
  os.exit(2)
end
