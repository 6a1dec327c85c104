-- The small host objects the Asterisk and FreeSWITCH examples touch, recording what the
-- scripts do with them, and a loader that runs a script with them as its globals.
local M = {}

-- Runs the file with `globals` in front of _G; returns the environment it ran in.
function M.run_file(path, globals)
  local env = setmetatable(globals, { __index = _G })
  local chunk
  if setfenv then -- Lua 5.1 and LuaJIT
    chunk = assert(loadfile(path))
    setfenv(chunk, env)
  else
    chunk = assert(loadfile(path, "t", env))
  end
  chunk()
  return env
end

-- Asterisk pbx_lua: channel.NAME:get() / :set(v) on dialplan variables, app.NAME(...)
-- (host.returned counts the Returns).
function M.asterisk(vars)
  local host = { vars = vars, verbose = {}, log = {} } -- log: Log(LEVEL,message) as "LEVEL message"
  host.channel = setmetatable({}, { __index = function(_, name)
    return {
      get = function() return vars[name] end,
      set = function(_, value) vars[name] = value end,
    }
  end })
  host.app = setmetatable({}, { __index = function(_, name)
    return function(...)
      if name:lower() == "verbose" then host.verbose[#host.verbose + 1] = table.concat({ ... }, ",") end
      if name:lower() == "log" then host.log[#host.log + 1] = table.concat({ ... }, " ") end
      if name:lower() == "return" then host.returned = (host.returned or 0) + 1 end
    end
  end })
  return host
end

-- FreeSWITCH mod_lua: session:getVariable/setVariable/sleep, freeswitch.consoleLog and
-- freeswitch.getGlobalVariable.
function M.freeswitch(vars, globals)
  local host = { vars = vars, log = {}, slept = {} }
  host.session = {
    getVariable = function(_, name) return vars[name] end,
    setVariable = function(_, name, value) vars[name] = value end,
    sleep = function(_, ms) host.slept[#host.slept + 1] = ms end,
  }
  host.freeswitch = {
    consoleLog = function(level, message) host.log[#host.log + 1] = level .. " " .. message end,
    getGlobalVariable = function(name) return globals[name] end,
  }
  return host
end

-- FreeSWITCH mod_lua under luarun, with an event queue: freeswitch.EventConsumer(name,
-- subclass) whose :pop(block, timeout_ms) hands out `schedule`'s events, each at its
-- `at` ms after the first pop (events: { at =, headers = {...} }, the headers read with
-- :getHeader). pop waits for real (core.sleep) up to timeout_ms, or until the next event
-- is due. host.pops records every pop's { block, timeout_ms, at = ms since the first pop };
-- pop(1, 0), which waits forever in FreeSWITCH, raises. host.bound lists the bindings.
function M.freeswitch_consumer(schedule, globals)
  local core = require "lcm.core"
  local host = M.freeswitch({}, globals)
  host.pops, host.bound = {}, {}
  local start, next_event = nil, 1
  local function now()
    start = start or core.monotonic_ms()
    return core.monotonic_ms() - start
  end
  local function event(e)
    return { getHeader = function(_, name) return e.headers[name] end,
             getType = function() return e.headers["Event-Name"] end }
  end
  local consumer = {}
  function consumer.bind(_, name, subclass) host.bound[#host.bound + 1] = name .. " " .. tostring(subclass) end
  function consumer.pop(_, block, timeout_ms)
    local t = now()
    host.pops[#host.pops + 1] = { block = block, timeout_ms = timeout_ms, at = t }
    if block == 1 and (timeout_ms or 0) == 0 then error("pop(1, 0) waits forever in FreeSWITCH") end
    local e = schedule[next_event]
    if block == 1 then
      local due = e and e.at or math.huge
      local wait = math.min(due, t + timeout_ms) - t
      if wait > 0 then core.sleep(math.ceil(wait)) end
    end
    e = schedule[next_event]
    if e and e.at <= now() then
      next_event = next_event + 1
      return event(e)
    end
    return nil
  end
  host.freeswitch.EventConsumer = function(name, subclass)
    host.bound[#host.bound + 1] = name .. " " .. tostring(subclass)
    return consumer
  end
  return host
end

return M
