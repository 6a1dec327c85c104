-- Where a request waits: every request of a Lua state goes to its engine (csrc/engine.c,
-- libcurl's multi interface) and is waited for by whatever runs the caller:
--   * a task (lcm.spawn), driven by lcm.run or by any event loop through lcm.engine():
--     the task yields until its request has ended, and the others go on meanwhile;
--   * a coroutine that cqueues manages: it yields to cqueues (cqueues.poll) on the engine's
--     descriptor;
--   * anything else (the main chunk, a PBX's per-call script, a coroutine no loop drives):
--     it blocks in the engine, as a call always did.
-- Retry waits take the same path (sleep): a timer in the loop, never a sleep of the thread,
-- inside a task or cqueues.
local core = require "lcm.core"

local M = {}

local WAIT, SLEEP = {}, {} -- what a task yields for (anything else: a yield of its own)
local engine               -- this state's engine, made at the first request
local tasks = {}           -- coroutine -> task, for every task that has not ended
local n_tasks = 0
local ready = {}           -- tasks to resume at the next turn, in order
local waiting = {}         -- transfer -> the task waiting for it
local cq_waiting = {}      -- transfer -> the cqueues condition its coroutine waits on
local sleepers = {}        -- tasks in lcm.sleep, a binary heap on wake_at
local current              -- the task the loop is resuming
local failures = {}        -- tasks that raised, until lcm.run (or lcm.stop) reports them
local unpack = table.unpack or unpack

local function misuse(field, message)
  return core.error { kind = "invalid", field = field, attempts = 0, message = message }
end

local function get_engine()
  if not engine then
    local err
    engine, err = core.engine()
    if not engine then return nil, err end
  end
  return engine
end

-- ---- the heap of sleeping tasks ----

local function heap_push(task)
  local h, i = sleepers, #sleepers + 1
  h[i] = task
  while i > 1 do
    local p = math.floor(i / 2)
    if h[p].wake_at <= h[i].wake_at then break end
    h[p], h[i] = h[i], h[p]
    i = p
  end
end

local function heap_pop()
  local h = sleepers
  local top, n = h[1], #h
  local last = h[n]
  h[n] = nil
  n = n - 1
  if n == 0 then return top end
  h[1] = last
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and h[l].wake_at < h[m].wake_at then m = l end
    if r <= n and h[r].wake_at < h[m].wake_at then m = r end
    if m == i then break end
    h[m], h[i] = h[i], h[m]
    i = m
  end
  return top
end

-- ---- whether the running coroutine can yield to us ----

-- A yield across a C call (a pcall on Lua 5.1, a C function's callback on any version)
-- would raise inside the call and lose its request: such a call blocks instead.
local yieldable = coroutine.isyieldable
if not yieldable then
  -- Lua 5.1 and 5.2: no C function may stand between the task's function and here
  -- (5.2 can yield across pcall and xpcall, 5.1 cannot).
  local through = _VERSION == "Lua 5.2" and { [pcall] = true, [xpcall] = true } or {}
  yieldable = function()
    local level = 3
    while true do
      local info = debug.getinfo(level, "Sf")
      if not info then return true end
      if info.what == "C" and not through[info.func] then return false end
      level = level + 1
    end
  end
end

-- The cqueues module when the running coroutine is one cqueues manages, else nil.
local function cqueues_here()
  local cqueues = package.loaded.cqueues
  if type(cqueues) ~= "table" or type(cqueues.running) ~= "function" then return nil end
  local _, managed = cqueues.running()
  return managed and cqueues or nil
end

-- ---- the loop ----

local function ended(task, ok, ...)
  current = nil
  local co = task.co
  if coroutine.status(co) ~= "dead" then
    local why = ...
    if ok and why ~= WAIT and why ~= SLEEP then ready[#ready + 1] = task end -- a yield of its own
    return
  end
  tasks[co] = nil
  n_tasks = n_tasks - 1
  if ok then
    task.status = "done"
    task.results = { n = select("#", ...), ... }
  else
    task.status = "failed"
    task.error = ...
    task.traceback = debug.traceback(co, tostring(task.error))
    failures[#failures + 1] = { error = task.error, traceback = task.traceback, task = task }
  end
end

local function resume(task, ...)
  current = task
  return ended(task, coroutine.resume(task.co, ...))
end

-- Which ended request wakes whom: its task, or its cqueues coroutine's condition.
local function wake(list)
  for i = 1, #list do
    local t = list[i]
    local task = waiting[t]
    if task then -- it runs with the ready ones, in the next turn's slice
      waiting[t] = nil
      ready[#ready + 1] = task
    else
      local cond = cq_waiting[t]
      if cond then cond:signal() end
    end
  end
end

-- Milliseconds until the loop has work, at most max_ms: 0 when a task is ready.
local function next_wait(max_ms)
  if #ready > 0 then return 0 end
  local wait = max_ms
  local e = engine and engine:timeout()
  if e and e < wait then wait = e end
  local s = sleepers[1]
  if s then
    local d = s.wake_at - core.monotonic_ms()
    if d < wait then wait = d > 0 and math.ceil(d) or 0 end
  end
  return wait
end

-- One turn of the loop: the ready tasks run, the engine waits up to max_ms for work and
-- does it, the tasks whose request or sleep has ended run.
-- The ready tasks one turn runs at most this long (at least one): 500 tasks spawned at once
-- would otherwise all build and submit their first request before a timer is looked at
-- (a 10 ms ticker was 40-75 ms late on the first turn); the rest run at the next turns, in
-- order, with the engine and the sleepers served in between.
local SLICE_MS = 2

local function turn(max_ms)
  local r = ready
  ready = {}
  local started = core.monotonic_ms()
  for i = 1, #r do
    if i > 1 and core.monotonic_ms() - started >= SLICE_MS then
      local rest = {}
      for j = i, #r do rest[#rest + 1] = r[j] end
      for j = 1, #ready do rest[#rest + 1] = ready[j] end -- those that yielded of their own, after
      ready = rest
      break
    end
    local task = r[i]
    local args = task.args
    task.args = nil
    if args then resume(task, unpack(args, 1, args.n)) else resume(task) end
  end
  local e, err = get_engine()
  if not e then return nil, err end
  local list
  list, err = e:step(next_wait(max_ms))
  if not list then return nil, err end
  wake(list)
  local now = core.monotonic_ms()
  while sleepers[1] and sleepers[1].wake_at <= now do resume(heap_pop()) end
  return true
end

-- ---- what the Lua layer calls ----

--- The one way a request is made (Client:_send): submitted to this state's engine and
-- waited for as the caller runs (see the top of this file). Returns what
-- engine:perform returns: status, body, retry_after | nil, err.
function M.perform(http, url, body, key, timeout, connect_timeout)
  local e, err = engine
  if not e then
    e, err = get_engine()
    if not e then return nil, err end
  end
  local co = coroutine.running()
  local task = co and tasks[co]
  local cqueues = not task and co and cqueues_here()
  if (task or cqueues) and yieldable() then
    if task and current ~= task then
      return nil, misuse("task", "a task of lcm.spawn was resumed by something other than lcm.run or " ..
                         "lcm.engine():step(): only they can wake it when its request ends; nothing was sent")
    end
    local t
    t, err = e:submit(http, url, body, key, timeout, connect_timeout)
    if not t then return nil, err end
    if task then
      waiting[t] = task
      coroutine.yield(WAIT)
    else
      local cond = require("cqueues.condition").new()
      cq_waiting[t] = cond
      while not t:done() do
        cqueues.poll(M.pollable, cond)
        local ok, perr = turn(0)
        if not ok then cq_waiting[t] = nil return nil, perr end
      end
      cq_waiting[t] = nil
    end
    return t:result()
  end
  return e:perform(http, url, body, key, timeout, connect_timeout)
end

--- A retry's wait: a timer of the loop inside a task or cqueues, else block(ms) (the
-- client's sleep option, a C sleep by default).
function M.sleep(ms, block)
  local co = coroutine.running()
  local task = co and tasks[co]
  if task and current == task and yieldable() then
    task.wake_at = core.monotonic_ms() + ms
    heap_push(task)
    coroutine.yield(SLEEP)
    return true
  end
  local cqueues = not task and co and cqueues_here()
  if cqueues and yieldable() then
    cqueues.sleep(ms / 1000)
    return true
  end
  block(ms)
  return true
end

-- ---- the public functions (lcm.spawn, lcm.run, lcm.sleep, lcm.stop, lcm.engine) ----

function M.spawn(fn, ...)
  if type(fn) ~= "function" then
    return nil, misuse("fn", "lcm.spawn takes a function to run as a task, not a " .. type(fn))
  end
  local task = { co = coroutine.create(fn), status = "running", args = { n = select("#", ...), ... } }
  tasks[task.co] = task
  n_tasks = n_tasks + 1
  ready[#ready + 1] = task
  return task
end

local MAX_MS = 86400000

function M.run(timeout_ms)
  if current then
    return nil, misuse("lcm.run", "lcm.run was called from inside a task: a task already runs in the loop; " ..
                       "call the function directly, or lcm.spawn it")
  end
  if timeout_ms ~= nil and (type(timeout_ms) ~= "number" or not (timeout_ms >= 0 and timeout_ms <= MAX_MS)) then
    return nil, misuse("timeout_ms", "timeout_ms must be a number of milliseconds from 0 to 86400000")
  end
  local deadline = timeout_ms and core.monotonic_ms() + timeout_ms
  while n_tasks > 0 do
    local wait = 1000
    if deadline then
      local left = deadline - core.monotonic_ms()
      if left <= 0 then break end
      if left < wait then wait = math.ceil(left) end
    end
    local ok, err = turn(wait)
    if not ok then return nil, err end
  end
  local f = failures
  failures = {}
  return n_tasks, f
end

function M.stop()
  if current then
    return nil, misuse("lcm.stop", "lcm.stop was called from inside a task: call it from the code that runs the loop")
  end
  local e, err = get_engine()
  if not e then return nil, err end
  -- Every request ends now (err.code CANCELLED), and any made until none is left ends at
  -- once: a Set among them goes to the outbox, as for any unknown fate. Sleeping tasks are
  -- woken once (a retry's backoff ends); one that sleeps again (a ticker) is left as it is.
  e:cancel(true)
  while sleepers[1] do ready[#ready + 1] = heap_pop() end
  repeat
    local ok
    ok, err = turn(0)
    if not ok then
      e:cancel(false)
      return nil, err
    end
    local running, queued, done = e:counts()
  until #ready == 0 and running + queued + done == 0
  e:cancel(false)
  local f = failures
  failures = {}
  return n_tasks, f
end

--- A cqueues-style pollable of this state's loop, for any event loop: pollfd(), events(),
-- timeout() (seconds, or nil), step() (non-blocking; returns the tasks still running).
local Pollable = {}
Pollable.__index = Pollable
function Pollable.pollfd()
  local e = get_engine()
  return e and e:fd() or -1
end
function Pollable.events() return "r" end
function Pollable.timeout()
  local ms = next_wait(MAX_MS)
  if ms >= MAX_MS and not (engine and engine:timeout()) and not sleepers[1] then return nil end
  return ms / 1000
end
function Pollable.step()
  if current then
    return nil, misuse("step", "lcm.engine():step() was called from inside a task: a task already runs in the loop")
  end
  local ok, err = turn(0)
  if not ok then return nil, err end
  return n_tasks
end
M.pollable = setmetatable({}, Pollable)

function M.engine() return M.pollable end

function M.configure(opts)
  if type(opts) ~= "table" then
    return nil, misuse("engine", "configure_engine takes a table: { max_in_flight = n }")
  end
  for k in pairs(opts) do
    if k ~= "max_in_flight" then
      return nil, misuse(tostring(k), tostring(k) .. " is not an engine setting (max_in_flight)")
    end
  end
  local e, err = get_engine()
  if not e then return nil, err end
  return e:configure(opts)
end

return M
