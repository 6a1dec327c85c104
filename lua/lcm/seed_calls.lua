-- The two seed calls of the call table, get_outcomes and set_outcome: entries like
-- lcm.api's (fields with wire names, checkers, defaults, name lookups, answer reader), made
-- into methods by the same machinery (lcm.build). They are a file of their own because
-- they are the calls a dialplan makes in a fresh Lua state: loading lcm.api's 26 entries
-- (~2M instructions) for them would double what a state per call costs.
local check = require "lcm.check"
local answers = require "lcm.answers"

--- The seed calls of @{Client} (LDoc merges them into the class).
-- @classmod Client
local M = {}

local GET_CALLID, INTEGER_OK, EMPTY_OK = { empty_ok = true, integer_ok = true }, { integer_ok = true },
                                          { empty_ok = true } -- check.text's options, built once
local function get_callid(f, v) return check.text(f, v, GET_CALLID) end
local function text(f, v) return check.text(f, v) end
local function id_text(f, v) return check.text(f, v, INTEGER_OK) end
local function comments(f, v) return check.text(f, v, EMPTY_OK) end

-- An ID, or a record of a list (anything with an `id`).
local function id(f, v)
  if type(v) == "table" and v.id ~= nil then v = v.id end
  return check.id(f, v)
end

-- A telephony outcome: an ID, a record, or a standard name ("dnc", "No Answer",
-- lcm.CALL_OUTCOME) as every typed Set takes it, looked up by lcm.check without loading
-- lcm.api (a dialplan's fresh state would pay ~2M instructions for it).
local function telephony(f, v)
  if type(v) == "string" and not v:match("^%d+$") then return check.telephony(f, v) end
  return id(f, v)
end

M.CALLS = {
  --- The business outcomes an agent may pick for a call (GetOutcomeByOutcomegroup).
  -- @function get_outcomes
  -- @tparam string|int callid the call's ID
  -- @string[opt="MANUAL"] type @{lcm.MANUAL} (the reference's default), @{lcm.INBOUND} or
  -- @{lcm.OUTBOUND}
  -- @treturn[1] table a list of `{ id, description, parent_id, campaign_id, lead_score, raw }`,
  -- with `find`
  -- @return[2] nil
  -- @return[2] err
  { method = "get_outcomes",
    fields = { { "callid", "callid", get_callid }, { "type", "type", text, default = "MANUAL" } },
    read = answers.outcomes },
  --- Sets the business and the telephony outcome of a call (SetBusinessOutcomeWithCallOutcome).
  -- @function set_outcome
  -- @tab args
  -- @tparam string|int args.callid the call's ID
  -- @string args.account_number the contact's account number (key)
  -- @tparam int|table args.business_outcome an ID, or a record of @{get_outcomes}
  -- @tparam int|string|table args.call_outcome the telephony outcome: an ID, a record, or a
  -- name of @{lcm.CALL_OUTCOME} (ignoring case)
  -- @tparam string|int args.user_id the agent
  -- @number[opt=0] args.lead_score
  -- @string[opt=""] args.agent_comments
  -- @number[opt=0] args.target_amount
  -- @treturn[1] boolean true: LCM recorded it
  -- @return[2] nil
  -- @return[2] err, with `recorded` (and `queued` when the client has an outbox)
  { method = "set_outcome", table_only = "outcome",
    fields = {
      { "callid", "callid", id_text },
      { "account_number", "AccountNumber", text },
      { "business_outcome", "BusinessOutcome", id },
      { "call_outcome", "CallOutcome", telephony },
      { "lead_score", "LeadScore", check.number, default = 0 },
      { "user_id", "UserID", id_text },
      { "agent_comments", "AgentComments", comments, default = "" },
      { "target_amount", "TargetAmount", check.number, default = 0 },
    } },
}

return M
