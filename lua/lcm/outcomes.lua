-- Reading answers: GetOutcomeByOutcomegroup answers as records, Set... answers as a
-- result. The vendor spells keys several ways
-- (OutComeID, OutcomeID, OutcomeId) and sends numbers as strings ("LeadScore": "0"),
-- so keys are matched case-insensitively and values converted where that is lossless.
local core = require "lcm.core"

local M = {}

-- t[name], else the value of the first key equal to name ignoring case (nil for null):
-- the lookup core.answer uses for the envelope, in csrc/codec.c.
local field = core.field
M.field = field

local to_integer = math.tointeger or function(n) return n end

-- "107" -> 107; 107 -> 107; anything else is kept as sent.
local function id(v)
  if type(v) == "string" and v:match("^%-?%d+$") and #v <= 15 then return to_integer(tonumber(v)) end
  if type(v) == "number" and v == math.floor(v) and v == v then return to_integer(v) or v end
  return v
end

local function score(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return to_integer(n) or n
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

function M.is_list(t) return getmetatable(t) == List end

-- A Set... answer: true when LCM accepted it for this call; else nil, err.
function M.set_result(message, callid)
  local response = field(message, "response")
  local success = type(response) == "table" and field(response, "success")
  if type(success) ~= "boolean" then return protocol("the answer has no boolean message.response.success") end
  local answered = field(message, "callid")
  if answered ~= nil and tostring(answered) ~= callid then
    return nil, core.error { kind = "protocol", code = "CALLID_MISMATCH",
                             message = "the answer is for call " .. tostring(answered) .. ", not " .. callid }
  end
  if not success then
    return nil, core.error { kind = "rejected", message = "LCM did not accept the outcome" }
  end
  return true
end

return M
