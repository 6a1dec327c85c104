-- FreeSWITCH mod_lua, a long-running script: sets the LCM outcome of each call as its agent
-- wraps up, many at once, from one Lua state. Start it once (fs_cli, or autoload in
-- lua.conf.xml's <param name="startup-script" .../>):
--   fs_cli -x 'luarun lcm_wrapup_consumer.lua'
-- Each wrap-up is a CUSTOM event of subclass lcm::wrapup with the headers lcm_callid,
-- lcm_account, lcm_agent, lcm_outcome (a business outcome ID), lcm_telephony (a name of
-- lcm.CALL_OUTCOME, e.g. DNC; default SUCCESS) and lcm_comments, fired by the agent's
-- desktop or by the dialplan after the wrap-up (one line; docs/freeswitch.md has it whole):
--   <action application="event" data="Event-Name=CUSTOM,Event-Subclass=lcm::wrapup,
--     lcm_callid=${lcm_callid},lcm_account=${lcm_account},lcm_agent=${lcm_agent},
--     lcm_outcome=${lcm_outcome},lcm_telephony=${lcm_telephony}"/>
-- A CUSTOM event of subclass lcm::stop ends it: it stops taking wrap-ups, gives the Sets in
-- flight GRACE_MS to finish, then ends the rest (lcm.stop: each still unanswered goes to the
-- outbox, for the flush job).
-- Configuration: the global variables lcm_url and lcm_outbox, as lcm_outcome.lua's, and
-- lcm_grace_ms (default 5000).
-- Every Set runs in a task (lcm.spawn); between two pops of the event queue the script
-- lets lcm step (lcm.engine():step()), so the script never waits for LCM: a Set answered
-- late or retried after a 503 only holds its own task. (docs/freeswitch.md, "A long-running
-- script")
local lcm = require "lcm"

-- on lcm::stop, how long the Sets in flight may still take (global variable lcm_grace_ms)
local GRACE_MS = tonumber(freeswitch.getGlobalVariable("lcm_grace_ms") or "") or 5000
local IDLE_MS = 1000  -- the longest pop when lcm has nothing to do
local BUSY_MS = 20    -- the longest pop while Sets are in flight: how late an answer may be seen

local function log(level, message)
  freeswitch.consoleLog(level, message .. "\n")
end

local client, err = lcm.new {
  url = freeswitch.getGlobalVariable("lcm_url"),
  outbox = freeswitch.getGlobalVariable("lcm_outbox") or "/var/spool/lcm/freeswitch",
  source = "freeswitch",
  timeout_ms = 3000,
  max_attempts = 3,
  logger = function(level, message, failure)
    if failure then return end -- a call's own failure: set_outcome below logs it once, with its callid
    if level == "error" then
      log("ERR", "lcm: " .. message)
    elseif level == "warn" then
      log("DEBUG", "lcm: " .. message) -- a retry: the call's outcome is what counts
    end
  end,
}
if not client then
  log("ERR", "lcm: lcm_wrapup_consumer.lua not started: " .. tostring(err))
  return
end

-- One wrap-up, in its own task: one log line for its end, as lcm_outcome.lua's.
local function set_outcome(f)
  local what = string.format("call %s: outcome %s (%s)", tostring(f.callid), tostring(f.outcome), f.telephony)
  local ok, e = client:set_outcome {
    callid = f.callid, account_number = f.account, business_outcome = f.outcome,
    call_outcome = f.telephony, user_id = f.agent, agent_comments = f.comments,
  }
  if ok then
    log("INFO", "lcm: " .. what .. " set")
  elseif e.queued then
    log("WARNING", "lcm: " .. what .. " queued in the outbox, the flush job will send it: " .. tostring(e))
  else
    log("ERR", "lcm: " .. what .. " NOT recorded" .. (e.recorded == "unknown" and ", perhaps" or "") .. ": " ..
               tostring(e))
  end
end

local consumer = freeswitch.EventConsumer("CUSTOM", "lcm::wrapup")
consumer:bind("CUSTOM", "lcm::stop")
local engine = lcm.engine()

-- The next event, waiting at most ms. pop(1, 0) would wait forever: 0 is a non-blocking pop.
local function pop(ms)
  if ms <= 0 then return consumer:pop(0) end
  return consumer:pop(1, ms)
end

-- How long the next pop may wait: until lcm's next timer (a retry's backoff, a timeout),
-- and no longer than BUSY_MS while Sets are in flight (the pop does not see their answers
-- arrive: lcm's descriptor is not the event queue's).
local function pop_ms(running)
  local ms = running > 0 and BUSY_MS or IDLE_MS
  local t = engine:timeout()
  if t then ms = math.min(ms, math.ceil(t * 1000)) end
  return ms
end

log("INFO", "lcm: lcm_wrapup_consumer.lua taking wrap-ups (CUSTOM lcm::wrapup)")
local running, wrapups = 0, 0
while true do
  local event = pop(pop_ms(running))
  if event then
    local subclass = event:getHeader("Event-Subclass")
    if subclass == "lcm::stop" then break end
    if subclass == "lcm::wrapup" then
      wrapups = wrapups + 1
      assert(lcm.spawn(set_outcome, {
        callid = event:getHeader("lcm_callid"), account = event:getHeader("lcm_account"),
        agent = event:getHeader("lcm_agent"), outcome = event:getHeader("lcm_outcome"),
        telephony = event:getHeader("lcm_telephony") or "SUCCESS",
        comments = event:getHeader("lcm_comments") or "",
      }))
    end
  end
  local n, step_err = engine:step() -- the tasks whose answer or backoff has come go on
  if not n then
    log("ERR", "lcm: " .. tostring(step_err))
    break
  end
  running = n
end

-- Stopping: the Sets in flight get GRACE_MS; then every one still waiting ends, queued.
local left, failures = lcm.run(GRACE_MS)
if left > 0 then
  log("WARNING", string.format("lcm: stopping with %d Set(s) unanswered after %d ms: queueing them", left, GRACE_MS))
  local _, more = lcm.stop()
  for _, f in ipairs(more or {}) do failures[#failures + 1] = f end
end
for _, f in ipairs(failures or {}) do log("ERR", "lcm: a wrap-up task raised: " .. tostring(f.traceback)) end
log("INFO", string.format("lcm: lcm_wrapup_consumer.lua stopped after %d wrap-up(s)", wrapups))
client:close()
