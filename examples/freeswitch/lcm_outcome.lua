-- FreeSWITCH mod_lua: set the LCM outcome of a call.
-- In the dialplan, after the agent's wrap-up:
--   <action application="set" data="lcm_outcome=107"/>
--   <action application="lua" data="lcm_outcome.lua"/>
-- Reads the channel variables lcm_callid, lcm_account, lcm_agent, lcm_outcome (a business
-- outcome ID), lcm_telephony (a name of lcm.CALL_OUTCOME, e.g. DNC) and lcm_comments, and
-- the global variables lcm_url and lcm_outbox (vars.xml:
--   <X-PRE-PROCESS cmd="set" data="lcm_url=https://lcm.example/api/{subtopic}"/>
--   <X-PRE-PROCESS cmd="set" data="lcm_outbox=/var/spool/lcm/freeswitch"/>).
-- Leaves lcm_result = "OK", "queued <kind>" (LCM will get it from the outbox, see
-- lcm-flush-outbox) or "not queued <kind>". A failed call is logged once, with its callid:
-- at WARNING when it is queued (the flush job delivers it), at ERR when it is not (someone
-- has to act); both are in freeswitch.log and on fs_cli at the default levels.
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
  outbox = freeswitch.getGlobalVariable("lcm_outbox") or "/var/spool/lcm/freeswitch",
  source = "freeswitch",
  timeout_ms = 3000,
  max_attempts = 2,
  -- Wait between retries with the session's own sleep: it keeps the media flowing.
  sleep = session and function(ms) session:sleep(ms) end or nil,
  logger = function(level, message, failure)
    if failure then return end -- a call's own failure: run() logs it once, with its callid
    if level == "error" then
      log("ERR", "lcm: " .. message) -- not about one call: an outbox the process cannot use...
    elseif level == "warn" then
      log("DEBUG", "lcm: " .. message) -- a retry: the call's outcome is what counts
    end
  end,
}

-- The one line of a failed call: WARNING when the outbox will deliver it, else ERR.
local function report(what, e)
  if e.queued then
    log("WARNING", "lcm: " .. what .. " queued in the outbox, the flush job will send it: " .. tostring(e))
  else
    log("ERR", "lcm: " .. what .. " NOT recorded" .. (e.recorded == "unknown" and ", perhaps" or "") .. ": " ..
               tostring(e))
  end
end

local function run()
  local callid, outcome = var("lcm_callid"), var("lcm_outcome")
  local telephony = var("lcm_telephony") or "SUCCESS"
  local what = string.format("call %s: outcome %s (%s)", tostring(callid), tostring(outcome), telephony)
  local ok, e = nil, err
  if client then
    ok, e = client:set_outcome {
      callid = callid,
      account_number = var("lcm_account"),
      business_outcome = outcome, -- an ID: no get_outcomes round trip
      call_outcome = telephony,   -- a name (DNC, "No Answer") or an ID: no round trip either
      user_id = var("lcm_agent"),
      agent_comments = var("lcm_comments") or "",
    }
  end
  if ok then
    log("INFO", "lcm: " .. what .. " set")
    return "OK"
  end
  report(what, e)
  return (e.queued and "queued " or "not queued ") .. e.kind
end

local result = run()
if session then
  session:setVariable("lcm_result", result)
else
  log("INFO", "lcm_result=" .. result)
end
if client then client:close() end
