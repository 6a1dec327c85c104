-- The client against a real lcm-sim over a real socket: every call, option and error kind.
local lcm = require "lcm"
local cjson = require "cjson"
local sim = require "helpers.sim"

local seed = require "helpers.seed"
local SET, set_args = seed.SET, seed.set_args

describe("against lcm-sim", function()
  local s, client
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function()
    s:reset()
    client = assert(lcm.new { url = s.url, source = "spec" })
  end)
  after_each(function() client:close() end)

  describe("get_outcomes", function()
    it("returns the records of the call's outcome group", function()
      local list = assert(client:get_outcomes("", lcm.MANUAL))
      assert.equal(2, #list)
      assert.same({ id = 107, description = "success", parent_id = 5, campaign_id = 0, lead_score = 0,
                    raw = { CampaignID = "0", OutComeID = "107", LeadScore = "0", ParentID = "5",
                            Description = "success" } }, list[1])
      assert.equal(108, list[2].id)
      assert.equal("number", type(list[1].id))
      assert.equal("107", tostring(list[1].id)) -- an integer on every Lua version
    end)

    it("finds a record by id or by description ignoring case", function()
      local list = assert(client:get_outcomes("12345", "MANUAL"))
      assert.equal("Fail", list:find(108).description)
      assert.equal("Fail", list:find("108").description)
      assert.equal(107, list:find("SUCCESS").id)
      assert.is_nil(list:find("nope"))
      assert.is_nil(list:find(1))
    end)

    it("sends the seed's request on the wire", function()
      assert(client:get_outcomes("", "MANUAL"))
      local req = s:requests()[1]
      assert.equal("/api/GetOutcomeByOutcomegroup", req.path)
      assert.same({ channel = "LCM", topic = "WebService", subtopic = "GetOutcomeByOutcomegroup",
                    source = "spec", data = { callid = "", type = "MANUAL" } }, cjson.decode(req.body))
      assert.equal("application/json", req.headers["content-type"])
    end)

    it("returns an empty list for an empty group, not an error", function()
      local e = sim.start { fixtures = { outcome_groups = { INBOUND = cjson.empty_array or {} } } }
      local c = assert(lcm.new { url = e.url })
      local list, err = c:get_outcomes("12345", lcm.INBOUND)
      e:stop()
      assert.is_nil(err)
      assert.equal(0, #list)
      assert.is_nil(list:find(107))
    end)

    it("reads other spellings and types of the answer's fields", function()
      local e = sim.start { fixtures = { outcome_groups = { OUTBOUND = {
        { OutcomeId = 7, description = "Sale", parentid = "1", campaignid = "12", leadscore = 4.5 },
        { OutComeID = "X1", Description = "Odd id" },
      } } } }
      local c = assert(lcm.new { url = e.url })
      local list = assert(c:get_outcomes("12345", lcm.OUTBOUND))
      e:stop()
      assert.same({ 7, "Sale", 1, 12, 4.5 },
                  { list[1].id, list[1].description, list[1].parent_id, list[1].campaign_id, list[1].lead_score })
      assert.equal("X1", list[2].id)
      assert.is_nil(list[2].lead_score)
    end)

    it("answers an unknown callid with the LCM error", function()
      local list, err = client:get_outcomes("999", "MANUAL")
      assert.is_nil(list)
      assert.equal("lcm", err.kind)
      assert.equal("WS_Error", err.code)
      assert.equal("Invalid Call ID:999", err.detail)
      assert.is_false(err.retryable)
      assert.equal(1, err.attempts)
      assert.equal("GetOutcomeByOutcomegroup", err.subtopic)
    end)
  end)

  describe("set_outcome", function()
    it("sets the outcome and returns true", function()
      assert.is_true(client:set_outcome(SET))
      local rec = s:outcomes()
      assert.equal(1, #rec)
      assert.same({ "12345", "5|3|1|0|0|44|1", 101, 0, 0, "1234", "Test comment", 0, "spec" },
                  { rec[1].callid, rec[1].AccountNumber, rec[1].BusinessOutcome, rec[1].CallOutcome,
                    rec[1].LeadScore, rec[1].UserID, rec[1].AgentComments, rec[1].TargetAmount, rec[1].source })
    end)

    it("sends numbers as JSON numbers and converted strings", function()
      assert.is_true(client:set_outcome(set_args { callid = 12345, business_outcome = "108", user_id = 7,
                                                   lead_score = "2.5", call_outcome = lcm.CALL_OUTCOME.DNC }))
      local body = s:requests()[1].body
      assert.truthy(body:find('"BusinessOutcome":108', 1, true))
      assert.truthy(body:find('"CallOutcome":5', 1, true))
      assert.truthy(body:find('"LeadScore":2.5', 1, true))
      assert.truthy(body:find('"callid":"12345"', 1, true))
      assert.truthy(body:find('"UserID":"7"', 1, true))
    end)

    it("takes a record from get_outcomes, with defaults for the optional fields", function()
      local list = assert(client:get_outcomes("12345", "MANUAL"))
      assert.is_true(client:set_outcome { callid = "12345", account_number = "1|1|1|0|0|1|",
                                          business_outcome = list:find("Fail"), call_outcome = 0, user_id = "9" })
      local rec = s:outcomes()[1]
      assert.same({ 108, 0, 0, "" }, { rec.BusinessOutcome, rec.LeadScore, rec.TargetAmount, rec.AgentComments })
    end)

    it("carries an Idempotency-Key, a new one for each call", function()
      assert(client:set_outcome(SET))
      assert(client:set_outcome(SET))
      local log = s:requests()
      local k1, k2 = log[1].headers["idempotency-key"], log[2].headers["idempotency-key"]
      assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", k1)
      assert.not_equal(k1, k2)
      assert.equal(2, #s:outcomes())
    end)

    it("maps an unknown callid to the LCM error and records nothing", function()
      local ok, err = client:set_outcome(set_args { callid = "999" })
      assert.is_nil(ok)
      assert.same({ "lcm", "WS_Error", "Invalid Call ID.", "Invalid Call ID:999" },
                  { err.kind, err.code, err.message, err.detail })
      assert.equal(0, #s:outcomes())
    end)

    it("maps success = false to a rejected error", function()
      s:add_call { callid = "closed-1", accept = false }
      local ok, err = client:set_outcome(set_args { callid = "closed-1" })
      assert.is_nil(ok)
      assert.equal("rejected", err.kind)
      assert.is_false(err.retryable)
      assert.equal(1, err.attempts)
    end)

    it("refuses an empty callid locally and sends nothing", function()
      local ok, err = client:set_outcome(set_args { callid = "" })
      assert.is_nil(ok)
      assert.equal("invalid", err.kind)
      assert.equal("callid", err.field)
      assert.equal(0, s:count())
    end)

    it("sends nothing for any invalid argument, and says which", function()
      local results = {
        { "lead_score", client:set_outcome(set_args { lead_score = 0 / 0 }) },
        { "agent_comments", client:set_outcome(set_args { agent_comments = "\255" }) },
        { "type", client:get_outcomes("1", "") },
        { "subtopic", client:call("Bad/Name", {}) },
      }
      for _, r in ipairs(results) do
        local field, ok, err = r[1], r[2], r[3]
        assert.is_nil(ok)
        assert.same({ "invalid", field, 0, false }, { err.kind, err.field, err.attempts, err.retryable })
      end
      assert.equal(0, s:count())
    end)

    it("refuses an answer for another call", function()
      s:fault { body = cjson.encode { channel = "LCM", topic = "WebService",
                                      subtopic = "SetBusinessOutcomeWithCallOutcomeResult",
                                      message = { callid = "777", response = { success = true } } } }
      local ok, err = client:set_outcome(SET)
      assert.is_nil(ok)
      assert.equal("protocol", err.kind)
      assert.equal("CALLID_MISMATCH", err.code)
    end)

    it("refuses an answer without a boolean success", function()
      s:fault { body = cjson.encode { channel = "LCM", topic = "WebService",
                                      subtopic = "SetBusinessOutcomeWithCallOutcomeResult",
                                      message = { callid = "12345", response = { success = "yes" } } } }
      local ok, err = client:set_outcome(SET)
      assert.is_nil(ok)
      assert.equal("BAD_RESPONSE", err.code)
    end)
  end)

  describe("call", function()
    it("sends any subtopic and returns the decoded message", function()
      local message = assert(client:call("GetCallOutCome", { callid = "12345" }))
      assert.equal("DNC", message.response[6].Description)
    end)

    it("gives Set... subtopics an Idempotency-Key and checks their answer's subtopic", function()
      local message = assert(client:call("SetDNC", { callid = "12345", AccountNumber = "1|1|1|0|0|1|", OutcomeID = 5,
                                                     BusinessOutcome = 101, LeadScore = 0 }))
      assert.is_true(message.response.success)
      assert.is_string(s:requests()[1].headers["idempotency-key"])
    end)

    it("maps an unknown subtopic to the server's error", function()
      local message, err = client:call("NoSuchThing", {})
      assert.is_nil(message)
      assert.equal("lcm", err.kind)
      assert.equal("NoSuchThing", err.subtopic)
    end)
  end)

  describe("after close", function()
    it("every call is an invalid error naming the client, and nothing is sent", function()
      local c = assert(lcm.new { url = s.url })
      c:close()
      c:close() -- twice is fine
      local results = { { c:get_outcomes("", "MANUAL") }, { c:set_outcome(SET) }, { c:call("SetDNC", {}) },
                        { c:call("GetCallOutCome", { callid = "12345" }) } }
      for _, r in ipairs(results) do
        assert.is_nil(r[1])
        assert.same({ "invalid", "client", 0, false }, { r[2].kind, r[2].field, r[2].attempts, r[2].retryable })
        assert.matches("(nothing sent)", tostring(r[2]), 1, true)
      end
      assert.equal(0, s:count())
    end)
  end)

  describe("answers", function()
    local function envelope(subtopic, message)
      return '{"channel":"LCM","topic":"WebService","subtopic":"' .. subtopic .. '","message":' .. message .. "}"
    end

    it("a JSON null counts as absent", function()
      s:fault { body = envelope("BusinessOutCome", '{"response":[{"OutComeID":"107","Description":null,' ..
                                '"ParentID":null,"CampaignID":null,"LeadScore":null}],"extra":null}') }
      local list = assert(client:get_outcomes("", "MANUAL"))
      assert.same({ 107, nil, nil, nil, nil }, { list[1].id, list[1].description, list[1].parent_id,
                                                  list[1].campaign_id, list[1].lead_score })
      s:fault { body = envelope("SetBusinessOutcomeWithCallOutcomeResult",
                                '{"callid":null,"response":{"success":true}}') }
      assert.is_true(client:set_outcome(SET)) -- a null callid: no call named, none contradicted
      s:fault { body = envelope("BusinessOutCome", '{"response":[{"OutComeID":null}]}') }
      local _, err = client:get_outcomes("", "MANUAL")
      assert.same({ "protocol", "BAD_RESPONSE" }, { err.kind, err.code })
      s:fault { body = '{"channel":null,"topic":"WebService","subtopic":"CallOutcome","message":{}}' }
      _, err = client:call("GetCallOutCome", { callid = "12345" })
      assert.same({ "protocol", "BAD_CHANNEL" }, { err.kind, err.code })
    end)

    -- The envelope is level 1 and message level 2: n nested arrays in message.response
    -- make n + 2 levels.
    local function nested(levels)
      local arrays = levels - 2
      return envelope("CallOutcome", '{"response":' .. string.rep("[", arrays) .. string.rep("]", arrays) .. "}")
    end

    it("are decoded up to 32 levels deep", function()
      s:fault { body = nested(32) }
      local message = assert(client:call("GetCallOutCome", { callid = "12345" }))
      local depth, t = 2, message.response
      while type(t) == "table" do depth, t = depth + 1, t[1] end
      assert.equal(32, depth)
    end)

    it("are refused at 33 levels (TOO_DEEP)", function()
      s:fault { body = nested(33) }
      local message, err = client:call("GetCallOutCome", { callid = "12345" })
      assert.is_nil(message)
      assert.same({ "protocol", "TOO_DEEP" }, { err.kind, err.code })
    end)
  end)

  describe("options", function()
    it("url: {subtopic} is replaced, and a fixed url works too", function()
      local c = assert(lcm.new { url = s.base .. "/lcm" })
      assert(c:get_outcomes("", "MANUAL"))
      assert.equal("/lcm", s:requests()[1].path)
    end)

    it("headers, bearer_token and user_agent reach the server", function()
      local c = assert(lcm.new { url = s.url, headers = { ["X-Tenant"] = "acme" }, bearer_token = "s3cret",
                                 user_agent = "dialer/2" })
      assert(c:get_outcomes("", "MANUAL"))
      local h = s:requests()[1].headers
      assert.same({ "acme", "Bearer s3cret", "dialer/2" }, { h["x-tenant"], h.authorization, h["user-agent"] })
      assert.is_nil(h.expect)
    end)

    it("the default user agent names lcm and its version", function()
      assert(client:get_outcomes("", "MANUAL"))
      assert.equal("lcm-lua/" .. lcm._VERSION, s:requests()[1].headers["user-agent"])
    end)

    it("username and password are sent as basic auth", function()
      local c = assert(lcm.new { url = s.url, username = "agent", password = "pw" })
      assert(c:get_outcomes("", "MANUAL"))
      assert.equal("Basic YWdlbnQ6cHc=", s:requests()[1].headers.authorization)
    end)

    it("proxy: the request goes through the proxy", function()
      -- lcm-sim answers a proxied request too, so it can play the proxy.
      local c = assert(lcm.new { url = "http://lcm.invalid/api", proxy = s.base })
      assert(c:get_outcomes("", "MANUAL"))
      assert.equal("http://lcm.invalid/api", s:requests()[1].path)
    end)

    it("source defaults to lcm-lua", function()
      local c = assert(lcm.new { url = s.url })
      assert(c:get_outcomes("", "MANUAL"))
      assert.equal("lcm-lua", cjson.decode(s:requests()[1].body).source)
    end)

    it("logger receives debug and error lines, and its own errors are contained", function()
      local lines = {}
      local c = assert(lcm.new { url = s.url, logger = function(level, msg)
        lines[#lines + 1] = level .. " " .. msg
        error("a broken logger")
      end })
      assert(c:get_outcomes("", "MANUAL"))
      local _, err = c:get_outcomes("999", "MANUAL")
      assert.equal("lcm", err.kind)
      assert.matches("^debug GetOutcomeByOutcomegroup", lines[1])
      assert.matches("^error lcm: lcm error WS_Error", lines[2])
    end)

    it("connect_timeout_ms bounds the connection phase", function()
      local port, close = sim.blackhole()
      local c = assert(lcm.new { url = "http://127.0.0.1:" .. port .. "/", connect_timeout_ms = 100,
                                 timeout_ms = 20000, max_attempts = 1 })
      local started = require("lcm.core").monotonic_ms()
      local ok, err = c:get_outcomes("", "MANUAL")
      local took = require("lcm.core").monotonic_ms() - started
      close()
      assert.is_nil(ok)
      -- Kind, code and sent (nothing was written: it ended while connecting), not libcurl's
      -- prose, which varies with the phase the timer fired in ("Connection timeout after
      -- 100 ms" under load); and well before timeout_ms, so connect_timeout_ms ended it.
      assert.same({ "timeout", "OPERATION_TIMEDOUT", true, false }, { err.kind, err.code, err.retryable, err.sent })
      assert.is_true(took < 10000, took .. " ms")
    end)
  end)

  describe("connections", function()
    -- s:state() itself opens one connection per call (LuaSocket does not keep it).
    it("a client keeps one connection alive for its requests", function()
      local c = assert(lcm.new { url = s.url, share = false })
      local before = s:state().connections
      for _ = 1, 5 do assert(c:get_outcomes("", "MANUAL")) end
      assert.equal(before + 2, s:state().connections)
    end)

    it("a new client reuses the process-wide cache's warm connection", function()
      assert(client:get_outcomes("", "MANUAL")) -- warms the cache
      local before = s:state().connections
      local fresh = assert(lcm.new { url = s.url })
      assert(fresh:get_outcomes("", "MANUAL"))
      fresh:close()
      local again = assert(lcm.new { url = s.url })
      assert(again:get_outcomes("", "MANUAL"))
      assert.equal(before + 1, s:state().connections)
      assert.is_true(require("lcm.core").shared_cache)
    end)

    it("share = false opts a client out of the cache", function()
      assert(client:get_outcomes("", "MANUAL"))
      local before = s:state().connections
      local alone = assert(lcm.new { url = s.url, share = false })
      assert(alone:get_outcomes("", "MANUAL"))
      assert.equal(before + 2, s:state().connections)
    end)
  end)
end)
