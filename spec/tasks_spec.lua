-- Many calls in flight from one Lua state (lua/lcm/tasks.lua on csrc/engine.c), against a
-- real lcm-sim with latency and faults armed: tasks yield while they wait, a ticking task
-- stays on time, a task that raises is reported and disturbs no other, lcm.stop leaves every
-- Set queued, and misuse is refused with a message instead of a hang or a double send.
local lcm = require "lcm"
local core = require "lcm.core"
local sim = require "helpers.sim"

-- Under valgrind (make valgrind) or a sanitizer (make asan) everything is slower: the time
-- bounds below are multiplied by LCM_TIME_FACTOR, which those targets set.
local SLOW = tonumber(os.getenv("LCM_TIME_FACTOR") or "1")

local function outcome(callid, comment)
  return { callid = callid, account_number = "x", business_outcome = 101, call_outcome = 0, user_id = "1",
           agent_comments = comment }
end

describe("tasks", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function()
    s:reset()
    assert(lcm.configure_engine { max_in_flight = 64 })
  end)

  it("200 Sets answered 200 ms late finish together, each recorded once", function()
    local N = 200
    for i = 1, N do s:add_call { callid = "t" .. i } end
    s:fault { delay_ms = 200, count = N }
    assert(lcm.configure_engine { max_in_flight = N })
    local c = assert(lcm.new { url = s.url, timeout_ms = 5000 })
    local results = {}
    for i = 1, N do
      assert(lcm.spawn(function()
        local ok, err = c:set_outcome(outcome("t" .. i))
        results[i] = ok and "ok" or tostring(err)
      end))
    end
    local started = core.monotonic_ms()
    local left, failures = lcm.run(10000 * SLOW)
    local took = core.monotonic_ms() - started
    assert.same({ 0, {} }, { left, failures })
    for i = 1, N do assert.equal("ok", results[i], "call " .. i) end
    -- one after the other they would take 200 x 200 ms = 40 s
    assert.is_true(took < 1500 * SLOW, "took " .. took .. " ms")
    local keys, callids = {}, {}
    for _, o in ipairs(s:outcomes()) do
      assert.is_nil(keys[o.idempotency_key], "a key recorded twice")
      assert.is_nil(callids[o.callid], "a callid recorded twice")
      keys[o.idempotency_key], callids[o.callid] = true, true
    end
    local n = 0
    for _ in pairs(callids) do n = n + 1 end
    assert.equal(N, n)
  end)

  it("64 tasks calling one after the other keep their 64 connections (none closed past max_idle)", function()
    local c = assert(lcm.new { url = s.url })
    local before = core.pool_stats().connects
    for _ = 1, 64 do
      assert(lcm.spawn(function()
        for _ = 1, 5 do assert(c:get_outcomes("12345")) end
      end))
    end
    assert.same({ 0, {} }, { lcm.run(10000 * SLOW) })
    local opened = core.pool_stats().connects - before
    assert.is_true(opened <= 64, opened .. " connections for 320 calls, 64 at a time")
  end)

  it("keeps a 10 ms ticker on time while every Set retries through an outage, then queues them", function()
    local dir = sim.tmpdir()
    s:fault { status = 503, count = 1000 }
    local c = assert(lcm.new { url = s.url, outbox = dir, max_attempts = 3, retry_budget = false })
    local done, worst, ticks = 0, 0, 0
    local queued = 0
    assert(lcm.spawn(function()
      local last = core.monotonic_ms()
      local limit = last + 15000 * SLOW -- a sleep that blocks would starve the Sets: fail, not hang
      while done < 20 and last < limit do
        lcm.sleep(10)
        local now = core.monotonic_ms()
        worst = math.max(worst, now - last - 10)
        last, ticks = now, ticks + 1
      end
    end))
    for i = 1, 20 do
      assert(lcm.spawn(function()
        local ok, err = c:set_outcome(outcome("12345", "out-" .. i))
        assert(not ok and err.queued, tostring(err))
        assert.equal(3, err.attempts)
        queued = queued + 1
        done = done + 1
      end))
    end
    local started = core.monotonic_ms()
    local left, failures = lcm.run(20000 * SLOW)
    local took = core.monotonic_ms() - started
    assert.same({ 0, {} }, { left, failures })
    assert.equal(20, queued)
    -- the Sets retried while the ticker ticked: 20 x 3 attempts and their backoff, together
    assert.is_true(took < 5000 * SLOW, "took " .. took .. " ms")
    assert.is_true(ticks >= 3, ticks .. " ticks")
    -- a few ms: a turn of the loop, on a shared machine
    assert.is_true(worst < 25 * SLOW, "the ticker was late by " .. worst .. " ms")
    assert.equal(20, #core.outbox_read(dir .. "/outbox.log"))
  end)

  it("runs 500 ready tasks a slice at a time: a ticker is not held back by them", function()
    local worst, busy_done = 0, 0
    assert(lcm.spawn(function()
      local last = core.monotonic_ms()
      while busy_done < 500 do
        lcm.sleep(10)
        local now = core.monotonic_ms()
        worst = math.max(worst, now - last - 10)
        last = now
      end
    end))
    for _ = 1, 500 do
      assert(lcm.spawn(function()
        local t0 = core.monotonic_ms()
        while core.monotonic_ms() - t0 < 0.2 do end -- 0.2 ms of work: 100 ms for all 500
        busy_done = busy_done + 1
      end))
    end
    assert.same({ 0, {} }, { lcm.run(10000 * SLOW) })
    assert.is_true(worst < 25 * SLOW, "the ticker was late by " .. worst .. " ms")
  end)

  it("reports a task that raises, with its traceback, and finishes the others", function()
    local c = assert(lcm.new { url = s.url })
    local got = {}
    for i = 1, 3 do
      assert(lcm.spawn(function(n)
        local list = assert(c:get_outcomes("12345"))
        if n == 2 then error("task two broke") end
        got[n] = #list
      end, i))
    end
    local left, failures = lcm.run(5000 * SLOW)
    assert.equal(0, left)
    assert.equal(1, #failures)
    assert.matches("task two broke", failures[1].error)
    assert.matches("stack traceback", failures[1].traceback)
    assert.equal("failed", failures[1].task.status)
    assert.is_true(got[1] > 0 and got[3] > 0 and got[2] == nil)
  end)

  it("returns what a task returned, and lcm.sleep in two tasks overlaps", function()
    local a = assert(lcm.spawn(function(x) lcm.sleep(150) return x, "a" end, 1))
    local b = assert(lcm.spawn(function() lcm.sleep(150) return 2 end))
    local started = core.monotonic_ms()
    assert.equal(0, (lcm.run()))
    local took = core.monotonic_ms() - started
    assert.is_true(took >= 140 and took < 280 * SLOW, "took " .. took .. " ms")
    assert.same({ "done", 2, 1, "a" }, { a.status, a.results.n, a.results[1], a.results[2] })
    assert.same({ "done", 2 }, { b.status, b.results[1] })
  end)

  it("keeps at most max_in_flight requests running; the rest wait their turn in order", function()
    assert(lcm.configure_engine { max_in_flight = 3 })
    s:fault { delay_ms = 100, count = 9 }
    local c = assert(lcm.new { url = s.url })
    local order = {}
    for i = 1, 9 do
      s:add_call { callid = "q" .. i }
      assert(lcm.spawn(function() assert(c:set_outcome(outcome("q" .. i))) order[#order + 1] = i end))
    end
    local pollable = lcm.engine()
    local started = core.monotonic_ms()
    repeat
      local fd = pollable:pollfd()
      assert.is_true(fd >= 0)
      local left = assert(pollable:step())
      core.sleep(5)
    until left == 0 or core.monotonic_ms() - started > 10000
    -- 9 Sets of 100 ms, 3 at a time: three rounds
    assert.is_true(core.monotonic_ms() - started >= 290)
    local callids = {}
    for _, o in ipairs(s:outcomes()) do callids[#callids + 1] = o.callid end
    assert.equal(9, #callids)
    -- three at a time, in the order submitted: q1-q3 are recorded first, then q4-q6
    for round = 0, 2 do
      local group = { callids[3 * round + 1], callids[3 * round + 2], callids[3 * round + 3] }
      table.sort(group)
      assert.same({ "q" .. 3 * round + 1, "q" .. 3 * round + 2, "q" .. 3 * round + 3 }, group)
    end
    assert.equal(9, #order)
  end)

  it("lcm.stop ends every request now, and every Set in flight is queued", function()
    local dir = sim.tmpdir()
    -- longer than the run below, and than no attempt may time out (a retry would go through)
    s:fault { delay_ms = 3000 * SLOW, count = 10 }
    local c = assert(lcm.new { url = s.url, outbox = dir, timeout_ms = 10000 * SLOW })
    local results = {}
    for i = 1, 10 do
      assert(lcm.spawn(function()
        local ok, err = c:set_outcome(outcome("12345", "stop-" .. i))
        results[i] = ok and "ok" or (err.code .. " " .. tostring(err.queued) .. " " .. tostring(err.recorded))
      end))
    end
    local ticking, limit = true, core.monotonic_ms() + 10000 * SLOW -- (a sleep that blocks: fail, not hang)
    -- a ticker: left as it is by lcm.stop
    assert(lcm.spawn(function() while ticking and core.monotonic_ms() < limit do lcm.sleep(10) end end))
    finally(function() -- when this case fails, its ticker must not outlive it
      ticking = false
      lcm.run(1000 * SLOW)
    end)
    local left = lcm.run(200 * SLOW)
    assert.equal(11, left)
    local started = core.monotonic_ms()
    left = lcm.stop()
    assert.is_true(core.monotonic_ms() - started < 500 * SLOW)
    assert.equal(1, left) -- the ticker
    for i = 1, 10 do assert.equal("CANCELLED true unknown", results[i]) end
    assert.equal(10, #core.outbox_read(dir .. "/outbox.log"))
    -- after stop, calls are sent again: the flush delivers each once
    local counts = assert(c:flush_outbox())
    assert.equal(10, counts.sent)
    local comments = {}
    for _, o in ipairs(s:outcomes()) do comments[o.AgentComments] = (comments[o.AgentComments] or 0) + 1 end
    for i = 1, 10 do assert.is_true(comments["stop-" .. i] <= 2, "stop-" .. i) end
    ticking = false
    assert.equal(0, (lcm.run(1000 * SLOW))) -- the ticker, left by stop, ends in the next run
  end)

  -- A PBX's fresh state per call pays only for what it uses: lcm.tasks is loaded by the
  -- first lcm.spawn (or a call inside cqueues), not by require "lcm" and a blocking call.
  it("is loaded by lcm.spawn, not by a blocking call", function()
    local script = [[
      local lcm = require "lcm"
      local c = assert(lcm.new { url = os.getenv("URL") })
      assert(c:get_outcomes("12345"))
      print(package.loaded["lcm.tasks"] == nil)
      lcm.spawn(function() assert(c:get_outcomes("12345")) end)
      print(package.loaded["lcm.tasks"] ~= nil, lcm.run(5000))
    ]]
    local out, ok = sim.run("URL='" .. s.url .. "' " .. sim.LUA .. " -e '" .. script .. "'")
    assert.is_true(ok, out)
    assert.matches("^true\ntrue\t0\ttable: ", out)
  end)

  -- Many requests in flight against the process's open-file limit: a request that gets no
  -- descriptor for its connection is NO_DESCRIPTORS (retryable: it passes as others end), not
  -- OUT_OF_MEMORY; below the limit (max_in_flight) every call goes through.
  it("names the open-file limit when in-flight requests reach it, and max_in_flight avoids it", function()
    local script = sim.file([[
      local lcm = require "lcm"
      local url, in_flight = ...
      assert(lcm.configure_engine { max_in_flight = tonumber(in_flight) })
      local c = assert(lcm.new { url = url, max_attempts = 1, retry_budget = false })
      local codes = {}
      for i = 1, 200 do
        lcm.spawn(function()
          local ok, err = c:set_outcome { callid = "12345", account_number = "x", business_outcome = 101,
                                          call_outcome = 0, user_id = "1", agent_comments = "fd" .. i }
          local k = ok and "ok" or (err.code .. (err.retryable and " retryable" or " final"))
          codes[k] = (codes[k] or 0) + 1
        end)
      end
      assert(lcm.run(60000) == 0)
      for k, v in pairs(codes) do print(k .. "=" .. v) end
    ]])
    local function run(in_flight)
      -- busted's own descriptors closed in the child first (they would count against the
      -- limit, more or fewer with the cases run before), then at most 100
      local child = string.format("for f in /proc/$$/fd/*; do n=${f##*/}; [ \"$n\" -gt 2 ] && eval \"exec $n>&-\"; " ..
                                  "done; ulimit -n 100 && exec %s %s '%s' %d", sim.LUA, script, s.url, in_flight)
      local out, ok = sim.run("bash -c " .. require("lcm.sim").quote(child) .. " 2>&1")
      assert.is_true(ok, out)
      local codes = {}
      for k, v in out:gmatch("([%w_ ]+)=(%d+)") do codes[k] = tonumber(v) end
      return codes, out
    end
    s:fault { delay_ms = 300, count = 200 } -- all 200 in flight at once
    local codes, out = run(200)
    assert.is_true((codes["NO_DESCRIPTORS retryable"] or 0) > 0, out)
    assert.is_nil(codes["OUT_OF_MEMORY final"], out)
    s:reset()
    codes, out = run(20)
    assert.same({ ok = 200 }, codes, out)
  end)

  describe("misuse", function()
    it("lcm.spawn of a non-function is invalid", function()
      for _, v in ipairs { 1, "f", {}, true } do
        local task, err = lcm.spawn(v)
        assert.is_nil(task)
        assert.same({ "invalid", "fn" }, { err.kind, err.field })
      end
    end)

    it("lcm.run from inside a task is invalid, and the outer run goes on", function()
      local inner
      assert(lcm.spawn(function() inner = { lcm.run() } end))
      assert.equal(0, (lcm.run(1000 * SLOW)))
      assert.is_nil(inner[1])
      assert.same({ "invalid", "lcm.run" }, { inner[2].kind, inner[2].field })
    end)

    it("a task resumed by hand sends nothing and says why", function()
      local c = assert(lcm.new { url = s.url })
      local result
      local task = assert(lcm.spawn(function() result = { c:get_outcomes("12345") } end))
      local ok = coroutine.resume(task.co)
      assert.is_true(ok)
      assert.is_nil(result[1])
      assert.same({ "invalid", "task" }, { result[2].kind, result[2].field })
      assert.equal(0, s:count())
      assert.equal(0, (lcm.run(1000 * SLOW)))
    end)

    it("lcm.run with a bad timeout is invalid", function()
      for _, v in ipairs { -1, 0 / 0, "1", 1e300 } do
        local left, err = lcm.run(v)
        assert.is_nil(left)
        assert.equal("timeout_ms", err.field)
      end
    end)

    it("configure_engine refuses unknown settings and bad limits", function()
      local ok, err = lcm.configure_engine { max_in_flihgt = 3 }
      assert.same({ nil, "max_in_flihgt" }, { ok, err.field })
      ok, err = lcm.configure_engine { max_in_flight = 0 }
      assert.same({ nil, "max_in_flight" }, { ok, err.field })
      ok, err = lcm.configure_engine { max_in_flight = 1.5 }
      assert.same({ nil, "max_in_flight" }, { ok, err.field })
    end)
  end)

  it("a call outside any task blocks as before, while tasks' requests wait for the loop", function()
    local c = assert(lcm.new { url = s.url })
    s:fault { delay_ms = 300, count = 1 }
    local got
    assert(lcm.spawn(function() got = #assert(c:get_outcomes("12345")) end))
    local pollable = lcm.engine()
    pollable:step() -- the task starts: its request is in flight (300 ms late)
    local list = assert(c:get_outcomes("12345")) -- blocks; the task's request moves meanwhile
    assert.is_true(#list > 0)
    assert.is_nil(got) -- only the loop resumes a task
    assert.equal(0, (lcm.run(2000 * SLOW)))
    assert.is_true(got > 0)
  end)
end)

describe("cqueues", function()
  local ok_cq, cqueues = pcall(require, "cqueues")
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)

  it("drives 50 concurrent calls, each yielding to cqueues", function()
    if not ok_cq then
      pending("lua-cqueues is not installed for " .. _VERSION .. " (Debian packages it for 5.1-5.4)")
      return
    end
    s:fault { delay_ms = 200, count = 50 }
    assert(lcm.configure_engine { max_in_flight = 64 })
    local c = assert(lcm.new { url = s.url })
    local cq = cqueues.new()
    local got, ticks = 0, 0
    for _ = 1, 50 do
      cq:wrap(function()
        local list = assert(c:get_outcomes("12345"))
        got = got + (#list > 0 and 1 or 0)
      end)
    end
    cq:wrap(function()
      while got < 50 do
        cqueues.sleep(0.01)
        ticks = ticks + 1
      end
    end)
    local started = core.monotonic_ms()
    assert(cq:loop())
    local took = core.monotonic_ms() - started
    assert.equal(50, got)
    assert.is_true(took < 1500 * SLOW, "took " .. took .. " ms")
    assert.is_true(ticks >= 10, "cqueues' own coroutine ran " .. ticks .. " times")
  end)
end)
