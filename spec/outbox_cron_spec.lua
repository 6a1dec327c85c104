-- bin/lcm-flush-outbox, as cron runs it: its environment variables and its exit status.
local lcm = require "lcm"
local core = require "lcm.core"
local sim = require "helpers.sim"
local seed = require "helpers.seed"
local helper = require "helpers.outbox"

-- Runs the script with these environment variables (nil: unset); returns its output and
-- exit status.
local function flush(env, dir)
  local unset, set = {}, {}
  for _, name in ipairs { "LCM_URL", "LCM_BEARER_TOKEN", "LCM_CA_FILE", "LCM_SOURCE" } do
    if env[name] then
      set[#set + 1] = string.format("%s='%s'", name, env[name])
    else
      unset[#unset + 1] = "-u " .. name
    end
  end
  local vars = { table.concat(unset, " "), table.concat(set, " ") }
  local p = assert(io.popen(sim.ENV .. "env " .. table.concat(vars, " ") .. " " .. sim.LUA ..
                            " bin/lcm-flush-outbox " .. (dir or "") .. " 2>&1; echo \"::rc=$?\""))
  local out = p:read("*a")
  p:close()
  return out:gsub("::rc=%d+%s*$", ""), tonumber(out:match("::rc=(%d+)%s*$"))
end

describe("bin/lcm-flush-outbox", function()
  local t = helper.fixture()
  local s, dir, down
  before_each(function()
    s, dir = t.sim, t.dir
    down = assert(lcm.new { url = helper.down_url(), outbox = dir, max_attempts = 1 })
  end)

  it("exits 0 when everything was sent, and prints the counts", function()
    down:set_outcome(seed.SET)
    local out, rc = flush({ LCM_URL = s.url }, dir)
    assert.equal(0, rc, out)
    assert.matches("sent 1, failed 0 %(see dead.log%), remaining 0, damaged 0", out)
    assert.equal(1, #s:outcomes())
    out, rc = flush({ LCM_URL = s.url }, dir) -- nothing left: still 0
    assert.same({ 0, 1 }, { rc, #s:outcomes() }, out)
  end)

  it("exits 3 while records remain, so that cron alerts until LCM takes them", function()
    down:set_outcome(seed.SET)
    down:set_outcome(seed.SET)
    local out, rc = flush({ LCM_URL = helper.down_url("api/{subtopic}") }, dir)
    assert.equal(3, rc, out)
    assert.matches("remaining 2", out)
  end)

  it("exits 4 when records went to dead.log or damaged ones were skipped", function()
    down:set_outcome(seed.set_args { callid = "999" })
    down:set_outcome(seed.SET)
    local out, rc = flush({ LCM_URL = s.url }, dir)
    assert.equal(4, rc, out)
    assert.matches("sent 1, failed 1 %(see dead.log%), remaining 0, damaged 0", out)
    down:set_outcome(seed.SET)
    local f = assert(io.open(dir .. "/outbox.log", "ab"))
    f:write("LCM1 3 00000000\nabc\n") -- bytes damaged on disk
    f:close()
    out, rc = flush({ LCM_URL = s.url }, dir)
    assert.equal(4, rc, out)
    assert.matches("sent 1, failed 0 %(see dead.log%), remaining 0, damaged 1", out)
  end)

  it("exits 1, naming the errno, when the outbox cannot be read or written", function()
    down:set_outcome(seed.SET)
    assert(os.execute("mkdir " .. dir .. "/outbox.flushing")) -- a directory where the batch goes
    local out, rc = flush({ LCM_URL = s.url }, dir)
    assert.equal(1, rc, out)
    assert.matches("outbox error EISDIR", out)
  end)

  it("exits 2 on a usage or configuration error", function()
    local out, rc = flush({}, dir)
    assert.same({ 2, "usage" }, { rc, out:match("usage") }, out)
    out, rc = flush({ LCM_URL = s.url }, nil)
    assert.same({ 2, "usage" }, { rc, out:match("usage") }, out)
    out, rc = flush({ LCM_URL = "ftp://x/" }, dir)
    assert.equal(2, rc, out)
    assert.matches("url", out)
    out, rc = flush({ LCM_URL = s.url }, dir .. "/missing")
    assert.equal(2, rc, out)
    assert.matches("outbox", out)
  end)

  it("exits 0 without sending while another flush runs", function()
    down:set_outcome(seed.SET)
    local locked, out, rc = core.outbox_locked(dir, flush, { LCM_URL = s.url }, dir)
    assert.is_true(locked)
    assert.equal(0, rc, out)
    assert.matches("another flush is running", out)
    assert.equal(0, s:count())
  end)

  it("sends LCM_BEARER_TOKEN, and LCM_SOURCE in records of lcm 0.1 it encodes again", function()
    down:set_outcome(seed.SET)
    local v1 = '{"v":1,"subtopic":"SetBusinessOutcomeWithCallOutcome","key":"0b7e8f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b",' ..
               '"data":{"callid":"12345","AccountNumber":"1","BusinessOutcome":101,"CallOutcome":0,' ..
               '"LeadScore":0,"UserID":"1","AgentComments":"from 0.1","TargetAmount":0}}'
    assert(core.outbox_append(dir, "outbox.log", v1))
    local out, rc = flush({ LCM_URL = s.url, LCM_BEARER_TOKEN = "t0ken", LCM_SOURCE = "cron-host-7" }, dir)
    assert.equal(0, rc, out)
    local requests = s:requests()
    assert.equal(2, #requests)
    for _, r in ipairs(requests) do assert.equal("Bearer t0ken", r.headers.authorization) end
    assert.same({ "lcm-lua", "cron-host-7" }, { s:outcomes()[1].source, s:outcomes()[2].source })
  end)

  it("verifies LCM's certificate with LCM_CA_FILE, and keeps the records when it cannot", function()
    local tls = sim.start { tls = true }
    down:set_outcome(seed.SET)
    local out, rc = flush({ LCM_URL = tls.url }, dir) -- the system's CAs do not know it
    assert.equal(3, rc, out)
    assert.matches("remaining 1", out)
    out, rc = flush({ LCM_URL = tls.url, LCM_CA_FILE = tls.cert.cert }, dir)
    assert.equal(0, rc, out)
    assert.matches("sent 1", out)
    assert.equal(1, #tls:outcomes())
    tls:stop()
  end)
end)
