-- lcm inside an embedding host (build/<lua>/lcm-embed: embed/loader.c loading embed/host.c
-- the way Asterisk loads pbx_lua and FreeSWITCH mod_lua), running the shipped examples in a
-- fresh Lua state per call (mod_lua) or per channel (pbx_lua), against a real lcm-sim.
-- Every call must be accounted for: OK and recorded exactly once, or a result that says
-- whether the outcome was queued in the outbox (never recorded twice).
local sim = require "helpers.sim"

local EMBED = os.getenv("LCM_EMBED") or "build/5.4/lcm-embed"
-- make embed-san: the host loads a sanitized lcm.core, the specs' own interpreter the plain one.
local CPATH = os.getenv("LCM_EMBED_CPATH")
if CPATH then EMBED = "LUA_CPATH='" .. CPATH .. "' " .. EMBED end
local THREADS, CALLS = 4, 25

-- A scratch outbox directory on tmpfs (an outbox append is an fsync).
local function outbox_dir()
  local dir = "/dev/shm/lcm-embed-" .. sim.tmpname():match("[^/]+$")
  assert(os.execute("mkdir -p " .. dir))
  return dir
end

-- Runs the host; returns { callid = result }, success, the output, and the report's numbers.
local function run_host(s, mode, args)
  args = args or {}
  local dir = args.outbox or outbox_dir()
  local cmd = string.format("%s%s --mode %s --threads %d --calls %d --url '%s' --outbox %s %s %s",
                            sim.SAN, EMBED, mode, args.threads or THREADS, args.calls or CALLS, s.url, dir,
                            s.cert and ("--ca-file " .. s.cert.cert) or "", args.extra or "")
  local out, ok = sim.run(cmd)
  if not args.outbox then os.execute("rm -rf " .. dir) end
  local results = {}
  for callid, result in out:gmatch("(t%d+c%d+) ([^\n]+)") do
    assert.is_nil(results[callid], "a call reported twice: " .. callid)
    results[callid] = result
  end
  local report = {}
  for k, v in out:gmatch("([%w_]+)=(%d+)") do report[k] = tonumber(v) end
  return results, ok, out, report
end

-- A retryable failure: queued in the outbox, LCM gets it later.
-- What a queued call reports. "queued rejected": an attempt before LCM's success = false
-- failed after the request left (a 503, a drop after it was read), so whether LCM recorded
-- the outcome is unknown (err.recorded), and the outbox settles it.
local QUEUED = { ["queued http"] = 1, ["queued transport"] = 1, ["queued timeout"] = 1,
                 ["queued rejected"] = 1 }

-- Calls t2c3 and t3c7 are closed in LCM: their Set is answered success = false.
local FIXTURES = { any_callid = true,
                   calls = { { callid = "t2c3", accept = false }, { callid = "t3c7", accept = false } } }

