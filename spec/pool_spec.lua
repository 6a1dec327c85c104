-- The process-wide pool of warm libcurl handles (csrc/pool.c): its limits, set with
-- lcm.configure_pool, against a real lcm-sim. (spec/embed_spec.lua proves it with threads.)
local lcm = require "lcm"
local core = require "lcm.core"
local sim = require "helpers.sim"

local DEFAULTS = { max_idle = 32, max_total = 256, idle_timeout_ms = 60000 }

local function limits()
  local s = core.pool_stats()
  return { max_idle = s.max_idle, max_total = s.max_total, idle_timeout_ms = s.idle_timeout_ms }
end

describe("lcm.configure_pool", function()
  after_each(function() assert(lcm.configure_pool(DEFAULTS)) end)

  it("has the documented defaults", function()
    assert.same(DEFAULTS, limits())
  end)

  it("refuses bad values with an invalid error naming the field, and changes nothing", function()
    local bad = {
      { "max_idle", -1 }, { "max_idle", 1.5 }, { "max_idle", "3" }, { "max_idle", 0 / 0 },
      { "max_idle", 1e300 }, { "max_idle", true }, { "max_total", 0 }, { "max_total", 100001 },
      { "max_total", -1 / 0 }, { "idle_timeout_ms", -1 }, { "idle_timeout_ms", 86400001 },
      { "idle_timeout_ms", {} },
    }
    for _, case in ipairs(bad) do
      -- a good value beside the bad one is not taken either
      local t = { [case[1]] = case[2] }
      if case[1] ~= "max_idle" then t.max_idle = 1 end
      local ok, err = lcm.configure_pool(t)
      assert.is_nil(ok, case[1] .. " = " .. tostring(case[2]))
      assert.same({ "invalid", case[1] }, { err.kind, err.field })
      assert.same(DEFAULTS, limits())
    end
    local ok, err = lcm.configure_pool { max_idel = 3 }
    assert.same({ nil, "invalid", "max_idel" }, { ok, err.kind, err.field })
    ok, err = lcm.configure_pool(32)
    assert.same({ nil, "invalid", "pool" }, { ok, err.kind, err.field })
    assert.same(DEFAULTS, limits())
  end)

  it("takes good values, and keeps the ones left out", function()
    assert.is_true(lcm.configure_pool { max_idle = 0, idle_timeout_ms = 1000 })
    assert.same({ max_idle = 0, max_total = 256, idle_timeout_ms = 1000 }, limits())
  end)

  describe("against lcm-sim", function()
    local s
    setup(function() s = sim.start() end)
    teardown(function() s:stop() end)
    before_each(function() s:reset() end)

    -- New connections the simulator accepted for n sequential calls of fresh clients.
    local function connections(n, opts)
      local before = s:state().connections
      for _ = 1, n do
        local c = assert(lcm.new { url = s.url, user_agent = opts and opts.user_agent })
        assert(c:get_outcomes("", "MANUAL"))
        c:close()
      end
      return s:state().connections - before - 1
    end

    it("gives each new client the warm connection of the one before", function()
      assert.equal(1, connections(5))
    end)

    it("closes idle handles beyond max_idle", function()
      assert(lcm.configure_pool { max_idle = 0 })
      assert.equal(5, connections(5))
    end)

    it("closes idle handles after idle_timeout_ms", function()
      assert(lcm.configure_pool { idle_timeout_ms = 1 })
      local before = s:state().connections
      for _ = 1, 3 do
        local c = assert(lcm.new { url = s.url })
        assert(c:get_outcomes("", "MANUAL"))
        c:close()
        core.sleep(20) -- longer than the timeout: the handle is closed at the next checkout
      end
      assert.equal(3, s:state().connections - before - 1)
    end)

    it("keys handles by the options that decide a connection", function()
      assert.equal(1, connections(2, { user_agent = "a" }))
      assert.equal(1, connections(2, { user_agent = "b" }))
      assert.equal(0, connections(2, { user_agent = "a" }))
    end)

    it("makes room within max_total by closing the least recently used idle handle", function()
      assert(lcm.configure_pool { max_total = 1 }) -- closes the idle handles above 1
      assert.equal(1, connections(1, { user_agent = "c" }))
      assert.equal(1, connections(1, { user_agent = "d" }))
      assert.equal(1, connections(1, { user_agent = "c" }))
      local stats = core.pool_stats()
      assert.same({ 1, 0 }, { stats.total, stats.temporary })
    end)
  end)
end)
