-- The module-level API, constants, the version, and the build contract.
local lcm = require "lcm"
local core = require "lcm.core"
local sim = require "helpers.sim"

local function read(path) return (assert(sim.read(path), "cannot read " .. path)) end

describe("lcm module", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  it("has the documented constants", function()
    assert.same({ "MANUAL", "INBOUND", "OUTBOUND" }, { lcm.MANUAL, lcm.INBOUND, lcm.OUTBOUND })
    assert.same({ SUCCESS = 0, ABANDONED = 1, INVALID = 2, BUSY = 3, CALLBACK = 4, DNC = 5, FAX = 6,
                  ANSWERING_MACHINE = 7, NO_ANSWER = 8, REJECT = 9 }, lcm.CALL_OUTCOME)
  end)

  it("has one version, from the VERSION file, in C, Lua and the rockspec", function()
    local version = read("VERSION"):match("^(%S+)")
    assert.equal(version, lcm._VERSION)
    assert.equal(version, core._VERSION)
    local rockspec = read("rockspec/lcm-" .. version .. "-1.rockspec")
    assert.truthy(rockspec:find('version = "' .. version .. '-1"', 1, true))
  end)

  it("carries the Lua layer compiled from the sources in lua/lcm/, not a stale copy", function()
    local adler32 = dofile("tools/adler32.lua") -- as tools/embed_lua.lua stamps them
    local embedded = assert(core.embedded, "lcm.core built without the embedded Lua layer")()
    local n = 0
    for name, sum in pairs(embedded) do
      local path = "lua/lcm/" .. name:match("^lcm%.(.+)$") .. ".lua"
      assert.equal(adler32(read(path)), sum, name .. " is stale: run make")
      assert.equal("function", type(package.preload[name]), name .. " is not preloaded")
      n = n + 1
    end
    local files = 0 -- every file of lua/lcm/ but init.lua, which is read from the path
    for name in io.popen("ls lua/lcm"):lines() do
      if name:match("%.lua$") and name ~= "init.lua" then files = files + 1 end
    end
    assert.equal(files, n)
  end)

  it("exports only luaopen_lcm_core from the shared object", function()
    local so = package.searchpath and package.searchpath("lcm.core", package.cpath)
    so = so or (os.getenv("LUA_CPATH") or ""):match("^([^;]+)"):gsub("%?", "lcm/core")
    local out = sim.run("nm -D --defined-only " .. so .. " | awk '$2 ~ /^[TDB]$/ {print $3}'")
    assert.equal("luaopen_lcm_core\n", out)
  end)

  it("shortcuts fail with an invalid error before any configuration", function()
    local out, ok = sim.run("env -u LCM_URL " .. sim.LUA .. " -e '" ..
      [[local lcm = require "lcm"; local r, e = lcm.get_outcomes("", "MANUAL"); print(r, e.kind, e.field)]] .. "'")
    assert.is_true(ok, out)
    assert.equal("nil\tinvalid\turl\n", out)
  end)

  it("shortcuts use LCM_URL from the environment", function()
    local out, ok = sim.run("LCM_URL='" .. s.url .. "' " .. sim.LUA .. " -e '" ..
      [[local lcm = require "lcm"; local r = assert(lcm.get_outcomes("", "MANUAL")); print(#r, r[1].id)]] .. "'")
    assert.is_true(ok, out)
    assert.equal("2\t107\n", out)
  end)

  it("lcm.configure sets the default client of the shortcuts", function()
    assert.is_true(lcm.configure { url = s.url, source = "configured" })
    assert.equal(2, #assert(lcm.get_outcomes("", lcm.MANUAL)))
    assert.is_true(lcm.set_outcome { callid = "12345", account_number = "1|1|1|0|0|1|", business_outcome = 107,
                                     call_outcome = lcm.CALL_OUTCOME.REJECT, user_id = "1" })
    assert.equal("DNC", assert(lcm.call("GetCallOutCome", { callid = "12345" })).response[6].Description)
    local rec = s:outcomes()[1]
    assert.same({ "configured", 9 }, { rec.source, rec.CallOutcome })
  end)

  it("lcm.configure returns the error of bad options and keeps the old client", function()
    assert.is_true(lcm.configure { url = s.url })
    local ok, err = lcm.configure { url = "ftp://x/" }
    assert.is_nil(ok)
    assert.equal("url", err.field)
    assert.truthy(lcm.get_outcomes("", lcm.MANUAL))
  end)

  it("tostring(err) says whether a failed Set may be recorded and whether it was queued", function()
    local err = core.error { kind = "http", status = 503, message = "unexpected HTTP status 503", subtopic = "SetDNC",
                             attempts = 3, recorded = "unknown", queued = false,
                             outbox_error = "ENOSPC: No space left on device" }
    local line = "lcm: http error HTTP 503: unexpected HTTP status 503 [SetDNC] after 3 attempt(s)"
    assert.equal(line .. "; recorded: unknown; not queued: ENOSPC: No space left on device", tostring(err))
    err.outbox_error = nil
    assert.equal(line .. "; recorded: unknown; not queued", tostring(err))
    err.queued = true
    assert.equal(line .. "; recorded: unknown; queued", tostring(err))
    err.recorded, err.queued = false, nil
    assert.equal(line, tostring(err))
  end)

  it("tostring(err) says why the retries stopped early: budget exhausted, deadline exceeded", function()
    local err = core.error { kind = "http", status = 503, message = "unexpected HTTP status 503", subtopic = "SetDNC",
                             attempts = 1, budget_exhausted = true, recorded = "unknown", queued = true }
    local line = "lcm: http error HTTP 503: unexpected HTTP status 503 [SetDNC] after 1 attempt(s)"
    assert.equal(line .. "; budget exhausted; recorded: unknown; queued", tostring(err))
    err.budget_exhausted, err.deadline_exceeded, err.recorded, err.queued = false, true, nil, nil
    assert.equal(line .. "; deadline exceeded", tostring(err))
  end)

  it("tostring(err) prints numbers of any size (no cast out of range)", function()
    local err = core.error { kind = "http", status = 1e300, attempts = -2 ^ 63 }
    assert.equal("lcm: http error HTTP 1e+300: http error after -9223372036854775808 attempt(s)", tostring(err))
    err.status, err.attempts = 2 ^ 63, 0 / 0
    assert.matches("^lcm: http error HTTP 9%.2233720368548e%+18: http error after %-?nan attempt%(s%)$", tostring(err))
  end)

  it("core.error names every kind when given another", function()
    local ok, msg = pcall(core.error, { kind = "disk" })
    assert.is_false(ok)
    assert.matches("invalid, transport, timeout, http, protocol, lcm, rejected, outbox", msg, 1, true)
  end)

  -- The sockets this process holds (Linux /proc; io.open reads our own /proc/self).
  local function sockets()
    local pid = read("/proc/self/stat"):match("^(%d+)")
    local out = sim.run("ls -l /proc/" .. pid .. "/fd")
    local n = 0
    for _ in out:gmatch("socket:") do n = n + 1 end
    return n
  end

  it("lcm.configure closes the client it replaces", function()
    collectgarbage("stop") -- so that only close, not the collector, can let go of the connection
    assert.is_true(lcm.configure { url = s.url, share = false })
    assert(lcm.get_outcomes("", lcm.MANUAL)) -- the default client keeps its connection open
    local before = sockets()
    assert.is_true(lcm.configure { url = s.url, share = false })
    local after = sockets()
    collectgarbage("restart")
    -- Its connection and libcurl's own socket pair (the multi handle of curl_easy_perform).
    assert.is_true(after < before, before .. " sockets before, " .. after .. " after")
  end)

  it("works in a host that called curl_global_init before loading lcm", function()
    if not jit then
      pending("calling curl_global_init from Lua needs LuaJIT's ffi (make test LUA_VERSION=jit runs it)")
    end
    local file = sim.tmpname()
    sim.write(file, [[
      local ffi = require "ffi"
      ffi.cdef "int curl_global_init(long flags);"
      local ok, curl = pcall(ffi.load, "curl")
      if not ok then curl = ffi.load("libcurl.so.4") end
      assert(curl.curl_global_init(3) == 0) -- CURL_GLOBAL_ALL, as a host would
      local lcm = require "lcm"
      local c = assert(lcm.new { url = arg[1] })
      local list = assert(c:get_outcomes("", "MANUAL"))
      assert(c:set_outcome { callid = "12345", account_number = "1|1|1|0|0|1|", business_outcome = 107,
                             call_outcome = 0, user_id = "1" })
      print(#list, "set")
    ]])
    local out, ok = sim.run(sim.LUA .. " " .. file .. " '" .. s.url .. "'")
    os.remove(file)
    assert.is_true(ok, out)
    assert.equal("2\tset\n", out)
    assert.equal(1, #s:outcomes())
  end)

  it("is_error tells error objects from other tables", function()
    local _, err = lcm.new { url = 1 }
    assert.is_true(lcm.is_error(err))
    assert.is_false(lcm.is_error({}))
  end)
end)