-- A dialer script's model in a threaded host (issue 14): each thread one Lua state whose
-- calls are all tasks in flight at once on its own engine, with faults armed. Under make
-- embed-san this is the engine under ThreadSanitizer, threads each running their own.
describe("tasks in threads, an engine each", function()
  local s
  setup(function() s = sim.start { fixtures = FIXTURES } end)
  teardown(function() s:stop() end)

  it("accounts for every call, each outcome recorded once, queued ones in the outbox", function()
    -- more failures than three attempts of every call can get through: some are queued
    s:fault { status = 503, count = 150 }
    s:fault { drop = true, count = 3 }
    s:fault { drop = true, after = true, count = 3 }
    local dir = outbox_dir()
    local results, ok, out = run_host(s, "tasks", { outbox = dir })
    local records = require("lcm.core").outbox_read(dir .. "/outbox.log")
    os.execute("rm -rf " .. dir)
    assert.is_true(ok, out)
    local recorded, oks, queued = {}, 0, 0
    for _, rec in ipairs(s:outcomes()) do
      assert.is_nil(recorded[rec.callid], "recorded twice: " .. rec.callid)
      recorded[rec.callid] = true
    end
    for t = 1, THREADS do
      for c = 1, CALLS do
        local callid = "t" .. t .. "c" .. c
        local result = results[callid]
        if callid == "t2c3" or callid == "t3c7" then -- closed in LCM: success = false
          assert.truthy(result == "FAILED rejected" or result == "QUEUED", callid .. " " .. tostring(result))
        elseif result == "OK" then
          oks = oks + 1
          assert.is_true(recorded[callid] == true, "OK but not recorded: " .. callid)
        else
          assert.equal("QUEUED", result, callid)
          queued = queued + 1
        end
      end
    end
    assert.equal(queued, #records - (results.t2c3 == "QUEUED" and 1 or 0) - (results.t3c7 == "QUEUED" and 1 or 0))
    assert.is_true(oks > 0 and queued > 0, oks .. " OK, " .. queued .. " queued")
  end)
end)

for _, mode in ipairs { "freeswitch", "asterisk" } do
  describe("the " .. mode .. " embedding", function()
    local s
    setup(function() s = sim.start { fixtures = FIXTURES } end)
    teardown(function() s:stop() end)
    before_each(function() s:reset() end)

    it("accounts for every call, with faults armed, each outcome recorded once", function()
      s:fault { status = 503, count = 6 }
      s:fault { drop = true, count = 3 }
      s:fault { drop = true, after = true, count = 3 }
      local dir = outbox_dir()
      local results, ok, out = run_host(s, mode, { outbox = dir })
      local records = require("lcm.core").outbox_read(dir .. "/outbox.log")
      local queued = records and #records or 0
      os.execute("rm -rf " .. dir)
      assert.is_true(ok, out)
      local oks, n_queued, recorded = 0, 0, {}
      for _, rec in ipairs(s:outcomes()) do
        assert.is_nil(recorded[rec.callid], "recorded twice: " .. rec.callid)
        recorded[rec.callid] = true
      end
      for t = 1, THREADS do
        for c = 1, CALLS do
          local callid = "t" .. t .. "c" .. c
          local result = results[callid]
          assert.is_not_nil(result, "no result for " .. callid)
          if result == "OK" then
            oks = oks + 1
            assert.is_true(recorded[callid] == true, "OK but not recorded: " .. callid)
          elseif result == "not queued rejected" then
            assert.is_nil(recorded[callid], "rejected but recorded: " .. callid)
          else
            -- LCM may have done the work before the answer was lost: the outbox and the
            -- Idempotency-Key make a replay harmless.
            assert.truthy(QUEUED[result], result)
            n_queued = n_queued + 1
          end
        end
      end
      -- What the host's log shows (review finding: nothing reached Asterisk's messages, and
      -- no line named its call): one line per failed call, with its callid, at WARNING when
      -- it is queued and at ERROR (ERR in FreeSWITCH) when it is not; none for a call that
      -- succeeded.
      local lines = {}
      local ALERT = { WARNING = true, ERROR = true, ERR = true } -- what a default log keeps
      for level, callid in out:gmatch("\nlog (%u+) lcm: call (t%d+c%d+):") do
        if ALERT[level] then lines[callid] = (lines[callid] or "") .. level .. " " end
      end
      local err_level = mode == "asterisk" and "ERROR " or "ERR "
      for t = 1, THREADS do
        for c = 1, CALLS do
          local callid = "t" .. t .. "c" .. c
          local result = results[callid]
          local want
          if result ~= "OK" then want = QUEUED[result] and "WARNING " or err_level end
          assert.equal(want, lines[callid], callid .. " " .. result)
        end
      end
      -- The calls closed in LCM are refused, unless a fault hid the answer (then queued).
      for _, callid in ipairs { "t2c3", "t3c7" } do
        assert.is_nil(recorded[callid], callid .. " is closed in LCM but was recorded")
        assert.truthy(results[callid] == "not queued rejected" or QUEUED[results[callid]], results[callid])
      end
      assert.equal(n_queued, queued)
      -- At worst 12 faults fail 6 calls (2 attempts each), and 2 calls are closed in LCM.
      assert.is_true(oks >= THREADS * CALLS - 8, oks .. " OK")
    end)
  end)
