-- Asterisk pbx_lua: set the LCM outcome of a call when the agent wraps up.
-- Copy to /etc/asterisk/extensions.lua (or require it from there), and in extensions.conf:
--   [globals]
--   LCM_URL=https://lcm.example/api/{subtopic}
-- The agent's wrap-up flow sets LCM_CALLID, LCM_ACCOUNT, LCM_AGENT, LCM_OUTCOME (an id or
-- a description such as "success") and LCM_TELEPHONY (a name of lcm.CALL_OUTCOME, e.g. DNC)
-- and goes to lcm-wrapup,s,1. The result is left in LCM_RESULT: OK or the error kind.
local lcm = require "lcm"

local function verbose(level, message)
  app.verbose(level, "lcm: " .. message)
end

-- pbx_lua keeps one Lua state per channel: configure once, when the state loads this file.
local configured
local function configure()
  if configured then return true end
  local url = channel.LCM_URL:get()
  local ok, err = lcm.configure {
    url = url, source = "asterisk", timeout_ms = 3000, max_attempts = 2,
    logger = function(level, message)
      if level ~= "debug" then verbose(level == "error" and 1 or 3, message) end
    end,
  }
  if not ok then
    verbose(1, "configuration error: " .. tostring(err))
    return false
  end
  configured = true
  return true
end

local function wrapup()
  if not configure() then
    channel.LCM_RESULT:set("invalid")
    return
  end
  local callid = channel.LCM_CALLID:get()
  local outcomes, err = lcm.get_outcomes(callid, channel.LCM_CALLTYPE:get() or lcm.OUTBOUND)
  local pick = outcomes and outcomes:find(channel.LCM_OUTCOME:get() or "")
  if not pick then
    verbose(1, "no such outcome for call " .. tostring(callid) .. ": " .. tostring(err or channel.LCM_OUTCOME:get()))
    channel.LCM_RESULT:set(err and err.kind or "invalid")
    return
  end
  local ok
  ok, err = lcm.set_outcome {
    callid = callid,
    account_number = channel.LCM_ACCOUNT:get(),
    business_outcome = pick,
    call_outcome = lcm.CALL_OUTCOME[channel.LCM_TELEPHONY:get() or "SUCCESS"],
    user_id = channel.LCM_AGENT:get(),
    agent_comments = channel.LCM_COMMENTS:get() or "",
  }
  if ok then
    verbose(3, "outcome " .. tostring(pick.id) .. " set for call " .. callid)
    channel.LCM_RESULT:set("OK")
  else
    verbose(1, tostring(err))
    channel.LCM_RESULT:set(err.kind)
  end
end

extensions = {
  ["lcm-wrapup"] = {
    s = function() wrapup() end,
  },
}
