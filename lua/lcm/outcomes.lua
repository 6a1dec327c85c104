-- Reading answers: GetOutcomeByOutcomegroup answers as records, Set... answers as a
-- result. The vendor spells keys several ways
-- (OutComeID, OutcomeID, OutcomeId) and sends numbers as strings ("LeadScore": "0"),
-- so keys are matched case-insensitively and values converted where that is lossless.
local core = require "lcm.core"
local check = require "lcm.check"

local M = {}

-- t[name], else the value of the first key equal to name ignoring case (nil for null):
-- the lookup core.answer uses for the envelope, in csrc/codec.c.
local field = core.field

-- "107" -> 107; 107 -> 107; anything else (not an exact integer) is kept as sent.
local function id(v)
  local n = check.integer(v)
  if n == nil then return v end
  return n
end

local function score(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return check.to_integer(n) or n
end

local List = {}
List.__index = List

-- The record whose id equals x (107 and "107" alike), or whose description equals x
-- ignoring case; nil when there is none.
function List:find(x)
  local key = id(x)
  local text = type(x) == "string" and x:lower() or nil
  for _, rec in ipairs(self) do
    if rec.id == key or (text and type(rec.description) == "string" and rec.description:lower() == text) then
      return rec
    end
  end
  return nil
end

local function protocol(message)
  return nil, core.error { kind = "protocol", code = "BAD_RESPONSE", message = message }
end

function M.from_message(message)
  local response = field(message, "response")
  if type(response) ~= "table" then return protocol("the answer's message.response is not a list") end
  local n = #response
  for k in pairs(response) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= math.floor(k) then
      return protocol("the answer's message.response is not a list")
    end
  end
  local list = setmetatable({}, List)
  for i = 1, n do
    local raw = response[i]
    if type(raw) ~= "table" then return protocol("outcome " .. i .. " is not an object") end
    local outcome_id = id(field(raw, "OutComeID"))
    if type(outcome_id) ~= "number" and type(outcome_id) ~= "string" then
      return protocol("outcome " .. i .. " has no OutComeID")
    end
    local description = field(raw, "Description")
    list[i] = {
      id = outcome_id,
      description = type(description) == "string" and description or nil,
      parent_id = id(field(raw, "ParentID")),
      campaign_id = id(field(raw, "CampaignID")),
      lead_score = score(field(raw, "LeadScore")),
      raw = raw,
    }
  end
  return list
end

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
