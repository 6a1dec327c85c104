-- The LCM side of lcm-sim (Lua 5.4, compiled into the binary by sim/embed.lua).
-- Called once as a chunk with (fixtures_path|nil, counters_fn); returns
-- handle(method, path, body, headers, too_big) -> plan, which sim/lcm_sim.c carries out:
--   { status=, body=, headers={{name, value}...}, delay_ms=, drop=, truncate=, stream_bytes= }
-- Requests under /_sim/ are the control API for tests; every other POST is an LCM message.
local fixtures_path, counters = ...
local cjson = require "cjson"

local DEFAULT_FIXTURES = {
  -- The seed's SetBusinessOutcomeWithCallOutcome sample sets an outcome on call 12345.
  calls = { { callid = "12345", type = "MANUAL" } },
  -- The seed's GetOutcomeByOutcomegroup sample answer; "default" serves every call type
  -- that has no group of its own.
  outcome_groups = {
    default = {
      { CampaignID = "0", OutComeID = "107", LeadScore = "0", ParentID = "5", Description = "success" },
      { CampaignID = "0", OutComeID = "108", LeadScore = "0", ParentID = "6", Description = "Fail" },
    },
  },
  -- The telephony outcomes of the vendor's sample list (GetCallOutCome).
  call_outcomes = {
    { OutComeID = "0", Description = "Success" }, { OutComeID = "1", Description = "Abandoned" },
    { OutComeID = "2", Description = "Invalid" }, { OutComeID = "3", Description = "Busy" },
    { OutComeID = "4", Description = "CallBack" }, { OutComeID = "5", Description = "DNC" },
    { OutComeID = "6", Description = "Fax" }, { OutComeID = "7", Description = "Answering Machine" },
    { OutComeID = "8", Description = "No Answer" }, { OutComeID = "9", Description = "Reject" },
  },
  -- The answers of the typed calls (lua/lcm/api.lua): each page's sample answer where the
  -- page has one (docs/api.md says which are built from the page's table instead).
  business_outcomes = { -- GetBusinessOutCome
    { OutComeID = "101", Description = "Payment Done", CampaignID = "1", LeadScore = "0", ParentID = cjson.null },
    { OutComeID = "102", Description = "Payment Failure", CampaignID = "1", LeadScore = "0", ParentID = cjson.null },
  },
  bo_group_parents = { -- GetBOGroupParent
    { ParentId = "1", ParentName = "Success", CampaignKey = cjson.null },
    { ParentId = "2", ParentName = "Failure", CampaignKey = cjson.null },
  },
  business_outcome_parents = { -- GetBusinessOutcomeParent, by ParentBusinessOutcomeId
    ["1"] = {
      { OutComeID = "101", Description = "Payment Done", CampaignID = "1", LeadScore = "0", ParentID = cjson.null },
      { OutComeID = "102", Description = "Payment Failure", CampaignID = "1", LeadScore = "0", ParentID = cjson.null },
    },
  },
  callback_modes = { -- GetCallBackModes
    { ModeID = "3", Description = "Mobile", ChannelType = cjson.null, MinLength = cjson.null, MaxLength = cjson.null,
      Cvalue = "6591462346", PEWC = true, CampaignPEWC = false },
    { ModeID = "2", Description = "Office", ChannelType = cjson.null, MinLength = cjson.null, MaxLength = cjson.null,
      Cvalue = "6591462346", PEWC = false, CampaignPEWC = false },
  },
  campaign_modes = { -- GetCampaignModes
    { ModeID = "1", Description = "Home", ChannelType = "2", MinLength = "8", MaxLength = "12", Cvalue = cjson.null,
      PEWC = false, CampaignPEWC = false },
    { ModeID = "2", Description = "Office", ChannelType = "2", MinLength = "8", MaxLength = "12", Cvalue = cjson.null,
      PEWC = false, CampaignPEWC = false },
  },
  mode_information = { -- GetModeInformation (from the page's table: its sample is not shown)
    { CampaignId = "1", ModeName = "Home", ContactID = "1001", Timezone = "Eastern Standard Time",
      ContactNumber = "6491462346", CampaignCategoryName = "Collections", CallId = "12345", GMTDeviation = -5,
      DispositionRequired = true, DNCPeriodType = "Permanent", DNCDays = 0, DNCEOD = false,
      CustomerDNCTZEnabled = false },
  },
  screen_pop = { FName = "David1", LName = "Berry", Address = "Virginia", Home = "6491462346", Office = "" },
  dnc_business_fields = { "LName" }, -- GetDNCBussField
  business_fields = { -- GetContactDetail
    { FieldName = "FName", Value = "Test", DataType = "String", Format = "", Editable = true },
    { FieldName = "LName", Value = "Berry", DataType = "String", Format = "", Editable = true },
  },
  personal_callbacks = { -- GetPersonalCallbackList (from the page's table: its sample is cut off)
    { RowNumber = "1", CampaignID = "1", ContactID = "1001", ModeID = "3", ModeDescription = "Mobile",
      CValue = "6591462346", CallStartDate = "02/03/2026", CallEndDate = "31/03/2026", CallStartTime = "10:15",
      CallEndTime = "18:00" },
    { RowNumber = "2", CampaignID = "1", ContactID = "1002", ModeID = "1", ModeDescription = "Home",
      CValue = "6491462346", CallStartDate = "03/03/2026", CallEndDate = "03/03/2026", CallStartTime = "09:00",
      CallEndTime = "12:00" },
  },
  campaign_groups = { -- GetCampaignGroups (the sample's first group; its agents from the table)
    { Name = "AESprint_AmzQueue1", Type = "VOICE", Status = "EXECUTING",
      Campaigns = { { ID = "testcamp", Pct = "100", Status = "EXECUTING" } },
      Agents = { { ID = "testagent", Name = "Test Agent" } } },
  },
  download_contacts = { -- GetDownload(All)ContactsForDialing (from the pages' tables: samples cut off)
    { PhoneNumber = "6491462346", AccountNumber = "34|3|550|0|0|44|59", CampaignId = "34", CampaignGroup = "Manual",
      CampaignGroupID = 3, CampaignKey = "34", ContactStrategyName = "Default", Mode = "Home", ContactId = "550",
      ExpiryTime = "", CallbackTime = "", CallType = "Regular", Consent = "true" },
    { PhoneNumber = "6591462346", AccountNumber = "34|3|551|0|0|44|60", CampaignId = "34", CampaignGroup = "Manual",
      CampaignGroupID = 3, CampaignKey = "34", ContactStrategyName = "Default", Mode = "Mobile", ContactId = "551",
      ExpiryTime = "", CallbackTime = "", CallType = "Regular", Consent = "true" },
  },
  compliance_status = "Success", -- AddCompliance's answer (the page's sample is cut off)
  mcd_campaigns = { -- GetCampaignsForMCDRequest (from the page's table)
    { CampaignId = "1", CampaignName = "Collections", ContactID = 1001, CallType = "Regular", AgentID = "",
      Mode = "Home", PhoneNo = "6491462346", AccountNumber = "5|3|1|0|0|44|1" },
  },
}

local LOG_KEEP = 200
local state

local function load_fixtures()
  if not fixtures_path then return DEFAULT_FIXTURES end
  local f = assert(io.open(fixtures_path, "rb"))
  local fx = cjson.decode(f:read("a"))
  f:close()
  for k, v in pairs(DEFAULT_FIXTURES) do
    if fx[k] == nil then fx[k] = v end
  end
  return fx
end

local function reset()
  local fx = load_fixtures()
  state = { fixtures = fx, calls = {}, outcomes = {}, sets = {}, log = {}, faults = {},
            idempotent = {}, requests = 0 }
  for _, c in ipairs(fx.calls) do
    state.calls[tostring(c.callid)] = { type = c.type, accept = c.accept ~= false }
  end
end
reset()

local JSON = { { "Content-Type", "application/json" } }

local function json(status, value)
  return { status = status, body = cjson.encode(value), headers = JSON }
end

-- The error envelope of the vendor's general error event, with the LCM error fields.
local function ws_error(actual, msg, status)
  return json(status or 200, {
    channel = "LCM", topic = "Error", subtopic = "WS_Error",
    data = { errorType = "WS_Error", errorMessage = actual, msg = msg },
  })
end

local function answer(subtopic, message)
  return json(200, { channel = "LCM", topic = "WebService", subtopic = subtopic, message = message })
end

local function is_string(v) return type(v) == "string" end
local function is_number(v) return math.type(v) ~= nil end

-- The callid checks of every page that takes a callid.
local function check_callid(data)
  local callid = data.callid
  if callid == nil or callid == "" then return nil, ws_error("Callid is empty", "Invalid Call ID.") end
  if not is_string(callid) or not (state.calls[callid] or state.fixtures.any_callid) then
    return nil, ws_error("Invalid Call ID:" .. tostring(callid), "Invalid Call ID.")
  end
  return state.calls[callid] or { accept = true }
end

local SET_FIELDS = {
  AccountNumber = is_string, BusinessOutcome = is_number, CallOutcome = is_number,
  LeadScore = is_number, UserID = is_string, AgentComments = is_string, TargetAmount = is_number,
}

local subtopics = {}

function subtopics.GetOutcomeByOutcomegroup(data)
  if not is_string(data.type) or data.type == "" then
    return ws_error("Invalid type:" .. tostring(data.type), "Invalid call type.")
  end
  if data.callid ~= nil and not is_string(data.callid) then
    return ws_error("Invalid Call ID:" .. tostring(data.callid), "Invalid Call ID.")
  end
  -- A manual call may ask before it has an id (the seed's own sample sends "").
  if data.callid ~= nil and data.callid ~= "" and not state.calls[data.callid] and not state.fixtures.any_callid then
    return ws_error("Invalid Call ID:" .. data.callid, "Invalid Call ID.")
  end
  local groups = state.fixtures.outcome_groups
  local group = groups[data.type:upper()] or groups[data.type] or groups.default or {}
  return answer("BusinessOutCome", { response = group })
end

function subtopics.GetCallOutCome(data)
  local _, err = check_callid(data)
  if err then return err end
  return answer("CallOutCome", { callid = data.callid, response = state.fixtures.call_outcomes }) -- the sample's
end

function subtopics.SetBusinessOutcomeWithCallOutcome(data, req)
  local call, err = check_callid(data)
  if err then return err end
  for field, ok in pairs(SET_FIELDS) do
    if not ok(data[field]) then
      return ws_error("Invalid " .. field .. ":" .. tostring(data[field]), "Invalid " .. field .. ".")
    end
  end
  if call.accept then
    local rec = { subtopic = req.subtopic, source = req.source, idempotency_key = req.key }
    for field in pairs(SET_FIELDS) do rec[field] = data[field] end
    rec.callid = data.callid
    state.outcomes[#state.outcomes + 1] = rec
  end
  return answer("SetBusinessOutcomeWithCallOutcomeResult",
                { callid = data.callid, response = { success = call.accept } })
end

-- The other documented Set... subtopics share the seed's answer shape.
local GENERIC_SETS = { "SetBusinessOutcomeWithComments", "SetCallOutcomeWithComments",
                       "SetCallbackWithComments", "SetContactBusinessFields", "SetDNC",
                       "SetPersonalCallbackWithComments", "SetBusinessOutcomeWithCallback",
                       "SetBusinessOutcomeWithPersonalCallback", "SetNewModeNumber" }
for _, name in ipairs(GENERIC_SETS) do
  subtopics[name] = function(data, req)
    local call, err = check_callid(data)
    if err then return err end
    if call.accept then
      state.sets[#state.sets + 1] = { subtopic = name, data = data, idempotency_key = req.key }
    end
    return answer(name .. "Result", { callid = data.callid, response = { success = call.accept } })
  end
end

-- The typed calls' subtopics (lua/lcm/api.lua, docs/api.md): each page's field types
-- checked as LCM would, the callid checked first, every accepted Set recorded in state.sets.
local function is_boolean(v) return type(v) == "boolean" end
local function is_date(v) return is_string(v) and v:match("^%d%d/%d%d/%d%d%d%d$") ~= nil end
local function is_time(v) return is_string(v) and v:match("^%d%d:%d%d$") ~= nil end
local function is_datetime(v) return is_string(v) and v:match("^%d%d/%d%d/%d%d%d%d %d%d:%d%d$") ~= nil end
local function optional(ok) return function(v) return v == nil or ok(v) end end
local function is_business_fields(v)
  if type(v) ~= "table" or #v == 0 then return false end
  for _, f in ipairs(v) do
    if type(f) ~= "table" or not (is_string(f.FieldName) and is_string(f.Value) and is_string(f.DataType)
                                  and is_string(f.Format)) then
      return false
    end
  end
  return true
end

local function check_types(data, types)
  for _, t in ipairs(types) do
    local name, ok = t[1], t[2]
    if not ok(data[name]) then
      return ws_error("Invalid " .. name .. ":" .. tostring(data[name]), "Invalid " .. name .. ".")
    end
  end
end

local OUTCOME_SET = { { "AccountNumber", is_string }, { "OutcomeId", is_number }, { "LeadScore", is_number },
                      { "UserID", is_string }, { "AgentComments", is_string }, { "TargetAmount", is_number } }
local SET_TYPES = {
  SetDNC = {
    { "AccountNumber", is_string }, { "OutcomeID", is_number }, { "BusinessOutcome", is_number },
    { "LeadScore", is_number }, { "CampaignSpecificDNC", optional(is_boolean) },
    { "isPhoneNoDNC", optional(is_boolean) }, { "BussfldDNCValue", optional(is_string) },
    { "BussfldDNCValue1", optional(is_string) }, { "BlockedBy", optional(is_string) },
    { "DNCBlockStartDate", optional(is_datetime) }, { "DNCBlockEndDate", optional(is_datetime) },
    { "AgentComments", optional(is_string) }, { "TargetAmount", optional(is_number) },
    { "DNCCampaignCategoryID", optional(is_string) },
  },
  SetCallbackWithComments = {
    { "AccountNumber", is_string }, { "StartDate", is_date }, { "EndDate", is_date }, { "StartTime", is_time },
    { "EndTime", is_time }, { "CallbackModeId", is_number }, { "UserID", is_string },
    { "AgentComments", is_string }, { "LeadScore", is_number }, { "TargetAmount", is_number },
  },
  SetCallOutcomeWithComments = OUTCOME_SET,
  SetBusinessOutcomeWithComments = OUTCOME_SET,
  SetContactBusinessFields = { { "AccountNumber", is_string }, { "AgentID", is_string },
                               { "businessField", is_business_fields } },
  SetNewModeNumber = { { "AccountNumber", is_string }, { "ModeID", is_number }, { "ContactNumber", is_string },
                       { "DeleteOtherModes", is_boolean }, { "AgentID", is_string } },
}
local CALLBACK = { { "AccountNumber", is_string }, { "StartDate", is_date }, { "EndDate", is_date },
                   { "StartTime", is_time }, { "EndTime", is_time }, { "CallbackModeID", is_number },
                   { "UserID", is_string }, { "AgentComments", is_string }, { "LeadScore", is_number },
                   { "TargetAmount", is_number } }
SET_TYPES.SetPersonalCallbackWithComments = CALLBACK
SET_TYPES.SetBusinessOutcomeWithCallback = { { "OutcomeId", is_number }, { "BusinessOutcome", is_number },
                                             table.unpack(CALLBACK) }
SET_TYPES.SetBusinessOutcomeWithPersonalCallback = SET_TYPES.SetBusinessOutcomeWithCallback
for name, types in pairs(SET_TYPES) do
  local record = subtopics[name]
  subtopics[name] = function(data, req)
    local _, err = check_callid(data)
    if err then return err end
    return check_types(data, types) or record(data, req)
  end
end

-- A Get... that takes callid and AccountNumber and answers fixtures[key] (or key(data)).
local function get_by_account(answer_subtopic, key, extra)
  return function(data)
    local _, err = check_callid(data)
    if err then return err end
    err = check_types(data, { { "AccountNumber", is_string }, table.unpack(extra or {}) })
    if err then return err end
    local response = type(key) == "function" and key(data) or state.fixtures[key]
    return answer(answer_subtopic, { callid = data.callid, response = response })
  end
end

subtopics.GetBusinessOutCome = get_by_account("BusinessOutCome", "business_outcomes")
subtopics.GetBusinessOutcome = subtopics.GetBusinessOutCome -- the table's spelling
subtopics.GetBOGroupParent = get_by_account("BOGroupParent", "bo_group_parents")
subtopics.GetBusinessOutcomeParent = get_by_account("BusinessOutcomeParent", function(data)
  return state.fixtures.business_outcome_parents[data.ParentBusinessOutcomeId] or {} -- {}: an empty list
end, { { "ParentBusinessOutcomeId", is_string } })
subtopics.GetCallBackModes = get_by_account("CallBackModes", "callback_modes")
subtopics.GetCampaignModes = get_by_account("CampaignModes", "campaign_modes")
subtopics.GetModeInformation = get_by_account("GetModeInformationResult", "mode_information")
subtopics.GetScreenPopData = get_by_account("ScreenPopData", "screen_pop")
subtopics.GetDNCBussField = get_by_account("DNCBussField", "dnc_business_fields")

subtopics.GetContactDetail = get_by_account("ContactDetail", "business_fields")

-- No callid: the agent's personal callbacks, StartingNoOfRecord and NoofRecords at a time.
function subtopics.GetPersonalCallbackList(data)
  local err = check_types(data, { { "UserID", is_string }, { "FromDate", is_date }, { "ToDate", is_date },
                                  { "StartingNoOfRecord", is_string }, { "NoofRecords", is_string } })
  if err then return err end
  local all = state.fixtures.personal_callbacks
  local first, n = tonumber(data.StartingNoOfRecord) or 1, tonumber(data.NoofRecords) or 0
  local page = {}
  -- Bounded by the fixtures: a request for 10^15 records must not hold the handler's lock.
  for i = math.max(1, first), math.min(#all, first + n - 1) do page[#page + 1] = all[i] end
  return answer("PersonalCallbackList", { response = page })
end

function subtopics.GetCampaignGroups(data)
  local err = check_types(data, { { "userID", optional(is_string) } })
  if err then return err end
  return answer("SetCampaignGroup", { response = { CampaignGroups = state.fixtures.campaign_groups } })
end

local DOWNLOAD = { { "CampaignGroup", is_string }, { "NumberOfContactsRequired", is_string }, { "Consent", is_string },
                   { "AgentID", is_string }, { "ReservedContacts", is_string } }

function subtopics.GetDownloadContactsForDialing(data)
  local err = check_types(data, DOWNLOAD)
  if err then return err end
  return answer("DownloadContactsForDialing", { response = state.fixtures.download_contacts[1] or {} })
end

function subtopics.GetDownloadAllContactsForDialing(data)
  local err = check_types(data, DOWNLOAD)
  if err then return err end
  local contacts = {}
  local all = state.fixtures.download_contacts
  for i = 1, math.min(#all, tonumber(data.NumberOfContactsRequired) or 0) do contacts[i] = all[i] end
  return answer("DownloadAllContactsForDialing", { response = { Contacts = contacts, RequestFailureReason = "" } })
end

function subtopics.AddCompliance(data, req)
  local err = check_types(data, { { "Cvalue", is_string }, { "ChannelType", is_string }, { "UploadType", is_string },
                                  { "Operation", is_string }, { "Campaign", optional(is_string) },
                                  { "CampaignCategory", optional(is_string) }, { "Startdate", optional(is_datetime) },
                                  { "EndDate", optional(is_datetime) }, { "IsBusinessFieldDNC", optional(is_boolean) },
                                  { "CallbackModeID", optional(is_number) } })
  if err then return err end
  state.sets[#state.sets + 1] = { subtopic = "AddCompliance", data = data, idempotency_key = req.key }
  return answer("AddComplianceResponse", { response = state.fixtures.compliance_status })
end

-- No callid: the contact is searched by its phone number.
function subtopics.GetCampaignsForMCDRequest(data)
  local err = check_types(data, { { "ANI", is_number }, { "DNIS", optional(is_string) },
                                  { "LCMKey", optional(is_string) },
                                  { "BusinessFieldQueryToSearch", optional(is_string) } })
  if err then return err end
  if data.CallType ~= "INBOUND" and data.CallType ~= "OUTBOUND" then
    return ws_error("Invalid CallType:" .. tostring(data.CallType), "Invalid CallType.")
  end
  return answer("SetCampaignsForMCDResponse", { response = state.fixtures.mcd_campaigns })
end

-- The page documents no answer; over HTTP an empty message says it was taken.
function subtopics.SendAgentState(data, req)
  local err = check_types(data, { { "agentID", is_string }, { "agentState", is_string } })
  if err then return err end
  state.sets[#state.sets + 1] = { subtopic = "SendAgentState", data = data, idempotency_key = req.key }
  return answer("SendAgentState", {})
end

local function lower_keys(t)
  local out = {}
  for k, v in pairs(t) do out[k:lower()] = v end
  return out
end

local function take_fault(subtopic)
  for i, f in ipairs(state.faults) do
    if f.subtopic == nil or f.subtopic == subtopic then
      f.count = (f.count or 1) - 1
      if f.count <= 0 then table.remove(state.faults, i) end
      return f
    end
  end
end

-- A fault replaces or alters the answer; with after=true (and always with truncate, or a
-- delay alone) the request is processed first, as when a server fails after doing the work.
local function apply_fault(f, plan)
  local out = { status = f.status or (plan and plan.status) or 200,
                body = f.body or (plan and plan.body) or "", headers = {},
                delay_ms = f.delay_ms, drop = f.drop and true or false,
                truncate = f.truncate, stream_bytes = f.stream_bytes }
  if f.status and not f.body and not plan then out.body = "simulated HTTP " .. f.status end
  if f.body or f.status then
    out.headers[#out.headers + 1] = { "Content-Type", f.content_type or "text/plain" }
  else
    out.headers = plan and plan.headers or {}
  end
  -- null_fields = { "errorType", ... }: the answer as a serializer that writes every field
  -- sends it, those fields null in its message and in a data object beside it.
  if f.null_fields and plan then
    local ok, env = pcall(cjson.decode, out.body)
    if ok and type(env) == "table" then
      env.data = type(env.data) == "table" and env.data or {}
      for _, name in ipairs(f.null_fields) do
        if type(env.message) == "table" then env.message[name] = cjson.null end
        env.data[name] = cjson.null
      end
      out.body = cjson.encode(env)
    end
  end
  if f.retry_after then out.headers[#out.headers + 1] = { "Retry-After", string.format("%d", f.retry_after // 1) } end
  for _, h in ipairs(f.headers or {}) do out.headers[#out.headers + 1] = h end
  return out
end

local function message(body, headers)
  local ok, env = pcall(cjson.decode, body)
  if not ok or type(env) ~= "table" then
    return nil, ws_error("Malformed JSON", "Invalid request.", 400)
  end
  if env.channel ~= "LCM" then return nil, ws_error("Invalid channel", "Invalid request.", 400) end
  if type(env.topic) ~= "string" or env.topic:lower() ~= "webservice" then
    return nil, ws_error("Invalid topic", "Invalid request.", 400)
  end
  if type(env.data) ~= "table" then return nil, ws_error("Invalid data", "Invalid request.", 400) end
  return { subtopic = env.subtopic, source = env.source, data = env.data,
           key = headers["idempotency-key"] }
end

-- A subtopic's handler, its case ignored as the client ignores it (lcm.routes.is_set:
-- call("setDNC") is a Set, queued and replayed as one), and as answers' subtopics are compared.
local function handler_of(name)
  if subtopics[name] or type(name) ~= "string" then return subtopics[name] end
  local want = name:lower()
  for k, fn in pairs(subtopics) do
    if k:lower() == want then return fn end
  end
end

local function lcm_request(body, headers)
  state.requests = state.requests + 1
  local req, err = message(body, headers)
  local fault = take_fault(req and req.subtopic)
  -- A fault that only delays is a slow server: it does the work, then answers late.
  local replaces = fault and (fault.status or fault.body or fault.drop or fault.stream_bytes)
  if replaces and not (fault.after or fault.truncate) then return apply_fault(fault, nil) end
  local plan = err
  if not plan then
    local known = req.key and state.idempotent[req.key]
    if known then
      plan = known -- the same answer again, and nothing recorded twice
    elseif handler_of(req.subtopic) then
      plan = handler_of(req.subtopic)(req.data, req)
      if req.key then state.idempotent[req.key] = plan end
    else
      plan = ws_error("Unknown subtopic:" .. tostring(req.subtopic), "Invalid request.", 404)
    end
  end
  if fault then return apply_fault(fault, plan) end
  return plan
end

local control = {}

function control.GET_state()
  local connections, streamed = counters()
  local faults = 0
  for _, f in ipairs(state.faults) do faults = faults + (f.count or 1) end
  return json(200, { requests = state.requests, connections = connections, streamed = streamed,
                     outcomes = state.outcomes, sets = state.sets, faults = faults })
end

function control.GET_requests() return json(200, state.log) end

function control.POST_reset()
  reset()
  return json(200, { ok = true })
end

function control.POST_calls(body)
  local call = cjson.decode(body)
  if type(call.callid) ~= "string" or call.callid == "" then
    return json(400, { error = "callid must be a non-empty string" })
  end
  state.calls[call.callid] = { type = call.type, accept = call.accept ~= false }
  return json(200, { ok = true })
end

function control.POST_faults(body)
  local faults = cjson.decode(body)
  if faults[1] == nil then faults = { faults } end
  for _, f in ipairs(faults) do state.faults[#state.faults + 1] = f end
  return json(200, { ok = true, armed = #faults })
end

return function(method, path, body, headers, too_big)
  headers = lower_keys(headers)
  local name = path:match("^/_sim/(%w+)$")
  if path:sub(1, 6) == "/_sim/" then
    local fn = name and control[method .. "_" .. name]
    if not fn then return json(404, { error = "no such control endpoint" }) end
    local ok, plan = pcall(fn, body)
    return ok and plan or json(400, { error = tostring(plan) })
  end
  local log = state.log
  log[#log + 1] = { method = method, path = path, headers = headers, body = body }
  if #log > LOG_KEEP then table.remove(log, 1) end
  if too_big then
    state.requests = state.requests + 1
    return ws_error("Request too large", "Invalid request.", 413)
  end
  if method ~= "POST" then
    state.requests = state.requests + 1
    return ws_error("Method not allowed", "Invalid request.", 405)
  end
  return lcm_request(body, headers)
end
