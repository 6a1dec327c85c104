-- Security: what never leaves lcm (credentials in errors and logs), what is never sent
-- (header injection, other URL schemes) and where requests never go (redirects).
local lcm = require "lcm"
local sim = require "helpers.sim"
local seed = require "helpers.seed"

local SECRETS = { "tok-SECRET-1", "pw-SECRET-2" }

-- Every string reachable from an error object, and its tostring.
local function strings_of(err)
  local out = { tostring(err) }
  for _, v in pairs(err) do
    if type(v) == "string" then out[#out + 1] = v end
  end
  return out
end

local function assert_no_secret(texts)
  for _, text in ipairs(texts) do
    for _, secret in ipairs(SECRETS) do
      assert.is_nil(text:find(secret, 1, true), "a secret leaked into: " .. text)
    end
  end
end

describe("security", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  it("keeps tokens and passwords out of errors and log lines (401, debug logging on)", function()
    local lines = {}
    local logger = function(level, message) lines[#lines + 1] = level .. " " .. message end
    local c = assert(lcm.new { url = s.url, bearer_token = SECRETS[1], logger = logger })
    local d = assert(lcm.new { url = s.url, username = "agent", password = SECRETS[2], logger = logger })
    s:fault { status = 401, count = 2, body = "denied for Bearer " .. "?" }
    local _, e1 = c:set_outcome(seed.SET)
    local _, e2 = d:get_outcomes("", "MANUAL")
    assert.same({ 401, 401 }, { e1.status, e2.status })
    assert.is_true(#lines >= 2)
    assert_no_secret(lines)
    assert_no_secret(strings_of(e1))
    assert_no_secret(strings_of(e2))
    -- they did reach the server, where they belong
    assert.equal("Bearer " .. SECRETS[1], s:requests()[1].headers.authorization)
  end)

  it("keeps the start of an http error's body (err.body), without the token, password or username", function()
    local c = assert(lcm.new { url = s.url, bearer_token = SECRETS[1], max_attempts = 1 })
    s:fault { status = 401, body = '{"error": "token expired: Bearer ' .. SECRETS[1] .. '"}' }
    local _, err = c:get_outcomes("", "MANUAL")
    assert.same({ "http", 401 }, { err.kind, err.status })
    assert.equal('{"error": "token expired: Bearer ***"}', err.body)
    -- Basic credentials: the password and, with it, the username; a token with "/" also as
    -- JSON escapes it ("\/")
    local token = "a/b" .. SECRETS[1]
    local d = assert(lcm.new { url = s.url, username = "agent-7", password = SECRETS[2], max_attempts = 1 })
    s:fault { status = 403, body = "agent-7:" .. SECRETS[2] .. " refused; agent-7 and " .. SECRETS[2] }
    _, err = d:get_outcomes("", "MANUAL")
    assert.equal("*** refused; *** and ***", err.body) -- "user:password" is one secret (lcm.redact)
    local e = assert(lcm.new { url = s.url, bearer_token = token, max_attempts = 1 })
    s:fault { status = 401, body = '{"token":"' .. token:gsub("/", "\\/") .. '"} ' .. token }
    _, err = e:get_outcomes("", "MANUAL")
    assert.equal('{"token":"***"} ***', err.body)
  end)

  it("cuts err.body to 512 bytes of valid UTF-8, after removing secrets (none is left half at the cut)", function()
    local c = assert(lcm.new { url = s.url, bearer_token = SECRETS[1], max_attempts = 1 })
    -- 510 bytes, then a secret across the cut, then more
    s:fault { status = 500, body = string.rep("x", 510) .. SECRETS[1] .. string.rep("y", 100) }
    local _, err = c:get_outcomes("", "MANUAL")
    assert.equal(string.rep("x", 510) .. "**", err.body)
    -- a two-byte character that does not fit is left out whole; invalid bytes become U+FFFD
    s:fault { status = 500, body = "\255ok" .. string.rep("x", 506) .. "\195\169" }
    _, err = c:get_outcomes("", "MANUAL")
    assert.equal("\239\191\189ok" .. string.rep("x", 506), err.body)
    assert.is_true(#err.body <= 512)
    assert.is_true(require("lcm.core").utf8_valid(err.body))
  end)

  it("keeps them out of transport and timeout errors too", function()
    local lines = {}
    local logger = function(level, message) lines[#lines + 1] = level .. " " .. message end
    local down = assert(lcm.new { url = "http://127.0.0.1:" .. sim.closed_port() .. "/", bearer_token = SECRETS[1],
                                  password = SECRETS[2], username = "u", logger = logger, max_attempts = 1 })
    local _, e1 = down:get_outcomes("", "MANUAL")
    s:fault { delay_ms = 1000 }
    local slow = assert(lcm.new { url = s.url, bearer_token = SECRETS[1], timeout_ms = 100, max_attempts = 1,
                                  logger = logger })
    local _, e2 = slow:get_outcomes("", "MANUAL")
    assert.same({ "transport", "timeout" }, { e1.kind, e2.kind })
    assert_no_secret(lines)
    assert_no_secret(strings_of(e1))
    assert_no_secret(strings_of(e2))
  end)

  local HEADER_OPTIONS = { "bearer_token", "username", "password", "user_agent", "proxy", "url" }
  for _, opt in ipairs(HEADER_OPTIONS) do
    for _, eol in ipairs { "\r\n", "\n", "\r" } do
      it("refuses CR/LF in " .. opt .. " (" .. eol:gsub("\r", "CR"):gsub("\n", "LF") .. ")", function()
        local opts = { url = s.url }
        opts[opt] = (opts[opt] or "http://127.0.0.1/") .. eol .. "X-Injected: 1"
        local c, err = lcm.new(opts)
        assert.is_nil(c)
        assert.same({ "invalid", opt }, { err.kind, err.field })
      end)
    end
  end

  it("refuses CR/LF in a custom header's value", function()
    local c, err = lcm.new { url = s.url, headers = { ["X-Tenant"] = "acme\r\nX-Injected: 1" } }
    assert.is_nil(c)
    assert.same({ "invalid", "headers.X-Tenant" }, { err.kind, err.field })
  end)

  for _, url in ipairs { "file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/", "dict://127.0.0.1/",
                         "ldap://127.0.0.1/", "scp://127.0.0.1/x", "smtp://127.0.0.1/", "//127.0.0.1/", "127.0.0.1" } do
    it("refuses the url " .. url, function()
      local c, err = lcm.new { url = url }
      assert.is_nil(c)
      assert.same({ "invalid", "url" }, { err.kind, err.field })
    end)
  end

  for _, status in ipairs { 301, 302, 303, 307, 308 } do
    it("does not follow a " .. status .. " redirect", function()
      local elsewhere = sim.start()
      s:fault { status = status, headers = { { "Location", elsewhere.url } } }
      local ok, err = assert(lcm.new { url = s.url }):set_outcome(seed.SET)
      local reached = elsewhere:count()
      elsewhere:stop()
      assert.is_nil(ok)
      assert.same({ "http", status, false }, { err.kind, err.status, err.retryable })
      assert.equal(0, reached)
    end)
  end
end)
