-- Smoke test of an installed lcm (the Debian packages): run by each interpreter from /,
-- with no LUA_PATH or LUA_CPATH, against lcm-sim at LCM_URL (tools/with-sim.sh):
--   cd / && LCM_SIM=/usr/bin/lcm-sim sh tools/with-sim.sh lua5.4 tools/smoke.lua
-- Checks that lcm and lcm.core come from the system directories, that this VM loaded the
-- Lua layer as its own bytecode, and that a Get and a Set work. Exits non-zero otherwise.
local function where(name, path)
  for template in path:gmatch("[^;]+") do
    local file = template:gsub("%?", (name:gsub("%.", "/")))
    local f = io.open(file)
    if f then f:close(); return file end
  end
end

local lcm = require "lcm"
local vm = jit and "luajit" or "lua" .. _VERSION:sub(5)
local lua_file, so_file = where("lcm", package.path), where("lcm.core", package.cpath)
assert(lua_file and lua_file:find("^/usr/share/lua/"), "lcm.lua not from /usr/share/lua: " .. tostring(lua_file))
assert(so_file and so_file:find("^/usr/lib/[^/]+/lua/"), "lcm.core not from /usr/lib: " .. tostring(so_file))

-- Every embedded module (some load only when used, such as lcm.outbox: load them all).
local sums = require("lcm.core").embedded()
for name in pairs(sums) do require(name) end
local _, forms = require("lcm.core").embedded()
local n = 0
for name in pairs(sums) do
  assert(forms[name] == vm, name .. " was loaded as " .. tostring(forms[name]) .. ", not as " .. vm .. " bytecode")
  n = n + 1
end
assert(n > 0, "lcm.core carries no embedded Lua modules")

local client = assert(lcm.new { url = assert(os.getenv("LCM_URL"), "LCM_URL"), source = "smoke" })
local list = assert(client:get_outcomes("", lcm.MANUAL))
assert(#list == 2, "expected the 2 seeded outcomes, got " .. #list)
assert(client:set_outcome { callid = "12345", account_number = "1|1|1|0|0|1|", business_outcome = 107,
                            call_outcome = lcm.CALL_OUTCOME.SUCCESS, user_id = "1" })
client:close()
print(string.format("smoke: %s: lcm %s from %s and %s: ok", vm, lcm._VERSION, lua_file, so_file))
