-- lcm.core's transport (csrc/http.c) on real faults: every libcurl failure has a name (and
-- lcm.policy's deliberate retryable decision for it), err.sent says whether any byte of the
-- request can have left, Retry-After is clamped, and numbers out of range are refused.
local core = require "lcm.core"
local policy = require "lcm.policy"
local sim = require "helpers.sim"

local BODY = assert(core.encode("GetOutcomeByOutcomegroup", "spec", { callid = "", type = "MANUAL" }))

-- A blocking request on the state's engine (csrc/engine.c), as Client:_send makes it.
local engine = assert(core.engine())
local function perform(h, url, timeout, connect_timeout)
  return engine:perform(h, url, BODY, nil, timeout or 5000, connect_timeout or 5000)
end

-- The CURLcode enum of the curl/curl.h the module is built against: { [value] = name }.
local function header_codes()
  local cflags = sim.run("pkg-config --cflags libcurl"):gsub("%s+$", "")
  local out, ok = sim.run("printf '#include <curl/curl.h>\\n' | cc " .. cflags .. " -E -")
  assert(ok, out)
  local close = out:find("}%s*CURLcode%s*;")
  local body = out:sub(out:sub(1, close):match(".*(){") + 1, close - 1)
  local codes, value = {}, -1
  for entry in body:gmatch("[^,]+") do
    local name, explicit = entry:match("^%s*CURLE_([%u%d_]+)%s*=%s*(%d+)%s*$")
    name = name or entry:match("^%s*CURLE_([%u%d_]+)%s*$")
    if name then
      value = explicit and tonumber(explicit) or value + 1
      codes[value] = name
    end
  end
  return codes
end

describe("core.curl_codes()", function()
  it("names every code of the curl/curl.h lcm.core was built against, with its phase", function()
    local header, table_ = header_codes(), core.curl_codes()
    assert.equal("COULDNT_CONNECT", header[7]) -- the parse is right
    local n = 0
    for value, name in pairs(header) do
      if value ~= 0 then
        n = n + 1
        assert.is_table(table_[value], name)
        assert.equal(name, table_[value].name)
        assert.is_nil(table_[value].retryable) -- lcm.policy decides, by name
        assert.is_true(policy.curl_decided(name), name)
        assert.truthy(table_[value].phase == "connect" or table_[value].phase == "transfer")
      end
    end
    local m = 0
    for _ in pairs(table_) do m = m + 1 end
    assert.equal(n, m)
    assert.is_true(n > 90)
  end)

  it("makes the failures that do not heal permanent (lcm.policy)", function()
    local function retryable(name) return policy.retryable { kind = "transport", code = name } end
    for _, name in ipairs { "SSL_CLIENTCERT", "SSL_INVALIDCERTSTATUS", "USE_SSL_FAILED", "SSL_CONNECT_ERROR",
                            "UNSUPPORTED_PROTOCOL", "URL_MALFORMAT", "PEER_FAILED_VERIFICATION",
                            "SSL_CERTPROBLEM", "SSL_CACERT_BADFILE", "LOGIN_DENIED", "BAD_FUNCTION_ARGUMENT" } do
      assert.is_false(retryable(name), name)
    end
    for _, name in ipairs { "COULDNT_CONNECT", "COULDNT_RESOLVE_HOST", "OPERATION_TIMEDOUT", "GOT_NOTHING",
                            "SEND_ERROR", "RECV_ERROR" } do
      assert.is_true(retryable(name), name)
    end
  end)

  it("come from a generator that fails the build on a code the data file does not decide", function()
    local data, out = sim.tmpname(), sim.tmpname()
    local full = assert(sim.read("csrc/curl_codes.txt"))
    sim.write(data, (full:gsub("\nCOULDNT_CONNECT[^\n]*", "")))
    local cflags = sim.run("pkg-config --cflags libcurl"):gsub("%s+$", "")
    local msg, ok = sim.run("printf '#include <curl/curl.h>\\n' | cc " .. cflags .. " -E - | lua5.4 " ..
                            "tools/curl_codes.lua " .. data .. " " .. out)
    assert.is_false(ok)
    assert.matches("does not decide: COULDNT_CONNECT", msg)
    assert.is_nil(sim.read(out))
    -- and the complete file passes
    msg, ok = sim.run("printf '#include <curl/curl.h>\\n' | cc " .. cflags .. " -E - | lua5.4 " ..
                      "tools/curl_codes.lua csrc/curl_codes.txt " .. out)
    assert.is_true(ok, msg)
    assert.truthy(sim.read(out):find("X(COULDNT_CONNECT, 1)", 1, true))
    os.remove(data)
    os.remove(out)
  end)
end)

