-- The one masker of the client's secrets in what a server sends back. A server may quote the
-- credential it refused (`msg` "Invalid token <t>", `errorMessage` "Authorization: Bearer
-- <t>", a 401 page), so every string of an error that comes from the wire (err.message,
-- err.detail, err.code, err.body) passes through here before it is logged, printed or stored
-- in the outbox. The secrets are the bearer_token, the password, the username with a
-- password and "username:password", and the credential of an Authorization (or
-- Proxy-Authorization) header given through `headers` (the value after its scheme, and the
-- whole value); each is found as sent and in the encodings a server echoes it in:
--   - JSON-escaped, with "/" as "\/" (lua-cjson) or as "/" (most serializers);
--   - base64 (the Basic credential is base64 of "username:password"), "=" padding or not;
--   - URL-encoded (percent-encoding of the reserved bytes, or of every byte; hex digits in
--     either case).
-- Each occurrence becomes "***", longest forms first so a secret inside another cannot leave
-- part of the longer one behind. The secrets live in the closure masker() returns, out of
-- the client table a host may print.
local M = {}

local MASK = "***"

-- Base64 (RFC 4648) by hand: lua-cjson and libcurl do not expose one to Lua, and this runs
-- on Lua 5.1 (no bit operators), hence the arithmetic.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for k = 1, 4 do
      local v = math.floor(n / 2 ^ (6 * (4 - k))) % 64
      out[#out + 1] = k <= chars and B64:sub(v + 1, v + 1) or "" -- padding left off
    end
  end
  return table.concat(out)
end

-- s as a Lua pattern that matches it literally.
local function literal(s)
  return (s:gsub("%W", "%%%0"))
end

-- A pattern matching s percent-encoded: every byte for which encode(byte) is true as %HH in
-- either case of hex digit, the others as themselves.
local function percent(s, encode)
  return (s:gsub(".", function(ch)
    if not encode(ch) then return literal(ch) end
    return "%%" .. string.format("%02X", ch:byte()):gsub("%a", function(h)
      return "[" .. h .. h:lower() .. "]"
    end)
  end))
end
local function reserved(ch) return not ch:find("^[%w%-%._~]$") end
local function every() return true end

-- s as a JSON string's content: lua-cjson's escapes.
local JSON_ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["/"] = "\\/", ["\b"] = "\\b", ["\f"] = "\\f",
                       ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function json(s)
  return (s:gsub('[%c"\\/]', function(ch)
    return JSON_ESCAPES[ch] or string.format("\\u%04x", ch:byte())
  end))
end

-- The credentials of Authorization headers among `headers` ({ "Name: value", ... }).
local function header_credentials(headers, add)
  for _, h in ipairs(headers or {}) do
    local name, value = tostring(h):match("^%s*([%w%-]+)%s*:%s*(.-)%s*$")
    if name and (name:lower() == "authorization" or name:lower() == "proxy-authorization") then
      add(value)
      add(value:match("^%a[%w%-]*%s+(.+)$")) -- after the scheme (Basic, Bearer, Digest...)
    end
  end
end

--- The masker of a client's options o: a function(s) that returns s with every secret of o,
-- in every form above, replaced by "***" (anything that is not a string is returned as is).
function M.masker(o)
  local forms, seen = {}, {}
  local function form(length, pattern)
    if length > 0 and not seen[pattern] then
      seen[pattern] = true
      forms[#forms + 1] = { length, pattern }
    end
  end
  local function add(s)
    if type(s) ~= "string" or s == "" then return end
    form(#s, literal(s))
    local j = json(s)
    form(#j, literal(j))
    local j2 = j:gsub("\\/", "/")
    form(#j2, literal(j2))
    local b = base64(s)
    local padded = b .. string.rep("=", (4 - #b % 4) % 4)
    form(#padded, literal(padded))
    form(#b, literal(b))
    local p = percent(s, reserved)
    form(#s + 2 * #s:gsub("[%w%-%._~]", ""), p)
    form(3 * #s, percent(s, every))
  end
  add(o.bearer_token)
  add(o.password)
  if o.password then
    add(o.username)
    if o.username then add(o.username .. ":" .. o.password) end
  end
  header_credentials(o.headers, add)
  table.sort(forms, function(a, b) return a[1] > b[1] end) -- a secret inside another goes second
  return function(s)
    if type(s) ~= "string" then return s end
    for _, f in ipairs(forms) do s = s:gsub(f[2], MASK) end
    return s
  end
end

-- The fields of an error that may hold the server's words.
local WIRE_FIELDS = { "message", "detail", "code", "body" }

--- Masks err's fields that may come from the wire, in place, with mask (from masker); err.
function M.error(err, mask)
  for _, k in ipairs(WIRE_FIELDS) do
    if type(err[k]) == "string" then err[k] = mask(err[k]) end
  end
  return err
end

return M