end

-- The process-wide counters (csrc/stats.c): every thread's fresh states feed them, and one
-- state made after the calls reads them all (lcm-embed --stats prints lcm.stats_text()).
describe("lcm.stats() in the embedding host", function()
  it("counts the calls of every thread's states, read from one state at the end", function()
    local s = sim.start { fixtures = FIXTURES }
    finally(function() s:stop() end)
    local results, ok, out = run_host(s, "freeswitch", { extra = "--stats" })
    assert.is_true(ok, out)
    local n, rejected = 0, 0
    for _, result in pairs(results) do
      n = n + 1
      if result == "not queued rejected" then rejected = rejected + 1 end
    end
    assert.same({ THREADS * CALLS, 2 }, { n, rejected }) -- t2c3 and t3c7 are closed in LCM
    local text = assert(out:match("lcm%.stats_text%(%):\n(.*)$"), out)
    local function value(series)
      return tonumber(text:match("\n" .. series:gsub("%p", "%%%0") .. " (%S+)\n"))
    end
    local set = '{subtopic="SetBusinessOutcomeWithCallOutcome"}'
    assert.equal(THREADS * CALLS, value("lcm_requests_total" .. set), text)
    assert.equal(THREADS * CALLS, value("lcm_attempts_total" .. set), text)
    assert.equal(THREADS * CALLS, value("lcm_request_duration_seconds_count" .. set), text)
    assert.equal(rejected, value('lcm_errors_total{kind="rejected",code=""}'), text)
    -- the one shared budget of the url: every call succeeded at once, so it is full
    local target = s.url:match("^(https?://[^/]+)")
    assert.equal(500, value('lcm_retry_budget_tokens{target="' .. target .. '",capacity="500"}'), text)
  end)
end)

-- The handle pool: 16 threads whose calls overlap (lcm-sim answers each request late) open
-- about one connection per thread, over http and https; share = false opens one per call.
for _, tls in ipairs { false, true } do
  describe("16 threads of overlapping calls over " .. (tls and "https" or "http"), function()
    local N, C = 16, 15
    local s
    setup(function() s = sim.start { fixtures = { any_callid = true }, tls = tls } end)
    teardown(function() s:stop() end)
    before_each(function()
      s:reset()
      s:fault { delay_ms = 20, count = 100000 }
    end)

    -- Connections the simulator accepted during the run (the state request is one more).
    local function connections(mode, extra)
      local before = s:state().connections
      local results, ok, out, report = run_host(s, mode, { threads = N, calls = C, extra = extra })
      assert.is_true(ok, out)
      local n = 0
      for _, result in pairs(results) do
        assert.equal("OK", result)
        n = n + 1
      end
      assert.equal(N * C, n)
      return s:state().connections - before - 1, report.connections, report
    end

    for _, mode in ipairs { "freeswitch", "asterisk" } do
      it(mode .. ": reuses warm pooled handles, one connection per concurrent call", function()
        local accepted, opened = connections(mode)
        assert.is_true(accepted <= N + 4, accepted .. " connections for " .. N * C .. " calls")
        assert.is_true(opened <= N + 4, opened .. " connections opened by the client")
      end)

      if not tls and mode == "freeswitch" then
        it("gives a temporary handle, not a wait, to a call beyond max_total", function()
          local accepted, _, report = connections(mode, "--max-total 4")
          assert.is_true(report.pooled <= 4, report.pooled .. " pooled handles")
          assert.is_true(report.temporary > 0, "no temporary handle")
          assert.is_true(accepted > 4, accepted .. " connections")
        end)
      end

      it(mode .. ": share = false opens a connection per call", function()
        local accepted, opened = connections(mode, "--no-share")
        assert.is_true(accepted >= N * C, accepted .. " connections for " .. N * C .. " calls")
        assert.equal(accepted, opened)
      end)
    end
  end)
