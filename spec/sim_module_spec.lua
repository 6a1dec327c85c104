-- lcm.sim (lua/lcm/sim.lua): the simulator module users drive from their own specs.
local lcm = require "lcm"
local lcm_sim = require "lcm.sim"
local seed = require "helpers.seed"
local sim = require "helpers.sim"

describe("lcm.sim", function()
  it("starts lcm-sim on a free port, records, resets and stops", function()
    local s = assert(lcm_sim.start())
    finally(function() s:stop() end)
    local t = assert(lcm_sim.start())
    assert.are_not.equal(s.port, t.port)
    t:stop()
    local c = assert(lcm.new { url = s.url, max_attempts = 1 })
    assert.is_true(c:set_outcome(seed.SET))
    assert.equal(1, #s:outcomes())
    assert.equal("12345", s:outcomes()[1].callid)
    assert.equal(1, s:count())
    assert.equal(1, #s:requests())
    assert(c:call("SetDNC", { callid = "12345", AccountNumber = "1", OutcomeID = 5, BusinessOutcome = 107,
                              LeadScore = 0 }))
    assert.equal("SetDNC", s:sets()[1].subtopic)
    s:reset()
    assert.same({ 0, 0, 0 }, { #s:outcomes(), #s:sets(), s:count() })
    s:stop()
    s:stop() -- twice is fine
    local _, err = c:set_outcome(seed.SET)
    assert.same({ "transport", "COULDNT_CONNECT" }, { err.kind, err.code })
  end)

  it("arms faults and knows the calls of its fixtures and of add_call", function()
    local s = assert(lcm_sim.start { fixtures = { calls = { { callid = "dnc-1", type = "MANUAL", accept = false } } } })
    finally(function() s:stop() end)
    local c = assert(lcm.new { url = s.url, max_attempts = 1 })
    local _, err = c:set_outcome(seed.set_args { callid = "dnc-1" })
    assert.equal("rejected", err.kind)
    s:add_call { callid = "new-1" }
    assert.is_true(c:set_outcome(seed.set_args { callid = "new-1" }))
    s:fault { subtopic = "SetBusinessOutcomeWithCallOutcome", status = 503, count = 1 }
    _, err = c:set_outcome(seed.set_args { callid = "new-1" })
    assert.same({ "http", 503 }, { err.kind, err.status })
    assert.equal(1, #s:outcomes())
  end)

  it("says why when it cannot start, and raises on a dead control API", function()
    local s, why = lcm_sim.start { binary = "/nonexistent/lcm-sim" }
    assert.is_nil(s)
    assert.matches("lcm%-sim did not start %(.*/nonexistent/lcm%-sim'%)", why)
    local bad = sim.tmpname()
    sim.write(bad, "{not json")
    s, why = lcm_sim.start { fixtures_file = bad }
    os.remove(bad)
    assert.is_nil(s)
    assert.matches("did not start", why)
    s = assert(lcm_sim.start())
    s:stop()
    assert.has_error(function() s:state() end)
  end)

  it("finds the binary in LCM_SIM, then on the PATH, then in the build tree", function()
    local dir = sim.tmpname()
    assert(os.execute("mkdir -p " .. dir .. " && touch " .. dir .. "/lcm-sim"))
    local lua = sim.LUA .. [[ -e 'print(require("lcm.sim").binary())']]
    local out = sim.run("LCM_SIM=/x/lcm-sim " .. lua)
    assert.equal("/x/lcm-sim\n", out)
    out = sim.run("env -u LCM_SIM PATH=" .. dir .. ":$PATH " .. lua)
    assert.equal(dir .. "/lcm-sim\n", out)
    local interpreter = sim.run("command -v " .. (os.getenv("LUA") or "lua5.4")):match("^(%S+)")
    out = sim.run("env -u LCM_SIM PATH=/nonexistent " .. sim.SAN:gsub("^env ", "/usr/bin/env ") .. interpreter ..
                  [[ -e 'print(require("lcm.sim").binary())']])
    os.execute("rm -rf " .. dir)
    assert.matches("build/lcm%-sim\n$", out)
  end)
end)
