-- The typed calls of the documented LCM WebService subtopics, as one declarative table
-- (M.CALLS) and the code that turns each entry into a client method (M.install). Each entry
-- says which subtopic it sends, its fields (snake_case name -> wire name, checker, default)
-- and how its answer is read. docs/api.md says which vendor page each entry follows and
-- where the pages disagree with themselves. Sending is the client's: Set... calls go
-- through Client:_set (rejected, outbox, Idempotency-Key), every other call through _get.
local core = require "lcm.core"
local check = require "lcm.check"
local dates = require "lcm.dates"
local answers = require "lcm.answers"
local build = require "lcm.build"

--- The typed calls of @{Client}, one for every documented subtopic (LDoc merges them into
-- the class; its description is lua/lcm/client.lua's).
-- @classmod Client
local M = {}

local field = core.field
local invalid = check.invalid

local function err_of(_, err) return err end

-- ------------------------------------------------------------------------------------------
-- Checkers: (name, value, args) -> wire value [, parts] | nil, err. `args` is the caller's
-- whole table, for the lookup lists (call_outcomes, business_outcomes).

local function text(f, v) return check.text(f, v) end

-- A string or an integer. check.text's integer_ok formats with %d, which raises for numbers
-- past 2^63 on Lua 5.3+: those are refused here first.
local INTEGER_OK, INTEGER_OR_EMPTY_OK = { integer_ok = true }, { integer_ok = true, empty_ok = true }
local EMPTY_OK = { empty_ok = true } -- check.text's options, built once rather than per call
local function text_or_integer(f, v, empty_ok)
  if type(v) == "number" and v == v and math.abs(v) > 2 ^ 53 then return invalid(f, "is too large") end
  return check.text(f, v, empty_ok and INTEGER_OR_EMPTY_OK or INTEGER_OK)
end
local function id_text(f, v) return text_or_integer(f, v) end
local function comments(f, v) return check.text(f, v, EMPTY_OK) end
local function number(f, v) return check.number(f, v) end

local function boolean(f, v)
  if type(v) ~= "boolean" then return invalid(f, "must be true or false") end
  return v
end

-- An ID, or a record from one of the list calls (anything with an `id`).
local function id(f, v)
  if type(v) == "table" and v.id ~= nil then v = v.id end
  return check.id(f, v)
end

-- An ID sent as a string of digits (ParentBusinessOutcomeId: "1" in the sample).
local function id_string(f, v)
  local n, err = id(f, v)
  if not n then return nil, err end
  return string.format("%d", n)
end

local upper_name = check.upper_name

local function known_names(names)
  table.sort(names)
  return table.concat(names, ", ")
end

-- The ID whose name is `name` in a list of records (description or name, ignoring case and
-- the difference between "No Answer" and NO_ANSWER), or nil and the names there are.
local function from_list(list, name)
  local want, names = upper_name(name), {}
  for _, rec in ipairs(list) do
    local label = type(rec) == "table" and (rec.description or rec.name)
    if type(label) == "string" then
      if upper_name(label) == want then return rec.id end
      names[#names + 1] = label
    end
  end
  return nil, names
end

local function lookup_list(args, list_name, about)
  local list = args[list_name]
  if list == nil then return nil end
  if type(list) ~= "table" then
    return nil, err_of(invalid(list_name, "must be the list " .. about .. " returned"))
  end
  return list
end

-- An ID, a record, or a name: looked up in args[list_name] when the caller passed that
-- list, else by `builtin` (a checker of the name: check.telephony), else refused.
local function id_or_name(list_name, about, builtin)
  return function(f, v, args)
    if type(v) ~= "string" or v:match("^%d+$") then return id(f, v) end
    local s, err = check.text(f, v)
    if not s then return nil, err end
    local list
    list, err = lookup_list(args, list_name, about)
    if err then return nil, err end
    local found, names
    if list then
      found, names = from_list(list, s)
    elseif builtin then
      return builtin(f, s)
    else
      return invalid(f, "'" .. s .. "' is a name: pass " .. list_name .. " (what " .. about ..
                        " returned) to look it up, or give the ID")
    end
    if found == nil then
      return invalid(f, "'" .. s .. "' matches no known name (known: " .. known_names(names) .. ")")
    end
    return id(f, found)
  end
end

-- Without the tenant's list, a name of lcm.CALL_OUTCOME: lcm.check's one lookup, the one
-- set_outcome uses too.
local telephony = id_or_name("call_outcomes", "get_call_outcomes", check.telephony)
M.telephony = telephony -- set_outcome's call_outcome, a name (lcm.client)
local business = id_or_name("business_outcomes", "get_business_outcomes or get_outcomes", nil)

local function call_type(f, v)
  local s, err = check.text(f, v)
  if not s then return nil, err end
  local u = s:upper()
  if u ~= "INBOUND" and u ~= "OUTBOUND" then return invalid(f, "must be INBOUND or OUTBOUND") end
  return u
end

-- A phone number the page types as a Number: a leading 0 would be lost on the wire.
local function phone_number(f, v)
  if type(v) == "string" and v:match("^0") then
    return invalid(f, "starts with 0, which LCM's Number field cannot keep")
  end
  return check.id(f, v)
end

-- SetContactBusinessFields' businessField: a list of {name=, value=, data_type=, format=}
-- or a map name -> value (sent as DataType "String", in name order).
local function business_fields(f, v)
  if type(v) ~= "table" then return invalid(f, "must be a list of {name=, value=} or a table of name = value") end
  local list = {}
  if v[1] == nil then
    for name, value in pairs(v) do list[#list + 1] = { name = name, value = value } end
    table.sort(list, function(a, b) return tostring(a.name) < tostring(b.name) end)
  else
    for i, item in ipairs(v) do
      if type(item) ~= "table" then return invalid(f .. "[" .. i .. "]", "must be a {name=, value=} table") end
      list[i] = item
    end
  end
  if #list == 0 then return invalid(f, "must name at least one field") end
  local out = {}
  for i, item in ipairs(list) do
    local at = f .. "[" .. i .. "]"
    local name, value, data_type, format, err
    name, err = check.text(at .. ".name", item.name)
    if not name then return nil, err end
    value, err = text_or_integer(at .. ".value", item.value, true)
    if not value then return nil, err end
    data_type, err = check.text(at .. ".data_type", item.data_type == nil and "String" or item.data_type)
    if not data_type then return nil, err end
    format, err = check.text(at .. ".format", item.format == nil and "" or item.format, EMPTY_OK)
    if not format then return nil, err end
    out[i] = { FieldName = name, Value = value, DataType = data_type, Format = format }
  end
  return out
end

-- A record number or count the page types as a String ("1"): a positive integer, sent as digits.
local function count_string(f, v)
  local n, err = check.id(f, v)
  if not n then return nil, err end
  if n < 1 then return invalid(f, "must be at least 1") end
  return string.format("%d", n)
end

-- GetDownloadContactsForDialing fetches exactly one contact: its count can only be 1.
local function one(f, v)
  local n, err = count_string(f, v)
  if not n then return nil, err end
  if n ~= "1" then return invalid(f, "must be 1: this call fetches one contact (see get_download_all_contacts)") end
  return n
end

-- A yes/no the page types as a String: true, false, "true" or "false", sent as "true"/"false".
local function flag_string(f, v)
  if v == "true" or v == "false" then return v end
  if type(v) ~= "boolean" then return invalid(f, "must be true or false") end
  return tostring(v)
end

local function date(f, v) return dates.date(f, v) end
local function time(f, v) return dates.time(f, v) end
local function datetime(f, v) return dates.datetime(f, v) end

-- A time left out is taken from the date when the date is an os.time() value or a table.
local function time_of(date_name)
  return function(args)
    local d = args[date_name]
    if type(d) == "number" or type(d) == "table" then return d end
  end
end

-- ------------------------------------------------------------------------------------------
-- Answers: the readers of lcm.answers, and the shapes only these calls have.

local int, str, num, bool = answers.int, answers.str, answers.num, answers.bool
local protocol, records, names, convert = answers.protocol, answers.records, answers.names, answers.convert

-- GetScreenPopData: one object of field -> value (the sample's shape; the table calls it an
-- array). Returned as a table with the values as sent (nil for null).
local function field_values(message)
  local response = field(message, "response")
  if type(response) ~= "table" then return protocol("the answer's message.response is not an object") end
  local out = {}
  for k, v in pairs(response) do
    if type(k) == "string" and v ~= core.null then out[k] = v end
  end
  return out
end

-- GetCampaignGroups: message.response.CampaignGroups, each group with its campaigns and agents.
local GROUP = records({ { "name", "Name", str }, { "type", "Type", str }, { "status", "Status", str } }, "name", "name")
local CAMPAIGN = records({ { "id", "ID", str }, { "pct", "Pct", num }, { "status", "Status", str } }, "id", "id")
local AGENT = records({ { "id", "ID", str }, { "name", "Name", str } }, "id", "name")

local function campaign_groups(message)
  local response = field(message, "response")
  local groups = type(response) == "table" and field(response, "CampaignGroups")
  if type(groups) ~= "table" then return protocol("the answer has no message.response.CampaignGroups list") end
  local list, err = GROUP({ response = groups })
  if not list then return nil, err end
  for i, g in ipairs(list) do
    local campaigns, agents = field(g.raw, "Campaigns"), field(g.raw, "Agents")
    g.campaigns, err = CAMPAIGN({ response = campaigns == nil and {} or campaigns })
    if not g.campaigns then return protocol("campaign group " .. i .. ": " .. err.message) end
    g.agents, err = AGENT({ response = agents == nil and {} or agents })
    if not g.agents then return protocol("campaign group " .. i .. ": " .. err.message) end
  end
  return list
end

-- The manual-dial contacts of GetDownloadContactsForDialing (message.response, one contact)
-- and GetDownloadAllContactsForDialing (message.response.Contacts, with RequestFailureReason).
local CONTACT = {
  { "phone_number", "PhoneNumber", str }, { "account_number", "AccountNumber", str },
  { "campaign_id", "CampaignId", int }, { "campaign_group", "CampaignGroup", str },
  { "campaign_group_id", "CampaignGroupID", int }, { "campaign_key", "CampaignKey", str },
  { "contact_strategy", "ContactStrategyName", str }, { "mode", "Mode", str }, { "contact_id", "ContactId", int },
  { "expiry_time", "ExpiryTime", str }, { "callback_time", "CallbackTime", str }, { "call_type", "CallType", str },
  { "consent", "Consent", bool },
}
local CONTACTS = records(CONTACT, "contact_id", "phone_number")

local function one_contact(message)
  local response = field(message, "response")
  if type(response) ~= "table" then return protocol("the answer's message.response is not an object") end
  return convert(response, CONTACT)
end

local function all_contacts(message)
  local response = field(message, "response")
  if type(response) ~= "table" then return protocol("the answer's message.response is not an object") end
  local contacts = field(response, "Contacts")
  local list, err = CONTACTS({ response = contacts == nil and {} or contacts })
  if not list then return nil, err end
  list.failure_reason = str(field(response, "RequestFailureReason"))
  return list
end

-- AddCompliance: message.response is the update status, a string.
local function response_text(message)
  local response = field(message, "response")
  if type(response) ~= "string" then return protocol("the answer's message.response is not a string") end
  return response
end

local MODE = {
  { "id", "ModeID", int }, { "description", "Description", str }, { "value", "Cvalue", str },
  { "channel_type", "ChannelType", int }, { "min_length", "MinLength", num }, { "max_length", "MaxLength", num },
  { "pewc", "PEWC", bool }, { "campaign_pewc", "CampaignPEWC", bool },
}

-- ------------------------------------------------------------------------------------------
-- The calls. Field entries: { snake_case name, wire name, checker, default = value or
-- function(args), optional = true (left out of the request when not given) }.

local CALLID = { "callid", "callid", id_text }
local ACCOUNT = { "account_number", "AccountNumber", text }
local USER = { "user_id", "UserID", id_text }
local LEAD = { "lead_score", "LeadScore", number, default = 0 }
local TARGET = { "target_amount", "TargetAmount", number, default = 0 }
local COMMENTS = { "agent_comments", "AgentComments", comments, default = "" }

-- The callback window of the callback Sets; `mode` is the page's spelling of the mode ID.
local function callback_fields(mode, ...)
  local fields = { CALLID, ACCOUNT, ... }
  for _, f in ipairs {
    { "start_date", "StartDate", date }, { "end_date", "EndDate", date },
    { "start_time", "StartTime", time, default = time_of("start_date") },
    { "end_time", "EndTime", time, default = time_of("end_date") },
    { "callback_mode", mode, id }, USER, COMMENTS, LEAD, TARGET,
  } do fields[#fields + 1] = f end
  return fields
end

-- Two optional date-and-time fields: the end, when both are given, must not be before the start.
local function datetime_range(start_name, end_name)
  return function(p)
    local a, b = p[start_name], p[end_name]
    if a and b then return dates.order(a, a, b, b, end_name, end_name) end
    return true
  end
end

local function callback_order(p)
  return dates.order(p.start_date, p.start_time, p.end_date, p.end_time, "end_date", "end_time")
end

M.CALLS = {
  --- Marks a contact Do Not Call (SetDNC).
  -- @function set_dnc
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam[opt="DNC"] int|string|table args.call_outcome an ID, a record, or a name (from
  -- `call_outcomes`, else @{lcm.CALL_OUTCOME}, ignoring case)
  -- @tparam int|string|table args.business_outcome an ID, a record of a list, or a name (needs
  -- `business_outcomes`)
  -- @number[opt=0] args.lead_score
  -- @bool[opt] args.campaign_specific the DNC applies to this campaign only (CampaignSpecificDNC)
  -- @bool[opt] args.phone_number_dnc the phone number is DNC, not the contact (isPhoneNoDNC)
  -- @string[opt] args.business_field_value BussfldDNCValue
  -- @string[opt] args.business_field_value_2 BussfldDNCValue1
  -- @string[opt] args.blocked_by BlockedBy
  -- @tparam[opt] string|int|table args.block_start DNCBlockStartDate: "DD/MM/YYYY HH:mm", or a date
  -- @tparam[opt] string|int|table args.block_end DNCBlockEndDate, not before block_start: "DD/MM/YYYY HH:mm", or a date
  -- @string[opt] args.agent_comments
  -- @number[opt] args.target_amount
  -- @tparam[opt] string|int args.campaign_category_id DNCCampaignCategoryID
  -- @tab[opt] args.call_outcomes the list of @{get_call_outcomes}: names are looked up there
  -- @tab[opt] args.business_outcomes the list of @{get_business_outcomes} or
  -- @{get_outcomes}: names are looked up there
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` with an outbox)
  { method = "set_dnc",
    lookups = { "call_outcomes", "business_outcomes" },
    fields = {
      CALLID, ACCOUNT,
      { "call_outcome", "OutcomeID", telephony, default = "DNC" },
      { "business_outcome", "BusinessOutcome", business },
      LEAD,
      { "campaign_specific", "CampaignSpecificDNC", boolean, optional = true },
      { "phone_number_dnc", "isPhoneNoDNC", boolean, optional = true },
      { "business_field_value", "BussfldDNCValue", text, optional = true },
      { "business_field_value_2", "BussfldDNCValue1", text, optional = true },
      { "blocked_by", "BlockedBy", text, optional = true },
      { "block_start", "DNCBlockStartDate", datetime, optional = true },
      { "block_end", "DNCBlockEndDate", datetime, optional = true },
      { "agent_comments", "AgentComments", comments, optional = true },
      { "target_amount", "TargetAmount", number, optional = true },
      { "campaign_category_id", "DNCCampaignCategoryID", id_text, optional = true },
    },
    after = datetime_range("block_start", "block_end") },
  --- Schedules a callback (SetCallbackWithComments). The end may not be before the start.
  -- @function set_callback
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam string|int|table args.start_date the first day: "DD/MM/YYYY", or a date
  -- @tparam string|int|table args.end_date the last day: "DD/MM/YYYY", or a date
  -- @tparam[opt] string|int|table args.start_time HH:mm (24 h), or a time value; default: taken
  -- from `start_date` when that is an `os.time()` value or a table
  -- @tparam[opt] string|int|table args.end_time HH:mm (24 h), or a time value; default: taken
  -- from `end_date` when that is an `os.time()` value or a table
  -- @tparam int|table args.callback_mode the mode ID, or a record of @{get_callback_modes}
  -- @tparam string|int args.user_id the agent's user ID
  -- @string[opt=""] args.agent_comments
  -- @number[opt=0] args.lead_score
  -- @number[opt=0] args.target_amount
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` with an outbox)
  { method = "set_callback",
    fields = callback_fields("CallbackModeId"), after = callback_order },
  --- Schedules a personal callback, to the same agent (SetPersonalCallbackWithComments).
  -- @function set_personal_callback
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam string|int|table args.start_date the first day: "DD/MM/YYYY", or a date
  -- @tparam string|int|table args.end_date the last day: "DD/MM/YYYY", or a date
  -- @tparam[opt] string|int|table args.start_time HH:mm (24 h), or a time value; default: taken
  -- from `start_date` when that is an `os.time()` value or a table
  -- @tparam[opt] string|int|table args.end_time HH:mm (24 h), or a time value; default: taken
  -- from `end_date` when that is an `os.time()` value or a table
  -- @tparam int|table args.callback_mode the mode ID, or a record of @{get_callback_modes}
  -- @tparam string|int args.user_id the agent's user ID
  -- @string[opt=""] args.agent_comments
  -- @number[opt=0] args.lead_score
  -- @number[opt=0] args.target_amount
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` with an outbox)
  { method = "set_personal_callback",
    fields = callback_fields("CallbackModeID"), after = callback_order },
  --- Sets a business outcome and schedules a callback
  -- (SetBusinessOutcomeWithCallback).
  -- @function set_business_outcome_with_callback
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam[opt="CallBack"] int|string|table args.call_outcome an ID, a record, or a name (from
  -- `call_outcomes`, else @{lcm.CALL_OUTCOME}, ignoring case)
  -- @tparam int|string|table args.business_outcome an ID, a record of a list, or a name (needs
  -- `business_outcomes`)
  -- @tparam string|int|table args.start_date the first day: "DD/MM/YYYY", or a date
  -- @tparam string|int|table args.end_date the last day: "DD/MM/YYYY", or a date
  -- @tparam[opt] string|int|table args.start_time HH:mm (24 h), or a time value; default: taken
  -- from `start_date` when that is an `os.time()` value or a table
  -- @tparam[opt] string|int|table args.end_time HH:mm (24 h), or a time value; default: taken
  -- from `end_date` when that is an `os.time()` value or a table
  -- @tparam int|table args.callback_mode the mode ID, or a record of @{get_callback_modes}
  -- @tparam string|int args.user_id the agent's user ID
  -- @string[opt=""] args.agent_comments
  -- @number[opt=0] args.lead_score
  -- @number[opt=0] args.target_amount
  -- @tab[opt] args.call_outcomes the list of @{get_call_outcomes}: names are looked up there
  -- @tab[opt] args.business_outcomes the list of @{get_business_outcomes} or
  -- @{get_outcomes}: names are looked up there
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` with an outbox)
  { method = "set_business_outcome_with_callback",
    lookups = { "call_outcomes", "business_outcomes" },
    fields = callback_fields("CallbackModeID", { "call_outcome", "OutcomeId", telephony, default = "CallBack" },
                             { "business_outcome", "BusinessOutcome", business }),
    after = callback_order },
  --- Sets a business outcome and schedules a personal callback
  -- (SetBusinessOutcomeWithPersonalCallback).
  -- @function set_business_outcome_with_personal_callback
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam[opt="CallBack"] int|string|table args.call_outcome an ID, a record, or a name (from
  -- `call_outcomes`, else @{lcm.CALL_OUTCOME}, ignoring case)
  -- @tparam int|string|table args.business_outcome an ID, a record of a list, or a name (needs
  -- `business_outcomes`)
  -- @tparam string|int|table args.start_date the first day: "DD/MM/YYYY", or a date
  -- @tparam string|int|table args.end_date the last day: "DD/MM/YYYY", or a date
  -- @tparam[opt] string|int|table args.start_time HH:mm (24 h), or a time value; default: taken
  -- from `start_date` when that is an `os.time()` value or a table
  -- @tparam[opt] string|int|table args.end_time HH:mm (24 h), or a time value; default: taken
  -- from `end_date` when that is an `os.time()` value or a table
  -- @tparam int|table args.callback_mode the mode ID, or a record of @{get_callback_modes}
  -- @tparam string|int args.user_id the agent's user ID
  -- @string[opt=""] args.agent_comments
  -- @number[opt=0] args.lead_score
  -- @number[opt=0] args.target_amount
  -- @tab[opt] args.call_outcomes the list of @{get_call_outcomes}: names are looked up there
  -- @tab[opt] args.business_outcomes the list of @{get_business_outcomes} or
  -- @{get_outcomes}: names are looked up there
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` with an outbox)
  { method = "set_business_outcome_with_personal_callback",
    lookups = { "call_outcomes", "business_outcomes" },
    fields = callback_fields("CallbackModeID", { "call_outcome", "OutcomeId", telephony, default = "CallBack" },
                             { "business_outcome", "BusinessOutcome", business }),
    after = callback_order },
  --- Adds a contact number (mode) to the contact (SetNewModeNumber).
  -- @function set_new_mode_number
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam int|table args.mode the mode ID, or a record of @{get_campaign_modes}
  -- @tparam string|int args.contact_number the number
  -- @bool[opt=false] args.delete_other_modes
  -- @tparam string|int args.agent_id the agent
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` with an outbox)
  { method = "set_new_mode_number",
    fields = { CALLID, ACCOUNT, { "mode", "ModeID", id }, { "contact_number", "ContactNumber", id_text },
               { "delete_other_modes", "DeleteOtherModes", boolean, default = false },
               { "agent_id", "AgentID", id_text } } },
  --- Sets the telephony outcome of a call (SetCallOutcomeWithComments).
  -- @function set_call_outcome
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam int|string|table args.call_outcome an ID, a record, or a name (from
  -- `call_outcomes`, else @{lcm.CALL_OUTCOME}, ignoring case)
  -- @number[opt=0] args.lead_score
  -- @tparam string|int args.user_id the agent's user ID
  -- @string[opt=""] args.agent_comments
  -- @number[opt=0] args.target_amount
  -- @tab[opt] args.call_outcomes the list of @{get_call_outcomes}: names are looked up there
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` with an outbox)
  { method = "set_call_outcome", lookups = { "call_outcomes" },
    fields = { CALLID, ACCOUNT, { "call_outcome", "OutcomeId", telephony }, LEAD, USER, COMMENTS, TARGET } },
  --- Sets the business outcome of a call (SetBusinessOutcomeWithComments).
  -- @function set_business_outcome
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam int|string|table args.business_outcome an ID, a record of a list, or a name (needs
  -- `business_outcomes`)
  -- @number[opt=0] args.lead_score
  -- @tparam string|int args.user_id the agent's user ID
  -- @string[opt=""] args.agent_comments
  -- @number[opt=0] args.target_amount
  -- @tab[opt] args.business_outcomes the list of @{get_business_outcomes} or
  -- @{get_outcomes}: names are looked up there
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` with an outbox)
  { method = "set_business_outcome",
    lookups = { "business_outcomes" },
    fields = { CALLID, ACCOUNT, { "business_outcome", "OutcomeId", business }, LEAD, USER, COMMENTS, TARGET } },
  --- Sets business fields of the contact (SetContactBusinessFields).
  -- @function set_contact_business_fields
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam string|int args.agent_id the agent
  -- @tab args.fields `{ FName = "Test" }` (sent as String), or a list of
  -- `{ name =, value =, data_type =, format = }`
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` with an outbox)
  { method = "set_contact_business_fields",
    fields = { CALLID, ACCOUNT, { "agent_id", "AgentID", id_text }, { "fields", "businessField", business_fields } } },
  --- Reports an agent's state (SendAgentState).
  -- @function send_agent_state
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.agent_id the agent
  -- @string args.agent_state e.g. `"NOT_READY"`
  -- @treturn[1] boolean true
  -- @return[2] nil
  -- @return[2] err
  { method = "send_agent_state",
    fields = { { "agent_id", "agentID", id_text }, { "agent_state", "agentState", text } } },
  --- The telephony outcomes of the tenant (GetCallOutCome).
  -- @function get_call_outcomes
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @treturn[1] table a list of `{ id, description, raw }`, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_call_outcomes",
    fields = { CALLID }, read = answers.outcomes },
  --- The business outcomes of the contact's campaign (GetBusinessOutCome).
  -- @function get_business_outcomes
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @treturn[1] table a list like @{get_outcomes}'s, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_business_outcomes",
    fields = { CALLID, ACCOUNT },
    read = answers.outcomes },
  --- The parents of the business outcome groups (GetBOGroupParent).
  -- @function get_bo_group_parent
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @treturn[1] table a list of `{ id, name, campaign_key, raw }`, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_bo_group_parent",
    fields = { CALLID, ACCOUNT },
    read = records({ { "id", "ParentId", int }, { "name", "ParentName", str }, { "campaign_key", "CampaignKey", str } },
                   "id", "name") },
  --- The business outcomes under a parent (GetBusinessOutcomeParent).
  -- @function get_business_outcome_parent
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam int|table args.parent_id an ID, or a record of @{get_bo_group_parent}
  -- @treturn[1] table a list like @{get_outcomes}'s, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_business_outcome_parent",
    fields = { CALLID, ACCOUNT, { "parent_id", "ParentBusinessOutcomeId", id_string } }, read = answers.outcomes },
  --- The modes a callback may use (GetCallBackModes).
  -- @function get_callback_modes
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @treturn[1] table a list of `{ id, description, value, channel_type, min_length, max_length,`
  -- `pewc, campaign_pewc, raw }`, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_callback_modes",
    fields = { CALLID, ACCOUNT },
    read = records(MODE, "id", "description") },
  --- The modes of the contact's campaign (GetCampaignModes).
  -- @function get_campaign_modes
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @treturn[1] table a list like @{get_callback_modes}'s, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_campaign_modes",
    fields = { CALLID, ACCOUNT },
    read = records(MODE, "id", "description") },
  --- The contact's modes with their DNC settings (GetModeInformation).
  -- @function get_mode_information
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @treturn[1] table a list of `{ campaign_id, mode_name, contact_id, timezone, contact_number,`
  -- `campaign_category, callid, gmt_deviation, disposition_required, dnc_period_type, dnc_days,`
  -- `dnc_eod, customer_dnc_tz_enabled, raw }`, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_mode_information",
    fields = { CALLID, ACCOUNT },
    read = records({
      { "campaign_id", "CampaignId", int }, { "mode_name", "ModeName", str }, { "contact_id", "ContactID", int },
      { "timezone", "Timezone", str }, { "contact_number", "ContactNumber", str },
      { "campaign_category", "CampaignCategoryName", str }, { "callid", "CallId", str },
      { "gmt_deviation", "GMTDeviation", num }, { "disposition_required", "DispositionRequired", bool },
      { "dnc_period_type", "DNCPeriodType", str }, { "dnc_days", "DNCDays", num }, { "dnc_eod", "DNCEOD", bool },
      { "customer_dnc_tz_enabled", "CustomerDNCTZEnabled", bool },
    }, "campaign_id", "mode_name") },
  --- The contact's screen-pop fields (GetScreenPopData).
  -- @function get_screen_pop_data
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @treturn[1] table field name -> value, as sent (JSON null left out)
  -- @return[2] nil
  -- @return[2] err
  { method = "get_screen_pop_data",
    fields = { CALLID, ACCOUNT }, read = field_values },
  --- The names of the business fields a DNC may use (GetDNCBussField).
  -- @function get_dnc_business_fields
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @treturn[1] table a list of names, with `find` (ignoring case)
  -- @return[2] nil
  -- @return[2] err
  { method = "get_dnc_business_fields",
    fields = { CALLID, ACCOUNT }, read = names },
  --- The contact's business fields (GetContactDetail).
  -- @function get_business_fields
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @treturn[1] table a list of `{ name, value, data_type, format, editable, raw }`, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_business_fields",
    fields = { CALLID, ACCOUNT },
    read = records({ { "name", "FieldName", str }, { "value", "Value", str }, { "data_type", "DataType", str },
                     { "format", "Format", str }, { "editable", "Editable", bool } }, "name", "name") },
  --- An agent's personal callbacks in a date range (GetPersonalCallbackList).
  -- @function get_personal_callback_list
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.user_id the agent's user ID
  -- @tparam string|int|table args.from_date the first day: "DD/MM/YYYY", or a date
  -- @tparam string|int|table args.to_date the last day, not before `from_date`: "DD/MM/YYYY", or a date
  -- @int[opt=1] args.start the first record, from 1
  -- @int[opt=50] args.count how many records
  -- @treturn[1] table a list of `{ row, campaign_id, contact_id, mode_id, mode_description, value,`
  -- `start_date, end_date, start_time, end_time, raw }`, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_personal_callback_list",
    fields = { USER, { "from_date", "FromDate", date }, { "to_date", "ToDate", date },
               { "start", "StartingNoOfRecord", count_string, default = 1 },
               { "count", "NoofRecords", count_string, default = 50 } },
    after = function(p) return dates.order(p.from_date, nil, p.to_date, nil, "to_date", "to_date") end,
    read = records({
      { "row", "RowNumber", int }, { "campaign_id", "CampaignID", int }, { "contact_id", "ContactID", int },
      { "mode_id", "ModeID", int }, { "mode_description", "ModeDescription", str }, { "value", "CValue", str },
      { "start_date", "CallStartDate", str }, { "end_date", "CallEndDate", str },
      { "start_time", "CallStartTime", str }, { "end_time", "CallEndTime", str },
    }, "contact_id", "value") },
  --- The campaign groups, with their campaigns and agents (GetCampaignGroups).
  -- @function get_campaign_groups
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam[opt] string|int args.user_id the agent whose groups
  -- @treturn[1] table a list of `{ name, type, status, campaigns, agents, raw }`, with `find`;
  -- `campaigns` lists `{ id, pct, status }`, `agents` lists `{ id, name }`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_campaign_groups",
    fields = { { "user_id", "userID", id_text, optional = true } }, read = campaign_groups },
  --- One contact to dial manually (GetDownloadContactsForDialing).
  -- @function get_download_contacts_for_dialing
  -- @tab args the fields (or them positionally, in this order)
  -- @string args.campaign_group the campaign group's name
  -- @int[opt=1] args.count must be 1 (see @{get_download_all_contacts})
  -- @bool[opt=false] args.consent
  -- @tparam string|int args.agent_id the agent
  -- @bool[opt=false] args.reserved reserved contacts
  -- @treturn[1] table `{ phone_number, account_number, campaign_id, campaign_group, campaign_group_id,`
  -- `campaign_key, contact_strategy, mode, contact_id, expiry_time, callback_time, call_type,`
  -- `consent, raw }`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_download_contacts_for_dialing",
    fields = { { "campaign_group", "CampaignGroup", text }, { "count", "NumberOfContactsRequired", one, default = 1 },
               { "consent", "Consent", flag_string, default = false }, { "agent_id", "AgentID", id_text },
               { "reserved", "ReservedContacts", flag_string, default = false } },
    read = one_contact },
  --- Contacts to dial manually (GetDownloadAllContactsForDialing).
  -- @function get_download_all_contacts
  -- @tab args the fields (or them positionally, in this order)
  -- @string args.campaign_group the campaign group's name
  -- @int args.count how many contacts, at least 1
  -- @bool[opt=false] args.consent
  -- @tparam string|int args.agent_id the agent
  -- @bool[opt=false] args.reserved reserved contacts
  -- @treturn[1] table a list of contacts as @{get_download_contacts_for_dialing} returns, with `find`;
  -- `list.failure_reason` (RequestFailureReason)
  -- @return[2] nil
  -- @return[2] err
  { method = "get_download_all_contacts",
    fields = { { "campaign_group", "CampaignGroup", text }, { "count", "NumberOfContactsRequired", count_string },
               { "consent", "Consent", flag_string, default = false }, { "agent_id", "AgentID", id_text },
               { "reserved", "ReservedContacts", flag_string, default = false } },
    read = all_contacts },
  --- Adds a number to a compliance list such as DNC (AddCompliance).
  -- @function add_compliance
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.value the number or value (Cvalue)
  -- @string[opt] args.campaign
  -- @string[opt] args.campaign_category
  -- @tparam[opt] string|int|table args.start_date from: "DD/MM/YYYY HH:mm", or a date
  -- @tparam[opt] string|int|table args.end_date until, not before `start_date`: "DD/MM/YYYY HH:mm", or a date
  -- @string[opt="VOICE"] args.channel_type
  -- @string[opt="DNC"] args.upload_type
  -- @string[opt="Append"] args.operation
  -- @bool[opt] args.business_field_dnc IsBusinessFieldDNC
  -- @tparam[opt] int|table args.callback_mode the mode ID, or a record
  -- @treturn[1] string the update status LCM answers
  -- @return[2] nil
  -- @return[2] err
  { method = "add_compliance",
    fields = {
      { "value", "Cvalue", id_text }, { "campaign", "Campaign", comments, optional = true },
      { "campaign_category", "CampaignCategory", comments, optional = true },
      { "start_date", "Startdate", datetime, optional = true },
      { "end_date", "EndDate", datetime, optional = true },
      { "channel_type", "ChannelType", text, default = "VOICE" },
      { "upload_type", "UploadType", text, default = "DNC" },
      { "operation", "Operation", text, default = "Append" },
      { "business_field_dnc", "IsBusinessFieldDNC", boolean, optional = true },
      { "callback_mode", "CallbackModeID", id, optional = true },
    },
    after = datetime_range("start_date", "end_date"), read = response_text },
  --- The campaigns and contacts that match a caller (GetCampaignsForMCDRequest).
  -- @function get_campaigns_for_mcd_request
  -- @tab args the fields (or them positionally, in this order)
  -- @tparam string|int args.ani the caller's number (a Number on the wire: no leading 0)
  -- @tparam[opt] string|int args.dnis the number called
  -- @string[opt] args.lcm_key LCMKey
  -- @string args.call_type `"INBOUND"` or `"OUTBOUND"` (any case)
  -- @string[opt] args.business_field_query BusinessFieldQueryToSearch
  -- @treturn[1] table a list of `{ campaign_id, campaign_name, contact_id, call_type, agent_id, mode,`
  -- `phone_number, account_number, raw }`, with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_campaigns_for_mcd_request",
    fields = {
      { "ani", "ANI", phone_number },
      { "dnis", "DNIS", id_text, optional = true },
      { "lcm_key", "LCMKey", text, optional = true },
      { "call_type", "CallType", call_type },
      { "business_field_query", "BusinessFieldQueryToSearch", text, optional = true },
    },
    read = records({
      { "campaign_id", "CampaignId", int }, { "campaign_name", "CampaignName", str },
      { "contact_id", "ContactID", int }, { "call_type", "CallType", str }, { "agent_id", "AgentID", str },
      { "mode", "Mode", str }, { "phone_number", "PhoneNo", str }, { "account_number", "AccountNumber", str },
    }, "campaign_id", "campaign_name") },
}

M.NAMES = {}
for i, spec in ipairs(M.CALLS) do
  build.prepare(spec)
  M.NAMES[i] = spec.method
end

M.build = build.build

-- Installs every call as a method of Client (client:set_dnc{...}), made as the seed calls
-- are (lcm.build). `failed`: the client's end of a call refused before sending, passed in
-- so that lcm.api does not require the client that loads it.
function M.install(Client, failed)
  for _, spec in ipairs(M.CALLS) do Client[spec.method] = build.method(spec, failed) end
end

return M
