-- The bad-input table: every parameter crossed with every kind of bad value. Each case
-- is either refused (`invalid`, err.field naming the parameter, and the simulator's
-- request counter unchanged: nothing was sent) or accepted with its documented
-- conversion, checked on the wire. Nothing raises, except an unknown option to lcm.new.
local lcm = require "lcm"
local cjson = require "cjson"
local sim = require "helpers.sim"
local seed = require "helpers.seed"

local MIB = string.rep("x", 1024 * 1024)
local CATEGORIES = {
  { "nil", nil }, { "a boolean", true }, { "a table", {} }, { "a function", print },
  { "NaN", 0 / 0 }, { "+inf", math.huge }, { "-inf", -math.huge }, { "a float", 101.5 },
  { "a negative integer", -5 }, { "an integer", 107 }, { "a numeric string", "107" },
  { "a decimal string", "7.5" }, { "an empty string", "" }, { "a 1 MiB string", MIB },
  { "a string with NUL", "a\0b" }, { "invalid UTF-8", "caf\233" }, { "a plain string", "word" },
}

local REFUSE = false
-- What each set_outcome field does with each category: REFUSE, or the value on the wire.
-- nil in the table means "the field's default is sent".
local function text(opts)
  return {
    ["nil"] = opts.default or REFUSE, ["a boolean"] = REFUSE, ["a table"] = REFUSE, ["a function"] = REFUSE,
    ["NaN"] = REFUSE, ["+inf"] = REFUSE, ["-inf"] = REFUSE, ["a float"] = REFUSE,
    ["a negative integer"] = opts.integers and "-5" or REFUSE, ["an integer"] = opts.integers and "107" or REFUSE,
    ["a numeric string"] = "107", ["a decimal string"] = "7.5", ["an empty string"] = opts.empty or REFUSE,
    ["a 1 MiB string"] = REFUSE, ["a string with NUL"] = REFUSE, ["invalid UTF-8"] = REFUSE,
    ["a plain string"] = "word",
  }
end
local ID = {
  ["nil"] = REFUSE, ["a boolean"] = REFUSE, ["a table"] = REFUSE, ["a function"] = REFUSE, ["NaN"] = REFUSE,
  ["+inf"] = REFUSE, ["-inf"] = REFUSE, ["a float"] = REFUSE, ["a negative integer"] = REFUSE,
  ["an integer"] = 107, ["a numeric string"] = 107, ["a decimal string"] = REFUSE, ["an empty string"] = REFUSE,
  ["a 1 MiB string"] = REFUSE, ["a string with NUL"] = REFUSE, ["invalid UTF-8"] = REFUSE,
  ["a plain string"] = REFUSE,
}
local NUMBER = {
  ["nil"] = 0, ["a boolean"] = REFUSE, ["a table"] = REFUSE, ["a function"] = REFUSE, ["NaN"] = REFUSE,
  ["+inf"] = REFUSE, ["-inf"] = REFUSE, ["a float"] = 101.5, ["a negative integer"] = -5, ["an integer"] = 107,
  ["a numeric string"] = 107, ["a decimal string"] = 7.5, ["an empty string"] = REFUSE,
  ["a 1 MiB string"] = REFUSE, ["a string with NUL"] = REFUSE, ["invalid UTF-8"] = REFUSE,
  ["a plain string"] = REFUSE,
}
local SET_FIELDS = {
  { "callid", "callid", text { integers = true } },
  { "account_number", "AccountNumber", text {} },
  { "business_outcome", "BusinessOutcome", ID },
  { "call_outcome", "CallOutcome", ID },
  { "lead_score", "LeadScore", NUMBER },
  { "user_id", "UserID", text { integers = true } },
  { "agent_comments", "AgentComments", text { default = "", empty = "" } },
  { "target_amount", "TargetAmount", NUMBER },
}

