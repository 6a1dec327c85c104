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

return M
