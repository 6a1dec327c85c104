-- FreeSWITCH mod_lua: set the LCM outcome of a call.
-- In the dialplan, after the agent's wrap-up:
--   <action application="set" data="lcm_outcome=107"/>
--   <action application="lua" data="lcm_outcome.lua"/>
-- Reads the channel variables lcm_callid, lcm_account, lcm_agent, lcm_outcome (a business
-- outcome ID), lcm_telephony (a name of lcm.CALL_OUTCOME, e.g. DNC) and lcm_comments, and
-- the global variables lcm_url and lcm_outbox (vars.xml:
--   <X-PRE-PROCESS cmd="set" data="lcm_url=https://lcm.example/api/{subtopic}"/>
--   <X-PRE-PROCESS cmd="set" data="lcm_outbox=/var/spool/lcm"/>).
-- Leaves lcm_result = "OK", "queued <kind>" (LCM will get it from the outbox, see
-- bin/lcm-flush-outbox) or "not queued <kind>".
-- Without a session (`luarun lcm_outcome.lua CALLID ACCOUNT AGENT OUTCOME [TELEPHONY]` from
-- fs_cli) the same values come from the arguments and the result is logged.
local lcm = require "lcm"

local function log(level, message)
  freeswitch.consoleLog(level, message .. "\n")
end

local args = argv or {}
local ARG = { lcm_callid = 1, lcm_account = 2, lcm_agent = 3, lcm_outcome = 4, lcm_telephony = 5 }
local function var(name)
  if session then return session:getVariable(name) end
  return args[ARG[name]]
end

-- mod_lua runs each script in a fresh Lua state, so the client lives as long as the script;
-- the connections, TLS sessions and retry budget behind it are the process's.
local client, err = lcm.new {
  url = freeswitch.getGlobalVariable("lcm_url"),
  outbox = freeswitch.getGlobalVariable("lcm_outbox") or "/var/spool/lcm",
  source = "freeswitch",
  timeout_ms = 3000,
  max_attempts = 2,
  -- Wait between retries with the session's own sleep: it keeps the media flowing.
  sleep = session and function(ms) session:sleep(ms) end or nil,
  -- Retries only: the one failure a call ends with is logged once, below.
  logger = function(level, message)
    if level == "warn" then log("WARNING", "lcm: " .. message) end
  end,
}

local function run()
  if not client then
    log("ERR", "lcm configuration error: " .. tostring(err))
    return "not queued invalid"
  end
  local callid = var("lcm_callid")
  local ok, e = client:set_outcome {
    callid = callid,
    account_number = var("lcm_account"),
    business_outcome = var("lcm_outcome"), -- an ID: no get_outcomes round trip
    call_outcome = lcm.CALL_OUTCOME[var("lcm_telephony") or "SUCCESS"],
    user_id = var("lcm_agent"),
    agent_comments = var("lcm_comments") or "",
  }
  if ok then
    log("INFO", "lcm: outcome set for call " .. tostring(callid))
    return "OK"
  end
  log("ERR", tostring(e) .. (e.queued and " (queued in the outbox)" or ""))
  return (e.queued and "queued " or "not queued ") .. e.kind
end

local result = run()
if session then
  session:setVariable("lcm_result", result)
else
  log("INFO", "lcm_result=" .. result)
end
if client then client:close() end
