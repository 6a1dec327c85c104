-- Retries against armed faults: what is retried, how often, how long we wait, and that a
-- Set is never recorded twice.
local lcm = require "lcm"
local retry = require "lcm.retry"
local sim = require "helpers.sim"

local SET = require("helpers.seed").SET

describe("retry.delay_ms", function()
  it("grows exponentially under full jitter and stays under the cap", function()
    local top = function() return 0.999999 end
    assert.equal(99, retry.delay_ms(1, nil, top))
    assert.equal(199, retry.delay_ms(2, nil, top))
    assert.equal(399, retry.delay_ms(3, nil, top))
    assert.equal(1999, retry.delay_ms(10, nil, top))
    assert.equal(0, retry.delay_ms(3, nil, function() return 0 end))
  end)
  it("honours Retry-After up to the cap", function()
    assert.equal(1000, retry.delay_ms(1, 1))
    assert.equal(2000, retry.delay_ms(1, 120))
    assert.equal(0, retry.delay_ms(1, 0))
  end)
  it("clamps any Retry-After before converting it, so no wait turns negative", function()
    -- 5.3+: math.maxinteger * 1000 wraps to a negative integer.
    for _, s in ipairs { math.maxinteger or 2 ^ 63, 2 ^ 63, 1e300, math.huge, 0 / 0 } do
      assert.equal(2000, retry.delay_ms(1, s))
    end
    assert.equal(0, retry.delay_ms(1, -5))
    assert.equal(0, retry.delay_ms(1, math.mininteger or -2 ^ 63))
  end)
  it("waits the whole ceiling when there is no randomness", function()
    assert.equal(200, retry.delay_ms(2, nil, function() return nil, "no randomness" end))
  end)
  it("draws different waits (it is random)", function()
    local seen = {}
    for _ = 1, 20 do seen[retry.delay_ms(5)] = true end
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.is_true(n > 1)
  end)
end)

