-- lcm.core's encoding and answer classification, without a server.
local core = require "lcm.core"
local cjson = require "cjson"
local policy = require "lcm.policy"

local function env(t)
  local base = { channel = "LCM", topic = "WebService", subtopic = "BusinessOutCome",
                 message = { response = {} } }
  for k, v in pairs(t or {}) do base[k] = v end
  return cjson.encode(base)
end

local WS_ERROR = [[{"channel":"LCM","topic":"Error","subtopic":"WS_Error","data":
  {"errorType":"WS_Error","errorMessage":"Invalid Call ID:999","msg":"Invalid Call ID."}}]]

describe("core.encode", function()
  it("builds the documented envelope", function()
    local json = assert(core.encode("GetOutcomeByOutcomegroup", "dialer", { callid = "", type = "MANUAL" }))
    assert.same({ channel = "LCM", topic = "WebService", subtopic = "GetOutcomeByOutcomegroup",
                  source = "dialer", data = { callid = "", type = "MANUAL" } }, cjson.decode(json))
  end)

  it("keeps numbers as JSON numbers and strings as strings", function()
    local json = core.encode("S", "x", { BusinessOutcome = 101, LeadScore = 2.5, callid = "12345" })
    assert.truthy(json:find('"BusinessOutcome":101', 1, true))
    assert.truthy(json:find('"LeadScore":2.5', 1, true))
    assert.truthy(json:find('"callid":"12345"', 1, true))
  end)

  local bad = {
    { "subtopic with a slash", "Get/x", "x", {}, "subtopic" },
    { "empty subtopic", "", "x", {}, "subtopic" },
    { "subtopic not a string", 5, "x", {}, "subtopic" },
    { "empty source", "S", "", {}, "source" },
    { "source with invalid UTF-8", "S", "\255", {}, "source" },
    { "data not a table", "S", "x", "data", "data" },
    { "NaN", "S", "x", { a = 0 / 0 }, "data.a" },
    { "infinity", "S", "x", { a = math.huge }, "data.a" },
    { "a function", "S", "x", { a = print }, "data.a" },
    { "invalid UTF-8 deep inside", "S", "x", { a = { b = { "ok", "\195\40" } } }, "data.a.b[2]" },
    { "a surrogate code point", "S", "x", { a = "\237\160\128" }, "data.a" },
    { "an overlong encoding", "S", "x", { a = "\192\175" }, "data.a" },
    { "a NUL byte", "S", "x", { a = "a\0b" }, "data.a" },
    { "a sparse array", "S", "x", { a = { [1] = 1, [3] = 3 } }, "data.a" },
    { "mixed keys", "S", "x", { a = { 1, b = 2 } }, "data.a" },
    { "a table key", "S", "x", { [{}] = 1 }, "data" },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. case[1] .. ", naming " .. case[5], function()
      local json, err = core.encode(case[2], case[3], case[4])
      assert.is_nil(json)
      assert.equal("invalid", err.kind)
      assert.equal(case[5], err.field)
      assert.is_false(err.retryable)
    end)
  end

  it("refuses data nested deeper than 16 levels", function()
    local deep = {}
    local t = deep
    for _ = 1, 20 do t.x = {} t = t.x end
    local json, err = core.encode("S", "x", deep)
    assert.is_nil(json)
    assert.matches("nested too deeply", err.message)
  end)

  it("accepts valid multi-byte UTF-8 and cjson.null", function()
    assert.truthy(core.encode("S", "x", { a = "Müller 日本 😀", b = core.null }))
  end)
end)

