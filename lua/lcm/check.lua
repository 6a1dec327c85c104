-- Argument checks and conversions. Every failure is an `invalid` error naming the field
-- as the caller spelled it, returned before any request is built.
local core = require "lcm.core"
local routes = require "lcm.routes" -- requires nothing

local M = {}

M.MAX_STRING = core.MAX_STRING -- per string, checked by core.text_problem (csrc/utf8.c)
local MAX_ID = 2 ^ 53      -- beyond this a JSON number no longer holds the integer exactly

-- Why s cannot be sent as text (a NUL byte, invalid UTF-8), or nil: the check core.encode
-- makes too, written once in C (csrc/utf8.c).
local text_problem = core.text_problem

local function invalid(field, message)
  return nil, core.error { kind = "invalid", field = field, message = field .. " " .. message }
end
M.invalid = invalid

-- A name as lcm.CALL_OUTCOME spells it: "No Answer", "no-answer" -> NO_ANSWER.
function M.upper_name(s) return (s:upper():gsub("[%s%-]+", "_")) end

local function is_nan_or_inf(n)
  return n ~= n or n == math.huge or n == -math.huge
end

-- An integral number as a Lua integer where the version has them (5.3+), so that
-- tostring(101) is "101" everywhere. The one copy: lcm.answers uses it too.
M.to_integer = math.tointeger or function(n) return n end
local to_integer = M.to_integer

-- v as an exact integer: a number without a fraction, or a decimal string of one, no
-- larger than 2^53 either way (beyond it a double no longer holds every integer); else nil.
-- A string is compared digit by digit, not through tonumber, which rounds
-- "9007199254740993" to 2^53 on Lua 5.1 and LuaJIT. Used for the IDs of set_outcome and
-- for the IDs and callids of answers.
local MAX_ID_DIGITS = "9007199254740992" -- 2^53
function M.integer(v)
  if type(v) == "string" then
    local sign, digits = v:match("^(%-?)0*(%d+)$")
    if not digits or #digits > #MAX_ID_DIGITS or (#digits == #MAX_ID_DIGITS and digits > MAX_ID_DIGITS) then
      return nil
    end
    v = tonumber(sign .. digits)
  end
  if type(v) ~= "number" or v ~= v or v ~= math.floor(v) or v > MAX_ID or v < -MAX_ID then return nil end
  return to_integer(v)
end

-- A string that is safe to send: valid UTF-8, no NUL, not absurdly long.
local NO_OPTS = {} -- shared, so a call without options builds no table (per-call path)
function M.text(field, v, opts)
  opts = opts or NO_OPTS
  if type(v) == "number" and opts.integer_ok then
    local n = M.integer(v)
    if n == nil then return invalid(field, "must be a string or an integer of at most 2^53") end
    v = string.format("%d", n)
  end
  if type(v) ~= "string" then
    return invalid(field, opts.integer_ok and "must be a string or an integer" or "must be a string")
  end
  if v == "" and not opts.empty_ok then return invalid(field, "must not be empty") end
  local problem = text_problem(v)
  if problem then return invalid(field, problem) end
  return v
end

-- A finite number; decimal strings ("12.5") are accepted and converted.
function M.number(field, v)
  if type(v) == "string" and (v:match("^%-?%d+$") or v:match("^%-?%d*%.%d+$")) then v = tonumber(v) end
  if type(v) ~= "number" then return invalid(field, "must be a number") end
  if is_nan_or_inf(v) then return invalid(field, "must be a finite number") end
  return to_integer(v) or v
end

-- A non-negative integer ID, at most 2^53; decimal strings ("101") are accepted and converted.
function M.id(field, v)
  if type(v) == "string" and v:match("^%d+$") then
    local n = M.integer(v)
    if n == nil then return invalid(field, "is too large (at most 2^53)") end
    v = n
  end
  if type(v) ~= "number" then return invalid(field, "must be an integer ID") end
  if is_nan_or_inf(v) then return invalid(field, "must be a finite number") end
  if v ~= math.floor(v) then return invalid(field, "must be an integer") end
  if v < 0 then return invalid(field, "must not be negative") end
  if v > MAX_ID then return invalid(field, "is too large (at most 2^53)") end
  return to_integer(v)
end

