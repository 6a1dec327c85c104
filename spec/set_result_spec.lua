-- What a failed Set means (README, "What a failed Set means"): every error of a Set says
-- whether LCM recorded it (err.recorded = false: provably not; "unknown": it may have), a
-- Set whose outcome is unknown is queued in the outbox and replayed with its key, and every
-- Set... subtopic sent with call() is a Set. Against a real lcm-sim.
local lcm = require "lcm"
local sim = require "helpers.sim"
local seed = require "helpers.seed"
local raw_answer = require "helpers.raw_answer"

local SET = seed.SET
local SUBTOPIC = "SetBusinessOutcomeWithCallOutcome"

-- A Set answer's JSON with message replaced (a string: put in as raw JSON, so that the
-- number 12345 stays a number and not an encoder's choice).
local function answer(message, subtopic)
  return string.format('{"channel":"LCM","topic":"WebService","subtopic":"%s","message":%s}',
                       subtopic or SUBTOPIC .. "Result", message)
end

local tmpdir = sim.tmpdir

describe("err.recorded of a failed Set", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  local function client(opts)
    local o = { url = s.url, timeout_ms = 300, max_attempts = 1, max_response_bytes = 64 * 1024,
                sleep = function() end }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(lcm.new(o))
  end

  -- name, fault (armed once) or function(s) -> set_outcome arguments, expected
  -- { kind, code or status, recorded }.
  local CASES = {
    { "success = false", function()
        s:add_call { callid = "no-1", accept = false }
        return seed.set_args { callid = "no-1" }
      end, { "rejected", nil, false } },
    { "LCM's error envelope", function() return seed.set_args { callid = "999" } end, { "lcm", "WS_Error", false } },
    -- The envelope wins over the status (README, "Wire decisions"): not retried, not queued.
    { "LCM's error envelope with HTTP 503", { status = 503, body = '{"channel":"LCM","topic":"Error",' ..
        '"subtopic":"WS_Error","data":{"errorType":"WS_Error","errorMessage":"down","msg":"down"}}' },
      { "lcm", "WS_Error", false } },
    { "HTTP 503", { status = 503 }, { "http", 503, "unknown" } },
    { "HTTP 400", { status = 400 }, { "http", 400, "unknown" } },
    { "a timeout after sending", { delay_ms = 1000 }, { "timeout", "OPERATION_TIMEDOUT", "unknown" } },
    { "a 2xx that is not JSON", { body = "<html>ok</html>" }, { "protocol", "BAD_JSON", "unknown" } },
    { "a 2xx for another subtopic", { body = answer('{"callid":"12345","response":{"success":true}}', "SetDNCResult") },
      { "protocol", "BAD_SUBTOPIC", "unknown" } },
    { "a 2xx over max_response_bytes", { body = string.rep("x", 100 * 1024) }, { "protocol", "TOO_LARGE", "unknown" } },
    { "a 2xx for another call", { body = answer('{"callid":"777","response":{"success":true}}') },
      { "protocol", "CALLID_MISMATCH", "unknown" } },
    -- Not rejected: only a well-formed result with success = false is.
    { "a result without response", { body = answer('{"callid":"12345"}') }, { "protocol", "BAD_RESPONSE", "unknown" } },
    { "an empty message", { body = answer("{}") }, { "protocol", "BAD_RESPONSE", "unknown" } },
    { "a string response", { body = answer('{"callid":"12345","response":"false"}') },
      { "protocol", "BAD_RESPONSE", "unknown" } },
    { "a null response", { body = answer('{"callid":"12345","response":null}') },
      { "protocol", "BAD_RESPONSE", "unknown" } },
    { "a null success", { body = answer('{"callid":"12345","response":{"success":null}}') },
      { "protocol", "BAD_RESPONSE", "unknown" } },
  }
  for _, c in ipairs(CASES) do
    local name, fault, want = c[1], c[2], c[3]
    it(name .. " -> " .. want[1] .. ", recorded " .. tostring(want[3]), function()
      local args = SET
      if type(fault) == "function" then args = fault() else s:fault(fault) end
      local ok, err = client():set_outcome(args)
      assert.is_nil(ok)
      assert.same(want, { err.kind, err.code or err.status, err.recorded })
      assert.equal(want[3] == "unknown", tostring(err):find("; recorded: unknown", 1, true) ~= nil, tostring(err))
    end)
  end

  it("an answer header too long for libcurl (OUT_OF_MEMORY) -> recorded unknown", function()
    local url = raw_answer.start("HTTP/1.1 200 OK\r\nX-Padding: " .. string.rep("p", 200 * 1024) ..
                                 "\r\nContent-Length: 2\r\n\r\n{}")
    local ok, err = client { url = url }:set_outcome(SET)
    assert.is_nil(ok)
    assert.same({ "transport", "OUT_OF_MEMORY", 1, "unknown" }, { err.kind, err.code, err.attempts, err.recorded })
  end)

  it("nothing sent -> recorded false", function()
    local c = client()
    local _, e1 = c:set_outcome(seed.set_args { callid = "" })
    local _, e2 = c:call("SetDNC", { callid = "12345", note = "\255" })
    c:close()
    local _, e3 = c:set_outcome(SET)
    for _, err in ipairs { e1, e2, e3 } do
      assert.same({ "invalid", 0, false }, { err.kind, err.attempts, err.recorded })
    end
    assert.equal(0, s:count())
  end)

  it("no randomness for the Idempotency-Key (seccomp refuses getrandom) -> nothing sent, recorded false", function()
    local script = sim.tmpname()
    sim.write(script, [[
      local lcm = require "lcm"
      local c = assert(lcm.new { url = arg[1], sleep = function() end })
      local ok, err = c:set_outcome { callid = "12345", account_number = "1|1|1|0|0|1|", business_outcome = 107,
                                      call_outcome = 0, user_id = "1" }
      print(ok, err.kind, err.code, err.attempts, err.recorded, err.retryable)
      local _, e2 = c:call("SetDNC", { callid = "12345" })
      print(e2.kind, e2.code, e2.attempts, e2.recorded)
    ]])
    local no_getrandom = os.getenv("LCM_NO_GETRANDOM") or ((os.getenv("PWD") or ".") .. "/build/no-getrandom")
    local out, ok = sim.run(no_getrandom .. " " .. sim.LUA .. " " .. script .. " '" .. s.url .. "'")
    os.remove(script)
    assert.is_true(ok, out)
    assert.equal("nil\ttransport\tNO_RANDOM\t0\tfalse\tfalse\ntransport\tNO_RANDOM\t0\tfalse\n", out)
    assert.equal(0, s:count())
  end)

  it("is unknown when any attempt may have been recorded, even if the last one was refused", function()
    s:fault { status = 503 }
    local ok, err = client { max_attempts = 3 }:set_outcome(seed.set_args { callid = "999" })
    assert.is_nil(ok)
    assert.same({ "lcm", 2, "unknown" }, { err.kind, err.attempts, err.recorded })
  end)

  it("a Get has no err.recorded", function()
    s:fault { status = 503 }
    local _, err = client():get_outcomes("", "MANUAL")
    assert.same({ "http", nil }, { err.kind, err.recorded })
  end)

  for _, form in ipairs { { "the number 12345", "12345" }, { "the string \"12345\"", '"12345"' } } do
    it("an answer whose callid is " .. form[1] .. " is for call \"12345\" and 12345", function()
      local body = answer('{"callid":' .. form[2] .. ',"response":{"success":true}}')
      s:fault { body = body, count = 2 }
      assert.is_true(client():set_outcome(SET))
      local message = assert(client():call(SUBTOPIC, { callid = 12345 }))
      assert.is_true(message.response.success)
    end)
  end

  it("the numeric comparison is exact: 12345.5 is not call 12345", function()
    s:fault { body = answer('{"callid":12345.5,"response":{"success":true}}') }
    local _, err = client():set_outcome(SET)
    assert.same({ "CALLID_MISMATCH", "unknown" }, { err.code, err.recorded })
  end)
end)

