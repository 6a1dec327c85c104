-- The demo: what a dialer does when an agent wraps up a call.
--   LCM_URL='http://127.0.0.1:8089/api/{subtopic}' lua5.4 examples/dialer.lua [callid] [type]
-- (`make demo` starts lcm-sim and runs this against it.)
local lcm = require "lcm"

local callid = arg and arg[1] or "12345"
local call_type = arg and arg[2] or lcm.MANUAL

local client, err = lcm.new {
  url = os.getenv("LCM_URL") or "http://127.0.0.1:8089/api/{subtopic}",
  source = "example-dialer",
  -- Retries and other warnings; a call's own failure (failure set) is printed below, once.
  logger = function(level, message, failure)
    if level ~= "debug" and not failure then io.stderr:write("[lcm ", level, "] ", message, "\n") end
  end,
}
if not client then
  io.stderr:write("configuration error: ", tostring(err), "\n")
  os.exit(2)
end

-- 1. Which business outcomes may the agent pick for this call?
local outcomes
outcomes, err = client:get_outcomes(callid, call_type)
if not outcomes then
  io.stderr:write("could not list the outcomes: ", tostring(err), "\n")
  os.exit(1)
end
print(string.format("Call %s (%s): %d business outcome(s)", callid, call_type, #outcomes))
for _, o in ipairs(outcomes) do
  print(string.format("  %-6s %-20s parent %s, campaign %s", tostring(o.id), tostring(o.description),
                      tostring(o.parent_id), tostring(o.campaign_id)))
end

-- 2. The agent picks "success"; the call itself ended normally.
local pick = outcomes:find("success") or outcomes[1]
if not pick then
  print("no outcome to pick for this call")
  os.exit(0)
end
local ok
ok, err = client:set_outcome {
  callid = callid,
  account_number = "5|3|1|0|0|44|1", -- the LCM key of the contact, as the dialer got it
  business_outcome = pick,
  call_outcome = lcm.CALL_OUTCOME.SUCCESS,
  lead_score = 10,
  user_id = "1234",
  agent_comments = "Customer agreed to the offer",
  target_amount = 250,
}
if ok then
  print(string.format("Set business outcome %s (%s) with telephony outcome SUCCESS: done",
                      tostring(pick.id), pick.description))
else
  print("Setting the outcome failed: " .. tostring(err))
  os.exit(1)
end

-- 3. What a failure looks like: a call LCM does not know. Scripts branch on err.kind.
ok, err = client:set_outcome {
  callid = "no-such-call", account_number = "5|3|1|0|0|44|1", business_outcome = pick,
  call_outcome = lcm.CALL_OUTCOME.DNC, user_id = "1234",
}
print(string.format("A call LCM does not know: ok=%s kind=%s code=%s retryable=%s",
                    tostring(ok), err.kind, tostring(err.code), tostring(err.retryable)))
print("  " .. tostring(err))

client:close()
