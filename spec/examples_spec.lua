-- The examples run for real: the demo as a process against lcm-sim, the Asterisk and
-- FreeSWITCH scripts with the host objects they use, the LCM side real. (The embedding host,
-- spec/embed_spec.lua, runs them in fresh states and threads as the servers do.)
local sim = require "helpers.sim"
local hosts = require "helpers.hosts"

describe("examples/dialer.lua (the demo)", function()
  it("lists the outcomes, sets one, and shows an error", function()
    local out, ok = sim.run("sh tools/with-sim.sh " .. sim.LUA .. " examples/dialer.lua")
    assert.is_true(ok, out)
    assert.matches("Call 12345 %(MANUAL%): 2 business outcome%(s%)", out)
    assert.matches("107%s+success", out)
    assert.matches("Set business outcome 107 %(success%) with telephony outcome SUCCESS: done", out)
    assert.matches("kind=lcm code=WS_Error retryable=false", out)
  end)

  it("fails with a non-zero status when LCM is unreachable", function()
    local out, ok = sim.run("LCM_URL=http://127.0.0.1:" .. sim.closed_port() .. "/ " .. sim.LUA ..
                            " examples/dialer.lua")
    assert.is_false(ok)
    assert.matches("could not list the outcomes: lcm: transport error COULDNT_CONNECT", out)
  end)
end)

