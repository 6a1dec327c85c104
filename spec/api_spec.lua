-- The typed calls of lua/lcm/api.lua against a real lcm-sim: every subtopic's happy path
-- (what goes on the wire, what comes back), its bad-input table (refused, naming the
-- field, nothing sent), and each error kind (WS_Error, rejected, 503 retried, outbox).
local lcm = require "lcm"
local api = require "lcm.api"
local cjson = require "cjson"
local sim = require "helpers.sim"

local ACCOUNT = "5|3|1|0|0|44|1"
local MARCH_31_1800 = os.time { year = 2026, month = 3, day = 31, hour = 18, min = 0 }

-- A valid call of every method: its arguments, the data it must send, and what it returns.
local CASES = {
  set_dnc = {
    args = { callid = "12345", account_number = ACCOUNT, business_outcome = 101, phone_number_dnc = true,
             block_start = "01/03/2026 09:00", block_end = MARCH_31_1800, agent_comments = "asked not to be called",
             campaign_category_id = 7 },
    wire = { callid = "12345", AccountNumber = ACCOUNT, OutcomeID = 5, BusinessOutcome = 101, LeadScore = 0,
             isPhoneNoDNC = true, DNCBlockStartDate = "01/03/2026 09:00", DNCBlockEndDate = "31/03/2026 18:00",
             AgentComments = "asked not to be called", DNCCampaignCategoryID = "7" },
  },
  set_callback = {
    args = { callid = 12345, account_number = ACCOUNT,
             start_date = { year = 2026, month = 3, day = 2, hour = 9, min = 30 }, end_date = MARCH_31_1800,
             start_time = "10:15", callback_mode = { id = 3 }, user_id = "1234",
             agent_comments = "call back after payday", lead_score = "2.5", target_amount = 100 },
    wire = { callid = "12345", AccountNumber = ACCOUNT, StartDate = "02/03/2026", EndDate = "31/03/2026",
             StartTime = "10:15", EndTime = "18:00", CallbackModeId = 3, UserID = "1234",
             AgentComments = "call back after payday", LeadScore = 2.5, TargetAmount = 100 },
  },
  set_call_outcome = {
    args = { callid = "12345", account_number = ACCOUNT, call_outcome = "no answer", user_id = 1234 },
    wire = { callid = "12345", AccountNumber = ACCOUNT, OutcomeId = 8, LeadScore = 0, UserID = "1234",
             AgentComments = "", TargetAmount = 0 },
  },
  set_business_outcome = {
    args = { callid = "12345", account_number = ACCOUNT, business_outcome = "101", user_id = "testagent",
             agent_comments = "Test comment" },
    wire = { callid = "12345", AccountNumber = ACCOUNT, OutcomeId = 101, LeadScore = 0, UserID = "testagent",
             AgentComments = "Test comment", TargetAmount = 0 },
  },
  set_contact_business_fields = {
    args = { callid = "12345", account_number = ACCOUNT, agent_id = "testagent",
             fields = { LName = "Berry", FName = "Test" } },
    wire = { callid = "12345", AccountNumber = ACCOUNT, AgentID = "testagent", businessField = {
      { FieldName = "FName", Value = "Test", DataType = "String", Format = "" },
      { FieldName = "LName", Value = "Berry", DataType = "String", Format = "" } } },
  },
  send_agent_state = {
    args = { agent_id = 834108959, agent_state = "NOT_READY" },
    wire = { agentID = "834108959", agentState = "NOT_READY" },
  },
  get_call_outcomes = {
    args = { callid = "12345" },
    wire = { callid = "12345" },
    result = function(list)
      assert.equal(10, #list)
      assert.same({ 5, "DNC" }, { list:find("dnc").id, list:find(5).description })
    end,
  },
  get_business_outcomes = {
    args = { callid = "12345", account_number = ACCOUNT },
    wire = { callid = "12345", AccountNumber = ACCOUNT },
    result = function(list)
      assert.same({ 101, "Payment Done", 1, 0 }, { list[1].id, list[1].description, list[1].campaign_id,
                                                   list[1].lead_score })
      assert.is_nil(list[1].parent_id)
      assert.equal(102, list:find("payment failure").id)
    end,
  },
  get_bo_group_parent = {
    args = { callid = "12345", account_number = ACCOUNT },
    wire = { callid = "12345", AccountNumber = ACCOUNT },
    result = function(list)
      assert.same({ id = 1, name = "Success", raw = list[1].raw }, list[1])
      assert.equal(2, list:find("FAILURE").id)
      assert.equal("Failure", list:find("2").name)
    end,
  },
  get_business_outcome_parent = {
    args = { callid = "12345", account_number = ACCOUNT, parent_id = { id = 1, name = "Success" } },
    wire = { callid = "12345", AccountNumber = ACCOUNT, ParentBusinessOutcomeId = "1" },
    result = function(list) assert.same({ 101, 102 }, { list[1].id, list[2].id }) end,
  },
  get_callback_modes = {
    args = { callid = "12345", account_number = ACCOUNT },
    wire = { callid = "12345", AccountNumber = ACCOUNT },
    result = function(list)
      assert.same({ 3, "Mobile", "6591462346", true, false }, { list[1].id, list[1].description, list[1].value,
                                                              list[1].pewc, list[1].campaign_pewc })
      assert.is_nil(list[1].channel_type)
      assert.equal(2, list:find("office").id)
    end,
  },
  get_campaign_modes = {
    args = { callid = "12345", account_number = ACCOUNT },
    wire = { callid = "12345", AccountNumber = ACCOUNT },
    result = function(list)
      assert.same({ 1, "Home", 2, 8, 12 }, { list[1].id, list[1].description, list[1].channel_type,
                                             list[1].min_length, list[1].max_length })
      assert.is_nil(list[1].value)
      assert.equal("Office", list:find(2).description)
    end,
  },
  get_mode_information = {
    args = { callid = "12345", account_number = ACCOUNT },
    wire = { callid = "12345", AccountNumber = ACCOUNT },
    result = function(list)
      local m = list:find("home")
      assert.same({ 1, 1001, -5, true, "Permanent", 0, false },
                  { m.campaign_id, m.contact_id, m.gmt_deviation, m.disposition_required, m.dnc_period_type,
                    m.dnc_days, m.dnc_eod })
    end,
  },
  get_screen_pop_data = {
    args = { callid = "12345", account_number = ACCOUNT },
    wire = { callid = "12345", AccountNumber = ACCOUNT },
    result = function(t)
      assert.same({ FName = "David1", LName = "Berry", Address = "Virginia", Home = "6491462346", Office = "" }, t)
    end,
  },
  get_dnc_business_fields = {
    args = { callid = "12345", account_number = "137|1|3|0|0|84|" },
    wire = { callid = "12345", AccountNumber = "137|1|3|0|0|84|" },
    result = function(list)
      assert.same({ "LName" }, { list[1], list[2] })
      assert.equal("LName", list:find("lname"))
      assert.is_nil(list:find("FName"))
    end,
  },
  set_personal_callback = {
    args = { callid = "12345", account_number = ACCOUNT, start_date = "02/03/2026", end_date = "02/03/2026",
             start_time = "09:00", end_time = "09:30", callback_mode = 1, user_id = "1234" },
    wire = { callid = "12345", AccountNumber = ACCOUNT, StartDate = "02/03/2026", EndDate = "02/03/2026",
             StartTime = "09:00", EndTime = "09:30", CallbackModeID = 1, UserID = "1234", AgentComments = "",
             LeadScore = 0, TargetAmount = 0 },
  },
  set_business_outcome_with_callback = {
    args = { callid = "12345", account_number = ACCOUNT, business_outcome = 101, start_date = "02/03/2026",
             end_date = "03/03/2026", start_time = "17:00", end_time = "09:00", callback_mode = 2, user_id = "1234" },
    wire = { callid = "12345", AccountNumber = ACCOUNT, OutcomeId = 4, BusinessOutcome = 101, StartDate = "02/03/2026",
             EndDate = "03/03/2026", StartTime = "17:00", EndTime = "09:00", CallbackModeID = 2, UserID = "1234",
             AgentComments = "", LeadScore = 0, TargetAmount = 0 },
  },
  set_business_outcome_with_personal_callback = {
    args = { callid = "12345", account_number = ACCOUNT, business_outcome = 102, call_outcome = "callback",
             start_date = { year = 2026, month = 3, day = 2, hour = 9, min = 0 },
             end_date = { year = 2026, month = 3, day = 2, hour = 10, min = 0 }, callback_mode = 3, user_id = "1234" },
    wire = { callid = "12345", AccountNumber = ACCOUNT, OutcomeId = 4, BusinessOutcome = 102, StartDate = "02/03/2026",
             EndDate = "02/03/2026", StartTime = "09:00", EndTime = "10:00", CallbackModeID = 3, UserID = "1234",
             AgentComments = "", LeadScore = 0, TargetAmount = 0 },
  },
  set_new_mode_number = {
    args = { callid = "12345", account_number = ACCOUNT, mode = 1, contact_number = "961084836",
             agent_id = "testagent" },
    wire = { callid = "12345", AccountNumber = ACCOUNT, ModeID = 1, ContactNumber = "961084836",
             DeleteOtherModes = false, AgentID = "testagent" },
  },
  get_business_fields = {
    args = { callid = "12345", account_number = ACCOUNT },
    wire = { callid = "12345", AccountNumber = ACCOUNT },
    result = function(list)
      local f = list:find("lname")
      assert.same({ "LName", "Berry", "String", "", true }, { f.name, f.value, f.data_type, f.format, f.editable })
    end,
  },
  get_personal_callback_list = {
    args = { user_id = "testagent", from_date = "01/03/2026", to_date = os.time { year = 2026, month = 3, day = 31 },
             count = 1 },
    wire = { UserID = "testagent", FromDate = "01/03/2026", ToDate = "31/03/2026", StartingNoOfRecord = "1",
             NoofRecords = "1" },
    result = function(list)
      assert.equal(1, #list)
      local cb = list:find("6591462346")
      assert.same({ 1, 1001, 3, "Mobile", "02/03/2026", "18:00" },
                  { cb.row, cb.contact_id, cb.mode_id, cb.mode_description, cb.start_date, cb.end_time })
      assert.equal(cb, list:find(1001))
    end,
  },
  get_campaign_groups = {
    args = { user_id = "testagent" },
    wire = { userID = "testagent" },
    result = function(list)
      local g = list:find("aesprint_amzqueue1")
      assert.same({ "VOICE", "EXECUTING", 100, "Test Agent" },
                  { g.type, g.status, g.campaigns:find("testcamp").pct, g.agents:find("testagent").name })
    end,
  },
  get_download_contacts_for_dialing = {
    args = { campaign_group = "Manual", agent_id = "testagent", consent = true },
    wire = { CampaignGroup = "Manual", NumberOfContactsRequired = "1", Consent = "true", AgentID = "testagent",
             ReservedContacts = "false" },
    result = function(c)
      assert.same({ "6491462346", "34|3|550|0|0|44|59", 34, 550, "Home", true },
                  { c.phone_number, c.account_number, c.campaign_id, c.contact_id, c.mode, c.consent })
    end,
  },
  get_download_all_contacts = {
    args = { campaign_group = "Manual", count = "2", agent_id = "testagent", reserved = "true" },
    wire = { CampaignGroup = "Manual", NumberOfContactsRequired = "2", Consent = "false", AgentID = "testagent",
             ReservedContacts = "true" },
    result = function(list)
      assert.same({ 2, "", 3, "Default" }, { #list, list.failure_reason, list[1].campaign_group_id,
                                              list[1].contact_strategy })
      assert.equal("Mobile", list:find("6591462346").mode)
      assert.equal(list[2], list:find(551))
    end,
  },
  add_compliance = {
    args = { value = 2020, campaign = "", start_date = "07/09/2020 07:33",
             end_date = { year = 2021, month = 9, day = 8, hour = 7, min = 33 }, business_field_dnc = false },
    wire = { Cvalue = "2020", Campaign = "", Startdate = "07/09/2020 07:33", EndDate = "08/09/2021 07:33",
             ChannelType = "VOICE", UploadType = "DNC", Operation = "Append", IsBusinessFieldDNC = false },
    result = function(status) assert.equal("Success", status) end,
  },
  get_campaigns_for_mcd_request = {
    args = { ani = "6491462346", call_type = "inbound", business_field_query = "LName='Berry'" },
    wire = { ANI = 6491462346, CallType = "INBOUND", BusinessFieldQueryToSearch = "LName='Berry'" },
    result = function(list)
      local c = list:find("collections")
      assert.same({ 1, 1001, "6491462346", ACCOUNT }, { c.campaign_id, c.contact_id, c.phone_number, c.account_number })
    end,
  },
}

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

local function spec_of(method)
  for _, spec in ipairs(api.CALLS) do
    if spec.method == method then return spec end
  end
end

local function has_field(spec, name)
  for _, f in ipairs(spec.fields) do
    if f[1] == name then return true end
  end
  return false
end

describe("typed calls", function()
  local s, client
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function()
    s:reset()
    client = assert(lcm.new { url = s.url, source = "spec", sleep = function() end })
  end)
  after_each(function() client:close() end)

  local function last_request()
    local log = s:requests()
    assert.equal(1, #log, "expected one request")
    return cjson.decode(log[1].body), log[1]
  end

  it("has a case here for every call, and every call on the client and the module", function()
    local n = 0
    for _, spec in ipairs(api.CALLS) do
      n = n + 1
      assert.truthy(CASES[spec.method], spec.method)
      assert.equal("function", type(client[spec.method]))
      assert.equal("function", type(lcm[spec.method]))
    end
    for name in pairs(CASES) do assert.truthy(spec_of(name), name) end
    assert.equal(26, n)
  end)

  it("names every call in lcm.routes.NAMES, the list the lazy stubs are made from, in the same order", function()
    assert.same(api.NAMES, require("lcm.routes").NAMES)
  end)

  -- lcm.api is loaded by the first typed call, not by require "lcm" (a fresh Lua state per
  -- call, FreeSWITCH and pbx_lua, pays only for what it uses): in a fresh interpreter, a
  -- client's first typed call and the module's shortcut each load it and answer as usual.
  it("loads lcm.api at the first typed call, on a client or on the module", function()
    local script = [[
      local lcm = require "lcm"
      local client = assert(lcm.new { url = os.getenv("URL") })
      print(package.loaded["lcm.api"] == nil)
      local list, err = client:get_call_outcomes("12345")
      print(package.loaded["lcm.api"] ~= nil, list and #list, err)
      list = client:get_call_outcomes("12345") -- the real method now, installed over the stub
      print(list and #list)
    ]]
    local out, ok = sim.run("URL='" .. s.url .. "' " .. sim.LUA .. " -e '" .. script .. "'")
    assert.is_true(ok, out)
    assert.equal("true\ntrue\t10\tnil\n10\n", out)
    script = [[
      local lcm = require "lcm"
      print(package.loaded["lcm.api"] == nil)
      local modes, err = lcm.get_callback_modes("12345", "5|3|1|0|0|44|1")
      print(package.loaded["lcm.api"] ~= nil, modes and modes[1].description, err)
    ]]
    out, ok = sim.run("LCM_URL='" .. s.url .. "' " .. sim.LUA .. " -e '" .. script .. "'")
    assert.is_true(ok, out)
    assert.equal("true\ntrue\tMobile\tnil\n", out)
  end)

  describe("happy path", function()
    for _, spec in ipairs(api.CALLS) do
      local case = CASES[spec.method]
      it(spec.method .. " sends " .. spec.subtopic .. " as documented and reads the answer", function()
        local result, err = client[spec.method](client, copy(case.args))
        assert.is_nil(err, tostring(err))
        local env, req = last_request()
        assert.equal("/api/" .. spec.subtopic, req.path)
        assert.same({ "LCM", "WebService", spec.subtopic, "spec" },
                    { env.channel, env.topic, env.subtopic, env.source })
        assert.same(case.wire, env.data)
        if case.result then
          case.result(result)
        else
          assert.is_true(result)
          local sets = s:state().sets
          assert.equal(1, #sets)
          assert.same({ spec.subtopic, case.wire }, { sets[1].subtopic, sets[1].data })
        end
      end)
    end

    -- The raw envelope, past the client (which reads only `message`): lcm-sim answers with the
    -- subtopic the page's sample shows (lcm.routes, the one call table).
    for _, spec in ipairs(api.CALLS) do
      it("lcm-sim answers " .. spec.subtopic .. " with " .. require("lcm.routes").answer(spec.subtopic), function()
        local body = cjson.encode { channel = "LCM", topic = "WebService", subtopic = spec.subtopic, source = "spec",
                                    data = CASES[spec.method].wire }
        local out = sim.run("curl -s --data-binary @" .. s:_file(body) .. " " .. s.base .. "/api/" .. spec.subtopic)
        local env = cjson.decode(out)
        assert.same({ "LCM", "WebService", require("lcm.routes").answer(spec.subtopic) },
                    { env.channel, env.topic, env.subtopic })
        assert.equal("table", type(env.message))
      end)
    end

    it("lists answer find(nil) with nil, also when a record lacks its ID", function()
      local list = assert(client:get_download_all_contacts { campaign_group = "Manual", agent_id = "a", count = 2 })
      list[1].contact_id = nil
      assert.is_nil(list:find(nil))
      assert.is_nil(assert(client:get_callback_modes("12345", ACCOUNT)):find(nil))
    end)

    it("lcm-sim pages what it has, however many records are asked for", function()
      local list = assert(client:get_download_all_contacts { campaign_group = "Manual", agent_id = "a",
                                                             count = 2 ^ 53 })
      assert.equal(2, #list)
      list = assert(client:get_personal_callback_list { user_id = "a", from_date = "01/03/2026",
                                                        to_date = "31/03/2026", start = 2, count = 2 ^ 53 })
      assert.same({ 1, 1002 }, { #list, list[1].contact_id })
    end)

    it("takes the arguments of a call positionally too, in field order", function()
      local modes = assert(client:get_callback_modes("12345", ACCOUNT))
      assert.equal(3, modes[1].id)
      local list = assert(client:get_business_outcome_parent("12345", ACCOUNT, "1"))
      assert.equal(101, list[1].id)
      assert.equal("1", cjson.decode(s:requests()[2].body).data.ParentBusinessOutcomeId)
    end)

    it("module-level shortcuts use the default client", function()
      assert(lcm.configure { url = s.url })
      local fields = assert(lcm.get_dnc_business_fields("12345", ACCOUNT))
      assert.equal("LName", fields[1])
      assert.is_true(lcm.set_dnc(copy(CASES.set_dnc.args)))
    end)

    it("a call made with a dot instead of a colon says how to call it, and sends nothing", function()
      local ok, err = client.get_callback_modes("12345", ACCOUNT)
      assert.is_nil(ok)
      assert.same({ "invalid", "client", 0 }, { err.kind, err.field, err.attempts })
      assert.truthy(err.message:find("client:get_callback_modes", 1, true))
      assert.equal(0, s:count())
    end)
  end)

  describe("telephony and business outcome names", function()
    local function sent(method, args)
      local ok, err = client[method](client, args)
      assert.is_true(ok, tostring(err))
      return last_request().data
    end

    it("call_outcome takes a name of lcm.CALL_OUTCOME, ignoring case, spaces and dashes", function()
      local args = copy(CASES.set_call_outcome.args)
      for name, id in pairs { DNC = 5, dnc = 5, ["Answering Machine"] = 7, ["no-answer"] = 8, CallBack = 4 } do
        s:reset()
        args.call_outcome = name
        assert.equal(id, sent("set_call_outcome", args).OutcomeId, name)
      end
    end)

    it("call_outcome takes the tenant's own names from the list get_call_outcomes returned", function()
      local t = sim.start { fixtures = { call_outcomes = { { OutComeID = "15", Description = "Do Not Call" },
                                                           { OutComeID = "16", Description = "DNC" } } } }
      local c = assert(lcm.new { url = t.url })
      local list = assert(c:get_call_outcomes("12345"))
      local ok, err = c:set_dnc { callid = "12345", account_number = ACCOUNT, business_outcome = 101,
                                  call_outcomes = list }
      local data = cjson.decode(t:requests()[2].body).data
      local bad, why = c:set_call_outcome { callid = "12345", account_number = ACCOUNT, user_id = 1,
                                            call_outcome = "Busy", call_outcomes = list }
      t:stop()
      assert.is_true(ok, tostring(err))
      assert.equal(16, data.OutcomeID)
      assert.is_nil(bad)
      assert.same({ "invalid", "call_outcome" }, { why.kind, why.field })
      assert.truthy(why.message:find("known: DNC, Do Not Call", 1, true), why.message)
    end)

    it("an unknown name is refused with the known names, and nothing is sent", function()
      local args = copy(CASES.set_call_outcome.args)
      args.call_outcome = "Voicemail"
      local ok, err = client:set_call_outcome(args)
      assert.is_nil(ok)
      assert.same({ "invalid", "call_outcome", 0 }, { err.kind, err.field, err.attempts })
      assert.truthy(err.message:find("known: ABANDONED, ANSWERING_MACHINE, BUSY", 1, true), err.message)
      assert.equal(0, s:count())
    end)

    it("business_outcome takes a name when the caller passes the list to look it up in", function()
      local list = assert(client:get_business_outcomes("12345", ACCOUNT))
      s:reset()
      local args = copy(CASES.set_business_outcome.args)
      args.business_outcome, args.business_outcomes = "payment failure", list
      assert.equal(102, sent("set_business_outcome", args).OutcomeId)
      s:reset()
      args.business_outcome, args.business_outcomes = list:find(101), nil
      assert.equal(101, sent("set_business_outcome", args).OutcomeId)
    end)

    it("business_outcome refuses a name without a list, and a list that is not one", function()
      local args = copy(CASES.set_business_outcome.args)
      args.business_outcome = "Payment Done"
      local ok, err = client:set_business_outcome(args)
      assert.same({ "invalid", "business_outcome" }, { ok == nil and err.kind, err.field })
      assert.truthy(err.message:find("business_outcomes", 1, true))
      args.business_outcomes = "Payment Done"
      ok, err = client:set_business_outcome(args)
      assert.same({ "invalid", "business_outcomes" }, { ok == nil and err.kind, err.field })
      assert.equal(0, s:count())
    end)
  end)

  describe("bad input", function()
    local MIB = string.rep("x", 1024 * 1024)
    local CATEGORIES = {
      { "missing", nil }, { "a boolean", true }, { "a function", print }, { "a table", {} }, { "NaN", 0 / 0 },
      { "a huge number", 1e300 }, { "a 1 MiB string", MIB }, { "invalid UTF-8", "caf\233" },
      { "a string with NUL", "a\0b" },
    }
    -- What is accepted, by wire name; everything else is refused.
    local ACCEPTED = {
      CampaignSpecificDNC = { ["a boolean"] = true }, isPhoneNoDNC = { ["a boolean"] = true },
      DeleteOtherModes = { ["a boolean"] = true }, IsBusinessFieldDNC = { ["a boolean"] = true },
      Consent = { ["a boolean"] = true }, ReservedContacts = { ["a boolean"] = true },
      LeadScore = { ["a huge number"] = true }, TargetAmount = { ["a huge number"] = true },
    }

    local function refused(field, ok, err)
      assert.is_nil(ok)
      assert.is_true(lcm.is_error(err), "expected an error object")
      assert.same({ "invalid", field, 0 }, { err.kind, err.field, err.attempts }, tostring(err))
      assert.equal(0, s:count(), "a request was sent")
    end

    for _, spec in ipairs(api.CALLS) do
      for _, f in ipairs(spec.fields) do
        local name, wire = f[1], f[2]
        for _, cat in ipairs(CATEGORIES) do
          local label, value = cat[1], cat[2]
          -- A default may be derived from another field (a time from its date) or be nil.
          local default = f.default
          if type(default) == "function" then default = default(CASES[spec.method].args) end
          local accept = (ACCEPTED[wire] or {})[label] or (label == "missing" and (f.optional or default ~= nil))
          it(spec.method .. " " .. name .. " = " .. label .. (accept and " is accepted" or " is refused"), function()
            local args = copy(CASES[spec.method].args)
            args[name] = value
            local ok, err = client[spec.method](client, args)
            if accept then
              assert.is_nil(err, tostring(err))
              assert.equal(1, s:count())
            else
              refused(name, ok, err)
            end
          end)
        end
      end
    end

    it("an unknown field or a wire name is refused, naming it, with a hint for a wire name", function()
      local args = copy(CASES.set_callback.args)
      args.CallbackModeId = 3
      local ok, err = client:set_callback(args)
      refused("CallbackModeId", ok, err)
      assert.truthy(err.message:find("did you mean 'callback_mode'", 1, true), err.message)
      refused("colour", client:get_callback_modes { callid = "12345", account_number = ACCOUNT, colour = "red" })
      refused("callid", client:get_callback_modes())
      refused("arguments", client:get_callback_modes("12345", ACCOUNT, "extra"))
    end)

    it("dates: impossible dates and an end before its start are refused, naming the field", function()
      local function try(changes)
        local args = copy(CASES.set_callback.args)
        for k, v in pairs(changes) do args[k] = v end
        return client:set_callback(args)
      end
      refused("start_date", try { start_date = "29/02/2026" })
      refused("end_date", try { end_date = { year = 2026, month = 4, day = 31 } })
      refused("start_time", try { start_time = "24:00" })
      refused("end_date", try { end_date = "01/03/2026", end_time = "18:00" })
      refused("end_time", try { start_date = "31/03/2026", start_time = "18:30", end_time = "18:29" })
      refused("end_time", try { end_date = "31/03/2026", end_time = nil })
      local dnc = copy(CASES.set_dnc.args)
      dnc.block_end = "01/03/2026 08:59"
      refused("block_end", client:set_dnc(dnc))
      dnc.block_end, dnc.block_start = nil, "01/03/2026"
      refused("block_start", client:set_dnc(dnc))
      refused("end_date", client:add_compliance { value = "1", start_date = "02/01/2026 00:00",
                                                  end_date = "01/01/2026 23:59" })
      refused("to_date", client:get_personal_callback_list { user_id = "a", from_date = "02/03/2026",
                                                             to_date = "01/03/2026" })
    end)

    it("set_contact_business_fields names the bad entry of its list", function()
      local args = copy(CASES.set_contact_business_fields.args)
      args.fields = { { name = "FName", value = "Test" }, { name = "LName", value = "caf\233" } }
      refused("fields[2].value", client:set_contact_business_fields(args))
      args.fields = { { name = "FName", value = "Test" }, "LName" }
      refused("fields[2]", client:set_contact_business_fields(args))
      args.fields = { { value = "Test" } }
      refused("fields[1].name", client:set_contact_business_fields(args))
    end)

    it("get_download_contacts_for_dialing fetches one contact: a count other than 1 is refused", function()
      refused("count", client:get_download_contacts_for_dialing { campaign_group = "Manual", agent_id = "a",
                                                                  count = 2 })
      refused("consent", client:get_download_all_contacts { campaign_group = "Manual", agent_id = "a", count = 2,
                                                            consent = "yes" })
    end)

    it("a phone number with a leading 0 is refused: LCM's Number would drop it", function()
      refused("ani", client:get_campaigns_for_mcd_request { ani = "0491462346", call_type = "INBOUND" })
      refused("call_type", client:get_campaigns_for_mcd_request { ani = 6491462346, call_type = "MANUAL" })
    end)
  end)

  describe("errors", function()
    for _, spec in ipairs(api.CALLS) do
      local case = CASES[spec.method]
      if has_field(spec, "callid") then
        it(spec.method .. ": an unknown callid is LCM's WS_Error, not retried", function()
          local args = copy(case.args)
          args.callid = "999"
          local ok, err = client[spec.method](client, args)
          assert.is_nil(ok)
          assert.same({ "lcm", "WS_Error", "Invalid Call ID:999", "Invalid Call ID.", false, 1 },
                      { err.kind, err.code, err.detail, err.message, err.retryable, err.attempts })
          assert.same({}, s:state().sets)
        end)

        it(spec.method .. ": an empty callid is refused here; LCM answers it with WS_Error", function()
          local args = copy(case.args)
          args.callid = ""
          local ok, err = client[spec.method](client, args)
          assert.same({ "invalid", "callid", 0 }, { ok == nil and err.kind, err.field, s:count() })
          local data = copy(case.wire)
          data.callid = ""
          ok, err = client:call(spec.subtopic, data)
          assert.is_nil(ok)
          assert.same({ "lcm", "WS_Error", "Callid is empty" }, { err.kind, err.code, err.detail })
        end)
      end

      it(spec.method .. ": HTTP 503 is retried and then answered", function()
        s:fault { subtopic = spec.subtopic, status = 503, count = 1 }
        local result, err = client[spec.method](client, copy(case.args))
        assert.is_nil(err, tostring(err))
        assert.truthy(result)
        local log = s:requests()
        assert.equal(2, #log)
        if spec.set then
          local key = log[1].headers["idempotency-key"]
          assert.truthy(key and #key > 0)
          assert.equal(key, log[2].headers["idempotency-key"])
          assert.equal(1, #s:state().sets)
        end
      end)

      if spec.set then
        it(spec.method .. ": success false is rejected and nothing is recorded", function()
          s:add_call { callid = "777", accept = false }
          local args = copy(case.args)
          args.callid = "777"
          local ok, err = client[spec.method](client, args)
          assert.is_nil(ok)
          assert.same({ "rejected", spec.subtopic, 1 }, { err.kind, err.subtopic, err.attempts })
          assert.same({}, s:state().sets)
        end)

        it(spec.method .. ": LCM down, queued in the outbox and recorded once by flush_outbox", function()
          local dir = sim.tmpname()
          assert(os.execute("mkdir -p " .. dir))
          local c = assert(lcm.new { url = s.url, outbox = dir, sleep = function() end })
          s:fault { subtopic = spec.subtopic, status = 503, count = 3 }
          local ok, err = c[spec.method](c, copy(case.args))
          assert.is_nil(ok)
          assert.same({ "http", 503, true }, { err.kind, err.status, err.queued })
          local counts = assert(c:flush_outbox())
          assert.same({ 1, 0 }, { counts.sent, counts.remaining })
          local sets = s:state().sets
          assert.equal(1, #sets)
          assert.same(case.wire, sets[1].data)
          c:close()
          os.execute("rm -rf " .. dir)
        end)
      end
    end

    -- lcm-sim checks each page's field types as LCM would, so a client bug shows in the specs.
    local FIRST = { SetDNC = "OutcomeID", SetCallbackWithComments = "StartDate", SendAgentState = "agentState",
                    GetCampaignsForMCDRequest = "ANI", SetContactBusinessFields = "businessField",
                    SetPersonalCallbackWithComments = "CallbackModeID", SetBusinessOutcomeWithCallback = "OutcomeId",
                    SetNewModeNumber = "DeleteOtherModes", GetPersonalCallbackList = "FromDate",
                    GetCampaignGroups = "userID", AddCompliance = "Cvalue",
                    GetDownloadContactsForDialing = "Consent", GetDownloadAllContactsForDialing = "CampaignGroup" }
    for _, spec in ipairs(api.CALLS) do
      local wire = FIRST[spec.subtopic] or (spec.subtopic == "GetCallOutCome" and "callid") or "AccountNumber"
      it("lcm-sim answers " .. spec.subtopic .. " with " .. wire .. " of the wrong type with WS_Error", function()
        local data = copy(CASES[spec.method].wire)
        data[wire] = type(data[wire]) == "boolean" and "yes" or true
        local ok, err = client:call(spec.subtopic, data)
        assert.is_nil(ok)
        assert.same({ "lcm", "WS_Error" }, { err.kind, err.code })
        assert.truthy(err.detail:find(wire == "callid" and "Call ID" or wire, 1, true), err.detail)
        assert.same({}, s:state().sets)
      end)
    end

    local function hostile(message, subtopic)
      s:fault { body = cjson.encode { channel = "LCM", topic = "WebService", subtopic = subtopic, message = message },
                content_type = "application/json" }
    end

    it("an answer whose response is not what the page shows is a protocol error", function()
      hostile({ callid = "12345", response = "nope" }, "CallBackModes")
      local list, err = client:get_callback_modes("12345", ACCOUNT)
      assert.same({ "protocol", "BAD_RESPONSE", "GetCallBackModes" },
                  { list == nil and err.kind, err.code, err.subtopic })
      hostile({ callid = "12345", response = { "Mobile" } }, "CallBackModes")
      list, err = client:get_callback_modes("12345", ACCOUNT)
      assert.same({ "protocol", "BAD_RESPONSE" }, { list == nil and err.kind, err.code })
      hostile({ callid = "12345", response = { 1, 2 } }, "DNCBussField")
      list, err = client:get_dnc_business_fields("12345", ACCOUNT)
      assert.same({ "protocol", "BAD_RESPONSE" }, { list == nil and err.kind, err.code })
      hostile({ callid = "12345", response = "David" }, "ScreenPopData")
      list, err = client:get_screen_pop_data("12345", ACCOUNT)
      assert.same({ "protocol", "BAD_RESPONSE" }, { list == nil and err.kind, err.code })
      hostile({ response = { CampaignGroups = { { Name = "g", Campaigns = "none" } } } }, "SetCampaignGroup")
      list, err = client:get_campaign_groups()
      assert.same({ "protocol", "BAD_RESPONSE", "GetCampaignGroups" },
                  { list == nil and err.kind, err.code, err.subtopic })
      hostile({ response = { CampaignGroups = {} } }, "SetCampaignGroup")
      assert.equal(0, #assert(client:get_campaign_groups()))
      local download = { campaign_group = "Manual", agent_id = "a", count = 2 }
      hostile({ response = { Contacts = "none", RequestFailureReason = "" } }, "DownloadAllContactsForDialing")
      list, err = client:get_download_all_contacts(download)
      assert.same({ "protocol", "BAD_RESPONSE" }, { list == nil and err.kind, err.code })
      hostile({ response = { RequestFailureReason = "No contacts in Manual" } }, "DownloadAllContactsForDialing")
      list = assert(client:get_download_all_contacts(download))
      assert.same({ 0, "No contacts in Manual" }, { #list, list.failure_reason })
      hostile({ response = "none" }, "DownloadContactsForDialing")
      download.count = nil
      list, err = client:get_download_contacts_for_dialing(download)
      assert.same({ "protocol", "BAD_RESPONSE" }, { list == nil and err.kind, err.code })
      hostile({ response = true }, "AddComplianceResponse")
      list, err = client:add_compliance { value = "2020" }
      assert.same({ "protocol", "BAD_RESPONSE" }, { list == nil and err.kind, err.code })
    end)
  end)

  -- Issue 13: one call table (lcm.routes) for the client, the outbox, the replay and lcm.api.
  describe("one call table", function()
    local routes = require "lcm.routes"

    it("queues client:call('setDNC') while LCM is down and the flush sends it (one is_set)", function()
      local dir = sim.tmpname()
      assert(os.execute("mkdir -p " .. dir))
      local c = assert(lcm.new { url = s.url, outbox = dir, sleep = function() end })
      s:fault { subtopic = "setDNC", status = 503, count = 3 }
      local ok, err = c:call("setDNC", copy(CASES.set_dnc.wire))
      assert.is_nil(ok)
      assert.same({ "http", 503, true, "unknown" }, { err.kind, err.status, err.queued, err.recorded })
      local counts = assert(c:flush_outbox())
      assert.same({ 1, 0, 0 }, { counts.sent, counts.failed, counts.remaining })
      local sets = s:state().sets
      assert.equal(1, #sets)
      assert.same(CASES.set_dnc.wire, sets[1].data)
      local log = s:requests()
      assert.equal("setDNC", cjson.decode(log[#log].body).subtopic) -- replayed as it was queued
      c:close()
      os.execute("rm -rf " .. dir)
    end)

    -- Every Get answered with another call's answer (the real answer of its own call, its
    -- subtopic swapped for another call's) is refused, not turned into records.
    local function other_answer(answer)
      for _, c in ipairs(routes.CALLS) do
        local a = routes.route(c[1]).answer
        if a and a:lower() ~= answer:lower() then return a end
      end
    end
    local gets = { { method = "get_outcomes", args = { "12345", "MANUAL" } } }
    for _, spec in ipairs(api.CALLS) do
      if not spec.set then gets[#gets + 1] = { method = spec.method, args = { CASES[spec.method].args } } end
    end
    for _, g in ipairs(gets) do
      local route = routes.route(g.method)
      it(g.method .. " refuses an answer for another call", function()
        local data = g.method == "get_outcomes" and { callid = "12345", type = "MANUAL" } or CASES[g.method].wire
        local body = cjson.encode { channel = "LCM", topic = "WebService", subtopic = route.subtopic, source = "spec",
                                    data = data }
        local env = cjson.decode((sim.run("curl -s --data-binary @" .. s:_file(body) .. " " .. s.base .. "/api/" ..
                                          route.subtopic)))
        assert.equal(route.answer:lower(), env.subtopic:lower())
        local args = g.args[1] and type(g.args[1]) == "table" and { copy(g.args[1]) } or g.args
        assert.is_not_nil((client[g.method](client, table.unpack(args)))) -- its own answer is read
        env.subtopic = other_answer(route.answer)
        s:fault { subtopic = route.subtopic, status = 200, body = cjson.encode(env),
                  content_type = "application/json" }
        local out, err = client[g.method](client, table.unpack(args))
        assert.is_nil(out)
        assert.same({ "protocol", "BAD_SUBTOPIC", route.subtopic }, { err.kind, err.code, err.subtopic })
      end)
    end

    -- lcm-sim's routing against the table: every call of lcm.routes is known to lcm-sim and
    -- answered with the subtopic the table expects (the seed calls included).
    local SEED_WIRE = {
      get_outcomes = { callid = "12345", type = "MANUAL" },
      set_outcome = { callid = "12345", AccountNumber = ACCOUNT, BusinessOutcome = 107, CallOutcome = 5,
                      LeadScore = 0, UserID = "1", AgentComments = "", TargetAmount = 0 },
    }
    for _, c in ipairs(routes.CALLS) do
      local method, subtopic = c[1], c[2]
      it("lcm-sim routes " .. subtopic .. " (" .. method .. ") and answers as the call table says", function()
        local data = SEED_WIRE[method] or CASES[method].wire
        local body = cjson.encode { channel = "LCM", topic = "WebService", subtopic = subtopic, source = "spec",
                                    data = data }
        local env = cjson.decode((sim.run("curl -s --data-binary @" .. s:_file(body) .. " " .. s.base .. "/api/" ..
                                          subtopic)))
        assert.equal(routes.answer(subtopic):lower(), tostring(env.subtopic):lower(), cjson.encode(env))
        assert.equal("table", type(env.message))
      end)
    end

    it("get_outcomes defaults the type to MANUAL, as the reference says", function()
      assert(client:get_outcomes("12345"))
      local env = last_request()
      assert.same({ callid = "12345", type = "MANUAL" }, env.data)
    end)

    it("set_outcome takes call_outcome by name, as every typed Set does", function()
      local args = { callid = "12345", account_number = ACCOUNT, business_outcome = 107, call_outcome = "dnc",
                     user_id = "1" }
      assert.is_true(client:set_outcome(args))
      assert.equal(5, last_request().data.CallOutcome)
      s:reset()
      args.call_outcome = "banana"
      local ok, err = client:set_outcome(args)
      assert.is_nil(ok)
      assert.same({ "invalid", "call_outcome", false, 0 }, { err.kind, err.field, err.recorded, s:count() })
      assert.matches("matches no known name", err.message, 1, true)
    end)

    it("a typed Get whose answer cannot be read ends as get_outcomes does: counted, judged, logged once", function()
      local lines = {}
      local c = assert(lcm.new { url = s.url, sleep = function() end,
                                 logger = function(level, m) if level == "error" then lines[#lines + 1] = m end end })
      local body = cjson.encode { channel = "LCM", topic = "WebService", subtopic = "CallBackModes",
                                  message = { response = "not records" } }
      s:fault { subtopic = "GetCallBackModes", status = 200, body = body, content_type = "application/json" }
      local list, err = c:get_callback_modes("12345", ACCOUNT)
      assert.is_nil(list)
      assert.same({ "protocol", "GetCallBackModes", 1 }, { err.kind, err.subtopic, err.attempts })
      assert.equal(1, #lines, table.concat(lines, "\n"))
      assert.matches("GetCallBackModes", lines[1], 1, true)
      c:close()
    end)
  end)
end)
