-- The examples run for real: the demo as a process against lcm-sim, the Asterisk and
-- FreeSWITCH scripts with the host objects they use, the LCM side real.
local sim = require "helpers.sim"
local hosts = require "helpers.hosts"

describe("examples/dialer.lua (the demo)", function()
  it("lists the outcomes, sets one, and shows an error", function()
    local out, ok = sim.run("sh tools/with-sim.sh " .. sim.LUA .. " examples/dialer.lua")
    assert.is_true(ok, out)
    assert.matches("Call 12345 %(MANUAL%): 2 business outcome%(s%)", out)
    assert.matches("107%s+success", out)
    assert.matches("Set business outcome 107 %(success%) with telephony outcome SUCCESS: done", out)
    assert.matches("kind=lcm code=WS_Error retryable=false", out)
  end)

  it("fails with a non-zero status when LCM is unreachable", function()
    local out, ok = sim.run("LCM_URL=http://127.0.0.1:" .. sim.closed_port() .. "/ " .. sim.LUA ..
                            " examples/dialer.lua")
    assert.is_false(ok)
    assert.matches("could not list the outcomes: lcm: transport error COULDNT_CONNECT", out)
  end)
end)

describe("host examples against lcm-sim", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  it("asterisk/extensions.lua sets the outcome named in the dialplan", function()
    local host = hosts.asterisk { LCM_URL = s.url, LCM_CALLID = "12345", LCM_ACCOUNT = "5|3|1|0|0|44|1",
                                  LCM_AGENT = "1234", LCM_OUTCOME = "Fail", LCM_TELEPHONY = "DNC",
                                  LCM_CALLTYPE = "MANUAL" }
    local env = hosts.run_file("examples/asterisk/extensions.lua", { channel = host.channel, app = host.app })
    env.extensions["lcm-wrapup"].s("lcm-wrapup", "s")
    assert.equal("OK", host.vars.LCM_RESULT)
    local rec = s:outcomes()
    assert.equal(1, #rec)
    assert.same({ 108, 5, "asterisk" }, { rec[1].BusinessOutcome, rec[1].CallOutcome, rec[1].source })
  end)

  it("asterisk/extensions.lua leaves the error kind in LCM_RESULT", function()
    local host = hosts.asterisk { LCM_URL = s.url, LCM_CALLID = "999", LCM_ACCOUNT = "x", LCM_AGENT = "1",
                                  LCM_OUTCOME = "success" }
    local env = hosts.run_file("examples/asterisk/extensions.lua", { channel = host.channel, app = host.app })
    env.extensions["lcm-wrapup"].s("lcm-wrapup", "s")
    assert.equal("lcm", host.vars.LCM_RESULT)
    assert.matches("Invalid Call ID", table.concat(host.verbose, "\n"))
  end)

  it("freeswitch/lcm_outcome.lua sets the outcome and retries with session:sleep", function()
    s:fault { status = 503, retry_after = 1, subtopic = "SetBusinessOutcomeWithCallOutcome" }
    local host = hosts.freeswitch({ lcm_callid = "12345", lcm_account = "5|3|1|0|0|44|1", lcm_agent = "1234",
                                    lcm_outcome = "107", lcm_telephony = "REJECT", lcm_calltype = "MANUAL" },
                                  { lcm_url = s.url })
    hosts.run_file("examples/freeswitch/lcm_outcome.lua", { session = host.session, freeswitch = host.freeswitch })
    assert.equal("OK", host.vars.lcm_result)
    assert.same({ 1000 }, host.slept)
    local rec = s:outcomes()
    assert.same({ 107, 9, "freeswitch" }, { rec[1].BusinessOutcome, rec[1].CallOutcome, rec[1].source })
  end)

  it("freeswitch/lcm_outcome.lua reports a missing configuration", function()
    local host = hosts.freeswitch({ lcm_callid = "12345" }, {})
    hosts.run_file("examples/freeswitch/lcm_outcome.lua", { session = host.session, freeswitch = host.freeswitch })
    assert.equal("invalid", host.vars.lcm_result)
    assert.matches("configuration error", host.log[1])
  end)
end)
