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
    { "a call_outcome name that is no telephony outcome", with { call_outcome = "banana" }, "call_outcome" },
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
    -- Integral floats beyond 2^53: Lua 5.3/5.4 used to raise from string.format("%d"),
    -- 5.1 and LuaJIT sent "-9223372036854775808".
    { "a callid of 2^63", with { callid = 2 ^ 63 }, "callid" },
    { "a callid of 1e20", with { callid = 1e20 }, "callid" },
    { "a callid of -2^63", with { callid = -2 ^ 63 }, "callid" },
    { "a callid of 2^53 + 2", with { callid = 2 ^ 53 + 2 }, "callid" },
    { "a user_id of 2^63", with { user_id = 2 ^ 63 }, "user_id" },
    { "a user_id of 1e300", with { user_id = 1e300 }, "user_id" },
    { "a business_outcome string of 2^53 + 1", with { business_outcome = "9007199254740993" }, "business_outcome" },
    { "a call_outcome string of 20 digits", with { call_outcome = "99999999999999999999" }, "call_outcome" },
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
    -- Every numeric option has a range (README, lcm.new): nothing reaches a cast in C that
    -- it does not fit.
    { "timeout_ms = 1e300", { url = "http://h/", timeout_ms = 1e300 }, "timeout_ms" },
    { "timeout_ms over a day", { url = "http://h/", timeout_ms = 86400001 }, "timeout_ms" },
    { "timeout_ms = 0.5", { url = "http://h/", timeout_ms = 0.5 }, "timeout_ms" },
    { "connect_timeout_ms = 2^63", { url = "http://h/", connect_timeout_ms = 2 ^ 63 }, "connect_timeout_ms" },
    { "deadline_ms over a day", { url = "http://h/", deadline_ms = 86400001 }, "deadline_ms" },
    { "deadline_ms = -1", { url = "http://h/", deadline_ms = -1 }, "deadline_ms" },
    { "max_attempts = 101", { url = "http://h/", max_attempts = 101 }, "max_attempts" },
    { "max_attempts = inf", { url = "http://h/", max_attempts = math.huge }, "max_attempts" },
    { "max_response_bytes = 2^64", { url = "http://h/", max_response_bytes = 2 ^ 64 }, "max_response_bytes" },
    { "max_response_bytes over 1 GiB", { url = "http://h/", max_response_bytes = 2 ^ 30 + 1 }, "max_response_bytes" },
    { "max_response_bytes = 0", { url = "http://h/", max_response_bytes = 0 }, "max_response_bytes" },
    { "retry_budget = 1e7", { url = "http://h/", retry_budget = 1e7 }, "retry_budget" },
    { "retry_budget = true", { url = "http://h/", retry_budget = true }, "retry_budget" },
    -- Headers that lcm owns or that change the request's framing, in any case.
    { "an Idempotency-Key header", { url = "http://h/", headers = { ["Idempotency-Key"] = "site-wide" } },
      "headers.Idempotency-Key" },
    { "an idempotency-key header", { url = "http://h/", headers = { ["idempotency-key"] = "x" } },
      "headers.idempotency-key" },
    { "a Content-Type header", { url = "http://h/", headers = { ["Content-Type"] = "text/plain" } },
      "headers.Content-Type" },
    { "a Content-Length header", { url = "http://h/", headers = { ["CONTENT-LENGTH"] = "0" } },
      "headers.CONTENT-LENGTH" },
    { "a Transfer-Encoding header", { url = "http://h/", headers = { ["Transfer-Encoding"] = "chunked" } },
      "headers.Transfer-Encoding" },
    { "a Host header", { url = "http://h/", headers = { host = "other" } }, "headers.host" },
    { "an Expect header", { url = "http://h/", headers = { Expect = "100-continue" } }, "headers.Expect" },
    { "Authorization with bearer_token", { url = "http://h/", bearer_token = "t",
                                           headers = { Authorization = "Basic x" } }, "headers.Authorization" },
    { "authorization with username", { url = "http://h/", username = "u", password = "p",
                                       headers = { authorization = "Bearer x" } }, "headers.authorization" },
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
                     "lcm.new: unknown option 'timeout' (did you mean 'timeout_ms'?)")
  end)

  it("accepts every numeric option at both ends of its range, and Authorization on its own", function()
    for _, v in ipairs { 1, 86400000 } do
      assert(lcm.new { url = "http://h/", timeout_ms = v, connect_timeout_ms = v, deadline_ms = v }):close()
    end
    assert(lcm.new { url = "http://h/", max_attempts = 1, max_response_bytes = 1, retry_budget = 1 }):close()
    assert(lcm.new { url = "http://h/", max_attempts = 100, max_response_bytes = 2 ^ 30,
                     retry_budget = 1000000 }):close()
    assert(lcm.new { url = "http://h/", retry_budget = false, headers = { Authorization = "Basic x" } }):close()
  end)

  it("names the range in the message", function()
    local _, err = lcm.new { url = "http://h/", max_attempts = 1000 }
    assert.equal("max_attempts must be a number from 1 to 100", err.message)
  end)

  it("returns an invalid error when the options are not a table", function()
    local c, err = lcm.new("http://h/")
    assert.is_nil(c)
    assert.equal("options", err.field)
  end)
end)

describe("IDs", function()
  local check = require "lcm.check"
  local exact = { { "9007199254740992", 2 ^ 53 }, { "107", 107 }, { "00107", 107 }, { "0", 0 },
                  { 2 ^ 53, 2 ^ 53 }, { 107.0, 107 } }
  for _, c in ipairs(exact) do
    it("takes " .. string.format("%q", tostring(c[1])) .. " exactly", function()
      local id = assert(check.id("x", c[1]))
      assert.equal(c[2], id)
      assert.equal(string.format("%.0f", c[2]), string.format("%d", id))
      if math.type then assert.equal("integer", math.type(id)) end
    end)
  end
  for _, v in ipairs { "9007199254740993", "9999999999999999", "18446744073709551616", 2 ^ 53 + 2, "-1", "1e3" } do
    it("refuses " .. string.format("%q", tostring(v)), function()
      local id, err = check.id("x", v)
      assert.is_nil(id)
      assert.equal("x", err.field)
    end)
  end
  it("sends callid 2^53 and -2^53 as exact decimal strings", function()
    assert.equal("9007199254740992", check.text("callid", 2 ^ 53, { integer_ok = true }))
    assert.equal("-9007199254740992", check.text("callid", -2 ^ 53, { integer_ok = true }))
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
