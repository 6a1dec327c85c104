-- lcm inside an embedding host (build/<lua>/lcm-embed, embed/host.c), the way FreeSWITCH
-- (a fresh Lua state per call, in the call's thread) and Asterisk (one long-lived state per
-- channel thread) run it, against a real lcm-sim with faults armed. Every call must be
-- accounted for: OK and recorded exactly once, or a classified error (never recorded twice).
local sim = require "helpers.sim"

local EMBED = os.getenv("LCM_EMBED") or "build/5.4/lcm-embed"
local THREADS, CALLS = 4, 25

local function run_host(s, mode, extra)
  local out, ok = sim.run(string.format("%s%s --mode %s --threads %d --calls %d --url '%s' %s",
                                        sim.SAN, EMBED, mode, THREADS, CALLS, s.url, extra or ""))
  local results = {}
  for callid, result in out:gmatch("(t%d+c%d+) (%S+)") do
    assert.is_nil(results[callid], "a call reported twice: " .. callid)
    results[callid] = result
  end
  return results, ok, out
end

-- Calls t2c3 and t3c7 are closed in LCM: their Set is answered success = false.
local FIXTURES = { any_callid = true,
                   calls = { { callid = "t2c3", accept = false }, { callid = "t3c7", accept = false } } }

for _, mode in ipairs { "freeswitch", "asterisk" } do
  describe("the " .. mode .. " embedding", function()
    local s
    setup(function() s = sim.start { fixtures = FIXTURES } end)
    teardown(function() s:stop() end)
    before_each(function() s:reset() end)

    it("accounts for every call, with faults armed, each outcome recorded once", function()
      s:fault { status = 503, count = 6 }
      s:fault { drop = true, count = 3, subtopic = "SetBusinessOutcomeWithCallOutcome" }
      s:fault { drop = true, after = true, count = 3, subtopic = "SetBusinessOutcomeWithCallOutcome" }
      local results, ok, out = run_host(s, mode)
      assert.is_true(ok, out)
      local n, oks, recorded = 0, 0, {}
      for _, rec in ipairs(s:outcomes()) do
        assert.is_nil(recorded[rec.callid], "recorded twice: " .. rec.callid)
        recorded[rec.callid] = true
      end
      for t = 1, THREADS do
        for c = 1, CALLS do
          local callid = "t" .. t .. "c" .. c
          local result = results[callid]
          assert.is_not_nil(result, "no result for " .. callid)
          n = n + 1
          if result == "OK" then
            oks = oks + 1
            assert.is_true(recorded[callid] == true, "OK but not recorded: " .. callid)
          elseif result == "rejected" then
            assert.is_nil(recorded[callid], "rejected but recorded: " .. callid)
          else
            -- A retryable failure of a Set: LCM may have done the work before the answer
            -- was lost (that is what the outbox and the Idempotency-Key are for).
            assert.truthy(({ transport = 1, timeout = 1, http = 1 })[result], result)
          end
        end
      end
      assert.equal(THREADS * CALLS, n)
      assert.equal("rejected", results.t2c3)
      assert.equal("rejected", results.t3c7)
      for callid in pairs(recorded) do
        assert.truthy(({ OK = 1, transport = 1, timeout = 1, http = 1 })[results[callid]],
                      "recorded, but the call says " .. tostring(results[callid]))
      end
      -- At worst 12 faults fail 6 calls (2 attempts each), and 2 calls are closed in LCM.
      assert.is_true(oks >= THREADS * CALLS - 8, oks .. " OK")
    end)

    it("opens about one connection per thread with the shared cache, one per call without", function()
      local before = s:state().connections
      local _, ok, out = run_host(s, mode)
      assert.is_true(ok, out)
      local shared = s:state().connections - before - 1
      before = s:state().connections
      _, ok, out = run_host(s, mode, "--no-share")
      assert.is_true(ok, out)
      local alone = s:state().connections - before - 1
      assert.is_true(shared <= 2 * THREADS, "with the cache: " .. shared .. " connections")
      if mode == "freeswitch" then
        assert.is_true(alone >= THREADS * CALLS, "without the cache: " .. alone .. " connections")
      else
        assert.is_true(alone >= THREADS and alone <= 2 * THREADS, "without the cache: " .. alone)
      end
    end)
  end)
end

describe("threads of one process appending to one outbox", function()
  local s, dir
  setup(function() s = sim.start { fixtures = { any_callid = true } } end)
  teardown(function() s:stop() end)
  before_each(function()
    dir = sim.tmpname()
    assert(os.execute("mkdir -p " .. dir))
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("queues every failed Set whole, and one flush records each exactly once", function()
    -- Sets fail (retryably) while the outcome lists still work: every call queues its Set.
    s:fault { status = 503, count = 100000, subtopic = "SetBusinessOutcomeWithCallOutcome" }
    local results, ok, out = run_host(s, "freeswitch", "--outbox " .. dir)
    assert.is_true(ok, out)
    local n = 0
    for _, result in pairs(results) do
      assert.equal("http", result)
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