describe("against lcm-sim", function()
  local s, h
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function()
    s:reset()
    -- Its own connections: libcurl silently sends a request again when a reused
    -- connection turns out dead, which would hide the dropped connection below.
    h = assert(core.http { share = false })
  end)
  after_each(function() h:close() end)

  describe("a failed perform", function()
    local function fails(url, code, retryable, sent, kind, timeout, connect_timeout)
      local status, err = perform(h, url, timeout, connect_timeout)
      assert.is_nil(status)
      assert.equal(kind or "transport", err.kind)
      assert.equal(code, err.code)
      assert.is_false(err.retryable) -- a fact only: lcm.policy decides
      assert.equal(retryable, policy.retryable(err))
      assert.equal(sent, err.sent)
      return err
    end

    it("to a closed port: COULDNT_CONNECT, retryable, nothing sent", function()
      fails("http://127.0.0.1:" .. sim.closed_port() .. "/api", "COULDNT_CONNECT", true, false)
    end)

    it("after a request that went out, on the same handle: still nothing sent (reset per transfer)", function()
      assert.equal(200, (perform(h, s.base .. "/api/GetOutcomeByOutcomegroup")))
      fails("http://127.0.0.1:" .. sim.closed_port() .. "/api", "COULDNT_CONNECT", true, false)
    end)

    it("TLS to a plain HTTP server: SSL_CONNECT_ERROR, permanent, nothing sent", function()
      fails("https://127.0.0.1:" .. s.port .. "/api", "SSL_CONNECT_ERROR", false, false)
      assert.equal(0, s:count())
    end)

    it("to a server whose certificate is not trusted: PEER_FAILED_VERIFICATION, permanent, nothing sent", function()
      local t = sim.start { tls = true }
      local ok, err = pcall(fails, t.base .. "/api", "PEER_FAILED_VERIFICATION", false, false)
      t:stop()
      assert(ok, err)
    end)

    it("with a scheme lcm does not enable: UNSUPPORTED_PROTOCOL, permanent, nothing sent", function()
      fails("ftp://127.0.0.1:" .. s.port .. "/", "UNSUPPORTED_PROTOCOL", false, false)
    end)

    it("with a malformed URL: URL_MALFORMAT, permanent, nothing sent", function()
      fails("http://[127.0.0.1/api", "URL_MALFORMAT", false, false)
    end)

    it("when connecting hangs: a timeout, nothing sent", function()
      local port, close = sim.blackhole()
      local ok, err = pcall(fails, "http://127.0.0.1:" .. port .. "/api", "OPERATION_TIMEDOUT", true, false,
                            "timeout", 5000, 200)
      close()
      assert(ok, err)
    end)

    it("when the server drops the connection after reading the request: GOT_NOTHING, sent", function()
      s:fault { drop = true }
      fails(s.base .. "/api/GetOutcomeByOutcomegroup", "GOT_NOTHING", true, true)
      assert.equal(1, s:count())
    end)

    it("when the answer comes later than the timeout: a timeout, sent", function()
      s:fault { delay_ms = 3000 }
      fails(s.base .. "/api/GetOutcomeByOutcomegroup", "OPERATION_TIMEDOUT", true, true, "timeout", 300)
    end)

    it("when the answer is over max_response_bytes: TOO_LARGE, sent", function()
      local small = assert(core.http { max_response_bytes = 10 })
      local status, err = perform(small, s.base .. "/api/GetOutcomeByOutcomegroup")
      small:close()
      assert.is_nil(status)
      assert.equal("TOO_LARGE", err.code)
      assert.is_true(err.sent)
    end)
  end)

  describe("Retry-After", function()
    local cases = {
      { "99999999999999999999", 86400 },
      { "86401", 86400 },
      { "86400", 86400 },
      { "120", 120 },
      { "0", 0 },
      { "Fri, 31 Dec 9999 23:59:59 GMT", 86400 },
      { "Sun, 06 Nov 1994 08:49:37 GMT", 0 },
      { "-5", nil },
      { "12abc", nil },
    }
    for _, c in ipairs(cases) do
      it("'" .. c[1] .. "' gives " .. tostring(c[2]), function()
        s:fault { status = 503, headers = { { "Retry-After", c[1] } } }
        local status, _, retry_after = perform(h, s.base .. "/api/GetOutcomeByOutcomegroup")
        assert.equal(503, status)
        assert.equal(c[2], retry_after)
      end)
    end
  end)
end)

