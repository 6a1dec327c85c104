-- Asterisk pbx_lua: set the LCM outcome of a call when the agent wraps up.
-- Copy to /etc/asterisk/extensions.lua (or require it from there). In extensions.conf:
--   [globals]
--   LCM_URL=https://lcm.example/api/{subtopic}
--   LCM_OUTBOX=/var/spool/lcm          ; must exist, writable by the user Asterisk runs as
--   [agent-wrapup]
--   exten => s,1,Set(LCM_CALLID=${CALLID_FROM_THE_DIALER})
--    same => n,Set(LCM_ACCOUNT=${ACCOUNT})
--    same => n,Set(LCM_AGENT=${AGENT_ID})
--    same => n,Set(LCM_OUTCOME=107)     ; a business outcome ID
--    same => n,Set(LCM_TELEPHONY=DNC)   ; a name of lcm.CALL_OUTCOME
--    same => n,Gosub(lcm-wrapup,s,1)
--    same => n,Verbose(1,LCM: ${LCM_RESULT})
-- pbx_lua runs only priority 1 of a Lua extension, so the function ends with Return: the
-- dialplan goes on after its Gosub and reads LCM_RESULT: "OK", or "queued <kind>" (LCM will
-- get it from the outbox, see bin/lcm-flush-outbox), or "not queued <kind>" (it will not).
--
-- pbx_lua creates a fresh Lua state for every channel and runs this file in it (and once more
-- without a channel when it loads or reloads): nothing here may read the channel at load
-- time, and the client is made per channel, on first use. The connections, TLS sessions and
-- retry budget behind it are the process's, so that costs no new connection.
local lcm = require "lcm"

local function verbose(level, message)
  app.verbose(level, message)
end

local configured
local function configure()
  if configured then return true end
  local ok, err = lcm.configure {
    url = channel.LCM_URL:get(), source = "asterisk", timeout_ms = 3000, max_attempts = 2,
    outbox = channel.LCM_OUTBOX:get() or "/var/spool/lcm",
    -- Retries only: the one failure a call ends with is logged once, below.
    logger = function(level, message)
      if level == "warn" then verbose(3, "lcm: " .. message) end
    end,
  }
  if not ok then
    verbose(1, "lcm configuration error: " .. tostring(err))
    return false
  end
  configured = true
  return true
end

-- "OK", "queued <kind>" or "not queued <kind>".
local function wrapup()
  if not configure() then return "not queued invalid" end
  local callid = channel.LCM_CALLID:get()
  local ok, err = lcm.set_outcome {
    callid = callid,
    account_number = channel.LCM_ACCOUNT:get(),
    business_outcome = channel.LCM_OUTCOME:get(), -- an ID: no get_outcomes round trip
    call_outcome = lcm.CALL_OUTCOME[channel.LCM_TELEPHONY:get() or "SUCCESS"],
    user_id = channel.LCM_AGENT:get(),
    agent_comments = channel.LCM_COMMENTS:get() or "",
  }
  if ok then
    verbose(3, "lcm: outcome set for call " .. tostring(callid))
    return "OK"
  end
  local result = (err.queued and "queued " or "not queued ") .. err.kind
  verbose(1, tostring(err) .. (err.queued and " (queued in the outbox)" or ""))
  return result
end

extensions = {
  ["lcm-wrapup"] = {
    s = function()
      channel.LCM_RESULT:set(wrapup())
      app["return"]() -- back to the caller's Gosub
    end,
  },
}