describe("retries against lcm-sim", function()
  local s, client, waits
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function()
    s:reset()
    waits = {}
    client = assert(lcm.new { url = s.url, max_attempts = 3, timeout_ms = 1000,
                              sleep = function(ms) waits[#waits + 1] = ms end })
  end)

  for _, status in ipairs { 429, 500, 502, 503, 504 } do
    it("retries HTTP " .. status .. " and succeeds", function()
      s:fault { status = status, count = 2 }
      assert.is_true(client:set_outcome(SET))
      assert.equal(3, s:count())
      assert.equal(2, #waits)
      assert.equal(1, #s:outcomes())
    end)
  end

  for _, status in ipairs { 400, 401, 403, 404 } do
    it("does not retry HTTP " .. status, function()
      s:fault { status = status, count = 3 }
      local ok, err = client:set_outcome(SET)
      assert.is_nil(ok)
      assert.same({ "http", status, false, 1 }, { err.kind, err.status, err.retryable, err.attempts })
      assert.equal(1, s:count())
      assert.equal(0, #waits)
    end)
  end

  it("gives up after max_attempts, saying how many were made", function()
    s:fault { status = 503, count = 5 }
    local ok, err = client:get_outcomes("", "MANUAL")
    assert.is_nil(ok)
    assert.same({ "http", 503, true, 3 }, { err.kind, err.status, err.retryable, err.attempts })
    assert.equal(3, s:count())
    assert.equal(2, #waits)
  end)

  it("honours Retry-After, capped at 2 s", function()
    s:fault { status = 429, retry_after = 1 }
    s:fault { status = 503, retry_after = 3600 }
    assert(client:get_outcomes("", "MANUAL"))
    assert.same({ 1000, 2000 }, waits)
  end)

  it("backs off with jitter within the exponential ceiling", function()
    -- 24 calls, two waits each. A wait of 0 (or none) every time, a ceiling that does not
    -- double, or no jitter at all each fail below; by chance, only with probability 2^-24.
    local first, second = {}, {}
    for _ = 1, 24 do
      waits = {}
      s:fault { status = 500, count = 2 }
      assert(client:get_outcomes("", "MANUAL"))
      assert.equal(2, #waits)
      assert.is_true(waits[1] >= 0 and waits[1] < 100, tostring(waits[1]))
      assert.is_true(waits[2] >= 0 and waits[2] < 200, tostring(waits[2]))
      first[#first + 1], second[#second + 1] = waits[1], waits[2]
    end
    table.sort(first)
    table.sort(second)
    assert.is_true(first[#first] >= 50, "the first waits never reached half their ceiling")
    assert.is_true(second[#second] >= 100, "the second waits never passed the first ceiling")
    assert.is_true(first[1] < first[#first], "the first waits are all the same")
  end)

  it("never retries an LCM error, a protocol error or a rejection", function()
    assert.is_nil(client:set_outcome { callid = "999", account_number = "x", business_outcome = 1,
                                       call_outcome = 0, user_id = "1" })
    s:fault { body = "not json" }
    assert.is_nil(client:get_outcomes("", "MANUAL"))
    s:add_call { callid = "r", accept = false }
    assert.is_nil(client:set_outcome { callid = "r", account_number = "x", business_outcome = 1,
                                       call_outcome = 0, user_id = "1" })
    assert.equal(3, s:count())
    assert.equal(0, #waits)
  end)

  it("retries a dropped connection, with the same Idempotency-Key", function()
    s:fault { drop = true }
    assert.is_true(client:set_outcome(SET))
    local log = s:requests()
    assert.equal(2, #log)
    assert.is_string(log[1].headers["idempotency-key"])
    assert.equal(log[1].headers["idempotency-key"], log[2].headers["idempotency-key"])
  end)

  it("records a Set once when the answer was lost after the work was done", function()
    s:fault { drop = true, after = true }
    assert.is_true(client:set_outcome(SET))
    assert.equal(2, s:count())
    assert.equal(1, #s:outcomes())
  end)

  it("records a Set once when a timeout hid the answer", function()
    s:fault { delay_ms = 1500 } -- processed at once, answered after the client gave up
    assert.is_true(client:set_outcome(SET))
    assert.equal(2, s:count())
    assert.equal(1, #s:outcomes())
  end)

  it("max_attempts = 1 means no retry", function()
    local c = assert(lcm.new { url = s.url, max_attempts = 1, sleep = function() error("no sleep expected") end })
    s:fault { status = 503 }
    local ok, err = c:get_outcomes("", "MANUAL")
    assert.is_nil(ok)
    assert.equal(1, err.attempts)
  end)

  it("sleeps with core.sleep when no sleep function is given", function()
    -- A lower bound, not a timing threshold: core.sleep(1000) never returns sooner, however
    -- loaded the machine is; a sleep that does nothing returns at once.
    local core = require "lcm.core"
    local c = assert(lcm.new { url = s.url })
    s:fault { status = 503, retry_after = 1 }
    local started = core.monotonic_ms()
    assert(c:get_outcomes("", "MANUAL"))
    assert.is_true(core.monotonic_ms() - started >= 1000)
    assert.equal(2, s:count())
  end)

  it("honours Retry-After as an HTTP date", function()
    -- An hour from now: capped at 2 s. Without the date, the wait would be a backoff < 100 ms.
    local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 3600)
    s:fault { status = 503, headers = { { "Retry-After", date } } }
    s:fault { status = 503, headers = { { "Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT" } } } -- past: at once
    assert(client:get_outcomes("", "MANUAL"))
    assert.same({ 2000, 0 }, waits)
  end)
end)

describe("the retry budget", function()
  it("charges retries, more for timeouts, and refunds on success", function()
    local b = retry.budget(20)
    assert.equal(5, b:take { kind = "http" })
    assert.equal(10, b:take { kind = "timeout" })
    assert.equal(5, b:tokens())
    assert.equal(5, b:take { kind = "transport" })
    assert.is_nil(b:take { kind = "transport" })
    b:refund(5)
    assert.equal(5, b:tokens())
    b:refund(nil)
    assert.equal(6, b:tokens())
    b:refund(100)
    assert.equal(20, b:tokens()) -- never above capacity
  end)

  describe("against lcm-sim", function()
    local s
    setup(function() s = sim.start() end)
    teardown(function() s:stop() end)
    before_each(function() s:reset() end)

    it("fails fast once LCM has used it up, and fills again on success", function()
      local c = assert(lcm.new { url = s.url, retry_budget = 10, sleep = function() end })
      s:fault { status = 503, count = 100 }
      local _, e1 = c:get_outcomes("", "MANUAL")
      assert.same({ 3, nil }, { e1.attempts, e1.budget_exhausted })
      local _, e2 = c:get_outcomes("", "MANUAL")
      assert.same({ 1, true, true }, { e2.attempts, e2.budget_exhausted, e2.retryable })
      assert.equal(4, s:count())
      s:reset()
      assert(c:get_outcomes("", "MANUAL"))
      assert.equal(1, c.budget:tokens())
    end)

    it("pays back a retried call's retry when it succeeds", function()
      -- 12 tokens (a bucket of this test's own: budgets are per target and capacity, shared by
      -- every client of the process): a refunded retry leaves all 12, so the next failing call
      -- still gets both of its retries; without the refund it would stop after one.
      local c = assert(lcm.new { url = s.url, retry_budget = 12, max_attempts = 3, sleep = function() end })
      s:fault { status = 503 }
      assert(c:get_outcomes("", "MANUAL"))
      s:fault { status = 503, count = 3 }
      local _, err = c:get_outcomes("", "MANUAL")
      assert.same({ "http", 3, nil }, { err.kind, err.attempts, err.budget_exhausted })
    end)

    it("charges a timeout more than another failure", function()
      -- Budgets are per target and capacity, shared by every client of the process: 15
      -- tokens are a bucket of this test's own (the one above left its 10-token one at 1).
      local c = assert(lcm.new { url = s.url, retry_budget = 15, timeout_ms = 100, sleep = function() end })
      s:fault { delay_ms = 1000, count = 3 }
      local _, err = c:get_outcomes("", "MANUAL")
      assert.same({ "timeout", 2, true }, { err.kind, err.attempts, err.budget_exhausted })
    end)

    it("can be switched off", function()
      local c = assert(lcm.new { url = s.url, retry_budget = false, max_attempts = 4, sleep = function() end })
      assert.is_nil(c.budget)
      s:fault { status = 503, count = 100 }
      for _ = 1, 3 do
        local _, err = c:get_outcomes("", "MANUAL")
        assert.equal(4, err.attempts)
      end
    end)
  end)
end)

describe("deadline_ms", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  it("cuts an attempt short of timeout_ms", function()
    -- timeout_ms alone would wait for the 3 s answer: only the deadline can end it.
    local c = assert(lcm.new { url = s.url, timeout_ms = 10000, deadline_ms = 200, sleep = function() end })
    -- every request slow, not only the next one: once, in the whole suite under ASan, the
    -- call was answered at once (another request had taken a one-shot fault; not reproduced)
    s:fault { delay_ms = 3000, count = 100 }
    local ok, err = c:get_outcomes("", "MANUAL")
    assert.is_nil(ok)
    assert.same({ "timeout", 1, true }, { err.kind, err.attempts, err.deadline_exceeded })
  end)

  it("does not start a retry whose wait would pass it", function()
    local c = assert(lcm.new { url = s.url, deadline_ms = 800, sleep = function() error("must not sleep") end })
    s:fault { status = 503, retry_after = 1 }
    local ok, err = c:get_outcomes("", "MANUAL")
    assert.is_nil(ok)
    assert.same({ "http", 503, 1, true }, { err.kind, err.status, err.attempts, err.deadline_exceeded })
    assert.matches("after 1 attempt%(s%); deadline exceeded$", tostring(err))
    assert.equal(1, s:count())
  end)

  it("lets retries run while there is time", function()
    local c = assert(lcm.new { url = s.url, deadline_ms = 60000, sleep = function() end })
    s:fault { status = 503, count = 2 }
    assert(c:get_outcomes("", "MANUAL"))
    assert.equal(3, s:count())
  end)
end)
