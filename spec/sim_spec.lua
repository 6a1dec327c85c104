-- lcm-sim itself: the seed samples exactly, fixtures, errors, idempotency, faults,
-- concurrency. Driven with LuaSocket and curl, not with lcm.
local cjson = require "cjson"
local sim = require "helpers.sim"
local http = require "socket.http"
local ltn12 = require "ltn12"

local function post(s, body, headers)
  local out = {}
  headers = headers or {}
  headers["content-length"] = #body
  local _, code = http.request { url = s.base .. "/api", method = "POST", headers = headers,
                                 source = ltn12.source.string(body), sink = ltn12.sink.table(out) }
  local text = table.concat(out)
  local ok, decoded = pcall(cjson.decode, text)
  return code, ok and decoded or text
end

-- The seed pages' sample requests and answers, as given.
local SEED_GET = [[{"channel":"LCM","topic":"WebService","subtopic":"GetOutcomeByOutcomegroup",
  "data":{"callid":"","type":"MANUAL"}}]]
local SEED_GET_ANSWER = { channel = "LCM", topic = "WebService", subtopic = "BusinessOutCome", message = {
  response = {
    { CampaignID = "0", OutComeID = "107", LeadScore = "0", ParentID = "5", Description = "success" },
    { CampaignID = "0", OutComeID = "108", LeadScore = "0", ParentID = "6", Description = "Fail" },
  } } }
local SEED_SET = [[{"channel":"LCM","topic":"WebService","subtopic":"SetBusinessOutcomeWithCallOutcome",
  "data":{"callid":"12345","AccountNumber":"5|3|1|0|0|44|1","BusinessOutcome":101,"CallOutcome":0,
  "LeadScore":0,"UserID":"1234","AgentComments":"Test comment","TargetAmount":0}}]]
local SEED_SET_ANSWER = { channel = "LCM", topic = "WebService", subtopic = "SetBusinessOutcomeWithCallOutcomeResult",
  message = { callid = "12345", response = { success = true } } }

local function ws_error(actual)
  return { channel = "LCM", topic = "Error", subtopic = "WS_Error",
           data = { errorType = "WS_Error", errorMessage = actual, msg = "Invalid Call ID." } }
end

