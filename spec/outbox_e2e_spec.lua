-- End to end: several processes set outcomes while LCM fails in different ways and
-- flushes race each other, then LCM recovers. Every outcome whose caller saw
-- queued = true (or true) must be recorded by LCM exactly once; none may be recorded twice.
local lcm = require "lcm"
local core = require "lcm.core"
local sim = require "helpers.sim"
local socket = require "socket"
local helper = require "helpers.outbox"

local APPENDERS, CALLS, FLUSHERS = 4, 30, 2

describe("the outbox, end to end", function()
  local t = helper.fixture()
  local s, dir
  before_each(function() s, dir = t.sim, t.dir end)

  local function start(script)
    local file = dir .. "/" .. sim.tmpname():match("[^/]+$") .. ".lua"
    sim.write(file, script)
    local p = assert(io.popen(sim.ENV .. sim.LUA .. " " .. file .. " 2>&1; echo \"::rc=$?\""))
    return p
  end

  it("records every queued outcome exactly once through faults, racing flushes and recovery", function()
    -- LCM failing every way it can, in turn: before it works, after it did the work, slowly.
    local kinds = {
      { status = 503 }, { drop = true }, { drop = true, after = true }, { delay_ms = 600 },
      { status = 200, body = "garbage", after = true }, { status = 503, retry_after = 0 },
      { status = 502, after = true },
    }
    local faults = {}
    for i = 1, 100 do faults[i] = kinds[(i - 1) % #kinds + 1] end
    s:fault(faults)
    local client = string.format("lcm.new { url = %q, outbox = %q, max_attempts = 2, timeout_ms = 300, " ..
                                 "share = false, sleep = function() end }", s.url, dir)
    local procs = {}
    for p = 1, APPENDERS do
      procs[#procs + 1] = start(string.format([[
        local lcm = require "lcm"
        local c = assert(%s)
        for i = 1, %d do
          local id = "p%d-" .. i
          local ok, err = c:set_outcome { callid = "12345", account_number = "x", business_outcome = 101,
                                          call_outcome = 0, user_id = "1", agent_comments = id }
          local what = ok and "ok" or err.queued and "queued" or ("failed " .. err.kind .. " " ..
                       tostring(err.queued) .. " " .. tostring(err.outbox_error))
          print("result " .. id .. " " .. what)
        end]], client, CALLS, p))
    end
    local stop = dir .. "/stop"
    -- one attempt per replay: a flush that meets a fault keeps the rest of the batch
    local flusher = client:gsub("max_attempts = 2", "max_attempts = 1")
    for _ = 1, FLUSHERS do
      procs[#procs + 1] = start(string.format([[
        local lcm = require "lcm"
        local c = assert(%s)
        repeat
          local counts, err = c:flush_outbox()
          assert(counts, tostring(err))
          if counts.remaining > 0 then print("kept " .. counts.remaining) end
        until io.open(%q) or not io.open(%q) -- stopped, or the spec is gone
      ]], flusher, stop, dir))
    end
    finally(function() sim.write(stop, "") end) -- the flushers stop even when this spec fails
    local results = {}
    for i = 1, APPENDERS do
      local text = procs[i]:read("*a")
      procs[i]:close()
      assert.matches("::rc=0", text, text)
      for id, what in text:gmatch("result (%S+) ([^\n]*)") do results[id] = what end
    end
    -- LCM still failing while only the flushes run, until those faults are used up too
    local more = {}
    for i = 1, 30 do more[i] = kinds[(i - 1) % #kinds + 1] end
    s:fault(more)
    local c = assert(lcm.new { url = s.url, outbox = dir, max_attempts = 1, timeout_ms = 300, share = false })
    local late = 0
    while s:state().faults > 0 and late < 200 do -- more outcomes, for the flushes to race over
      late = late + 1
      local id = "late-" .. late
      local ok, err = c:set_outcome { callid = "12345", account_number = "x", business_outcome = 101,
                                      call_outcome = 0, user_id = "1", agent_comments = id }
      results[id] = ok and "ok" or err.queued and "queued" or ("failed " .. err.kind .. " " ..
                    tostring(err.queued) .. " " .. tostring(err.outbox_error))
    end
    sim.write(stop, "")
    local kept = 0
    for i = APPENDERS + 1, #procs do
      local text = procs[i]:read("*a")
      procs[i]:close()
      assert.matches("::rc=0", text, text)
      for _ in text:gmatch("kept %d+") do kept = kept + 1 end
    end
    assert.is_true(kept > 0, "no flush met a failure")
    -- LCM has recovered once the faults are used up: flush until nothing is left.
    local up = assert(lcm.new { url = s.url, outbox = dir })
    for _ = 1, 20 do
      local counts = assert(up:flush_outbox())
      if counts.remaining == 0 and #core.outbox_read(dir .. "/outbox.log") == 0 then break end
      socket.sleep(0.05)
    end
    local recorded = {}
    for _, rec in ipairs(s:outcomes()) do
      recorded[rec.AgentComments] = (recorded[rec.AgentComments] or 0) + 1
      assert.equal(1, recorded[rec.AgentComments], "recorded twice: " .. rec.AgentComments)
    end
    local n = { ok = 0, queued = 0, failed = 0 }
    for p = 1, APPENDERS do
      for i = 1, CALLS do assert(results["p" .. p .. "-" .. i], "no result for p" .. p .. "-" .. i) end
    end
    for id, what in pairs(results) do
      local kind = what:match("^%a+")
      n[kind] = n[kind] + 1
      if kind ~= "failed" then
        assert.equal(1, recorded[id], id .. " (" .. what .. ") recorded " .. tostring(recorded[id]) .. " times")
      else
        -- not queued because LCM refused it for good, never because the outbox failed
        assert.matches("^failed %a+ nil nil$", what)
      end
    end
    assert.equal(APPENDERS * CALLS + late, n.ok + n.queued + n.failed)
    assert.is_true(n.queued >= 10, "only " .. n.queued .. " queued") -- the faults did bite
    assert.is_true(n.ok >= 10, "only " .. n.ok .. " sent at once")
  end)
end)
