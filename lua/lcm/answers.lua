-- Reading answers. The vendor spells keys several ways (OutComeID, OutcomeID, OutcomeId) and
-- sends numbers as strings ("LeadScore": "0"), so keys are matched case-insensitively
-- (core.field, the lookup core.answer uses for the envelope in csrc/codec.c) and values
-- converted where that is lossless. The list readers here serve get_outcomes and the typed
-- calls of lcm.api alike; set_result judges every Set... answer.
local core = require "lcm.core"
local check = require "lcm.check"

local M = {}

local field = core.field

-- "107" -> 107; 107 -> 107; anything else (not an exact integer) is kept as sent.
local function int(v)
  local n = check.integer(v)
  if n == nil then return v end
  return n
end

local function str(v)
  if type(v) == "string" then return v end
  if type(v) == "number" then return tostring(int(v)) end
  return nil
end

local function num(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return check.to_integer(n) or n
end

local function bool(v)
  if v == true or v == "true" or v == "True" or v == 1 or v == "1" then return true end
  if v == false or v == "false" or v == "False" or v == 0 or v == "0" then return false end
  return nil
end

local function protocol(message)
  return nil, core.error { kind = "protocol", code = "BAD_RESPONSE", message = message }
end

-- message.response as a list (the MCD answer may carry it as the message itself).
local function response_list(message)
  local response = field(message, "response")
  if response == nil and message[1] ~= nil then response = message end
  if type(response) ~= "table" then return protocol("the answer's message.response is not a list") end
  local n = #response
  for k in pairs(response) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= math.floor(k) then
      return protocol("the answer's message.response is not a list")
    end
  end
  return response
end

-- A record shape for core.records/core.record (csrc/records.c, which builds records in C:
-- the per-record cost of every list answer): keys are { record key, wire key, converter },
-- and the converters above are named there, so C applies the same rules without calling
-- back into Lua. Shapes are made once per key list.
local CONVERTER = { [int] = "int", [str] = "str", [num] = "num", [bool] = "bool" }
local shapes = setmetatable({}, { __mode = "k" })
local function shape(keys)
  local s = shapes[keys]
  if not s then
    s = {}
    for i, k in ipairs(keys) do s[i] = { k[1], k[2], CONVERTER[k[3]] or k[3] } end
    shapes[keys] = s
  end
  return s
end

-- One wire record as { record key = converted value, raw = the record }.
local function convert(raw, keys)
  return core.record(raw, shape(keys))
end

-- A list reader: `keys` are { record key, wire key, converter }; `find(x)` matches x
-- against the record's `id_key` (107 and "107" alike) or its `name_key` ignoring case.
local function records(keys, id_key, name_key)
  local List = {}
  List.__index = List
  function List:find(x)
    if x == nil then return nil end -- not the first record that lacks an ID
    local want, text_ = int(x), type(x) == "string" and x:lower() or nil
    for _, rec in ipairs(self) do
      local name = rec[name_key]
      if rec[id_key] == want or (text_ and type(name) == "string" and name:lower() == text_) then return rec end
    end
    return nil
  end
  local s = shape(keys)
  return function(message) return core.records(message, s, List) end
end

-- GetDNCBussField: a list of field names; find ignores case.
local Names = {}
Names.__index = Names
function Names:find(x)
  if type(x) ~= "string" then return nil end
  for _, name in ipairs(self) do
    if name:lower() == x:lower() then return name end
  end
  return nil
end

local function names(message)
  local response, err = response_list(message)
  if not response then return nil, err end
  local list = setmetatable({}, Names)
  for i, v in ipairs(response) do
    if type(v) ~= "string" then return protocol("business field " .. i .. " is not a string") end
    list[i] = v
  end
  return list
end


-- GetOutcomeByOutcomegroup (and the other business-outcome lists): records
-- { id, description, parent_id, campaign_id, lead_score, raw }; every record has an id.
local OUTCOMES = records({ { "id", "OutComeID", int }, { "description", "Description", str },
                           { "parent_id", "ParentID", int }, { "campaign_id", "CampaignID", int },
                           { "lead_score", "LeadScore", num } }, "id", "description")

function M.outcomes(message)
  local list, err = OUTCOMES(message)
  if not list then return nil, err end
  for i, rec in ipairs(list) do
    if type(rec.id) ~= "number" and type(rec.id) ~= "string" then
      return protocol("outcome " .. i .. " has no OutComeID")
    end
    if type(rec.description) ~= "string" then rec.description = nil end
  end
  return list
end


M.field, M.int, M.str, M.num, M.bool = field, int, str, num, bool
M.protocol, M.records, M.names, M.convert = protocol, records, names, convert

-- Whether the callid of an answer names the call that was sent. Lua 5.3+ decode the JSON
-- number 12345 as 12345.0, and a caller of call("Set...") may give 12345 or "12345": where
-- either side is a number they are compared as exact integers, else as strings.
local function same_call(answered, sent)
  if answered == nil or sent == nil then return true end
  if type(answered) == "number" or type(sent) == "number" then
    local a, b = check.integer(answered), check.integer(sent)
    return a ~= nil and a == b
  end
  return answered == sent
end

-- A Set... answer: true when LCM accepted it for this call; else nil, err. Only a
-- well-formed result (message.response.success a boolean, for this call) is believed:
-- anything else is a protocol error, after which the Set may or may not be recorded.
function M.set_result(message, callid)
  local response = field(message, "response")
  local success
  if type(response) == "table" then success = field(response, "success") end
  if type(success) ~= "boolean" then
    return protocol("the answer has no boolean message.response.success")
  end
  local answered = field(message, "callid")
  if not same_call(answered, callid) then
    return nil, core.error { kind = "protocol", code = "CALLID_MISMATCH",
                             message = "the answer is for call " .. tostring(answered) .. ", not " .. tostring(callid) }
  end
  if not success then
    return nil, core.error { kind = "rejected", message = "LCM did not accept the outcome" }
  end
  return true
end

return M
