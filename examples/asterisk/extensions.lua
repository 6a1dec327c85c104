-- Asterisk pbx_lua: set the LCM outcome of a call when the agent wraps up.
-- Copy to /etc/asterisk/extensions.lua (or require it from there). In extensions.conf:
--   [globals]
--   LCM_URL=https://lcm.example/api/{subtopic}
--   LCM_OUTBOX=/var/spool/lcm/asterisk ; must exist, owned by the user Asterisk runs as
--   [agent-wrapup]
--   exten => s,1,Set(LCM_CALLID=${CALLID_FROM_THE_DIALER})
--    same => n,Set(LCM_ACCOUNT=${ACCOUNT})
--    same => n,Set(LCM_AGENT=${AGENT_ID})
--    same => n,Set(LCM_OUTCOME=107)     ; a business outcome ID
--    same => n,Set(LCM_TELEPHONY=DNC)   ; a name of lcm.CALL_OUTCOME, or an ID
--    same => n,Gosub(lcm-wrapup,s,1)
-- pbx_lua runs only priority 1 of a Lua extension, so the function ends with Return: the
-- dialplan goes on after its Gosub and may branch on LCM_RESULT: "OK", or "queued <kind>"
-- (LCM will get it from the outbox, see lcm-flush-outbox), or "not queued <kind>" (it will
-- not). A failed call is logged once, here, with its callid: at WARNING when it is queued
-- (the flush job delivers it), at ERROR when it is not (someone has to act). Both reach
-- Asterisk's `messages` log through the Log() application; app.verbose lines never do.
--
-- pbx_lua creates a fresh Lua state for every channel and runs this file in it (and once more
-- without a channel when it loads or reloads): nothing here may read the channel at load
-- time, and the client is made per channel, on first use. The connections, TLS sessions and
-- retry budget behind it are the process's, so that costs no new connection.
local lcm = require "lcm"

-- Log(LEVEL,message): a line in `messages` (and on the console).
local function log(level, message)
  app.log(level, "lcm: " .. message)
end

local configured
local function configure()
  if configured then return true end
  local ok, err = lcm.configure {
    url = channel.LCM_URL:get(), source = "asterisk", timeout_ms = 3000, max_attempts = 2,
    outbox = channel.LCM_OUTBOX:get() or "/var/spool/lcm/asterisk",
    logger = function(level, message, failure)
      if failure then return end -- a call's own failure: wrapup logs it once, with its callid
      if level == "error" then
        log("ERROR", message) -- not about one call: an outbox the process cannot use...
      elseif level == "warn" then
        app.verbose(3, "lcm: " .. message) -- a retry: the call's outcome is what counts
      end
    end,
  }
  if not ok then return nil, err end
  configured = true
  return true
end

-- The one line of a failed call: WARNING when the outbox will deliver it, else ERROR.
-- tostring(err) says why a Set was not queued (outbox_error) when it was not.
local function report(what, err)
  if err.queued then
    log("WARNING", what .. " queued in the outbox, the flush job will send it: " .. tostring(err))
  else
    log("ERROR", what .. " NOT recorded" .. (err.recorded == "unknown" and ", perhaps" or "") .. ": " .. tostring(err))
  end
end

-- "OK", "queued <kind>" or "not queued <kind>".
local function wrapup()
  local callid, outcome = channel.LCM_CALLID:get(), channel.LCM_OUTCOME:get()
  local telephony = channel.LCM_TELEPHONY:get() or "SUCCESS"
  local what = string.format("call %s: outcome %s (%s)", tostring(callid), tostring(outcome), telephony)
  local ok, err = configure()
  if ok then
    ok, err = lcm.set_outcome {
      callid = callid,
      account_number = channel.LCM_ACCOUNT:get(),
      business_outcome = outcome, -- an ID: no get_outcomes round trip
      call_outcome = telephony,   -- a name (DNC, "No Answer") or an ID: no round trip either
      user_id = channel.LCM_AGENT:get(),
      agent_comments = channel.LCM_COMMENTS:get() or "",
    }
  end
  if ok then
    app.verbose(3, "lcm: " .. what .. " set")
    return "OK"
  end
  report(what, err)
  return (err.queued and "queued " or "not queued ") .. err.kind
end

extensions = {
  ["lcm-wrapup"] = {
    s = function()
      channel.LCM_RESULT:set(wrapup())
      app["return"]() -- back to the caller's Gosub
    end,
  },
}
