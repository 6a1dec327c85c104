-- Every validation rule, without a server: bad input is an `invalid` error naming the
-- field, and nothing is sent (attempts == 0; the client points at a closed port, so a
-- request that was sent would come back as a transport error instead).
local lcm = require "lcm"
local sim = require "helpers.sim"

local client = assert(lcm.new { url = "http://127.0.0.1:" .. sim.closed_port() .. "/", max_attempts = 1 })

local seed = require "helpers.seed"
local with, without = seed.set_args, seed.without

local function assert_invalid(field, ok, err)
  assert.is_nil(ok)
  assert.is_table(err, "expected an error object")
  assert.equal("invalid", err.kind, tostring(err))
  assert.equal(field, err.field)
  assert.equal(0, err.attempts)
  assert.is_false(err.retryable)
  assert.truthy(tostring(err):find(field, 1, true))
end

describe("set_outcome refuses", function()
  local big = string.rep("x", 1024 * 1024)
  local cases = {
    { "a missing callid", without "callid", "callid" },
    { "an empty callid", with { callid = "" }, "callid" },
    { "a float callid", with { callid = 1.5 }, "callid" },
    { "a boolean callid", with { callid = true }, "callid" },
    { "a missing account_number", without "account_number", "account_number" },
    { "an empty account_number", with { account_number = "" }, "account_number" },
    { "a numeric account_number", with { account_number = 5 }, "account_number" },
    { "a missing business_outcome", without "business_outcome", "business_outcome" },
    { "a float business_outcome", with { business_outcome = 101.5 }, "business_outcome" },
    { "a negative business_outcome", with { business_outcome = -1 }, "business_outcome" },
    { "a NaN business_outcome", with { business_outcome = 0 / 0 }, "business_outcome" },
    { "an infinite business_outcome", with { business_outcome = math.huge }, "business_outcome" },
    { "a huge business_outcome", with { business_outcome = 2 ^ 60 }, "business_outcome" },
    { "a word as business_outcome", with { business_outcome = "success" }, "business_outcome" },
    { "a record without an id", with { business_outcome = { description = "x" } }, "business_outcome" },
    { "a missing call_outcome", without "call_outcome", "call_outcome" },
    { "a string call_outcome that is not a number", with { call_outcome = "DNC" }, "call_outcome" },
    { "a NaN lead_score", with { lead_score = 0 / 0 }, "lead_score" },
    { "an infinite lead_score", with { lead_score = -math.huge }, "lead_score" },
    { "a table lead_score", with { lead_score = {} }, "lead_score" },
    { "a missing user_id", without "user_id", "user_id" },
    { "an empty user_id", with { user_id = "" }, "user_id" },
    { "comments with invalid UTF-8", with { agent_comments = "caf\233" }, "agent_comments" },
    { "comments with a NUL", with { agent_comments = "a\0b" }, "agent_comments" },
    { "comments of 1 MiB", with { agent_comments = big }, "agent_comments" },
    { "a callid of 1 MiB", with { callid = big }, "callid" },
    { "a number agent_comments", with { agent_comments = 5 }, "agent_comments" },
    { "an infinite target_amount", with { target_amount = math.huge }, "target_amount" },
    { "a boolean target_amount", with { target_amount = false }, "target_amount" },
    { "an unknown key", with { colour = "red" }, "colour" },
    { "a wire name", with { AccountNumber = "x" }, "AccountNumber" },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      assert_invalid(c[3], client:set_outcome(c[2]))
    end)
  end

  it("a wire name, suggesting the snake_case one", function()
    local _, err = client:set_outcome(with { BusinessOutcome = 1 })
    assert.matches("did you mean 'business_outcome'", err.message, 1, true)
  end)

  it("anything but a table", function()
    assert_invalid("outcome", client:set_outcome("12345"))
    assert_invalid("outcome", client:set_outcome(nil))
  end)
end)

describe("get_outcomes refuses", function()
  local cases = {
    { "a nil type", { "1", nil }, "type" },
    { "an empty type", { "1", "" }, "type" },
    { "a numeric type", { "1", 5 }, "type" },
    { "a nil callid", { nil, "MANUAL" }, "callid" },
    { "a float callid", { 2.5, "MANUAL" }, "callid" },
    { "a table callid", { {}, "MANUAL" }, "callid" },
    { "a callid with invalid UTF-8", { "\255", "MANUAL" }, "callid" },
    { "a type with a NUL", { "1", "MAN\0UAL" }, "type" },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      assert_invalid(c[3], client:get_outcomes(c[2][1], c[2][2]))
    end)
  end
end)

