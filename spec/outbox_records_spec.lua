-- What an outbox record holds and how it is read back: the exact request body, records
-- of lcm 0.1, records that cannot be replayed, and torn records cut at every byte.
local lcm = require "lcm"
local core = require "lcm.core"
local outbox = require "lcm.outbox"
local sim = require "helpers.sim"
local seed = require "helpers.seed"
local helper = require "helpers.outbox"

local new_dir = helper.new_dir

-- The framed bytes of one record, as csrc/outbox.c writes them (through a scratch file).
local function framed(payload)
  local dir = new_dir()
  assert(core.outbox_append(dir, "one", payload))
  local bytes = sim.read(dir .. "/one")
  os.execute("rm -rf " .. dir)
  return bytes
end

local down_url = helper.down_url

describe("an outbox record", function()
  local t = helper.fixture()
  local s, dir
  before_each(function() s, dir = t.sim, t.dir end)

  it("holds the exact request body that was sent, and replays it byte for byte", function()
    local down = assert(lcm.new { url = down_url(), outbox = dir, max_attempts = 1 })
    local comment = "tab\there, newline\nthere, 100% \"quoted\" \\ and \r"
    local _, err = down:set_outcome(seed.set_args { agent_comments = comment, business_outcome = 1234567 })
    assert.is_true(err.queued)
    local records = core.outbox_read(dir .. "/outbox.log")
    local rec = assert(outbox.decode(records[1]))
    assert.same("SetBusinessOutcomeWithCallOutcome", rec.subtopic)
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", rec.key)
    assert.equal("12345", rec.callid)
    assert.matches("transport", rec.error)
    assert.is_nil(records[1]:find("\n", 1, true)) -- one line: nothing to confuse with framing
    assert(lcm.new { url = s.url, outbox = dir }):flush_outbox()
    local sent = s:requests()
    assert.equal(rec.body, sent[#sent].body) -- what LCM gets is what was queued
    assert.equal(rec.key, sent[#sent].headers["idempotency-key"])
    assert.equal(comment, s:outcomes()[1].AgentComments)
  end)

  it("round-trips every field, keeping a callid's type", function()
    local fields = { subtopic = "SetDNC", key = "k", queued_at = 17, error = "a\tb\nc%d",
                     body = '{"x":"%0A\\t"}' }
    for _, callid in ipairs { "12345", 12345, 2 ^ 53, 0.5 } do
      fields.callid = callid
      local rec = assert(outbox.decode(outbox.encode(fields)))
      assert.equal(callid, rec.callid)
      assert.equal(math.type and math.type(callid), math.type and math.type(rec.callid))
      for _, name in ipairs { "subtopic", "key", "error", "body" } do assert.equal(fields[name], rec[name]) end
      assert.equal("17", rec.queued_at)
    end
  end)

  it("does not depend on the host's cjson settings", function()
    -- A child process: the settings of the host's cjson instance are process-wide.
    local script = string.format([[
      for _, name in ipairs { "cjson", "cjson.safe" } do -- what a host may do to either
        local cjson = require(name)
        cjson.encode_number_precision(3)
        cjson.encode_max_depth(1)
        cjson.decode_max_depth(1)
      end
      local lcm = require "lcm"
      local c = assert(lcm.new { url = "%s", outbox = "%s", max_attempts = 1 })
      local _, err = c:set_outcome { callid = "12345", account_number = "x", business_outcome = 1234567,
                                     call_outcome = 0, user_id = "1", agent_comments = "deep" }
      assert(err.queued, tostring(err))
      local up = assert(lcm.new { url = "%s", outbox = "%s" })
      local counts = assert(up:flush_outbox())
      assert(counts.sent == 1 and counts.remaining == 0, "sent " .. counts.sent)
      print("ok")]], down_url(), dir, s.url, dir)
    local file = dir .. "/script.lua"
    sim.write(file, script)
    local out, ok = sim.run(sim.LUA .. " " .. file)
    assert.is_true(ok, out)
    assert.equal(1234567, s:outcomes()[1].BusinessOutcome)
    assert.matches('"BusinessOutcome":1234567[,}]', s:requests()[1].body)
  end)

  it("of lcm 0.1 (version 1: the request's data) is encoded again and replayed with its key", function()
    local key = "0b7e8f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
    local v1 = string.format('{"v":1,"subtopic":"SetBusinessOutcomeWithCallOutcome","key":"%s",' ..
      '"queued_at":1700000000,"error":"lcm: transport error","data":{"callid":"12345",' ..
      '"AccountNumber":"5|3|1","BusinessOutcome":101,"CallOutcome":0,"LeadScore":0,"UserID":"1234",' ..
      '"AgentComments":"from 0.1","TargetAmount":0}}', key)
    local broken = '{"v":1,"subtopic":"SetBusinessOutcomeWithCallOutcome","key":"' .. key .. '","data":"no"}'
    sim.write(dir .. "/outbox.log", framed(v1) .. framed(broken))
    local counts = assert(assert(lcm.new { url = s.url, outbox = dir }):flush_outbox())
    assert.same({ sent = 1, failed = 1, remaining = 0, corrupt = 0 }, counts)
    local rec = s:outcomes()[1]
    assert.same({ "from 0.1", key }, { rec.AgentComments, rec.idempotency_key })
    local dead = assert(outbox.decode(core.outbox_read(dir .. "/dead.log")[1]))
    assert.matches("version 1 record without data", dead.dead_error)
  end)

  it("that cannot be replayed goes to dead.log with the reason, and the queue behind it moves", function()
    local up = assert(lcm.new { url = s.url, outbox = dir })
    local down = assert(lcm.new { url = down_url(), outbox = dir, max_attempts = 1 })
    assert.is_true(select(2, down:set_outcome(seed.set_args { agent_comments = "first" })).queued)
    local real = assert(outbox.decode(core.outbox_read(dir .. "/outbox.log")[1]))
    local bad = {
      { outbox.encode { subtopic = real.subtopic, key = string.rep("a", 5000), body = real.body }, "Idempotency%-Key" },
      { outbox.encode { subtopic = real.subtopic, key = "bad key\r\nX-Injected: 1", body = real.body },
        "Idempotency%-Key" },
      { outbox.encode { subtopic = "GetCallOutCome", key = real.key, body = real.body }, "subtopic" },
      { outbox.encode { subtopic = real.subtopic, key = real.key, body = "not json" }, "body" },
      { outbox.encode { subtopic = real.subtopic, key = real.key }, "no JSON request body" },
      { "v=9\tsubtopic=x", "unknown version 9" },
      { "garbage", "not an outbox record" },
      { '{"v":7}', "unknown version 7" },
      { "[1,2]", "not an outbox record" },
    }
    for _, b in ipairs(bad) do assert(core.outbox_append(dir, "outbox.log", b[1])) end
    assert.is_true(select(2, down:set_outcome(seed.set_args { agent_comments = "last" })).queued)
    local counts = assert(up:flush_outbox())
    assert.same({ sent = 2, failed = #bad, remaining = 0, corrupt = 0 }, counts) -- none is "damaged"
    local rec = s:outcomes()
    assert.same({ "first", "last" }, { rec[1].AgentComments, rec[2].AgentComments })
    local dead = core.outbox_read(dir .. "/dead.log")
    assert.equal(#bad, #dead)
    for i, b in ipairs(bad) do
      local d = assert(outbox.decode(dead[i]))
      assert.matches(b[2], d.dead_error)
      local orig = outbox.decode(b[1])
      if orig then -- what it was, to be sent again by hand
        assert.same({ orig.subtopic, orig.key, orig.body }, { d.subtopic, d.key, d.body })
      else
        assert.equal(b[1], d.raw)
      end
    end
  end)
end)

describe("a torn record", function()
  local dir
  before_each(function() dir = new_dir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  -- Every prefix of record `torn` between two whole ones, then one appended after it: the
  -- whole ones are all read, the last one too, and nothing else.
  it("never swallows the record appended after it, wherever it was cut", function()
    local first, torn, after = "first record", string.rep("t", 40), "after the torn one"
    local whole = framed(first)
    local cut = framed(torn)
    for at = 0, #cut do
      local path = dir .. "/outbox.log"
      sim.write(path, whole .. cut:sub(1, at))
      assert(core.outbox_append(dir, "outbox.log", after))
      local records, corrupt, is_torn = core.outbox_read(path)
      -- cut before its last newline only, the torn one is made whole by the one written there
      local expect = at >= #cut - 1 and { first, torn, after } or { first, after }
      assert.same(expect, records, "cut at byte " .. at)
      assert.is_false(is_torn)
      assert.equal((at == 0 or at >= #cut - 1) and 0 or 1, corrupt, "cut at byte " .. at)
    end
  end)

  it("at the end of outbox.flushing does not swallow the next batch a take copies there", function()
    local cut = framed(string.rep("f", 30))
    for at = 1, #cut - 2 do
      sim.write(dir .. "/outbox.flushing", framed("kept") .. cut:sub(1, at))
      sim.write(dir .. "/outbox.log", framed("queued 1") .. framed("queued 2"))
      assert(core.outbox_take(dir))
      assert.same({ "kept", "queued 1", "queued 2" }, (core.outbox_read(dir .. "/outbox.flushing")), "at " .. at)
      assert.equal("", sim.read(dir .. "/outbox.log"))
    end
  end)
end)

-- A byte changed anywhere in a middle record (a bad sector, an editor): its neighbours are
-- delivered once, and its bytes are kept in damaged.log by the flush, never dropped.
describe("a damaged middle record", function()
  local t = helper.fixture()

  it("is kept aside whatever byte changed, its neighbours delivered once", function()
    local checked = 0
    local offsets = { 6, 7, -1 } -- its length's digits, and (-1) its final newline
    for at = 1, 400, 13 do offsets[#offsets + 1] = at end
    for _, at in ipairs(offsets) do
      t.sim:reset()
      os.execute("rm -rf " .. t.dir .. " && mkdir -p " .. t.dir)
      local down = assert(lcm.new { url = down_url(), outbox = t.dir, max_attempts = 1 })
      for i = 1, 3 do
        local _, err = down:set_outcome(seed.set_args { agent_comments = "record " .. i })
        assert.is_true(err.queued)
      end
      local records = assert(core.outbox_read(t.dir .. "/outbox.log"))
      local first = #framed(records[1])
      local second = #framed(records[2])
      if at == -1 then at = second end
      if at <= second then
        local log = sim.read(t.dir .. "/outbox.log")
        local pos = first + at
        local flipped = string.char((log:byte(pos) + 1) % 256)
        sim.write(t.dir .. "/outbox.log", log:sub(1, pos - 1) .. flipped .. log:sub(pos + 1))
        local up = assert(lcm.new { url = t.sim.url, outbox = t.dir })
        local counts = assert(up:flush_outbox())
        local sent = {}
        for _, o in ipairs(t.sim:outcomes()) do sent[#sent + 1] = o.AgentComments end
        assert.same({ "record 1", "record 3" }, sent, "byte " .. at)
        assert.same({ 2, 1 }, { counts.sent, counts.corrupt }, "byte " .. at)
        local kept = assert(core.outbox_read(t.dir .. "/damaged.log"))
        assert.equal(1, #kept, "byte " .. at)
        checked = checked + 1
      end
    end
    assert.is_true(checked > 10, checked .. " offsets")
  end)
end)
