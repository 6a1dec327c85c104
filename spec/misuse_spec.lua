-- Misuse gets a hint (issue 9, "Seeing what lcm does"): a method called with a dot or the
-- module called with a colon, an unknown option or field; and nothing is sent.
local lcm = require "lcm"
local api = require "lcm.api"
local sim = require "helpers.sim"
local seed = require "helpers.seed"

local METHODS = { "call", "get_outcomes", "set_outcome", "flush_outbox", "close" }
for _, name in ipairs(api.NAMES) do METHODS[#METHODS + 1] = name end

describe("misuse", function()
  local s, client
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function()
    s:reset()
    client = assert(lcm.new { url = s.url })
  end)
  after_each(function() client:close() end)

  local function assert_hint(name, ok, err)
    assert.is_nil(ok, name)
    assert.same({ "invalid", "client", 0 }, { err.kind, err.field, err.attempts }, name)
    assert.truthy(err.message:find("call it as client:" .. name .. "(...)", 1, true), err.message)
  end

  it("says 'call it as client:m(...)' for every client method called with a dot", function()
    for _, name in ipairs(METHODS) do
      assert_hint(name, client[name]("12345", lcm.MANUAL)) -- client.get_outcomes("12345", ...)
      assert_hint(name, client[name]({ callid = "12345" }))   -- client.set_dnc{...}
      assert_hint(name, client[name]())
    end
    assert.equal(0, s:count())
    assert(client:get_outcomes("", lcm.MANUAL)) -- the client is still whole
  end)

  it("says it for the module called with a colon (lcm:get_outcomes(...)), and sends nothing", function()
    assert.is_true(lcm.configure { url = s.url })
    local ok, err = lcm:get_outcomes("12345", lcm.MANUAL)
    assert_hint("get_outcomes", ok, err)
    assert.matches("or lcm.get_outcomes(...) for the default client", err.message, 1, true)
    assert_hint("set_outcome", lcm:set_outcome(seed.SET))
    assert_hint("set_dnc", lcm:set_dnc { callid = "12345" })
    assert_hint("get_callback_modes", lcm:get_callback_modes("12345", "A|1"))
    assert_hint("call", lcm:call("GetCallOutCome", { callid = "" }))
    assert.equal(0, s:count())
    assert(lcm.get_outcomes("", lcm.MANUAL)) -- the dot is right
  end)

  it("says it for lcm:get_outcomes(...) with no default client too (not 'no default client')", function()
    local ok, err = require("lcm.public").get_outcomes(require("lcm.public"), "12345", "MANUAL")
    assert_hint("get_outcomes", ok, err)
    -- a fresh interpreter: no lcm.configure, no LCM_URL
    local out = sim.run(sim.ENV .. "env -u LCM_URL " .. sim.LUA .. [[ -e 'local lcm = require "lcm"
      local ok, err = lcm:get_outcomes("1", "MANUAL"); print(err.field, err.message)']])
    assert.matches("client\tthe lcm module is not a client", out)
  end)

  it("names the nearest known option of lcm.new", function()
    assert.has_error(function() lcm.new { url = s.url, timeout = 5 } end,
                     "lcm.new: unknown option 'timeout' (did you mean 'timeout_ms'?)")
    assert.has_error(function() lcm.new { url = s.url, bearer = "x" } end,
                     "lcm.new: unknown option 'bearer' (did you mean 'bearer_token'?)")
    assert.has_error(function() lcm.new { url = s.url, zzzzzzzz = 1 } end, "lcm.new: unknown option 'zzzzzzzz'")
  end)

  it("names the nearest snake_case field of set_outcome and of the typed calls", function()
    local _, err = client:set_outcome(seed.set_args { agent_comment = "hi" })
    assert.same({ "invalid", "agent_comment" }, { err.kind, err.field })
    assert.matches("is not a field of set_outcome (did you mean 'agent_comments'?)", err.message, 1, true)
    _, err = client:set_outcome(seed.set_args { AgentComments = "hi" }) -- a wire name: still its snake_case
    assert.matches("(did you mean 'agent_comments'?)", err.message, 1, true)
    _, err = client:set_dnc { callid = "12345", account_numbr = "A|1" }
    assert.same({ "invalid", "account_numbr" }, { err.kind, err.field })
    assert.matches("is not a field of set_dnc (did you mean 'account_number'?)", err.message, 1, true)
    _, err = client:set_dnc { callid = "12345", qqqqqqqqqq = 1 }
    assert.equal("qqqqqqqqqq is not a field of set_dnc", err.message)
    assert.equal(0, s:count())
  end)
end)
