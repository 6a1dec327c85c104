-- A dialer loop on lcm's tasks: 50 agents each wrap up 10 calls, and every wrap-up sets its
-- outcome in a task of its own (lcm.spawn), so the agents never wait for LCM; meanwhile a
-- timer ticks every 10 ms and reports how late it ever was. One Lua state, one thread, no
-- call ever blocks the loop, while LCM answers late and fails now and then.
--   lua5.4 examples/dialer_async.lua
--       starts its own lcm-sim (lcm.sim), arms latency and faults, and checks at the end
--       what the simulator recorded (`make demo` runs it this way)
--   LCM_URL='http://127.0.0.1:8089/api/{subtopic}' [LCM_OUTBOX=dir] lua5.4 examples/dialer_async.lua
--       against that LCM as it is (every callid 700001 to 700500 must be a call it knows)
-- Exits 1 when an outcome is neither recorded nor queued, or a task raised.
local lcm = require "lcm"
local core = require "lcm.core"

local AGENTS, CALLS_PER_AGENT, TICK_MS = 50, 10, 10

-- Without LCM_URL: a simulator of our own, every callid known, answers 40 ms late, and now
-- and then a 503 or a connection dropped after the outcome was recorded (so the retry's
-- Idempotency-Key is what keeps it from being recorded twice).
local url, outbox, sim, scratch = os.getenv("LCM_URL"), os.getenv("LCM_OUTBOX"), nil, nil
if not url then
  sim = assert(require("lcm.sim").start { fixtures = { any_callid = true } })
  local faults = {}
  for _ = 1, 12 do
    faults[#faults + 1] = { delay_ms = 40, count = 30 }
    faults[#faults + 1] = { status = 503, count = 2 }
    faults[#faults + 1] = { drop = true, after = true, count = 1 }
  end
  faults[#faults + 1] = { delay_ms = 40, count = 1000 }
  sim:fault(faults)
  url = sim.url
  if not outbox then -- a scratch outbox for the throwaway simulator, removed at the end
    outbox = require("lcm.sim").tmpname()
    scratch = outbox
  end
  os.execute("mkdir -p '" .. outbox .. "'")
  print("lcm-sim at " .. sim.base .. ": answers 40 ms late, with 24 HTTP 503s and 12 dropped connections")
end

local client = assert(lcm.new {
  url = url, source = "example-dialer-async", outbox = outbox, max_attempts = 5,
  -- Retries are expected here; a call's own failure (failure set) is counted below.
  logger = function(level, message, failure)
    if level == "error" and not failure then io.stderr:write("[lcm ", level, "] ", message, "\n") end
  end,
})

local recorded, queued, failed, pending = 0, 0, {}, 0

-- One wrap-up's outcome: a task of its own, so the agent goes on to the next call.
local function set_outcome(callid, agent)
  local ok, err = client:set_outcome {
    callid = callid, account_number = "5|3|" .. callid .. "|0|0|44|1", business_outcome = 107,
    call_outcome = lcm.CALL_OUTCOME.SUCCESS, user_id = tostring(1000 + agent),
    agent_comments = "wrapped up by agent " .. agent,
  }
  if ok then
    recorded = recorded + 1
  elseif err.queued then
    queued = queued + 1 -- the outbox has it: lcm outbox flush sends it later
  else
    failed[#failed + 1] = callid .. ": " .. tostring(err)
  end
  pending = pending - 1
end

-- An agent: talks, wraps up (the outcome is set in the background), takes the next call.
local function agent(n)
  for i = 1, CALLS_PER_AGENT do
    lcm.sleep(5 + (n * 7 + i * 3) % 20) -- the call and the wrap-up form
    local callid = tostring(700000 + (n - 1) * CALLS_PER_AGENT + i)
    pending = pending + 1
    assert(lcm.spawn(set_outcome, callid, n))
  end
end

-- The timer: ticks every TICK_MS until the last outcome is in; worst = its worst lateness.
local ticks, worst, agents_done = 0, 0, false
local function ticker()
  local due = core.monotonic_ms() + TICK_MS
  while not (agents_done and pending == 0) do
    lcm.sleep(math.max(0, due - core.monotonic_ms()))
    local late = core.monotonic_ms() - due
    if late > worst then worst = late end
    ticks = ticks + 1
    due = due + TICK_MS
  end
end

local started = core.monotonic_ms()
assert(lcm.spawn(ticker))
assert(lcm.spawn(function()
  local crew = {}
  for n = 1, AGENTS do crew[n] = assert(lcm.spawn(agent, n)) end
  for n = 1, AGENTS do
    while crew[n].status == "running" do lcm.sleep(5) end
  end
  agents_done = true
end))
local left, failures = lcm.run(120000)
local took = core.monotonic_ms() - started

print(string.format("%d agents wrapped up %d calls in %.0f ms: %d outcomes recorded, %d queued, %d failed",
                    AGENTS, AGENTS * CALLS_PER_AGENT, took, recorded, queued, #failed))
print(string.format("ticker: %d ticks of %d ms, worst lateness %.1f ms", ticks, TICK_MS, worst))
for _, f in ipairs(failed) do print("  failed: " .. f) end
for _, f in ipairs(failures) do print("  a task raised: " .. f.traceback) end

local ok = left == 0 and #failures == 0 and #failed == 0
if sim then
  -- What the simulator recorded: each outcome once, under its own Idempotency-Key.
  local keys, callids, n = {}, {}, 0
  for _, o in ipairs(sim:outcomes()) do
    if not keys[o.idempotency_key] then n = n + 1 end
    keys[o.idempotency_key], callids[o.callid] = true, true
  end
  local distinct = 0
  for _ in pairs(callids) do distinct = distinct + 1 end
  print(string.format("lcm-sim recorded %d outcomes: %d distinct Idempotency-Keys, %d distinct callids",
                      #sim:outcomes(), n, distinct))
  ok = ok and #sim:outcomes() == recorded and distinct == recorded
  sim:stop()
end
client:close()
if scratch then os.execute("rm -rf '" .. scratch .. "'") end
os.exit(ok and 0 or 1)