describe("examples/dialer_async.lua (a dialer loop on tasks)", function()
  local s
  setup(function() s = sim.start { fixtures = { any_callid = true } } end)
  teardown(function() s:stop() end)

  -- 50 agents x 10 wrap-ups, each outcome set in a task of its own, against answers 40 ms
  -- late with 503s and connections dropped after the outcome was recorded: each of the 500
  -- is recorded once (a retry after a drop carries the same Idempotency-Key), and the
  -- ticker reports its worst lateness (one after the other the Sets would take > 20 s).
  it("records all 500 outcomes once at lcm-sim while the ticker keeps time", function()
    s:reset()
    local faults = {}
    for _ = 1, 12 do
      faults[#faults + 1] = { delay_ms = 40, count = 30 }
      faults[#faults + 1] = { status = 503, count = 2 }
      faults[#faults + 1] = { drop = true, after = true, count = 1 }
    end
    faults[#faults + 1] = { delay_ms = 40, count = 1000 } -- the rest: late
    s:fault(faults)
    local dir = sim.tmpdir()
    local out, ok = sim.run(string.format("LCM_URL='%s' LCM_OUTBOX='%s' %s examples/dialer_async.lua", s.url, dir,
                                          sim.LUA))
    assert.is_true(ok, out)
    assert.matches("50 agents wrapped up 500 calls in %d+ ms: 500 outcomes recorded, 0 queued, 0 failed", out)
    local worst = tonumber(out:match("ticker: %d+ ticks of 10 ms, worst lateness ([%d.]+) ms"))
    assert.is_number(worst, out)
    -- (make asan and make valgrind set LCM_TIME_FACTOR: everything is slower there)
    assert.is_true(worst < 100 * tonumber(os.getenv("LCM_TIME_FACTOR") or "1"), out)
    local keys, callids, n = {}, {}, 0
    for _, o in ipairs(s:outcomes()) do
      assert.is_nil(keys[o.idempotency_key], "an Idempotency-Key recorded twice")
      assert.is_nil(callids[o.callid], "a callid recorded twice: " .. tostring(o.callid))
      keys[o.idempotency_key], callids[o.callid] = true, true
      n = n + 1
    end
    assert.equal(500, n)
    for i = 1, 500 do assert.is_true(callids[tostring(700000 + i)], "callid " .. (700000 + i)) end
    -- every 503 and drop was met (the faults before the last were all taken), and retried
    local requests = s:count()
    assert.is_true(requests >= 536, "requests: " .. requests)
    assert.equal(1000 - (requests - 12 * 33), s:state().faults)
  end)

  it("runs on its own simulator (make demo) and checks what it recorded", function()
    local out, ok = sim.run(sim.LUA .. " examples/dialer_async.lua")
    assert.is_true(ok, out)
    assert.matches("500 outcomes recorded, 0 queued, 0 failed", out)
    assert.matches("lcm%-sim recorded 500 outcomes: 500 distinct Idempotency%-Keys, 500 distinct callids", out)
  end)
end)

-- The long-running FreeSWITCH script (luarun), in this process with a stub freeswitch
-- table whose EventConsumer hands out wrap-up events on a schedule and waits for real
-- (embed/host.c runs per-call scripts only: it has no luarun model with an event queue).
describe("examples/freeswitch/lcm_wrapup_consumer.lua (luarun, an EventConsumer loop)", function()
  local core = require "lcm.core"
  local s, dir
  setup(function() s = sim.start { fixtures = { any_callid = true } } end)
  teardown(function() s:stop() end)
  before_each(function()
    s:reset()
    dir = sim.tmpdir()
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function wrapups(n, every_ms, stop_at)
    local schedule = {}
    for i = 1, n do
      schedule[i] = { at = i * every_ms, headers = {
        ["Event-Name"] = "CUSTOM", ["Event-Subclass"] = "lcm::wrapup", lcm_callid = tostring(800000 + i),
        lcm_account = "5|3|" .. i .. "|0|0|44|1", lcm_agent = tostring(1000 + i % 7), lcm_outcome = "107",
        lcm_telephony = i % 5 == 0 and "DNC" or nil } }
    end
    schedule[n + 1] = { at = stop_at, headers = { ["Event-Name"] = "CUSTOM", ["Event-Subclass"] = "lcm::stop" } }
    return schedule
  end

  local function consume(schedule, globals)
    globals.lcm_outbox = dir
    local host = hosts.freeswitch_consumer(schedule, globals)
    local started = core.monotonic_ms()
    hosts.run_file("examples/freeswitch/lcm_wrapup_consumer.lua", { freeswitch = host.freeswitch, argv = {} })
    host.took = core.monotonic_ms() - started
    host.text = table.concat(host.log)
    return host
  end

  local function count(lines, pattern)
    local n = 0
    for _, line in ipairs(lines) do if line:match(pattern) then n = n + 1 end end
    return n
  end

  it("sets 30 outcomes answered 150 ms late side by side, popping briefly while they are in flight", function()
    s:fault { delay_ms = 150, count = 30 }
    local host = consume(wrapups(30, 10, 400), { lcm_url = s.url })
    assert.same({ "CUSTOM lcm::wrapup", "CUSTOM lcm::stop" }, host.bound)
    assert.equal(30, count(host.log, "^INFO lcm: call 8%d+: outcome 107 %(%a+%) set"), host.text)
    assert.matches("stopped after 30 wrap%-up%(s%)", host.text)
    -- one after the other: 30 x 150 ms = 4.5 s
    assert.is_true(host.took < 1500, "took " .. host.took .. " ms")
    local callids = {}
    for _, o in ipairs(s:outcomes()) do
      assert.is_nil(callids[o.callid], "recorded twice: " .. tostring(o.callid))
      callids[o.callid] = o.CallOutcome
    end
    for i = 1, 30 do assert.is_not_nil(callids[tostring(800000 + i)], "call " .. i) end
    -- while Sets were in flight no pop waited longer than 20 ms, and none waited forever
    local busy = 0
    for _, p in ipairs(host.pops) do
      if p.at > 20 and p.at < 300 then
        assert.is_true(p.block == 0 or p.timeout_ms <= 20, "a pop of " .. tostring(p.timeout_ms) .. " ms at " .. p.at)
        busy = busy + 1
      end
    end
    assert.is_true(busy > 10, "pops while busy: " .. busy)
  end)

  it("on lcm::stop, Sets still unanswered after the grace are queued in the outbox", function()
    s:fault { delay_ms = 2500, count = 5 }
    local host = consume(wrapups(5, 10, 100), { lcm_url = s.url, lcm_grace_ms = "200" })
    assert.matches("stopping with 5 Set%(s%) unanswered after 200 ms: queueing them", host.text)
    assert.equal(5, count(host.log, "^WARNING lcm: call 8%d+: outcome 107 %(%a+%) queued in the outbox"), host.text)
    assert.equal(5, #core.outbox_read(dir .. "/outbox.log"))
    assert.is_true(host.took < 1500, "took " .. host.took .. " ms")
  end)
end)

describe("host examples against lcm-sim", function()
  local s, dir
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function()
    s:reset()
    dir = sim.tmpdir()
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function queued()
    local records = require("lcm.core").outbox_read(dir .. "/outbox.log")
    return records and #records or 0
  end

  -- The lines of a host's log at the error level (prefix), none with a doubled "lcm: lcm:".
  local function errors_logged(lines, prefix)
    local n = 0
    for _, line in ipairs(lines) do
      assert.not_matches("lcm: lcm:", line)
      if line:sub(1, #prefix) == prefix then n = n + 1 end
    end
    return n
  end

  local function asterisk(vars)
    local host = hosts.asterisk(vars)
    local env = hosts.run_file("examples/asterisk/extensions.lua", { channel = host.channel, app = host.app })
    env.extensions["lcm-wrapup"].s("lcm-wrapup", "s") -- the dialplan's Gosub(lcm-wrapup,s,1)
    return host
  end

  local function asterisk_call(url, extra)
    local vars = { LCM_URL = url, LCM_OUTBOX = dir, LCM_CALLID = "12345", LCM_ACCOUNT = "5|3|1|0|0|44|1",
                   LCM_AGENT = "1234", LCM_OUTCOME = "108", LCM_TELEPHONY = "DNC" }
    for k, v in pairs(extra or {}) do vars[k] = v end
    return asterisk(vars)
  end

  it("asterisk/extensions.lua sets the outcome ID from the dialplan and Returns to it", function()
    local host = asterisk_call(s.url)
    assert.same({ "OK", 1 }, { host.vars.LCM_RESULT, host.returned })
    local rec = s:outcomes()
    assert.equal(1, #rec)
    assert.same({ 108, 5, "asterisk" }, { rec[1].BusinessOutcome, rec[1].CallOutcome, rec[1].source })
    assert.equal(1, s:count()) -- no get_outcomes first
  end)

  -- Review finding (real Asterisk): a failed call logged twice at verbose 1 (never in
  -- `messages`), without its callid. Now: one Log() line per failed call, with the callid,
  -- WARNING when queued, ERROR when not; nothing at those levels for a call that succeeded.
  local function only_line(lines, level)
    local found = {}
    for _, line in ipairs(lines) do
      -- (the once-per-process line of an unusable outbox is about no call)
      if (line:match("^WARNING ") or line:match("^ERROR ") or line:match("^ERR ")) and line:match(" call ") then
        found[#found + 1] = line
      end
    end
    assert.equal(1, #found, table.concat(found, "\n"))
    assert.equal(level, found[1]:match("^(%S+)"))
    return found[1]
  end

  it("asterisk/extensions.lua logs nothing at WARNING or ERROR for a call that succeeded", function()
    local host = asterisk_call(s.url)
    assert.equal("OK", host.vars.LCM_RESULT)
    assert.same({}, host.log)
  end)

  it("asterisk/extensions.lua reports an LCM refusal as not queued: one ERROR line with the callid", function()
    local host = asterisk_call(s.url, { LCM_CALLID = "999" })
    assert.same({ "not queued lcm", 1 }, { host.vars.LCM_RESULT, host.returned })
    local line = only_line(host.log, "ERROR")
    assert.matches("^ERROR lcm: call 999: outcome 108 %(DNC%) NOT recorded: lcm: lcm error WS_Error.*Invalid Call ID",
                   line)
    assert.equal(0, errors_logged(host.verbose, "1,"))
    assert.equal(0, queued())
  end)

  it("asterisk/extensions.lua queues the outcome when LCM is down: one WARNING line with the callid", function()
    local host = asterisk_call("http://127.0.0.1:" .. sim.closed_port() .. "/api/{subtopic}")
    assert.same({ "queued transport", 1 }, { host.vars.LCM_RESULT, host.returned })
    local line = only_line(host.log, "WARNING")
    assert.matches("^WARNING lcm: call 12345: outcome 108 %(DNC%) queued in the outbox, the flush job will send it: ",
                   line)
    assert.equal(1, queued())
  end)

  it("asterisk/extensions.lua: not queued when the outbox cannot take it, one ERROR line saying why", function()
    local host = asterisk_call("http://127.0.0.1:" .. sim.closed_port() .. "/api/{subtopic}",
                               { LCM_OUTBOX = dir .. "/missing" })
    assert.same({ "not queued transport", 1 }, { host.vars.LCM_RESULT, host.returned })
    local line = only_line(host.log, "ERROR")
    assert.matches("call 12345: outcome 108 %(DNC%) NOT recorded: .*COULDNT_CONNECT.*; not queued: ENOENT", line)
  end)

  it("asterisk/extensions.lua reports a configuration error and still Returns", function()
    local host = asterisk { LCM_OUTBOX = dir, LCM_CALLID = "12345" }
    assert.same({ "not queued invalid", 1 }, { host.vars.LCM_RESULT, host.returned })
    assert.matches("^ERROR lcm: call 12345: .* NOT recorded: .*url", only_line(host.log, "ERROR"))
  end)

  local function freeswitch(vars, globals)
    local host = hosts.freeswitch(vars, globals)
    hosts.run_file("examples/freeswitch/lcm_outcome.lua", { session = host.session, freeswitch = host.freeswitch })
    return host
  end

  local FS_VARS = { lcm_callid = "12345", lcm_account = "5|3|1|0|0|44|1", lcm_agent = "1234",
                    lcm_outcome = "107", lcm_telephony = "REJECT" }

  it("freeswitch/lcm_outcome.lua sets the outcome ID and retries with session:sleep", function()
    s:fault { status = 503, retry_after = 1, subtopic = "SetBusinessOutcomeWithCallOutcome" }
    local host = freeswitch(FS_VARS, { lcm_url = s.url, lcm_outbox = dir })
    assert.equal("OK", FS_VARS.lcm_result)
    assert.same({ 1000 }, host.slept)
    local rec = s:outcomes()
    assert.same({ 107, 9, "freeswitch" }, { rec[1].BusinessOutcome, rec[1].CallOutcome, rec[1].source })
    assert.equal(2, s:count()) -- the failed attempt and its retry, no get_outcomes
  end)

  it("freeswitch/lcm_outcome.lua queues the outcome when LCM keeps failing: one WARNING line", function()
    s:fault { status = 503, count = 10 }
    local vars = { lcm_callid = "12345", lcm_account = "5|3|1|0|0|44|1", lcm_agent = "1234", lcm_outcome = "107" }
    local host = freeswitch(vars, { lcm_url = s.url, lcm_outbox = dir })
    assert.equal("queued http", vars.lcm_result)
    assert.matches("^WARNING lcm: call 12345: outcome 107 %(SUCCESS%) queued in the outbox",
                   only_line(host.log, "WARNING"))
    assert.equal(0, errors_logged(host.log, "ERR "))
    assert.equal(1, queued())
  end)

  it("freeswitch/lcm_outcome.lua reports a refusal as one ERR line with the callid", function()
    local vars = { lcm_callid = "999", lcm_account = "5|3|1|0|0|44|1", lcm_agent = "1234", lcm_outcome = "107" }
    local host = freeswitch(vars, { lcm_url = s.url, lcm_outbox = dir })
    assert.equal("not queued lcm", vars.lcm_result)
    assert.matches("^ERR lcm: call 999: outcome 107 %(SUCCESS%) NOT recorded: .*WS_Error", only_line(host.log, "ERR"))
  end)

  it("freeswitch/lcm_outcome.lua names an unknown telephony outcome (not 'call_outcome is required')", function()
    local vars = { lcm_callid = "12345", lcm_account = "5|3|1|0|0|44|1", lcm_agent = "1234", lcm_outcome = "107",
                   lcm_telephony = "Hangup" }
    local host = freeswitch(vars, { lcm_url = s.url, lcm_outbox = dir })
    assert.equal("not queued invalid", vars.lcm_result)
    assert.matches("call_outcome 'Hangup' matches no known name %(known: .*DNC", only_line(host.log, "ERR"))
    assert.equal(0, s:count())
  end)

  it("freeswitch/lcm_outcome.lua reports a missing configuration", function()
    local vars = { lcm_callid = "12345" }
    local host = freeswitch(vars, { lcm_outbox = dir })
    assert.equal("not queued invalid", vars.lcm_result)
    assert.matches("^ERR lcm: call 12345: .* NOT recorded: .*url", only_line(host.log, "ERR"))
  end)

  it("freeswitch/lcm_outcome.lua runs without a session (luarun) from its arguments", function()
    local host = hosts.freeswitch({}, { lcm_url = s.url, lcm_outbox = dir })
    hosts.run_file("examples/freeswitch/lcm_outcome.lua", {
      freeswitch = host.freeswitch, argv = { "12345", "5|3|1|0|0|44|1", "1234", "108", "DNC" } })
    assert.matches("lcm_result=OK", host.log[#host.log])
    local rec = s:outcomes()
    assert.same({ 108, 5 }, { rec[1].BusinessOutcome, rec[1].CallOutcome })
  end)
end)
