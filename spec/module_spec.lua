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
    assert.equal(11, n) -- api, check, cli, client, config, dates, outbox, outcomes, retry, sim, suggest; not init.lua
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

  it("is_error tells error objects from other tables", function()
    local _, err = lcm.new { url = 1 }
    assert.is_true(lcm.is_error(err))
    assert.is_false(lcm.is_error({}))
  end)
end)