describe("bad input", function()
  local s, client
  setup(function()
    s = sim.start()
    client = assert(lcm.new { url = s.url, max_attempts = 1 })
  end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  local function refused(field, ok, err)
    assert.is_nil(ok)
    assert.is_true(lcm.is_error(err), "expected an error object")
    assert.equal("invalid", err.kind)
    assert.equal(field, err.field)
    assert.equal(0, err.attempts)
    assert.equal(0, s:count(), "a request was sent")
  end

  local function last_data()
    local log = s:requests()
    assert.equal(1, #log, "expected one request")
    return cjson.decode(log[1].body).data
  end

  for _, f in ipairs(SET_FIELDS) do
    local name, wire, expect = f[1], f[2], f[3]
    for _, cat in ipairs(CATEGORIES) do
      local label, value = cat[1], cat[2]
      local want = expect[label]
      it("set_outcome " .. name .. " = " .. label .. (want == REFUSE and " is refused" or " is sent"), function()
        local args = seed.set_args()
        args[name] = value
        local ok, err = client:set_outcome(args)
        if want == REFUSE then
          refused(name, ok, err)
        else
          -- Accepted: LCM may still say no (an unknown callid), but this is what it got.
          assert.is_true(ok == true or (err and err.kind == "lcm"), tostring(err))
          assert.equal(want, last_data()[wire])
        end
      end)
    end
  end

  it("set_outcome refuses an unknown key and a wire name, naming them", function()
    refused("colour", client:set_outcome(seed.set_args { colour = "red" }))
    refused("UserID", client:set_outcome(seed.set_args { UserID = "1" }))
    refused("outcome", client:set_outcome(nil))
    refused("outcome", client:set_outcome(42))
  end)

  local GET = {
    { "callid", 1, text { integers = true, empty = "" } },
    { "type", 2, text { default = "MANUAL" } }, -- the reference's default
  }
  for _, f in ipairs(GET) do
    local name, pos, expect = f[1], f[2], f[3]
    for _, cat in ipairs(CATEGORIES) do
      local label, value = cat[1], cat[2]
      local want = expect[label]
      it("get_outcomes " .. name .. " = " .. label .. (want == REFUSE and " is refused" or " is sent"), function()
        local args = { "", "MANUAL" }
        args[pos] = value
        local list, err = client:get_outcomes(args[1], args[2])
        if want == REFUSE then
          refused(name, list, err)
        else
          assert.is_true(list ~= nil or err.kind == "lcm", tostring(err))
          assert.equal(want, last_data()[name])
        end
      end)
    end
  end

  for _, cat in ipairs(CATEGORIES) do
    local label, value = cat[1], cat[2]
    local ok_subtopic = label == "a plain string" or label == "a numeric string"
    it("call subtopic = " .. label .. (ok_subtopic and " is sent" or " is refused"), function()
      local message, err = client:call(value, {})
      if ok_subtopic then
        assert.is_nil(message)
        assert.equal("lcm", err.kind) -- the simulator does not know it, but it was sent
        assert.equal(1, s:count())
      else
        refused("subtopic", message, err)
      end
    end)
    it("call data.x = " .. label, function()
      local message, err = client:call("GetCallOutCome", { callid = "12345", x = value })
      -- call() enforces the per-string limit of every other call (core.MAX_STRING, 64 KiB).
      local bad = { ["NaN"] = 1, ["+inf"] = 1, ["-inf"] = 1, ["a function"] = 1, ["a string with NUL"] = 1,
                    ["invalid UTF-8"] = 1, ["a 1 MiB string"] = 1 }
      if bad[label] then
        refused("data.x", message, err)
      else
        assert.truthy(message, tostring(err))
      end
    end)
  end

  it("call refuses data that is not a table", function()
    refused("data", client:call("GetCallOutCome", "callid=12345"))
    refused("data", client:call("GetCallOutCome", 5))
  end)

  -- lcm.new options: a bad value is an invalid error, never a raise.
  local OPTIONS = { "url", "source", "timeout_ms", "connect_timeout_ms", "max_attempts", "deadline_ms",
                    "retry_budget", "headers", "bearer_token", "username", "password", "ca_file", "insecure",
                    "proxy", "user_agent", "max_response_bytes", "logger", "sleep", "outbox", "share" }
  local NEVER_OK = { "NaN", "+inf", "-inf", "a string with NUL", "invalid UTF-8", "a function", "a 1 MiB string" }
  for _, opt in ipairs(OPTIONS) do
    for _, label in ipairs(NEVER_OK) do
      local value
      for _, cat in ipairs(CATEGORIES) do if cat[1] == label then value = cat[2] end end
      local function_ok = (opt == "logger" or opt == "sleep") and label == "a function"
      it("lcm.new " .. opt .. " = " .. label .. (function_ok and " is accepted" or " is refused"), function()
        local opts = { url = s.url }
        opts[opt] = value
        local c, err = lcm.new(opts)
        if function_ok then
          assert.truthy(c, tostring(err))
        else
          assert.is_nil(c)
          assert.equal("invalid", err.kind)
          assert.truthy(err.field == opt or err.field:find("^" .. opt .. "%."), err.field)
        end
      end)
    end
  end

  it("lcm.new raises only for an unknown option", function()
    assert.has_error(function() lcm.new { url = s.url, retries = 3 } end)
    local c, err = lcm.new(nil)
    assert.is_nil(c)
    assert.equal("options", err.field)
  end)
end)