describe("core.answer", function()
  local cases = {
    -- name, body, status, expected subtopic, kind, code, status field, retryable (by
    -- lcm.policy, from these facts: core.answer decides nothing, its err.retryable is false)
    { "an LCM error envelope", WS_ERROR, 200, "X", "lcm", "WS_Error", 200, false },
    { "an LCM error with HTTP 500", WS_ERROR, 500, "X", "lcm", "WS_Error", 500, false },
    { "errorType under message", [[{"channel":"LCM","topic":"WebService","subtopic":"X",
       "message":{"errorType":"WS_Error","msg":"m","errorMessage":"d"}}]], 200, "X", "lcm", "WS_Error", 200, false },
    { "a 503 with an HTML body", "<html>busy</html>", 503, "X", "http", nil, 503, true },
    { "a 429", "", 429, "X", "http", nil, 429, true },
    { "a 500", "", 500, "X", "http", nil, 500, true },
    { "a 502", "", 502, "X", "http", nil, 502, true },
    { "a 504", "", 504, "X", "http", nil, 504, true },
    { "a 400", "", 400, "X", "http", nil, 400, false },
    { "a 401", "", 401, "X", "http", nil, 401, false },
    { "a 404 with a JSON body", env(), 404, "BusinessOutCome", "http", nil, 404, false },
    { "a 302", "", 302, "X", "http", nil, 302, false },
    { "a body that is not JSON", "hello", 200, "X", "protocol", "BAD_JSON" },
    { "an empty body", "", 200, "X", "protocol", "BAD_JSON" },
    { "a JSON array", "[1,2]", 200, "X", "protocol", "NOT_OBJECT" },
    { "a JSON string", '"x"', 200, "X", "protocol", "NOT_OBJECT" },
    { "a wrong channel", env { channel = "CTI" }, 200, "BusinessOutCome", "protocol", "BAD_CHANNEL" },
    { "a wrong topic", env { topic = "Other" }, 200, "BusinessOutCome", "protocol", "BAD_TOPIC" },
    { "a wrong subtopic", env(), 200, "SetBusinessOutcomeWithCallOutcomeResult", "protocol", "BAD_SUBTOPIC" },
    { "no message", env { message = "x" }, 200, "BusinessOutCome", "protocol", "BAD_MESSAGE" },
    { "deeply nested JSON", string.rep("[", 1000) .. string.rep("]", 1000), 200, "X", "protocol", "TOO_DEEP" },
    { "NaN in JSON", '{"a": NaN}', 200, "X", "protocol", "BAD_JSON" },
  }
  for _, c in ipairs(cases) do
    it("maps " .. c[1] .. " to a " .. c[5] .. " error", function()
      local message, err = core.answer(c[2], c[3], c[4])
      assert.is_nil(message)
      assert.equal(c[5], err.kind)
      assert.equal(c[6], err.code)
      assert.equal(c[7], err.status)
      assert.is_false(err.retryable)
      assert.equal(c[8] or false, policy.retryable(err))
      assert.is_string(err.message)
      assert.is_true(core.is_error(err))
    end)
  end

  it("reads the LCM error's three fields", function()
    local _, err = core.answer(WS_ERROR, 200, "X")
    assert.equal("Invalid Call ID.", err.message)
    assert.equal("Invalid Call ID:999", err.detail)
  end)

  it("returns the message, comparing topic and subtopic ignoring case", function()
    local body = env { topic = "Webservice", subtopic = "businessoutcome" }
    local message = assert(core.answer(body, 200, "BusinessOutCome"))
    assert.same({ response = {} }, message)
  end)

  it("does not check the subtopic when none is expected", function()
    assert.truthy(core.answer(env { subtopic = "Anything" }, 200, nil))
  end)
end)

describe("error objects", function()
  it("print as one line, the same on every Lua version", function()
    local _, err = core.answer(WS_ERROR, 200, "X")
    err.subtopic, err.attempts = "SetBusinessOutcomeWithCallOutcome", 3
    assert.equal("lcm: lcm error WS_Error: Invalid Call ID. (Invalid Call ID:999) " ..
                 "[SetBusinessOutcomeWithCallOutcome] after 3 attempt(s)", tostring(err))
    local e = core.error { kind = "http", status = 503, message = "busy", attempts = 0 }
    assert.equal("lcm: http error HTTP 503: busy (nothing sent)", tostring(e))
  end)

  it("are made only with a known kind", function()
    assert.has_error(function() core.error { kind = "oops" } end)
    assert.is_false(core.is_error({ kind = "invalid" }))
    assert.is_true(core.is_error(core.error { kind = "invalid" }))
  end)
end)

-- Lua strings may hold a NUL: the envelope checks compare by length (strcmp stopped at it).
describe("core.answer compares by length", function()
  local cases = {
    { "a channel LCM\\0junk", '{"channel":"LCM\\u0000junk","topic":"WebService","subtopic":"R",' ..
      '"message":{}}', "BAD_CHANNEL" },
    { "a key channel\\0x", '{"channel\\u0000x":"LCM","topic":"WebService","subtopic":"R","message":{}}',
      "BAD_CHANNEL" },
    { "a topic WebService\\0", '{"channel":"LCM","topic":"WebService\\u0000","subtopic":"R","message":{}}',
      "BAD_TOPIC" },
    { "a subtopic R\\0x", '{"channel":"LCM","topic":"WebService","subtopic":"R\\u0000x","message":{}}',
      "BAD_SUBTOPIC" },
    { "a topic Error\\0x (not an LCM error)", '{"channel":"LCM","topic":"Error\\u0000x","subtopic":"R",' ..
      '"message":{}}', "BAD_TOPIC" },
  }
  for _, c in ipairs(cases) do
    it("refuses " .. c[1] .. " as " .. c[3], function()
      local message, err = core.answer(c[2], 200, "R")
      assert.is_nil(message)
      assert.equal("protocol", err.kind)
      assert.equal(c[3], err.code)
    end)
  end

  it("accepts the same envelope without the NUL", function()
    assert.truthy(core.answer('{"channel":"LCM","topic":"WebService","subtopic":"R","message":{}}', 200, "R"))
  end)
end)

describe("core.encode's per-string limit", function()
  it("is core.MAX_STRING bytes, for every string in the data, as in the typed calls", function()
    assert.equal(65536, core.MAX_STRING)
    assert.truthy(core.encode("X", "s", { a = string.rep("x", core.MAX_STRING) }))
    local body, err = core.encode("X", "s", { a = { b = string.rep("x", core.MAX_STRING + 1) } })
    assert.is_nil(body)
    assert.same({ "invalid", "data.a.b" }, { err.kind, err.field })
    assert.matches("longer than 65536 bytes", err.message)
    assert.equal("is longer than 65536 bytes", core.text_problem(string.rep("x", 65537)))
  end)
end)
