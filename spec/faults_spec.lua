-- The fault matrix: for each way LCM or the network can fail, what the caller gets
-- (kind, code or status, retryable, attempts) and, for a Set, what LCM recorded: exactly
-- once, or not at all. A real lcm-sim on 127.0.0.1; raw sockets where it cannot fail so.
local lcm = require "lcm"
local cjson = require "cjson"
local sim = require "helpers.sim"
local seed = require "helpers.seed"

local ENVELOPE = { channel = "LCM", topic = "WebService", subtopic = "SetBusinessOutcomeWithCallOutcomeResult",
                   message = { callid = "12345", response = { success = true } } }
local function answer(changes)
  local t = cjson.decode(cjson.encode(ENVELOPE))
  for k, v in pairs(changes) do t[k] = v end
  return cjson.encode(t)
end

-- name, fault armed for every attempt (or a function(s) returning client options),
-- expected { kind, code, status, retryable, attempts, err.recorded }, outcomes recorded by LCM.
-- err.recorded is false only where LCM provably did not record the Set (README, "What a
-- failed Set means"); the outcomes column shows that "unknown" is no exaggeration.
local MATRIX = {
  { "connection refused", function() return { url = "http://127.0.0.1:" .. sim.closed_port() .. "/" } end,
    { "transport", "COULDNT_CONNECT", nil, true, 3, false }, 0 },
  { "read timeout", { delay_ms = 1000 }, { "timeout", "OPERATION_TIMEDOUT", nil, true, 3, "unknown" }, 1 },
  { "reset before the request was processed", { drop = true },
    { "transport", "GOT_NOTHING", nil, true, 3, "unknown" }, 0 },
  { "reset after the request was processed", { drop = true, after = true },
    { "transport", "GOT_NOTHING", nil, true, 3, "unknown" }, 1 },
  { "a body cut short of its Content-Length", { truncate = true },
    { "transport", "PARTIAL_FILE", nil, true, 3, "unknown" }, 1 },
  { "HTTP 429", { status = 429, retry_after = 5 }, { "http", nil, 429, true, 3, "unknown" }, 0 },
  { "HTTP 500", { status = 500 }, { "http", nil, 500, true, 3, "unknown" }, 0 },
  { "HTTP 502", { status = 502 }, { "http", nil, 502, true, 3, "unknown" }, 0 },
  { "HTTP 503", { status = 503 }, { "http", nil, 503, true, 3, "unknown" }, 0 },
  { "HTTP 504", { status = 504 }, { "http", nil, 504, true, 3, "unknown" }, 0 },
  { "HTTP 400", { status = 400 }, { "http", nil, 400, false, 1, "unknown" }, 0 },
  { "HTTP 401", { status = 401 }, { "http", nil, 401, false, 1, "unknown" }, 0 },
  { "HTTP 403", { status = 403 }, { "http", nil, 403, false, 1, "unknown" }, 0 },
  { "HTTP 404", { status = 404 }, { "http", nil, 404, false, 1, "unknown" }, 0 },
  { "a redirect (not followed)", { status = 301, headers = { { "Location", "http://127.0.0.1:9/" } } },
    { "http", nil, 301, false, 1, "unknown" }, 0 },
  { "a body that is not JSON", { body = "<html>maintenance</html>" },
    { "protocol", "BAD_JSON", nil, false, 1, "unknown" }, 0 },
  { "JSON that is not an object", { body = "[true]" }, { "protocol", "NOT_OBJECT", nil, false, 1, "unknown" }, 0 },
  { "deeply nested JSON", { body = string.rep("[", 5000) .. string.rep("]", 5000) },
    { "protocol", "TOO_DEEP", nil, false, 1, "unknown" }, 0 },
  { "a wrong channel", { body = answer { channel = "CTI" } },
    { "protocol", "BAD_CHANNEL", nil, false, 1, "unknown" }, 0 },
  { "a wrong subtopic", { body = answer { subtopic = "BusinessOutCome" } },
    { "protocol", "BAD_SUBTOPIC", nil, false, 1, "unknown" }, 0 },
  { "an answer for another callid", { body = answer { message = { callid = "777", response = { success = true } } } },
    { "protocol", "CALLID_MISMATCH", nil, false, 1, "unknown" }, 0 },
  { "an answer over max_response_bytes, streamed", { stream_bytes = 64 * 1024 * 1024 },
    { "protocol", "TOO_LARGE", nil, false, 1, "unknown" }, 0 },
  { "an answer over max_response_bytes, with Content-Length", { body = string.rep("x", 300 * 1024) },
    { "protocol", "TOO_LARGE", nil, false, 1, "unknown" }, 0 },
  { "success = false", function(s)
      s:add_call { callid = "12345", accept = false }
      return {}
    end, { "rejected", nil, nil, false, 1, false }, 0 },
  { "WS_Error: Invalid Call ID", function(s)
      s:reset() -- nothing armed; the call is simply unknown
      return { callid = "999" }
    end, { "lcm", "WS_Error", 200, false, 1, false }, 0 },
}

describe("fault matrix", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  for _, row in ipairs(MATRIX) do
    local name, fault, want, recorded = row[1], row[2], row[3], row[4]
    it(name .. " -> " .. want[1] .. " " .. tostring(want[2] or want[3] or ""), function()
      local opts = { url = s.url, timeout_ms = 300, max_response_bytes = 128 * 1024, sleep = function() end }
      local args = seed.SET
      if type(fault) == "function" then
        local extra = fault(s)
        if extra.url then opts.url = extra.url end
        if extra.callid then args = seed.set_args { callid = extra.callid } end
      else
        fault.count = 3
        s:fault(fault)
      end
      local ok, err = assert(lcm.new(opts)):set_outcome(args)
      assert.is_nil(ok)
      assert.same(want, { err.kind, err.code, err.status, err.retryable, err.attempts, err.recorded })
      assert.is_string(err.message)
      assert.equal("SetBusinessOutcomeWithCallOutcome", err.subtopic)
      assert.equal(recorded, #s:outcomes())
    end)
  end

  it("HTTP 429 waits for Retry-After, capped at 2 s", function()
    local waits = {}
    s:fault { status = 429, retry_after = 1 }
    s:fault { status = 429, retry_after = 30 }
    local c = assert(lcm.new { url = s.url, sleep = function(ms) waits[#waits + 1] = ms end })
    assert.is_true(c:set_outcome(seed.SET))
    assert.same({ 1000, 2000 }, waits)
    assert.equal(1, #s:outcomes())
  end)

  it("WS_Error: Callid is empty (sent with call, as set_outcome refuses it locally)", function()
    local data = { callid = "", AccountNumber = "x", BusinessOutcome = 1, CallOutcome = 0, LeadScore = 0,
                   UserID = "1", AgentComments = "", TargetAmount = 0 }
    local message, err = assert(lcm.new { url = s.url }):call("SetBusinessOutcomeWithCallOutcome", data)
    assert.is_nil(message)
    assert.same({ "lcm", "WS_Error", "Invalid Call ID.", "Callid is empty", false, 1 },
                { err.kind, err.code, err.message, err.detail, err.retryable, err.attempts })
    assert.equal(0, #s:outcomes())
  end)

  it("connect timeout: a listener that never accepts", function()
    local port, close = sim.blackhole()
    local c = assert(lcm.new { url = "http://127.0.0.1:" .. port .. "/", connect_timeout_ms = 100,
                               sleep = function() end })
    local ok, err = c:set_outcome(seed.SET)
    close()
    assert.is_nil(ok)
    assert.same({ "timeout", "OPERATION_TIMEDOUT", true, 3, false },
                { err.kind, err.code, err.retryable, err.attempts, err.recorded })
  end)

  -- In a network namespace of its own (loopback only), so the lookup fails here and no
  -- query leaves the machine. unshare -n needs CAP_SYS_ADMIN: where it is refused (a
  -- non-root user, a container) this case cannot run, and is pending instead.
  local why, netns = sim.run("unshare -n true")
  it("a name that does not resolve", function()
    if not netns then pending("unshare -n (needs CAP_SYS_ADMIN): " .. why) end
    local out, ok = sim.run("unshare -n " .. sim.LUA .. [[ -e '
      local lcm = require "lcm"
      local c = assert(lcm.new { url = "http://lcm.invalid/api", sleep = function() end })
      local _, err = c:get_outcomes("", "MANUAL")
      print(err.kind, err.code, err.retryable, err.attempts)']])
    assert.is_true(ok, out)
    assert.equal("transport\tCOULDNT_RESOLVE_HOST\ttrue\t3\n", out)
  end)
end)

describe("fault matrix over TLS", function()
  local s
  setup(function() s = sim.start { tls = true } end)
  teardown(function() s:stop() end)

  it("an untrusted certificate: transport, not retried", function()
    local ok, err = assert(lcm.new { url = s.url }):set_outcome(seed.SET)
    assert.is_nil(ok)
    assert.same({ "transport", "PEER_FAILED_VERIFICATION", false, 1, false },
                { err.kind, err.code, err.retryable, err.attempts, err.recorded })
    assert.equal(0, s:state().requests)
  end)

  it("a trusted certificate for another host name: transport, not retried", function()
    local other = sim.certificate("DNS:other.test")
    local o = sim.start { tls = other }
    local ok, err = assert(lcm.new { url = o.url, ca_file = other.cert }):set_outcome(seed.SET)
    local requests = o:state().requests
    o:stop()
    assert.is_nil(ok)
    assert.same({ "transport", "PEER_FAILED_VERIFICATION", false, 1 },
                { err.kind, err.code, err.retryable, err.attempts })
    assert.equal(0, requests)
  end)

  it("ca_file that trusts it: succeeds, recorded once", function()
    assert.is_true(assert(lcm.new { url = s.url, ca_file = s.cert.cert }):set_outcome(seed.SET))
    assert.equal(1, #s:outcomes())
  end)

  it("insecure = true: succeeds without verification, with a warning once per client", function()
    -- Two clients, two calls each: one warning each (not one per call, not one per process).
    local warned = {}
    for i = 1, 2 do
      warned[i] = 0
      local c = assert(lcm.new { url = s.url, insecure = true, logger = function(level)
        if level == "warn" then warned[i] = warned[i] + 1 end
      end })
      assert(c:get_outcomes("", "MANUAL"))
      assert(c:get_outcomes("", "MANUAL"))
      c:close()
    end
    assert.same({ 1, 1 }, warned)
  end)
end)