describe("numbers out of range", function()
  for _, v in ipairs { 0, -1, 0 / 0, 1073741825, 2 ^ 64, 1e300 } do
    it("max_response_bytes = " .. tostring(v) .. " is an argument error", function()
      local ok, msg = pcall(core.http, { max_response_bytes = v })
      assert.is_false(ok)
      assert.matches("max_response_bytes out of range %(1%.%.1073741824%)", msg)
    end)
  end

  it("max_response_bytes = 1073741824 is accepted", function()
    assert(core.http { max_response_bytes = 1073741824 }):close()
  end)

  for _, v in ipairs { 0, -1, 0 / 0, 86400001, 2 ^ 63, 1e300 } do
    it("a timeout of " .. tostring(v) .. " ms is an argument error, before anything is sent", function()
      local h = assert(core.http {})
      local ok1, msg1 = pcall(engine.perform, engine, h, "http://127.0.0.1:1/", BODY, nil, v, 1000)
      local ok2, msg2 = pcall(engine.perform, engine, h, "http://127.0.0.1:1/", BODY, nil, 1000, v)
      h:close()
      assert.is_false(ok1)
      assert.matches("bad argument #6.-out of range %(1%.%.86400000%)", msg1)
      assert.is_false(ok2)
      assert.matches("bad argument #7.-out of range %(1%.%.86400000%)", msg2)
    end)
  end
end)

-- libcurl that cannot set up a handle (out of memory: a real allocator limit, RLIMIT_AS)
-- gives nil, err from core.http, not a raise inside lcm.new.
describe("core.http when curl_easy_init fails", function()
  -- Fills the address space with Lua strings, then makes clients until one fails.
  local SCRIPT = [[
local core = require "lcm.core"
-- share = false: the client's own handle is made by core.http (pooled ones, at a request).
local http, opts, hold, clients, result = core.http, { share = false }, {}, {}, nil
for i = 1, 100000 do hold[i] = false; clients[i] = false end
local function fill()
  local n, size = 0, 64 * 1024 * 1024
  while size >= 1024 do
    local ok, s = pcall(string.rep, "x", size)
    if ok then n = n + 1; hold[n] = s else size = math.floor(size / 2) end
  end
  for i = 1, 100000 do
    local ok, c, err = pcall(http, opts)
    if not ok then result = "raised" return end
    if not c then result = err return end
    clients[i] = c
  end
end
local ok = pcall(fill)
hold = nil
collectgarbage()
if type(result) == "table" then
  io.write("nil, err ", result.kind, " ", result.code, " ", tostring(result.sent), " ", result.message, "\n")
else
  io.write(ok and tostring(result) or "failed", "\n")
end
]]

  it("returns nil, err FAILED_INIT", function()
    -- PUC Lua 5.1 spins in its GC at the limit and LuaJIT's own allocator fails first;
    -- AddressSanitizer cannot run under an address-space limit.
    if rawget(_G, "jit") or _VERSION == "Lua 5.1" or _VERSION == "Lua 5.2" or os.getenv("LCM_PRELOAD") then
      pending("needs PUC Lua 5.3/5.4 without a sanitizer")
    end
    local script = sim.tmpname()
    sim.write(script, SCRIPT)
    local out, ok = sim.run("ulimit -v 120000 && " .. sim.LUA .. " " .. script)
    os.remove(script)
    assert.is_true(ok, out)
    -- lcm's part of the message, not libcurl's wording of FAILED_INIT after it
    assert.matches("^nil, err transport FAILED_INIT false curl_easy_init failed", out)
  end)
end)

-- A host's child process (os.execute, a PBX's System()) must not inherit lcm's connections.
describe("connections and child processes", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)

  for _, share in ipairs { true, false } do
    it("a child inherits no connection of lcm's (share = " .. tostring(share) .. ")", function()
      local script = sim.tmpname()
      sim.write(script, [[
local lcm = require "lcm"
local c = assert(lcm.new { url = os.getenv("URL"), share = ]] .. tostring(share) .. [[ })
assert(c:get_outcomes("", "MANUAL")) -- a kept-alive connection now
-- The TCP sockets of this process ($PPID of the shell), then those the shell inherited.
-- (libcurl's own AF_UNIX wakeup pair is inherited: it holds no connection open.)
local p = io.popen([=[tcp() { for i in $(ls -l /proc/$1/fd | sed -n 's/.*socket:\[\([0-9]*\)\]/\1/p'); do
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q " $i " && echo x; done | wc -l; }
echo $(tcp $PPID) $(tcp $$)]=])
io.write(p:read("*a"))
p:close()
]])
      local out, ok = sim.run(sim.ENV .. "URL='" .. s.url .. "' " .. sim.LUA .. " " .. script)
      os.remove(script)
      assert.is_true(ok, out)
      local parent, child = out:match("^(%d+) (%d+)")
      assert.is_true(tonumber(parent) >= 1, out)
      assert.equal(0, tonumber(child), out)
    end)
  end
end)