end

describe("one retry budget per LCM, shared by every fresh state of the process", function()
  local s
  setup(function() s = sim.start { fixtures = { any_callid = true } } end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  it("stops retrying when LCM fails, and fills again from the successes once it recovers", function()
    -- 1100 failures (LCM down), then LCM answers again. The budget (500 tokens, 5 a retry)
    -- pays for 100 retries in the whole process, not 1 per call.
    local N, C, FAULTS = 16, 80, 1100
    s:fault { status = 503, count = FAULTS }
    local results, ok, out, report = run_host(s, "freeswitch", { threads = N, calls = C })
    assert.is_true(ok, out)
    local oks, failed = 0, 0
    for _, result in pairs(results) do
      if result == "OK" then oks = oks + 1 else failed = failed + 1 end
    end
    assert.equal(N * C, oks + failed)
    local state = s:state()
    assert.equal(0, state.faults)
    -- Every call made one attempt; retries: the budget's 100 during the outage, and at most
    -- one per thread for calls that failed as it ended and then got refunded tokens.
    assert.is_true(state.requests <= N * C + 100 + N, state.requests .. " requests for " .. N * C .. " calls")
    assert.is_true(failed >= FAULTS - 100 - N, failed .. " calls failed")
    -- Refilled by the successes (one token each), from empty.
    assert.is_true(report.budget_tokens <= oks, report.budget_tokens .. " tokens after " .. oks .. " successes")
    assert.is_true(report.budget_tokens >= oks - 5 * N - 5, report.budget_tokens .. " tokens after " .. oks)
  end)
end)

describe("threads of one process appending to one outbox", function()
  local s, dir
  setup(function() s = sim.start { fixtures = { any_callid = true } } end)
  teardown(function() s:stop() end)
  before_each(function() dir = outbox_dir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("queues every failed Set whole, and one flush records each exactly once", function()
    s:fault { status = 503, count = 100000, subtopic = "SetBusinessOutcomeWithCallOutcome" }
    local results, ok, out = run_host(s, "freeswitch", { outbox = dir })
    assert.is_true(ok, out)
    local n = 0
    for _, result in pairs(results) do
      assert.equal("queued http", result)
      n = n + 1
    end
    assert.equal(THREADS * CALLS, n)
    local records, corrupt, torn = require("lcm.core").outbox_read(dir .. "/outbox.log")
    assert.same({ THREADS * CALLS, 0, false }, { #records, corrupt, torn })
    s:reset()
    local lcm = require "lcm"
    local counts = assert(assert(lcm.new { url = s.url, outbox = dir }):flush_outbox())
    assert.same({ sent = THREADS * CALLS, failed = 0, remaining = 0, corrupt = 0 }, counts)
    local seen = {}
    for _, rec in ipairs(s:outcomes()) do
      assert.is_nil(seen[rec.callid], "recorded twice: " .. rec.callid)
      seen[rec.callid] = true
    end
    assert.equal(THREADS * CALLS, #s:outcomes())
  end)
end)

describe("a fork() of a process with warm connections, over https", function()
  local s
  setup(function() s = sim.start { fixtures = { any_callid = true }, tls = true } end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  it("gives the child connections of its own, and leaves the parent's working", function()
    local before = s:state().connections
    local results, ok, out, report = run_host(s, "freeswitch", { extra = "--fork" })
    assert.is_true(ok, out)
    assert.same({ "OK", "OK" }, { results.t0c1, results.t0c2 })
    -- The child opened one connection; the parent's next call went out on a warm one, which
    -- the child had not closed (a TLS close_notify from the child would have ended it).
    assert.same({ 1, 0 }, { report.fork_child, report.fork_parent })
    assert.equal(report.connections + 1, s:state().connections - before - 1)
  end)
end)
