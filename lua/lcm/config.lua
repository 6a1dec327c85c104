-- lcm.new options from outside a program: the environment (LCM_URL and friends) and a
-- config file, for the lcm command and the module's default client. The options are
-- checked by lcm.new like any others; this file only gathers them.
local core = require "lcm.core"
local check = require "lcm.check"
local suggest = require "lcm.suggest"

local M = {}

M.FILE = "/etc/lcm/lcm.conf"

-- option -> environment variable. An empty variable counts as unset, as in a shell.
M.ENV = {
  url = "LCM_URL", bearer_token = "LCM_BEARER_TOKEN", ca_file = "LCM_CA_FILE",
  source = "LCM_SOURCE", outbox = "LCM_OUTBOX",
}

-- The options the environment sets. getenv: os.getenv, or a function like it.
function M.from_env(getenv)
  getenv = getenv or os.getenv
  local opts = {}
  for option, var in pairs(M.ENV) do
    local v = getenv(var)
    if v ~= nil and v ~= "" then opts[option] = v end
  end
  return opts
end

local function invalid(field, message)
  return nil, core.error { kind = "invalid", field = field, message = message }
end

-- Options that are functions (logger, sleep) cannot come from a file: it holds data.
local function file_option(name)
  return check.OPTIONS[name] ~= nil and name ~= "logger" and name ~= "sleep"
end

-- A config file is data but is read as Lua, in a Lua state of its own (core.read_config,
-- csrc/sandbox.c): no libraries, a bound on its memory (a lua_Alloc limit) and on the
-- instructions it may run, and only data copied out, so a broken or hostile file can
-- neither reach the process, nor hang it, nor exhaust its memory (issue 16 item 9).
local MAX_INSTRUCTIONS = 1000000
local MAX_BYTES = 1024 * 1024

-- Reads a config file: a Lua table of lcm.new options, as `{ ... }` or `return { ... }`.
-- Returns the options, or nil, err (kind invalid, field "config"); an unknown option is
-- refused with the nearest known name.
function M.load_file(path)
  local f, why = io.open(path, "rb")
  if not f then return invalid("config", "config file " .. tostring(why)) end
  local src = f:read("*a") or ""
  f:close()
  local label = "config file " .. path
  if src:byte(1) == 27 then return invalid("config", label .. ": precompiled chunks are not accepted") end
  -- `{ ... }` or `return { ... }`: the first is read as an expression.
  local opts, err, stage = core.read_config("return " .. src, "@" .. path, MAX_BYTES, MAX_INSTRUCTIONS)
  if not opts and stage == "syntax" then
    local as_chunk, err2, stage2 = core.read_config(src, "@" .. path, MAX_BYTES, MAX_INSTRUCTIONS)
    if as_chunk or stage2 == "run" or src:find("%f[%w_]return%f[^%w_]") then
      opts, err = as_chunk, err2
    end
  end
  if not opts then return invalid("config", label .. ": " .. tostring(err)) end
  local known = {}
  for name in pairs(check.OPTIONS) do
    if file_option(name) then known[#known + 1] = name end
  end
  for name, value in pairs(opts) do
    if type(name) ~= "string" or not file_option(name) then
      return invalid(tostring(name), label .. ": unknown option '" .. tostring(name) .. "'" ..
                     suggest.hint(tostring(name), known))
    end
    if type(value) == "function" then return invalid(name, label .. ": " .. name .. " must be data") end
  end
  return opts
end

-- The options of the lcm command, each layer overriding the one before: the config file
-- (path, or M.FILE when it exists), the environment, then flags (a table of options).
function M.resolve(path, flags, getenv)
  local opts = {}
  local file = path or M.FILE
  local exists = io.open(file, "rb")
  if exists then exists:close() end
  if path or exists then
    local from_file, err = M.load_file(file)
    if not from_file then return nil, err end
    for k, v in pairs(from_file) do opts[k] = v end
  end
  for k, v in pairs(M.from_env(getenv)) do opts[k] = v end
  for k, v in pairs(flags or {}) do opts[k] = v end
  return opts
end

return M
