-- Randomness and clock arguments (csrc/random.c, csrc/clock.c): a host whose seccomp filter
-- refuses getrandom gets nil, err from core.uuid() and core.random(), and keeps running.
local core = require "lcm.core"
local sim = require "helpers.sim"

local NO_GETRANDOM = os.getenv("LCM_NO_GETRANDOM") or ((os.getenv("PWD") or ".") .. "/build/no-getrandom")

local SCRIPT = [[
local core = require "lcm.core"
local function show(v, err)
  if v then return "value " .. tostring(v) end
  return table.concat({ "error", err.kind, err.code, tostring(err.retryable), err.message }, "|")
end
print("uuid " .. show(core.uuid()))
print("random " .. show(core.random()))
print("alive")
]]

local function run(prefix)
  local script = sim.tmpname()
  sim.write(script, SCRIPT)
  local out, ok = sim.run(prefix .. sim.LUA .. " " .. script)
  os.remove(script)
  return out, ok
end

describe("randomness", function()
  it("is a version 4 UUID and a number in [0, 1) when the kernel gives it", function()
    local out, ok = run("")
    assert.is_true(ok, out)
    assert.matches("uuid value %x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x+\n", out)
    local r = tonumber(out:match("random value (%S+)"))
    assert.is_true(r >= 0 and r < 1, out)
  end)

  it("is nil, err (transport NO_RANDOM, not retryable) when seccomp refuses getrandom", function()
    local out, ok = run(NO_GETRANDOM .. " ")
    assert.is_true(ok, out)
    local why = "error|transport|NO_RANDOM|false|the kernel refused randomness (getrandom: Function not implemented)"
    assert.truthy(out:find("uuid " .. why .. "\n", 1, true), out)
    assert.truthy(out:find("random " .. why .. "\n", 1, true), out)
    assert.truthy(out:find("alive\n", 1, true), out)
  end)
end)

describe("numeric arguments of lcm.core", function()
  local BAD = { -1, 0 / 0, 1e300, 2 ^ 64, math.huge, 86400001 }
  for _, v in ipairs(BAD) do
    it("core.sleep(" .. tostring(v) .. ") is an argument error, not undefined behaviour", function()
      local ok, msg = pcall(core.sleep, v)
      assert.is_false(ok)
      assert.matches("bad argument #1.-out of range %(0%.%.86400000%)", msg)
    end)
  end

  it("core.sleep(0) returns at once", function()
    assert.is_nil(core.sleep(0))
  end)

  for _, v in ipairs { -1, 0 / 0, 1e300, 2 ^ 64, 1000 } do
    it("core.answer with HTTP status " .. tostring(v) .. " is an argument error", function()
      local ok, msg = pcall(core.answer, "{}", v, nil)
      assert.is_false(ok)
      assert.matches("bad argument #2.-out of range %(0%.%.999%)", msg)
    end)
  end
end)
