-- The recipes of docs/dialer-scripts.md for driving lcm's tasks from another loop, run as
-- written there against lcm-sim answering 150 ms late: a poll loop (LuaSocket's select on
-- engine:pollfd() with engine:timeout()) and cqueues (cq:wrap + cqueues.poll(engine)).
-- 20 calls one after the other would take 3 s; driven by the loop they overlap.
local lcm = require "lcm"
local core = require "lcm.core"
local sim = require "helpers.sim"

describe("driving tasks from another loop (docs/dialer-scripts.md)", function()
  local s, client
  setup(function()
    s = sim.start()
    client = assert(lcm.new { url = s.url })
  end)
  teardown(function()
    client:close()
    s:stop()
  end)
  before_each(function() s:reset() end)

  local function spawn_calls(n, got)
    s:fault { delay_ms = 150, count = n }
    for _ = 1, n do
      assert(lcm.spawn(function()
        local list = assert(client:get_outcomes("12345"))
        got[#got + 1] = #list
      end))
    end
  end

  it("a poll loop: select on engine:pollfd() up to engine:timeout(), then engine:step()", function()
    local socket = require "socket"
    local engine = lcm.engine()
    local got, steps = {}, 0
    spawn_calls(20, got)
    local started = core.monotonic_ms()
    local fd = { getfd = function() return engine:pollfd() end }
    local running = 1
    while running > 0 do
      local t = engine:timeout()
      socket.select({ fd }, nil, t and math.min(t, 1) or 1)
      running = assert(engine:step())
      steps = steps + 1
      assert(core.monotonic_ms() - started < 5000, "the loop did not end")
    end
    local took = core.monotonic_ms() - started
    assert.equal(20, #got)
    assert.is_true(took < 1500, "took " .. took .. " ms")
    assert.is_true(steps < 2000, steps .. " steps: the loop spun instead of waiting")
  end)

  it("cqueues: a coroutine that polls the engine drives lcm.spawn's tasks", function()
    local ok_cq, cqueues = pcall(require, "cqueues")
    if not ok_cq then
      pending("lua-cqueues is not installed for " .. _VERSION .. " (Debian packages it for 5.1-5.4)")
      return
    end
    local engine = lcm.engine()
    local got, ticks = {}, 0
    spawn_calls(20, got)
    local cq = cqueues.new()
    cq:wrap(function()
      while true do
        cqueues.poll(engine)
        if engine:step() == 0 then break end
      end
    end)
    cq:wrap(function()
      while #got < 20 do
        cqueues.sleep(0.01)
        ticks = ticks + 1
      end
    end)
    local started = core.monotonic_ms()
    assert(cq:loop())
    local took = core.monotonic_ms() - started
    assert.equal(20, #got)
    assert.is_true(took < 1500, "took " .. took .. " ms")
    assert.is_true(ticks >= 5, "cqueues' own coroutine ran " .. ticks .. " times")
  end)
end)