describe("lcm-sim", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  it("answers the seed's GetOutcomeByOutcomegroup sample exactly", function()
    local code, answer = post(s, SEED_GET)
    assert.equal(200, code)
    assert.same(SEED_GET_ANSWER, answer)
  end)

  it("answers the seed's SetBusinessOutcomeWithCallOutcome sample exactly", function()
    local code, answer = post(s, SEED_SET)
    assert.equal(200, code)
    assert.same(SEED_SET_ANSWER, answer)
    assert.equal(1, #s:outcomes())
  end)

  it("answers an empty callid with the Callid is empty error", function()
    local _, answer = post(s, (SEED_SET:gsub('"callid":"12345"', '"callid":""')))
    assert.same(ws_error("Callid is empty"), answer)
  end)

  it("answers an unknown callid with Invalid Call ID:<id>", function()
    local _, answer = post(s, (SEED_SET:gsub('"callid":"12345"', '"callid":"4711"')))
    assert.same(ws_error("Invalid Call ID:4711"), answer)
  end)

  it("refuses a Set whose numbers are strings, as the wire decisions say", function()
    local _, answer = post(s, (SEED_SET:gsub('"BusinessOutcome":101', '"BusinessOutcome":"101"')))
    assert.equal("Error", answer.topic)
    assert.equal("Invalid BusinessOutcome:101", answer.data.errorMessage)
    assert.equal(0, #s:outcomes())
  end)

  it("answers malformed JSON and an unknown subtopic with error envelopes", function()
    local code, answer = post(s, "{nope")
    assert.equal(400, code)
    assert.equal("WS_Error", answer.data.errorType)
    code, answer = post(s, [[{"channel":"LCM","topic":"WebService","subtopic":"Nope","data":{}}]])
    assert.equal(404, code)
    assert.equal("Unknown subtopic:Nope", answer.data.errorMessage)
  end)

  it("does not record a repeated Idempotency-Key twice, and answers it the same", function()
    local h = function() return { ["idempotency-key"] = "k-1" } end
    local _, a1 = post(s, SEED_SET, h())
    local _, a2 = post(s, SEED_SET, h())
    assert.same(a1, a2)
    assert.equal(1, #s:outcomes())
    post(s, SEED_SET, { ["idempotency-key"] = "k-2" })
    assert.equal(2, #s:outcomes())
  end)

  it("registers calls and resets", function()
    s:add_call { callid = "c-1", type = "INBOUND" }
    local _, answer = post(s, (SEED_SET:gsub('"callid":"12345"', '"callid":"c-1"')))
    assert.is_true(answer.message.response.success)
    s:reset()
    _, answer = post(s, (SEED_SET:gsub('"callid":"12345"', '"callid":"c-1"')))
    assert.equal("Error", answer.topic)
    assert.equal(0, #s:outcomes())
  end)

  it("arms faults for the next N requests only", function()
    s:fault { status = 503, count = 2, retry_after = 7 }
    assert.equal(503, (post(s, SEED_GET)))
    assert.equal(503, (post(s, SEED_GET)))
    assert.equal(200, (post(s, SEED_GET)))
    assert.equal(0, s:state().faults)
  end)

  it("limits a fault to one subtopic when asked", function()
    s:fault { status = 500, subtopic = "SetBusinessOutcomeWithCallOutcome" }
    assert.equal(200, (post(s, SEED_GET)))
    assert.equal(500, (post(s, SEED_SET)))
  end)

  it("loads calls and outcome groups from a fixtures file", function()
    local f = sim.start { fixtures = { calls = { { callid = "A-1", type = "OUTBOUND" } },
                                       outcome_groups = { OUTBOUND = { { OutComeID = "1", Description = "Sale" } } } } }
    local _, answer = post(f, [[{"channel":"LCM","topic":"WebService","subtopic":"GetOutcomeByOutcomegroup",
                                 "data":{"callid":"A-1","type":"outbound"}}]])
    local _, unknown = post(f, SEED_SET) -- 12345 is not in these fixtures
    f:stop()
    assert.same({ { OutComeID = "1", Description = "Sale" } }, answer.message.response)
    assert.equal("Invalid Call ID:12345", unknown.data.errorMessage)
  end)

  it("serves other requests while one connection is delayed", function()
    -- No clock: the fast request must complete while the slow one's curl is still
    -- waiting (its marker file not yet written).
    local marker = sim.tmpname()
    s:fault { delay_ms = 5000 }
    local p = io.popen("(" .. sim.ENV .. "curl -s -o /dev/null -X POST --data-binary '" .. SEED_GET:gsub("\n", " ") ..
                       "' " .. s.base .. "/api; touch " .. marker .. ") >/dev/null 2>&1 & echo $!")
    local pid = p:read("*l")
    p:close()
    for _ = 1, 500 do -- until the slow request has taken the armed fault
      if s:state().faults == 0 then break end
      require("socket").sleep(0.01)
    end
    local code = post(s, SEED_GET)
    local slow_done = sim.read(marker) ~= nil
    os.execute("kill " .. pid .. " 2>/dev/null")
    os.remove(marker)
    assert.equal(200, code)
    assert.is_false(slow_done, "the fast request waited for the slow one")
    assert.equal(0, s:state().faults)
  end)

  it("serves HTTPS with the given certificate", function()
    local t = sim.start { tls = true }
    local out = sim.run(sim.ENV .. "curl -s --cacert " .. t.cert.cert .. " -X POST --data-binary '" ..
                        SEED_GET:gsub("\n", " ") .. "' " .. t.base .. "/api")
    t:stop()
    assert.same(SEED_GET_ANSWER, cjson.decode(out))
  end)

  it("writes the chosen port to --port-file and refuses bad arguments", function()
    assert.is_true(s.port > 0)
    local out, ok = sim.run(sim.ENV .. sim.SIM .. " --bogus 1")
    assert.is_false(ok)
    assert.matches("usage", out)
  end)
end)
