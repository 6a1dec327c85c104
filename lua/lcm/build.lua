-- How an entry of the call table becomes a client method: the one machinery for every call,
-- the seed calls (lcm.seed_calls) and lcm.api's alike. An entry: { method =, fields = {
-- { snake_case name, wire name, checker, default = value or function(args), optional = true },
-- ... }, lookups = { extra argument names }, after = check of the converted parts,
-- read = answer -> result, table_only = the field named when the arguments are no table }.
-- Its subtopic and kind come from lcm.routes. Requires no module that requires it.
local check = require "lcm.check"
local routes = require "lcm.routes"

local M = {}
local invalid = check.invalid

--- Completes an entry: its subtopic and kind (lcm.routes) and its known argument names.
function M.prepare(spec)
  spec.subtopic = assert(routes.subtopic(spec.method), spec.method)
  spec.set = routes.is_set(spec.subtopic)
  spec.known, spec.suggest = {}, {}
  for _, f in ipairs(spec.fields) do
    spec.known[f[1]] = true
    spec.suggest[f[2]:lower()] = f[1]
  end
  for _, name in ipairs(spec.lookups or {}) do spec.known[name] = true end
  return spec
end

-- The caller's arguments as a table: client:m{...}, or positionally in field order
-- (client:get_callback_modes(callid, account_number)).
local function arguments(spec, first, ...)
  if type(first) == "table" then return first end
  if spec.table_only then return invalid(spec.table_only, "must be a table of fields") end
  local n = select("#", ...) + 1
  if n > #spec.fields then
    return invalid("arguments", "are too many: " .. spec.method .. " takes " .. #spec.fields .. " at most")
  end
  local args, values = {}, { first, ... }
  for i, f in ipairs(spec.fields) do args[f[1]] = values[i] end
  return args
end

--- The request's data table, or nil, err. Nothing is sent before every field is checked.
function M.build(spec, ...)
  local args, err = arguments(spec, ...)
  if not args then return nil, err end
  for k in pairs(args) do
    if not spec.known[k] then return check.unknown_field(k, spec.method, spec.suggest, spec.known) end
  end
  local data, parts = {}, {}
  for _, f in ipairs(spec.fields) do
    local name, wire, checker = f[1], f[2], f[3]
    local v = args[name]
    if v == nil and type(f.default) == "function" then v = f.default(args) elseif v == nil then v = f.default end
    if v == nil and not f.optional then return invalid(name, "is required") end
    if v ~= nil then
      local value, extra = checker(name, v, args)
      if value == nil then return nil, extra end
      data[wire], parts[name] = value, extra
    end
  end
  if spec.after then
    local ok
    ok, err = spec.after(parts)
    if not ok then return nil, err end
  end
  return data
end

--- The client method of a prepared entry. `failed` ends a call refused before sending
-- (the client's finish: err.subtopic, err.attempts, err.recorded = false for a Set, counted).
-- A Set returns true when LCM recorded it; a Get its answer as `read` makes it.
function M.method(spec, failed)
  local subtopic = spec.subtopic
  return function(self, ...) -- self is checked by the client (client.lua, guard)
    local data, err = M.build(spec, ...)
    if not data then return failed(err, subtopic, 0) end
    if spec.set then
      local message
      message, err = self:_set(subtopic, data, data.callid)
      if not message then return nil, err end
      return true
    end
    local message, attempts
    message, err, attempts = self:_get(subtopic, data)
    if not message then return nil, err end
    if not spec.read then return true end
    local out
    out, err = spec.read(message)
    -- An answer that cannot be turned into records ends as any failed attempt does:
    -- counted, judged and logged once (Client:_fail).
    if out == nil then return self:_fail(err, subtopic, attempts) end
    return out
  end
end

return M
