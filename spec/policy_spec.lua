-- lcm.policy: every failure decision in one table, from the facts the C core reports.
local policy = require "lcm.policy"

describe("failure policy", function()
  -- facts -> { may_be_recorded, queued (as judged by recorded), replay, retry cost }
  local CASES = {
    { "LCM's error envelope", { kind = "lcm" }, { false, false, "dead", 5 } },
    { "a well-formed success = false", { kind = "rejected" }, { false, false, "dead", 5 } },
    { "a refused argument", { kind = "invalid" }, { false, false, "dead", 5 } },
    { "a connect failure, nothing sent", { kind = "transport", sent = false, retryable = true },
      { false, true, "keep", 5 } },
    { "a transport failure after sending", { kind = "transport", retryable = true }, { true, true, "keep", 5 } },
    { "a timeout after sending", { kind = "timeout", retryable = true }, { true, true, "keep", 10 } },
    { "a timeout before sending", { kind = "timeout", sent = false }, { false, false, "keep", 10 } },
    { "an HTTP 503", { kind = "http", status = 503, retryable = true }, { true, true, "keep", 5 } },
    { "an HTTP 401", { kind = "http", status = 401 }, { true, true, "keep", 5 } },
    { "an answer for another call", { kind = "protocol", code = "BAD_SUBTOPIC" }, { true, true, "keep", 5 } },
  }
  for _, c in ipairs(CASES) do
    it(c[1] .. " is judged in one place", function()
      local err = c[2]
      local may = policy.may_be_recorded(err)
      err.recorded = policy.recorded(err, false)
      assert.same(c[3], { may, policy.queue(err) and true or false, policy.replay(err), policy.retry_cost(err) })
      assert.equal(may and "unknown" or false, err.recorded)
    end)
  end

  it("an earlier attempt that may have been recorded makes the Set unknown", function()
    assert.equal("unknown", policy.recorded({ kind = "lcm" }, true))
  end)
end)
