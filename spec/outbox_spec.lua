-- The outbox: no outcome lost while LCM is down, none recorded twice when it is back.
local lcm = require "lcm"
local core = require "lcm.core"
local sim = require "helpers.sim"
local seed = require "helpers.seed"
local helper = require "helpers.outbox"

local file_size = helper.file_size

describe("the outbox", function()
  local t = helper.fixture()
  local s, dir, down
  before_each(function()
    s, dir = t.sim, t.dir
    down = assert(lcm.new { url = helper.down_url(), outbox = dir, sleep = function() end })
  end)

  local function up() return assert(lcm.new { url = s.url, outbox = dir, sleep = function() end }) end

  it("queues outcomes while LCM is down and sends each exactly once when it is back", function()
    for i = 1, 5 do
      local ok, err = down:set_outcome(seed.set_args { agent_comments = "call " .. i })
      assert.is_nil(ok)
      assert.same({ "transport", true, 3 }, { err.kind, err.queued, err.attempts })
    end
    assert.equal(0, s:count())
    local counts = assert(up():flush_outbox())
    assert.same({ sent = 5, failed = 0, remaining = 0, corrupt = 0 }, counts)
    local rec = s:outcomes()
    assert.equal(5, #rec)
    for i = 1, 5 do assert.equal("call " .. i, rec[i].AgentComments) end -- in order
    assert.same({ sent = 0, failed = 0, remaining = 0, corrupt = 0 }, up():flush_outbox())
    assert.equal(5, #s:outcomes())
  end)

  it("does not record twice an outcome whose answer was lost after LCM recorded it", function()
    -- share = false: on a reused connection libcurl would quietly re-send once (safe, with
    -- the same key) and the lost answer this spec is about would not be seen.
    local c = assert(lcm.new { url = s.url, outbox = dir, max_attempts = 1, share = false })
    s:fault { drop = true, after = true }
    local ok, err = c:set_outcome(seed.SET)
    assert.is_nil(ok)
    assert.is_true(err.queued)
    assert.equal(1, #s:outcomes()) -- LCM did the work
    assert.equal(1, up():flush_outbox().sent)
    assert.equal(1, #s:outcomes()) -- the replay carried the same Idempotency-Key
  end)

  it("does not queue what a retry cannot cure", function()
    local c = up()
    local _, err = c:set_outcome(seed.set_args { callid = "999" })
    assert.same({ "lcm", nil }, { err.kind, err.queued })
    _, err = c:set_outcome(seed.set_args { lead_score = 0 / 0 })
    assert.same({ "invalid", nil }, { err.kind, err.queued })
    assert.equal(0, file_size(dir .. "/outbox.log"))
  end)

  it("queues when the retry budget is empty", function()
    local c = assert(lcm.new { url = s.url, outbox = dir, retry_budget = 5, sleep = function() end })
    s:fault { status = 503, count = 10 }
    c:set_outcome(seed.SET)
    local _, err = c:set_outcome(seed.SET)
    assert.same({ true, true, 1 }, { err.budget_exhausted, err.queued, err.attempts })
    assert.matches("; budget exhausted; recorded: unknown; queued$", tostring(err))
  end)

  it("moves a record that fails for good to dead.log, with the error", function()
    down:set_outcome(seed.set_args { callid = "999" })
    down:set_outcome(seed.SET)
    local counts = assert(up():flush_outbox())
    assert.same({ sent = 1, failed = 1, remaining = 0, corrupt = 0 }, counts)
    local dead = core.outbox_read(dir .. "/dead.log")
    assert.equal(1, #dead)
    local record = assert(require("lcm.outbox").decode(dead[1]))
    assert.equal("999", record.callid)
    assert.matches("Invalid Call ID:999", record.dead_error)
    assert.matches('"callid":"999"', record.body) -- the request itself, to send again by hand
  end)

  it("keeps the rest, in order, when LCM fails again during a flush", function()
    for i = 1, 3 do down:set_outcome(seed.set_args { agent_comments = "n" .. i }) end
    s:fault { status = 503, count = 3 }
    assert.same({ sent = 0, failed = 0, remaining = 3, corrupt = 0 }, up():flush_outbox())
    down:set_outcome(seed.set_args { agent_comments = "n4" })
    assert.same({ sent = 4, failed = 0, remaining = 0, corrupt = 0 }, up():flush_outbox())
    local rec = s:outcomes()
    assert.same({ "n1", "n2", "n3", "n4" },
                { rec[1].AgentComments, rec[2].AgentComments, rec[3].AgentComments, rec[4].AgentComments })
  end)

  it("keeps a batch of 10000 records, whole and in order, while LCM is down", function()
    down:set_outcome(seed.SET)
    local one = core.outbox_read(dir .. "/outbox.log")[1]
    local batch = {}
    for i = 1, 10000 do batch[i] = one .. "\t" .. "n=" .. i end -- an unknown field is ignored
    assert(core.outbox_replace(dir, batch))
    os.remove(dir .. "/outbox.log")
    assert.same({ sent = 0, failed = 0, remaining = 10000, corrupt = 0 }, down:flush_outbox())
    local kept = core.outbox_read(dir .. "/outbox.flushing")
    assert.same({ 10000, batch[1], batch[10000] }, { #kept, kept[1], kept[10000] })
  end)

  it("runs one flush at a time, and releases the lock whatever happens under it", function()
    down:set_outcome(seed.SET)
    local locked, counts = core.outbox_locked(dir, function() return up():flush_outbox() end)
    assert.is_true(locked)
    assert.is_true(counts.busy)
    assert.equal(0, s:count())
    assert.same({ false, "boom" }, { core.outbox_locked(dir, error, "boom", 0) }) -- raised under the lock
    assert.same({ true, 1, 2 }, { core.outbox_locked(dir, function(...) return ... end, 1, 2) })
    assert.equal(1, up():flush_outbox().sent)
  end)

  it("detects a torn last record and does not replay it", function()
    down:set_outcome(seed.set_args { agent_comments = "whole" })
    down:set_outcome(seed.set_args { agent_comments = "torn" })
    local path = dir .. "/outbox.log"
    assert(os.execute("truncate -s " .. (file_size(path) - 20) .. " " .. path))
    local records, corrupt, torn = core.outbox_read(path)
    assert.same({ 1, 0, true }, { #records, corrupt, torn })
    assert.same({ sent = 1, failed = 0, remaining = 0, corrupt = 1 }, up():flush_outbox())
    assert.equal("whole", s:outcomes()[1].AgentComments)
  end)

  it("skips a damaged record in the middle and replays the ones after it", function()
    for i = 1, 3 do down:set_outcome(seed.set_args { agent_comments = "rec" .. i }) end
    local path = dir .. "/outbox.log"
    local f = assert(io.open(path, "rb"))
    local data = f:read("*a")
    f:close()
    f = assert(io.open(path, "wb"))
    f:write((data:gsub("rec2", "REC2"))) -- the checksum no longer matches
    f:close()
    assert.same({ sent = 2, failed = 0, remaining = 0, corrupt = 1 }, up():flush_outbox())
    local rec = s:outcomes()
    assert.same({ "rec1", "rec3" }, { rec[1].AgentComments, rec[2].AgentComments })
  end)

  it("says so, and logs an error, when the outcome could not be queued", function()
    local logged = {}
    local c = assert(lcm.new { url = helper.down_url(), outbox = dir,
                               max_attempts = 1, logger = function(level, line)
                                 if level == "error" then logged[#logged + 1] = line end
                               end })
    os.execute("rm -rf " .. dir)
    local _, err = c:set_outcome(seed.SET)
    assert.same({ "transport", false }, { err.kind, err.queued })
    assert.matches("^ENOENT: No such file or directory %(cannot open .*/outbox.log%)$", err.outbox_error)
    assert.matches("^not queued: ENOENT", logged[#logged])
    -- flush: a vanished directory is an outbox error with the errno's name, not "invalid"
    local _, ferr = c:flush_outbox()
    assert.same({ "outbox", "ENOENT" }, { ferr.kind, ferr.code })
  end)

  -- A host's locale (FreeSWITCH's, say) must not translate what a script or a log parser
  -- matches: errno names and glibc's English descriptions, whatever LC_MESSAGES says.
  local locales = io.popen(sim.ENV .. "locale -a")
  local has_de = locales:read("*a"):find("de_DE.utf8", 1, true)
  locales:close()
  if has_de then
    it("says why in the same words under a translated locale", function()
      local out, ok = sim.run(sim.LUA .. string.format([[ -e '
        assert(os.setlocale("de_DE.utf8"))
        assert(select(2, io.open("/nonexistent/x")):find("nicht gefunden")) -- the locale translates
        local lcm = require "lcm"
        local c = assert(lcm.new { url = %q, outbox = %q, max_attempts = 1 })
        os.execute("rm -rf %s")
        print(select(2, c:set_outcome { callid = "1", account_number = "x", business_outcome = 1,
                                        call_outcome = 0, user_id = "1" }).outbox_error)']],
        helper.down_url(), dir, dir))
      assert.is_true(ok, out)
      assert.matches("ENOENT: No such file or directory %(cannot open ", out)
    end)
  else
    it("says why in the same words under a translated locale", function()
      pending("no de_DE.utf8 locale (Debian's locales-all, or localedef as root)")
    end)
  end

  it("is needed by flush_outbox, and must be a string", function()
    local _, e2 = assert(lcm.new { url = s.url }):flush_outbox()
    assert.same({ "invalid", "outbox" }, { e2.kind, e2.field })
    local c, err = lcm.new { url = s.url, outbox = 42 }
    assert.is_nil(c)
    assert.same({ "invalid", "outbox" }, { err.kind, err.field })
  end)
end)

-- The outbox is the fallback: a directory the process cannot use must never stop an outcome
-- from reaching a working LCM (review finding: lcm.new refused the client, and every call of
-- a PBX whose spool it could not write failed unsent). The client is made, its Sets are
-- sent, the problem is logged once per process at error and counted, and only a Set that
-- needed the outbox reports queued = false with outbox_error.
describe("an outbox the process cannot use", function()
  local t = helper.fixture()
  local function logs() -- the lines above debug
    local lines = {}
    return lines, function(level, message)
      if level ~= "debug" then lines[#lines + 1] = level .. ": " .. message end
    end
  end
  local BAD = {
    missing = function(dir) return dir .. "/missing" end,
    ["a file, not a directory"] = function(dir)
      sim.write(dir .. "/file", "x")
      return dir .. "/file"
    end,
  }

  for name, make in pairs(BAD) do
    it("does not stop a Set from reaching LCM (" .. name .. ")", function()
      core.stats_reset()
      local bad = make(t.dir)
      local lines, logger = logs()
      local c = assert(lcm.new { url = t.sim.url, outbox = bad, logger = logger })
      assert.is_true(c:set_outcome(seed.SET))
      assert.equal(1, #t.sim:outcomes())
      assert.equal(1, lcm.stats().outbox.unusable)
      assert.equal(1, #lines)
      assert.matches("^error: the outbox is not usable: E", lines[1])
      -- once per process: the next client (a PBX's next call) counts, but does not log again
      local lines2, logger2 = logs()
      assert(lcm.new { url = t.sim.url, outbox = bad, logger = logger2 })
      assert.equal(2, lcm.stats().outbox.unusable)
      assert.equal(0, #lines2)
    end)
  end

  it("reports not queued, with outbox_error, for a Set that needed it", function()
    local c = assert(lcm.new { url = helper.down_url(), outbox = t.dir .. "/missing", sleep = function() end })
    local ok, err = c:set_outcome(seed.SET)
    assert.is_nil(ok)
    assert.same({ "transport", false }, { err.kind, err.queued })
    assert.matches("^ENOENT", err.outbox_error)
  end)
end)

describe("outbox files under concurrent and killed writers", function()
  local t = helper.fixture()
  local s, dir
  before_each(function() s, dir = t.sim, t.dir end)

  -- A Lua process that queues `n` outcomes (LCM down) with comments of `size` bytes.
  local function writer(n, size, tag)
    return string.format([[%s -e 'local lcm = require "lcm"
      local c = assert(lcm.new { url = "http://127.0.0.1:%d/", outbox = "%s", max_attempts = 1 })
      for i = 1, %d do
        local _, err = c:set_outcome { callid = "12345", account_number = "x", business_outcome = 107,
          call_outcome = 0, user_id = "%s", agent_comments = string.rep("c", %d) }
        assert(err.queued, err.outbox_error)
      end']], sim.LUA, sim.closed_port(), dir, n, tag, size)
  end

  it("keeps every record whole when several processes append at once", function()
    local cmds = {}
    for p = 1, 4 do cmds[p] = "(" .. writer(25, 5000, "p" .. p) .. ") &" end
    local out, ok = sim.run(table.concat(cmds, " ") .. " wait")
    assert.is_true(ok, out)
    local records, corrupt, torn = core.outbox_read(dir .. "/outbox.log")
    assert.same({ 100, 0, false }, { #records, corrupt, torn })
    local c = assert(lcm.new { url = s.url, outbox = dir })
    assert.same({ sent = 100, failed = 0, remaining = 0, corrupt = 0 }, c:flush_outbox())
    assert.equal(100, #s:outcomes())
  end)

  -- A writer killed in the middle of its write(2) leaves a torn record; the record appended
  -- after it must be found, and every append that returned must be there once. The kill
  -- lands inside the write by construction, not by timing: with a file size limit
  -- (RLIMIT_FSIZE) at a random point of the big record, the kernel cuts the write short and
  -- kills the writer at its next one with SIGXFSZ, which, like SIGKILL, runs nothing of the
  -- process on its way out.
  it("finds every acknowledged record and the next one after a writer is killed mid-append", function()
    local SIZE = 1024 * 1024
    local path, acks = dir .. "/outbox.log", dir .. "/acks"
    -- (in a subshell, whose report of the signal is captured, not written to busted's stderr)
    local out = sim.run(string.format([[(prlimit --core=0 --fsize=%d -- %s -e 'local core = require "lcm.core"
        local big = string.rep("x", %d)
        for i = 0, 1000 do
          local id = string.format("01-%%06d", i)
          assert(core.outbox_append("%s", "outbox.log", "rec " .. id .. " " .. (i == 0 and "small" or big)))
          io.stdout:write(id, "\n")
          io.stdout:flush()
        end' 2>&1 >>%s; echo "status=$?") 2>/dev/null]], math.random(1024, SIZE), sim.LUA, SIZE, dir, acks))
    assert.matches("status=153\n", out) -- 128 + SIGXFSZ: killed, not an append that gave up
    local _, corrupt, torn = core.outbox_read(path)
    assert.same({ 0, true }, { corrupt, torn })
    -- the next append, after the torn record: it must not be swallowed
    local down = assert(lcm.new { url = helper.down_url(), outbox = dir,
                                  max_attempts = 1 })
    local _, err = down:set_outcome(seed.set_args { agent_comments = "after the torn one" })
    assert.is_true(err.queued, err.outbox_error)
    local records
    records, _, torn = core.outbox_read(path)
    assert.is_false(torn)
    assert.matches("after the torn one", records[#records])
    local seen = {}
    for _, r in ipairs(records) do
      local id = r:match("^rec (%d+%-%d+) ")
      if id then seen[id] = (seen[id] or 0) + 1 end
    end
    local acked = 0
    for id in io.lines(acks) do
      acked = acked + 1
      assert.equal(1, seen[id], "acknowledged record " .. id)
    end
    assert.is_true(acked >= 1)
  end)

end)

-- The client and the outbox's replay judge "is a Set" by one rule (lcm.routes.is_set): a Set
-- queued under any spelling of "Set" is one the flush sends (review finding: call("setDNC")
-- during an outage was queued, then dead-lettered unsent as "bad subtopic").
describe("a Set queued under another case of its subtopic", function()
  local t = helper.fixture()

  for _, subtopic in ipairs { "setDNC", "SETDNC", "Set_Custom" } do
    it("is sent by the flush (" .. subtopic .. ")", function()
      local down = assert(lcm.new { url = helper.down_url(), outbox = t.dir, sleep = function() end })
      local _, err = down:call(subtopic, { callid = "12345", AccountNumber = "5|3|1|0|0|44|1" })
      assert.is_true(err.queued)
      local up = assert(lcm.new { url = t.sim.url, outbox = t.dir, sleep = function() end })
      local counts = assert(up:flush_outbox())
      assert.equal(0, counts.corrupt)
      local sent = t.sim:requests()
      assert.equal(1, #sent, "the flush sent the queued Set")
      assert.matches('"subtopic":"' .. subtopic .. '"', sent[1].body, 1, true)
    end)
  end
end)