describe("the outbox and an unknown outcome", function()
  local s, dir
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function()
    s:reset()
    dir = tmpdir()
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function client()
    return assert(lcm.new { url = s.url, timeout_ms = 300, outbox = dir, sleep = function() end })
  end

  it("queues a Set whose answer could not be read, and its replay is recorded once", function()
    s:fault { body = "<html>busy</html>", after = true } -- LCM did the work, then answered garbage
    local c = client()
    local ok, err = c:set_outcome(SET)
    assert.is_nil(ok)
    assert.same({ "protocol", false, "unknown", true }, { err.kind, err.retryable, err.recorded, err.queued })
    assert.truthy(tostring(err):find("; recorded: unknown; queued", 1, true), tostring(err))
    assert.same({ sent = 1, failed = 0, remaining = 0, corrupt = 0 }, c:flush_outbox())
    local log = s:requests()
    assert.equal(2, #log)
    assert.equal(log[1].headers["idempotency-key"], log[2].headers["idempotency-key"])
    assert.equal(1, #s:outcomes())
  end)

  it("does not queue a Set that was provably not recorded", function()
    s:add_call { callid = "no-2", accept = false }
    local c = client()
    local _, e1 = c:set_outcome(seed.set_args { callid = "no-2" })
    local _, e2 = c:set_outcome(seed.set_args { callid = "999" })
    assert.same({ "rejected", false, nil }, { e1.kind, e1.recorded, e1.queued })
    assert.same({ "lcm", false, nil }, { e2.kind, e2.recorded, e2.queued })
    assert.same({ sent = 0, failed = 0, remaining = 0, corrupt = 0 }, c:flush_outbox())
  end)
end)

-- Data each subtopic's page makes mandatory (lcm-sim checks it), for the call given.
local function set_data(subtopic, callid)
  local data = { callid = callid, AccountNumber = "1|1|1|0|0|1|" }
  local more = {
    SetDNC = { OutcomeID = 5, BusinessOutcome = 107, LeadScore = 0 },
    SetCallbackWithComments = { StartDate = "21/11/2026", EndDate = "22/11/2026", StartTime = "10:00",
                                EndTime = "11:00", CallbackModeId = 1, UserID = "1234", AgentComments = "",
                                LeadScore = 0, TargetAmount = 0 },
  }
  for k, v in pairs(more[subtopic]) do data[k] = v end
  return data
end

describe("call() of a Set... subtopic is a Set", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  for _, subtopic in ipairs { "SetDNC", "SetCallbackWithComments" } do
    it(subtopic .. " answered success = false -> rejected, recorded false", function()
      s:add_call { callid = "no-3", accept = false }
      local c = assert(lcm.new { url = s.url })
      local message, err = c:call(subtopic, set_data(subtopic, "no-3"))
      assert.is_nil(message)
      assert.same({ "rejected", false, false, subtopic, 1 },
                  { err.kind, err.recorded, err.retryable, err.subtopic, err.attempts })
      assert.same({}, s:state().sets)
    end)
  end

  it("SetDNC keeps its Idempotency-Key on every attempt", function()
    s:fault { drop = true, after = true }
    local c = assert(lcm.new { url = s.url, sleep = function() end })
    assert(c:call("SetDNC", set_data("SetDNC", "12345")))
    local log = s:requests()
    assert.equal(2, #log)
    assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", log[1].headers["idempotency-key"])
    assert.equal(log[1].headers["idempotency-key"], log[2].headers["idempotency-key"])
    assert.equal(1, #s:state().sets)
  end)

  it("a 503 on SetDNC is queued in the outbox and replayed with its key", function()
    local dir = tmpdir()
    s:fault { status = 503, count = 3 }
    local c = assert(lcm.new { url = s.url, outbox = dir, sleep = function() end })
    local message, err = c:call("SetDNC", set_data("SetDNC", "12345"))
    assert.is_nil(message)
    assert.same({ "http", 503, "unknown", true }, { err.kind, err.status, err.recorded, err.queued })
    assert.same({ sent = 1, failed = 0, remaining = 0, corrupt = 0 }, c:flush_outbox())
    os.execute("rm -rf " .. dir)
    local sets, log = s:state().sets, s:requests()
    assert.equal(1, #sets)
    assert.equal("SetDNC", sets[1].subtopic)
    assert.equal(4, #log)
    assert.equal(log[1].headers["idempotency-key"], sets[1].idempotency_key)
  end)

  it("the answer's callid is checked against data.callid, given as a string or a number", function()
    s:fault { body = answer('{"callid":"777","response":{"success":true}}', "SetDNCResult"), count = 2 }
    local c = assert(lcm.new { url = s.url })
    for _, callid in ipairs { "12345", 12345 } do
      local message, err = c:call("SetDNC", { callid = callid })
      assert.is_nil(message)
      assert.same({ "CALLID_MISMATCH", "unknown" }, { err.code, err.recorded })
    end
  end)

  it("a Set without a callid is judged by its result alone", function()
    s:fault { body = answer('{"response":{"success":true}}', "SetDNCResult") }
    local c = assert(lcm.new { url = s.url })
    assert.is_true(assert(c:call("SetDNC", {})).response.success)
  end)
end)

-- A serializer that writes every field answers "errorType": null on success: JSON null is an
-- absent field (README), not LCM's error envelope (review finding: such a Set failed as kind
-- lcm, recorded = false, and was not queued, though LCM had recorded it).
describe("an answer whose error fields are JSON null", function()
  local function http(body)
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body ..
           "\r\nConnection: close\r\n\r\n" .. body
  end
  local SUCCESS = '{"callid":"12345","response":{"success":true}}'
  local NULLS = '"errorType":null,"errorMessage":null,"msg":null'

  for _, where in ipairs { "message", "data" } do
    it("is a success of a Set (nulls under " .. where .. ")", function()
      local message = where == "message" and (SUCCESS:sub(1, -2) .. "," .. NULLS .. "}") or SUCCESS
      local body = answer(message):sub(1, -2) .. (where == "data" and ',"data":{' .. NULLS .. '}}' or "}")
      local c = assert(lcm.new { url = raw_answer.start(http(body)), max_attempts = 1 })
      local ok, err = c:set_outcome(SET)
      assert.is_nil(err)
      assert.is_true(ok)
    end)
  end

  it("is a Get's answer, its records read", function()
    local body = '{"channel":"LCM","topic":"WebService","subtopic":"BusinessOutCome","message":{' .. NULLS ..
                 ',"response":[{"OutComeID":"107","Description":"success","ParentID":null}]}}'
    local c = assert(lcm.new { url = raw_answer.start(http(body)), max_attempts = 1 })
    local list, err = c:get_outcomes("12345", "MANUAL")
    assert.is_nil(err)
    assert.same({ 107, "success" }, { list[1].id, list[1].description })
    assert.is_nil(list[1].parent_id)
  end)

  it("still lets a real error envelope (errorType a string) be LCM's error", function()
    local body = answer('{"errorType":"WS_Error","errorMessage":"Invalid Call ID."}')
    local c = assert(lcm.new { url = raw_answer.start(http(body)), max_attempts = 1 })
    local ok, err = c:set_outcome(SET)
    assert.is_nil(ok)
    assert.same({ "lcm", "WS_Error", false }, { err.kind, err.code, err.recorded })
  end)
end)

-- set_outcome takes a telephony outcome by its standard name, as every typed Set does
-- (issue 13: it was invalid, "must be an integer ID").
describe("set_outcome's call_outcome by name", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  for name, id in pairs { dnc = 5, ["No Answer"] = 8, ["answering-machine"] = 7, SUCCESS = 0 } do
    it("sends " .. name .. " as " .. id, function()
      local c = assert(lcm.new { url = s.url })
      assert.is_true(c:set_outcome(seed.set_args { call_outcome = name }))
      assert.equal(id, s:outcomes()[1].CallOutcome)
    end)
  end

  it("refuses an unknown name, naming the field and the known names, and sends nothing", function()
    local c = assert(lcm.new { url = s.url })
    local ok, err = c:set_outcome(seed.set_args { call_outcome = "Dialed" })
    assert.is_nil(ok)
    assert.same({ "invalid", "call_outcome", false }, { err.kind, err.field, err.recorded })
    assert.matches("'Dialed' matches no known name %(known: ABANDONED, .*DNC.*%)", err.message)
    assert.equal(0, s:count())
  end)
end)