describe("call refuses", function()
  it("a subtopic that is not a name", function()
    assert_invalid("subtopic", client:call("Get/../x", {}))
    assert_invalid("subtopic", client:call(nil, {}))
  end)
  it("data that cannot be sent, naming the path", function()
    assert_invalid("data.when", client:call("GetCallOutCome", { when = os.time }))
    assert_invalid("data", client:call("GetCallOutCome", "callid=1"))
  end)
end)

describe("lcm.new", function()
  local cases = {
    { "no url", {}, "url" },
    { "a file:// url", { url = "file:///etc/passwd" }, "url" },
    { "a gopher:// url", { url = "gopher://127.0.0.1/" }, "url" },
    { "a url without a host", { url = "http:///x" }, "url" },
    { "a url with credentials", { url = "http://u:p@127.0.0.1/" }, "url" },
    { "a url with a line break", { url = "http://127.0.0.1/\r\nX: y" }, "url" },
    { "a number url", { url = 5 }, "url" },
    { "a zero timeout", { url = "http://h/", timeout_ms = 0 }, "timeout_ms" },
    { "a NaN timeout", { url = "http://h/", timeout_ms = 0 / 0 }, "timeout_ms" },
    { "a string connect timeout", { url = "http://h/", connect_timeout_ms = "5" }, "connect_timeout_ms" },
    { "zero attempts", { url = "http://h/", max_attempts = 0 }, "max_attempts" },
    { "insecure that is not a boolean", { url = "http://h/", insecure = "yes" }, "insecure" },
    { "insecure = 1", { url = "http://h/", insecure = 1 }, "insecure" },
    { "a token with CR LF", { url = "http://h/", bearer_token = "a\r\nX-Evil: 1" }, "bearer_token" },
    { "a password with LF", { url = "http://h/", password = "a\nb" }, "password" },
    { "a header value with LF", { url = "http://h/", headers = { X = "a\nb" } }, "headers.X" },
    { "a header name with a space", { url = "http://h/", headers = { ["X Y"] = "1" } }, "headers" },
    { "a logger that is not a function", { url = "http://h/", logger = "print" }, "logger" },
    { "an empty source", { url = "http://h/", source = "" }, "source" },
  }
  for _, c in ipairs(cases) do
    it("returns an invalid error for " .. c[1], function()
      local client2, err = lcm.new(c[2])
      assert.is_nil(client2)
      assert.equal("invalid", err.kind)
      assert.equal(c[3], err.field)
    end)
  end

  it("raises on an unknown option (a programming mistake)", function()
    assert.has_error(function() lcm.new { url = "http://h/", timeout = 5 } end,
                     "lcm.new: unknown option 'timeout'")
  end)

  it("returns an invalid error when the options are not a table", function()
    local c, err = lcm.new("http://h/")
    assert.is_nil(c)
    assert.equal("options", err.field)
  end)
end)

describe("conversions", function()
  -- These reach the (closed) port: the arguments were accepted.
  local function sent(ok, err)
    assert.is_nil(ok)
    assert.equal("transport", err.kind)
    assert.equal("COULDNT_CONNECT", err.code)
    assert.equal(1, err.attempts)
  end
  it("accepts numeric strings for IDs and amounts, integers for callid and user_id", function()
    sent(client:set_outcome(with { callid = 12345, business_outcome = "101", call_outcome = "5",
                                   lead_score = "7.5", user_id = 1234, target_amount = "100" }))
  end)
  it("accepts a record from get_outcomes as business_outcome", function()
    sent(client:set_outcome(with { business_outcome = { id = 107, description = "success" } }))
  end)
  it("defaults lead_score, target_amount and agent_comments", function()
    local t = with {}
    t.lead_score, t.target_amount, t.agent_comments = nil, nil, nil
    sent(client:set_outcome(t))
  end)
  it("accepts an empty callid and an integer callid for get_outcomes", function()
    sent(client:get_outcomes("", lcm.MANUAL))
    sent(client:get_outcomes(42, lcm.INBOUND))
  end)
end)
