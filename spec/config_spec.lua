-- lcm.config: options from the environment and from a config file (lua/lcm/config.lua),
-- the nearest-name hints (lua/lcm/suggest.lua), and the module's default client.
local config = require "lcm.config"
local suggest = require "lcm.suggest"
local sim = require "helpers.sim"

local function file(text)
  local path = sim.tmpname()
  sim.write(path, text)
  return path
end

local function env(t) return function(name) return t[name] end end

describe("suggest.nearest", function()
  it("names the nearest known name, or none when nothing is near", function()
    local options = { "timeout_ms", "connect_timeout_ms", "url", "user_agent", "agent_comments", "ca_file" }
    assert.equal("timeout_ms", suggest.nearest("timeout", options))
    assert.equal("agent_comments", suggest.nearest("agent_comment", options))
    assert.equal("url", suggest.nearest("URL", options))
    assert.equal("ca_file", suggest.nearest("cafile", options))
    assert.is_nil(suggest.nearest("colour", options))
    assert.is_nil(suggest.nearest("", options))
    assert.equal(" (did you mean 'url'?)", suggest.hint("ulr", { url = true }))
    assert.equal("", suggest.hint("zzz", { url = true }))
  end)
end)

describe("lcm.config", function()
  it("takes the five variables from the environment, empty meaning unset", function()
    assert.same({ url = "http://h/{subtopic}", bearer_token = "t", ca_file = "/ca.pem", source = "s", outbox = "/o" },
                config.from_env(env { LCM_URL = "http://h/{subtopic}", LCM_BEARER_TOKEN = "t",
                                      LCM_CA_FILE = "/ca.pem", LCM_SOURCE = "s", LCM_OUTBOX = "/o", OTHER = "x" }))
    assert.same({}, config.from_env(env { LCM_URL = "", LCM_SOURCE = "" }))
  end)

  it("reads a table of lcm.new options, with or without return", function()
    local a = file('-- lcm\n{ url = "http://a/{subtopic}", timeout_ms = 100, headers = { ["X-T"] = "1" } }\n')
    local b = file('return { source = "b", max_attempts = 2 }')
    assert.same({ url = "http://a/{subtopic}", timeout_ms = 100, headers = { ["X-T"] = "1" } }, config.load_file(a))
    assert.same({ source = "b", max_attempts = 2 }, config.load_file(b))
    os.remove(a)
    os.remove(b)
  end)

  it("refuses an unknown option with the nearest known name", function()
    local f = file('{ url = "http://a/", timeout = 100 }')
    local opts, err = config.load_file(f)
    os.remove(f)
    assert.is_nil(opts)
    assert.same({ "invalid", "timeout" }, { err.kind, err.field })
    assert.matches("unknown option 'timeout' %(did you mean 'timeout_ms'%?%)", err.message)
  end)

  it("runs the file with no globals, no string methods and a bounded number of instructions", function()
    local cases = {
      { 'return { url = os.getenv("HOME") }', "os" },
      { 'return { url = ("x"):rep(10) }', "string value" }, -- a state without the string library
      { 'while true do end', "runs too long" },
      { 'return { logger = function() end }', "logger" },
      { 'return "http://a/"', "must be a table" },
      { string.dump(function() return {} end), "precompiled" },
      { '{ url = ', "config file" },
    }
    for _, case in ipairs(cases) do
      local f = file(case[1])
      local opts, err = config.load_file(f)
      os.remove(f)
      assert.is_nil(opts, case[1])
      assert.equal("invalid", err.kind)
      assert.matches(case[2], err.message, 1, true)
    end
    assert.equal("xx", ("x"):rep(2)) -- the string methods are back
    local opts, err = config.load_file("/nonexistent/lcm.conf")
    assert.is_nil(opts)
    assert.same({ "invalid", "config" }, { err.kind, err.field })
  end)

  -- Issue 16 item 9: a 100-byte file doubling a string asked for 8+ GiB (7.4 GB RSS, 85 s).
  -- Read in a child process under ulimit -v (a guard for the machine should the bound
  -- break), which reports its peak RSS (VmHWM) and the time the refusal took.
  it("bounds the file's memory: a doubling string is refused quickly, with a small peak RSS", function()
    for _, doublings in ipairs { 26, 33 } do
      local f = file('local s = "xx" for i = 1, ' .. doublings .. ' do s = s .. s end return { url = s }')
      local code = [[
        local config, core = require "lcm.config", require "lcm.core"
        local t0 = core.monotonic_ms()
        local opts, err = config.load_file(arg[1])
        local ms = core.monotonic_ms() - t0
        local hwm = io.open("/proc/self/status"):read("*a"):match("VmHWM:%s*(%d+) kB")
        io.write(tostring(opts), "\t", tostring(err and err.message), "\t", ms, "\t", hwm, "\n")]]
      local script = sim.tmpname()
      sim.write(script, code)
      -- AddressSanitizer reserves terabytes of address space and cannot start under ulimit -v
      -- (make asan): there the guard is left out, and its RSS is its own, not the file's.
      local san = os.getenv("LCM_PRELOAD") ~= nil
      local guard = san and "" or "ulimit -v 1048576; "
      local p = assert(io.popen(guard .. sim.LUA .. " " .. script .. " " .. f .. " 2>&1"))
      local out = p:read("*a")
      p:close()
      os.remove(script)
      os.remove(f)
      local opts, message, ms, hwm = out:match("^(.-)\t(.-)\t(.-)\t(%d+)\n$")
      assert(opts, out)
      assert.equal("nil", opts)
      assert.matches("config file " .. f .. ": uses too much memory", message, 1, true)
      assert.is_true(tonumber(ms) < 2000, ms .. " ms")
      if not san then assert.is_true(tonumber(hwm) < 48 * 1024, hwm .. " kB peak RSS") end
    end
  end)

  it("layers the file, then the environment, then the flags", function()
    local f = file('{ url = "http://file/", source = "file", timeout_ms = 7, ca_file = "/file.pem" }')
    local opts = assert(config.resolve(f, { source = "flag" }, env { LCM_URL = "http://env/", LCM_SOURCE = "env" }))
    os.remove(f)
    assert.same({ url = "http://env/", source = "flag", timeout_ms = 7, ca_file = "/file.pem" }, opts)
    -- The default file is optional; a file named explicitly is not.
    assert.same({}, assert(config.resolve(nil, {}, env {})))
    assert.is_nil(config.resolve("/nonexistent/lcm.conf", {}, env {}))
  end)
end)

describe("the module's default client", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)

  it("takes LCM_BEARER_TOKEN, LCM_SOURCE and LCM_OUTBOX from the environment too", function()
    local dir = sim.tmpdir()
    s:fault { subtopic = "SetDNC", status = 503, count = 3 }
    local out, ok = sim.run("LCM_URL='" .. s.url .. "' LCM_BEARER_TOKEN=tok LCM_SOURCE=from-env LCM_OUTBOX=" .. dir ..
      " " .. sim.LUA .. " -e '" .. [[local lcm = require "lcm"; assert(lcm.get_outcomes("", "MANUAL"))
      local _, e = lcm.call("SetDNC", { callid = "12345" }); print(e.kind, e.queued)]] .. "'")
    assert.is_true(ok, out)
    assert.equal("http\ttrue\n", out)
    local requests = s:requests()
    assert.equal("Bearer tok", requests[1].headers.authorization)
    assert.equal("from-env", require("cjson").decode(requests[1].body).source)
    os.execute("rm -rf " .. dir)
  end)
end)
