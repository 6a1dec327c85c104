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
    s:fault { status = 500, count = 2 }
    assert(client:get_outcomes("", "MANUAL"))
    assert.is_true(waits[1] >= 0 and waits[1] < 100)
    assert.is_true(waits[2] >= 0 and waits[2] < 200)
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
    local c = assert(lcm.new { url = s.url })
    s:fault { status = 503, retry_after = 0 }
    assert(c:get_outcomes("", "MANUAL"))
    assert.equal(2, s:count())
  end)
end)
