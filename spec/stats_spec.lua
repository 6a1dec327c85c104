-- The process-wide counters (csrc/stats.c) and their two presentations (lua/lcm/stats.lua).
local core = require "lcm.core"
local stats = require "lcm.stats"

describe("stats", function()
  before_each(function() stats.reset() end)

  it("counts by series and presents them as a table", function()
    stats.count("lcm_requests_total", "SetDNC")
    stats.count("lcm_requests_total", "SetDNC", 2)
    stats.count("lcm_attempts_total", "GetCallOutCome")
    stats.error { kind = "transport", code = "COULDNT_CONNECT" }
    stats.error { kind = "http", status = 503 }
    stats.count("lcm_outbox_total", "queued")
    local t = stats.table()
    assert.equal(3, t.requests.SetDNC)
    assert.equal(1, t.attempts.GetCallOutCome)
    assert.equal(1, t.errors.transport.COULDNT_CONNECT)
    assert.equal(1, t.errors.http["503"])
    assert.equal(1, t.outbox.queued)
    assert.equal(0, t.dropped)
  end)

  it("keeps a latency histogram per subtopic", function()
    for _, ms in ipairs { 1, 5, 7, 30, 20000 } do stats.observe("GetCallOutCome", ms) end
    local h = stats.table().latency.GetCallOutCome
    assert.equal(5, h.count)
    assert.equal(20043, h.sum_ms)
    assert.same({ le = 5, count = 2 }, h.buckets[1]) -- 1 and 5: upper bounds are inclusive
    assert.same({ le = 10, count = 1 }, h.buckets[2])
    assert.same({ le = 50, count = 1 }, h.buckets[4])
    assert.same({ le = math.huge, count = 1 }, h.buckets[#h.buckets])
  end)

  it("writes the Prometheus text format, cumulative buckets, the same bytes for the same numbers", function()
    stats.count("lcm_requests_total", "SetDNC", 2)
    stats.count("lcm_requests_total", "GetCallOutCome")
    stats.observe("SetDNC", 7)
    stats.observe("SetDNC", 70)
    local text = stats.text()
    assert.equal(text, stats.text())
    assert.matches('# TYPE lcm_requests_total counter\nlcm_requests_total{subtopic="GetCallOutCome"} 1\n'
                   .. 'lcm_requests_total{subtopic="SetDNC"} 2\n', text, 1, true)
    assert.matches('lcm_request_duration_seconds_bucket{subtopic="SetDNC",le="0.005"} 0\n'
                   .. 'lcm_request_duration_seconds_bucket{subtopic="SetDNC",le="0.01"} 1\n', text, 1, true)
    assert.matches('lcm_request_duration_seconds_bucket{subtopic="SetDNC",le="+Inf"} 2\n'
                   .. 'lcm_request_duration_seconds_sum{subtopic="SetDNC"} 0.077\n'
                   .. 'lcm_request_duration_seconds_count{subtopic="SetDNC"} 2\n', text, 1, true)
  end)

  it("escapes label values", function()
    stats.count("lcm_requests_total", 'a"b\\c')
    assert.matches('lcm_requests_total{subtopic="a\\"b\\\\c"} 1', stats.text(), 1, true)
    assert.equal(1, stats.table().requests['a"b\\c'])
  end)

  -- err.code can be any text of the server's (errorType): printable but long, it is OTHER
  -- too, or its series name would pass C's limit and counting would raise.
  it("labels an error code of more than 48 bytes OTHER, one of 48 as itself", function()
    local ok, why = pcall(function()
      stats.error { kind = "lcm", code = string.rep("E", 48) }
      stats.error { kind = "lcm", code = string.rep("E", 49) }
      stats.error { kind = "lcm", code = string.rep("E", 300) }
    end)
    assert.is_true(ok, why)
    local t = stats.table()
    assert.equal(1, t.errors.lcm[string.rep("E", 48)])
    assert.equal(2, t.errors.lcm.OTHER)
    assert.is_nil(t.errors.lcm[string.rep("E", 49)])
  end)

  it("reports every shared retry budget's level by target and capacity, copied from C", function()
    local r = require "lcm.retry"
    local url = "http://budget-level.invalid:4321/x"
    local b = r.budget(77, url)
    assert.is_true(b.bucket:take(7))
    local private = r.budget(66) -- no url: the caller's own bucket, not a shared one
    assert.is_true(private.bucket:take(1))
    local found
    for _, level in ipairs(stats.table().budget) do
      if level.target == "http://budget-level.invalid:4321" and level.capacity == 77 then found = level end
      assert.not_equal(66, level.capacity)
    end
    assert.same({ target = "http://budget-level.invalid:4321", capacity = 77, tokens = 70 }, found)
    assert.matches('lcm_retry_budget_tokens{target="http://budget-level.invalid:4321",capacity="77"} 70\n',
                   stats.text(), 1, true)
    stats.reset() -- a level, not a count: a reset leaves it
    assert.matches('capacity="77"} 70\n', stats.text(), 1, true)
    b.bucket:refund(7)
    b.bucket:close()
    private.bucket:close()
  end)

  it("is bounded: series past the limit are counted as dropped, not stored", function()
    for i = 1, 600 do core.stats_add("x_total{n=\"" .. i .. "\"}") end
    local counters = core.stats().counters
    local n = 0
    for _ in pairs(counters) do n = n + 1 end
    assert.equal(512 + 1, n) -- the dropped counter itself
    assert.equal(88, counters.lcm_stats_dropped_series_total)
  end)

  it("refuses bad series names and values", function()
    assert.has_error(function() core.stats_add("") end)
    assert.has_error(function() core.stats_add("a\0b") end)
    assert.has_error(function() core.stats_add("a", 0 / 0) end)
    assert.has_error(function() core.stats_observe("x", -1) end)
    assert.has_error(function() core.stats_observe(string.rep("x", 65), 1) end)
  end)
end)

describe("stats fed by the client", function()
  local sim = require "helpers.sim"
  local lcm = require "lcm"
  local seed = require "helpers.seed"
  local s

  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function()
    stats.reset()
    s:reset()
  end)

  it("counts requests, attempts, retries, errors and latency by subtopic", function()
    local c = assert(lcm.new { url = s.url, sleep = function() end })
    assert(c:get_outcomes("12345", lcm.MANUAL))
    s:fault { status = 503 }
    assert(c:set_outcome(seed.SET))
    assert.is_nil(c:set_outcome(seed.set_args { callid = "999" }))
    local t = lcm.stats()
    assert.equal(1, t.requests.GetOutcomeByOutcomegroup)
    assert.equal(2, t.requests.SetBusinessOutcomeWithCallOutcome)
    assert.equal(3, t.attempts.SetBusinessOutcomeWithCallOutcome)
    assert.equal(1, t.retries.SetBusinessOutcomeWithCallOutcome)
    assert.equal(1, t.errors.lcm.WS_Error)
    assert.equal(2, t.latency.SetBusinessOutcomeWithCallOutcome.count)
    assert.matches('lcm_requests_total{subtopic="SetBusinessOutcomeWithCallOutcome"} 2', lcm.stats_text(), 1, true)
    c:close()
  end)

  -- A fresh Lua state per call (FreeSWITCH, pbx_lua) counts through lcm.counters alone:
  -- lcm.stats, the table and text, is loaded by lcm.stats() or lcm.stats_text() only.
  it("counts a call without loading lcm.stats, which lcm.stats() loads", function()
    local script = [[
      local lcm = require "lcm"
      local c = assert(lcm.new { url = os.getenv("URL") })
      assert(c:get_outcomes("12345", "MANUAL"))
      print(package.loaded["lcm.stats"] == nil, lcm.stats().requests.GetOutcomeByOutcomegroup == 1,
            package.loaded["lcm.stats"] ~= nil)
    ]]
    local out, ok = sim.run("URL='" .. s.url .. "' " .. sim.LUA .. " -e '" .. script .. "'")
    assert.is_true(ok, out)
    assert.equal("true\ttrue\ttrue\n", out)
  end)

  it("counts an invalid call as an error, with no request", function()
    local c = assert(lcm.new { url = s.url })
    assert.is_nil(c:set_outcome(seed.set_args { lead_score = 0 / 0 }))
    local t = lcm.stats()
    assert.equal(1, t.errors.invalid[""])
    assert.is_nil(t.requests.SetBusinessOutcomeWithCallOutcome)
    c:close()
  end)

  it("counts outbox records flushed (sent) and dead-lettered (dead)", function()
    local dir = sim.tmpname()
    os.execute("mkdir -p " .. dir)
    local c = assert(lcm.new { url = s.url, outbox = dir, max_attempts = 1 })
    s:fault { status = 503, count = 3 }
    assert.is_true(select(2, c:set_outcome(seed.SET)).queued)
    assert.is_true(select(2, c:set_outcome(seed.set_args { callid = "999" })).queued)
    assert.is_true(select(2, c:set_outcome(seed.SET)).queued)
    local counts = assert(c:flush_outbox())
    assert.same({ 2, 1 }, { counts.sent, counts.failed })
    assert.same({ queued = 3, sent = 2, dead = 1 }, lcm.stats().outbox)
    assert.matches('lcm_outbox_total{event="dead"} 1\nlcm_outbox_total{event="queued"} 3\n'
                   .. 'lcm_outbox_total{event="sent"} 2\n', lcm.stats_text(), 1, true)
    c:close()
    os.execute("rm -rf " .. dir)
  end)

  it("counts outcomes queued in the outbox", function()
    local dir = sim.tmpname()
    os.execute("mkdir -p " .. dir)
    local c = assert(lcm.new { url = s.url, outbox = dir, max_attempts = 1 })
    s:fault { status = 503 }
    local _, err = c:set_outcome(seed.SET)
    assert.is_true(err.queued)
    assert.equal(1, lcm.stats().outbox.queued)
    c:close()
    os.execute("rm -rf " .. dir)
  end)
end)
