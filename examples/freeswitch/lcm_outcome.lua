-- FreeSWITCH mod_lua: set the LCM outcome of the call this session belongs to.
-- In the dialplan, after the agent's wrap-up:
--   <action application="set" data="lcm_outcome=success"/>
--   <action application="lua" data="lcm_outcome.lua"/>
-- Reads the channel variables lcm_callid, lcm_account, lcm_agent, lcm_outcome (an id or a
-- description), lcm_telephony (a name of lcm.CALL_OUTCOME, e.g. DNC) and lcm_comments;
-- the LCM URL is the global variable lcm_url (vars.xml:
--   <X-PRE-PROCESS cmd="set" data="lcm_url=https://lcm.example/api/{subtopic}"/>).
-- Leaves lcm_result = OK or the error kind.
local lcm = require "lcm"

local function log(level, message)
  freeswitch.consoleLog(level, "lcm: " .. message .. "\n")
end

-- mod_lua runs each script in a fresh Lua state, so the client lives as long as the script.
local client, err = lcm.new {
  url = freeswitch.getGlobalVariable("lcm_url"),
  source = "freeswitch",
  timeout_ms = 3000,
  max_attempts = 2,
  -- Wait between retries with the session's own sleep: it keeps the media flowing.
  sleep = function(ms) session:sleep(ms) end,
  logger = function(level, message)
    if level ~= "debug" then log(level == "error" and "ERR" or "WARNING", message) end
  end,
}

local function run()
  if not client then
    log("ERR", "configuration error: " .. tostring(err))
    return "invalid"
  end
  local callid = session:getVariable("lcm_callid")
  local outcomes, e = client:get_outcomes(callid, session:getVariable("lcm_calltype") or lcm.OUTBOUND)
  if not outcomes then
    log("ERR", tostring(e))
    return e.kind
  end
  local pick = outcomes:find(session:getVariable("lcm_outcome") or "")
  if not pick then
    log("ERR", "no outcome " .. tostring(session:getVariable("lcm_outcome")) .. " for call " .. tostring(callid))
    return "invalid"
  end
  local ok
  ok, e = client:set_outcome {
    callid = callid,
    account_number = session:getVariable("lcm_account"),
    business_outcome = pick,
    call_outcome = lcm.CALL_OUTCOME[session:getVariable("lcm_telephony") or "SUCCESS"],
    user_id = session:getVariable("lcm_agent"),
    agent_comments = session:getVariable("lcm_comments") or "",
  }
  if not ok then
    log("ERR", tostring(e))
    return e.kind
  end
  log("INFO", "outcome " .. tostring(pick.id) .. " set for call " .. callid)
  return "OK"
end

session:setVariable("lcm_result", run())
if client then client:close() end
