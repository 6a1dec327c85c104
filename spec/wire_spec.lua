-- What lcm-sim receives, byte for byte: outcomes and IDs of 15 and 16 digits reach the
-- server exactly as the script gave them (lua-cjson 2.1.0 wrote 1.2345678901234e+14).
local lcm = require "lcm"
local sim = require "helpers.sim"
local seed = require "helpers.seed"

describe("the request body lcm-sim records", function()
  local s, client
  setup(function()
    s = sim.start()
    client = assert(lcm.new { url = s.url, source = "spec" })
  end)
  teardown(function()
    client:close()
    s:stop()
  end)

  local function last_body()
    local log = s:requests()
    return log[#log].body
  end

  it("holds 15- and 16-digit IDs and a 16-digit amount exactly", function()
    assert.is_true(client:set_outcome(seed.set_args {
      business_outcome = 123456789012345, call_outcome = 1234567890123456,
      target_amount = 12345678901234.56, lead_score = 2 ^ 53,
    }))
    assert.equal('{"channel":"LCM","topic":"WebService","subtopic":"SetBusinessOutcomeWithCallOutcome",' ..
                 '"source":"spec","data":{"AccountNumber":"5|3|1|0|0|44|1","AgentComments":"Test comment",' ..
                 '"BusinessOutcome":123456789012345,"CallOutcome":1234567890123456,' ..
                 '"LeadScore":9007199254740992,"TargetAmount":12345678901234.56,"UserID":"1234",' ..
                 '"callid":"12345"}}', last_body())
  end)

  it("holds 100000000000001, which lua-cjson wrote as 1e+14", function()
    assert.is_true(client:set_outcome(seed.set_args { business_outcome = 100000000000001, call_outcome = 5 }))
    assert.truthy(last_body():find('"BusinessOutcome":100000000000001,"CallOutcome":5,', 1, true))
  end)

  it("is the same whatever the host's cjson settings", function()
    local cjson = require "cjson"
    cjson.encode_number_precision(3)
    cjson.encode_max_depth(1)
    cjson.decode_max_depth(1)
    local ok, res = pcall(client.set_outcome, client, seed.set_args { business_outcome = 1234567 })
    cjson.encode_number_precision(14)
    cjson.encode_max_depth(1000)
    cjson.decode_max_depth(1000)
    assert.is_true(ok, res)
    assert.is_true(res)
    assert.truthy(last_body():find('"BusinessOutcome":1234567,', 1, true))
  end)
end)