-- A telephony outcome: an ID, or a standard name of lcm.CALL_OUTCOME ignoring case ("dnc",
-- "No Answer"); needs no request to LCM. A tenant's own names are looked up by the typed
-- calls in the list of get_call_outcomes (lcm.api).
function M.telephony(field, v)
  if type(v) ~= "string" or v:match("^%d+$") then return M.id(field, v) end
  local s, err = M.text(field, v)
  if not s then return nil, err end
  local found = routes.CALL_OUTCOME[M.upper_name(s)]
  if found then return found end
  local names = {}
  for name in pairs(routes.CALL_OUTCOME) do names[#names + 1] = name end
  table.sort(names)
  return invalid(field, "'" .. s .. "' matches no known name (known: " .. table.concat(names, ", ") .. ")")
end

-- A header value or credential: one line, or the request could be split.
function M.header_value(field, v)
  local s, err = M.text(field, v, { empty_ok = true })
  if not s then return nil, err end
  if s:find("[\r\n]") then return invalid(field, "must not contain CR or LF") end
  return s
end

-- A whole number within [lo, hi] (a fraction is dropped). Every numeric option has a range,
-- so that no value reaches a float-to-integer conversion in C that it does not fit.
local function range(lo, hi)
  return function(field, v)
    if type(v) ~= "number" or v ~= v or v < lo or v > hi then
      return invalid(field, string.format("must be a number from %d to %d", lo, hi))
    end
    return math.floor(v)
  end
end

local MAX_MS = 86400000 -- a day: longer is a mistake (a unit confusion), not a setting
local milliseconds = range(1, MAX_MS)
local attempts = range(1, 100)
local bytes = range(1, 1024 * 1024 * 1024)
local tokens = range(1, 1000000)

local function budget(field, v)
  if v == false then return false end
  return tokens(field, v)
end

-- The outbox: a directory's name. Whether it is usable is not checked here: the outbox is
-- the fallback, and a directory the process cannot write must never stop a Set from
-- reaching a working LCM (lcm.client's new logs and counts it instead). A postgresql://
-- URI is configuration to get right, not a resource: one its module is missing for, or
-- libpq cannot read, is invalid (lcm.outbox.check_target; lcm.outbox is loaded then only).
local function directory(field, v)
  local s, err = M.text(field, v)
  if s and s:find("^postgres") then return require("lcm.outbox").check_target(s) end
  return s, err
end

local function url(field, v)
  local s, err = M.header_value(field, v)
  if not s then return nil, err end
  local scheme, rest = s:match("^(%a[%w+.-]*)://(.*)$")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then return invalid(field, "must be an http:// or https:// URL") end
  if rest:find("%s") then return invalid(field, "must not contain white space") end
  local authority = rest:match("^[^/?#]*")
  if authority == "" then return invalid(field, "has no host") end
  if authority:find("@", 1, true) then
    return invalid(field, "must not carry credentials: use the username and password options")
  end
  return s
end

local function literal_true(field, v)
  if v ~= true and v ~= false then return invalid(field, "must be true or false") end
  return v
end

local function func(field, v)
  if type(v) ~= "function" then return invalid(field, "must be a function") end
  return v
end

-- Headers that lcm sets itself or that change how the request is framed. A site-wide
-- Idempotency-Key would make LCM drop every later outcome as a duplicate of the first.
local OWN_HEADERS = {
  ["idempotency-key"] = "is lcm's own (a new one for each Set)",
  ["content-type"] = "is set by lcm", host = "is set by lcm from the url",
  ["content-length"] = "would change the request's framing",
  ["transfer-encoding"] = "would change the request's framing",
  expect = "would change the request's framing",
}

local function headers(field, v)
  if type(v) ~= "table" then return invalid(field, "must be a table of name = value") end
  local out = {}
  for name, value in pairs(v) do
    if type(name) ~= "string" or not name:match("^[%w!#$%%&'*+.^_`|~-]+$") then
      return invalid(field, "has a header name that is not a token: " .. tostring(name))
    end
    local own = OWN_HEADERS[name:lower()]
    if own then return invalid(field .. "." .. name, own) end
    local s, err = M.header_value(field .. "." .. name, value)
    if not s then return nil, err end
    out[#out + 1] = name .. ": " .. s
  end
  table.sort(out) -- a stable order, whatever pairs() does
  return out
end

local function text(field, v) return M.text(field, v) end
local function header_text(field, v) return M.header_value(field, v) end

-- The options of lcm.new: name -> checker. An unknown name raises (a programming mistake);
-- a bad value is returned as an `invalid` error like any other runtime data.
M.OPTIONS = {
  url = url, source = text, timeout_ms = milliseconds, connect_timeout_ms = milliseconds,
  max_attempts = attempts, deadline_ms = milliseconds, retry_budget = budget, headers = headers,
  bearer_token = header_text, username = header_text, password = header_text, ca_file = text,
  insecure = literal_true, proxy = header_text, user_agent = header_text, max_response_bytes = bytes,
  logger = func, sleep = func, outbox = directory, share = literal_true,
}

-- An unknown field k of method: invalid, with the name it most likely meant: the snake_case
-- name of a wire name given by mistake (by_wire: lower-case wire name -> name; AgentComments
-- -> agent_comments), else the nearest known name (agent_comment -> agent_comments).
function M.unknown_field(k, method, by_wire, known)
  local hint = type(k) == "string" and (by_wire[k:lower()] or require("lcm.suggest").nearest(k, known))
  return invalid(tostring(k), "is not a field of " .. method .. (hint and " (did you mean '" .. hint .. "'?)" or ""))
end

function M.options(opts, defaults)
  if type(opts) ~= "table" then return invalid("options", "must be a table") end
  for name in pairs(opts) do
    if M.OPTIONS[name] == nil then
      error("lcm.new: unknown option '" .. tostring(name) .. "'" .. require("lcm.suggest").hint(name, M.OPTIONS), 3)
    end
  end
  local out = {}
  for name, checker in pairs(M.OPTIONS) do
    local v = opts[name]
    if v == nil then v = defaults[name] end
    if v ~= nil then
      local ok, err = checker(name, v)
      if ok == nil then return nil, err end
      out[name] = ok
    end
  end
  if out.url == nil then return invalid("url", "is required (or set LCM_URL for the default client)") end
  local credentials = out.bearer_token and "bearer_token" or out.username and "username"
  for _, h in ipairs(credentials and out.headers or {}) do
    local name = h:match("^[^:]+")
    if name:lower() == "authorization" then
      return invalid("headers." .. name, "conflicts with " .. credentials .. ", which sets it")
    end
  end
  return out
end

return M
