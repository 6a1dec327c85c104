-- Issue 16 items 3, 5, 6, 7: a JSON null is absent (an answer with "errorType": null is no
-- error envelope); the client's secrets are masked in every string of an error that comes
-- from the wire, in the encodings a server echoes them in; and tostring(err) is one line
-- whatever the server sent.
local lcm = require "lcm"
local core = require "lcm.core"
local cjson = require "cjson"
local redact = require "lcm.redact"
local sim = require "helpers.sim"
local seed = require "helpers.seed"

local TOKEN, PASSWORD, USER = "tok/SECRET+1=", "pw-SECRET-2", "agent-7"
local SECRETS = { TOKEN, PASSWORD }

-- base64 by a tool that is not ours: the spec checks redact's own base64.
local function b64(s)
  local f = assert(io.popen("printf '%s' '" .. s .. "' | base64 -w0"))
  local out = f:read("*a")
  f:close()
  return out
end

local function envelope(t)
  local e = { channel = "LCM", topic = "WebService", subtopic = "R", message = {} }
  for k, v in pairs(t) do e[k] = v end
  return cjson.encode(e)
end

describe("core.answer: a JSON null is absent", function()
  for _, where in ipairs { "message", "data" } do
    it("takes an answer with errorType null under " .. where .. " for the answer it is", function()
      local t = { message = { response = { success = true } } }
      t[where] = t[where] or {}
      t[where].errorType, t[where].msg, t[where].errorMessage = cjson.null, cjson.null, cjson.null
      local message, err = core.answer(envelope(t), 200, "R")
      assert.is_nil(err)
      assert.is_true(message.response.success)
    end)
  end

  it("still reads an envelope whose errorType is given, with null msg and errorMessage left out", function()
    local body = envelope { data = { errorType = "WS_Error", msg = cjson.null, errorMessage = cjson.null } }
    local _, err = core.answer(body, 200, "R")
    assert.same({ "lcm", "WS_Error", "LCM error" }, { err.kind, err.code, err.message })
    assert.is_nil(err.detail)
  end)

  it("takes a null for absent whatever the key's case, and finds the key spelled another way", function()
    local body = '{"channel":"LCM","topic":"WebService","subtopic":"R","message":{"ErrorType":null,' ..
                 '"response":{"success":true}},"data":{"errortype":null}}'
    assert.truthy(core.answer(body, 200, "R"))
    -- a null under one spelling does not hide a value under another
    body = '{"channel":"LCM","topic":"WebService","subtopic":"R","message":{},"data":{"errorType":null,' ..
           '"ERRORTYPE":"X"}}'
    local _, err = core.answer(body, 200, "R")
    assert.same({ "lcm", "X" }, { err and err.kind, err and err.code })
  end)

  it("takes a null channel, topic or message for missing ones", function()
    local _, err = core.answer('{"channel":null,"topic":"WebService","message":{}}', 200, nil)
    assert.equal("BAD_CHANNEL", err.code)
    _, err = core.answer('{"channel":"LCM","topic":"WebService","message":null}', 200, nil)
    assert.equal("BAD_MESSAGE", err.code)
    assert.is_nil(core.field({ success = cjson.null }, "success"))
  end)
end)

describe("tostring(err) is one line", function()
  it("escapes control characters, separators and invalid UTF-8 of every field, and keeps the fields", function()
    local err = core.error { kind = "lcm", code = "WS\r\nlcm: forged", message = "a\nb\tc\0d\127",
                             detail = "x\194\133y\226\128\168z\255", subtopic = "S\n" }
    local line = tostring(err)
    assert.equal("lcm: lcm error WS\\r\\nlcm: forged: a\\nb\\tc\\x00d\\x7F (x\\u0085y\\u2028z\\xFF) [S\\n]", line)
    assert.equal("WS\r\nlcm: forged", err.code) -- a program compares what was sent
    assert.equal("a\\u202Eb\\u2066c", core.printable("a\226\128\174b\226\129\166c")) -- bidi controls
    -- valid UTF-8 and backslashes are kept: escaping twice changes nothing
    assert.equal("é \\n ok", core.printable("é \\n ok"))
    assert.equal(core.printable("a\nb"), core.printable(core.printable("a\nb")))
  end)
end)

describe("redact.masker", function()
  it("masks each secret as sent, JSON-escaped, base64 and URL-encoded (either hex case)", function()
    local mask = redact.masker { bearer_token = TOKEN, username = USER, password = PASSWORD,
                                 headers = { "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==" } }
    local cases = {
      TOKEN, "tok\\/SECRET+1=", "tok%2FSECRET%2B1%3D", "tok%2fSECRET%2b1%3d",
      "%74%6F%6B%2F%53%45%43%52%45%54%2B%31%3D", b64(TOKEN),
      PASSWORD, b64(USER .. ":" .. PASSWORD), b64(USER .. ":" .. PASSWORD):gsub("=", ""),
      "QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    }
    for _, c in ipairs(cases) do
      local out = mask("x " .. c .. " y")
      assert.is_nil(out:find(c, 1, true), c)
      assert.truthy(out:find("***", 1, true), c)
    end
    assert.equal("Bearer *** and ***", mask("Bearer " .. TOKEN .. " and " .. USER .. ":" .. PASSWORD))
    assert.equal("nothing here", mask("nothing here"))
  end)
end)

describe("the client table", function()
  it("holds no secret a host printing it could show (they live in the masker's closure)", function()
    local c = assert(lcm.new { url = "http://127.0.0.1:1/", bearer_token = TOKEN, logger = function() end })
    local d = assert(lcm.new { url = "http://127.0.0.1:1/", username = USER, password = PASSWORD,
                               headers = { ["X-Tenant"] = "acme" } })
    local seen = {}
    local function walk(t)
      if seen[t] then return end
      seen[t] = true
      for k, v in pairs(t) do
        for _, x in ipairs { k, v } do
          if type(x) == "string" then
            assert.is_nil(x:find(TOKEN, 1, true), x)
            assert.is_nil(x:find(PASSWORD, 1, true), x)
          elseif type(x) == "table" then
            walk(x)
          end
        end
      end
    end
    walk(c)
    walk(d)
    assert.is_true(seen[c] and seen[d])
  end)
end)

-- Every string of an error, and its tostring.
local function strings_of(err)
  local out = { tostring(err) }
  for _, v in pairs(err) do
    if type(v) == "string" then out[#out + 1] = v end
  end
  return out
end

local function assert_no_secret(texts, secrets)
  for _, text in ipairs(texts) do
    for _, secret in ipairs(secrets or SECRETS) do
      assert.is_nil(text:find(secret, 1, true), "a secret leaked into: " .. text)
    end
  end
end

local function read_all(dir)
  local out = {}
  local p = assert(io.popen("cat " .. dir .. "/* 2>/dev/null"))
  out[1] = p:read("*a")
  p:close()
  return out
end

describe("against lcm-sim", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  it("believes a Set and a Get whose answers carry errorType, msg and errorMessage as null", function()
    local c = assert(lcm.new { url = s.url, max_attempts = 1 })
    local NULLS = { "errorType", "msg", "errorMessage" }
    s:fault { null_fields = NULLS }
    local ok, err = c:set_outcome(seed.SET)
    assert.is_nil(err)
    assert.is_true(ok)
    assert.equal(1, #s:outcomes())
    s:fault { null_fields = NULLS }
    local list
    list, err = c:get_outcomes(seed.SET.callid, "MANUAL")
    assert.is_nil(err)
    assert.equal(2, #list)
    -- the sim did send the nulls
    s:fault { null_fields = NULLS }
    local message = assert(c:call("GetCallOutCome", { callid = seed.SET.callid }))
    assert.equal(cjson.null, message.errorType)
  end)

  local function quoting_envelope(msg, detail, code)
    return cjson.encode { channel = "LCM", topic = "Error", subtopic = "WS_Error",
                          data = { errorType = code or "WS_Error", msg = msg, errorMessage = detail } }
  end

  it("masks the credential LCM's error envelope quotes, in err, tostring(err) and the logger", function()
    local lines = {}
    local logger = function(level, message) lines[#lines + 1] = level .. " " .. message end
    local c = assert(lcm.new { url = s.url, bearer_token = TOKEN, logger = logger, max_attempts = 1 })
    local enc = TOKEN:gsub("[^%w]", function(ch) return string.format("%%%02x", ch:byte()) end)
    s:fault { status = 401, body = quoting_envelope("Invalid token " .. TOKEN, "Authorization: Bearer " .. enc,
                                                    "BAD_" .. TOKEN) }
    local _, err = c:get_outcomes("", "MANUAL")
    assert.equal("lcm", err.kind)
    assert.equal("Invalid token ***", err.message)
    assert.equal("Authorization: Bearer ***", err.detail)
    assert.equal("BAD_***", err.code)
    assert.is_true(#lines >= 1)
    assert_no_secret(lines, { TOKEN, enc })
    assert_no_secret(strings_of(err), { TOKEN, enc })
  end)

  it("masks a Basic credential (base64) and an Authorization header given through headers", function()
    local lines = {}
    local logger = function(level, message) lines[#lines + 1] = level .. " " .. message end
    local basic = b64(USER .. ":" .. PASSWORD)
    local c = assert(lcm.new { url = s.url, username = USER, password = PASSWORD, logger = logger, max_attempts = 1 })
    s:fault { status = 401, body = quoting_envelope("refused Basic " .. basic, "for " .. USER) }
    local _, err = c:get_outcomes("", "MANUAL")
    assert.equal("refused Basic ***", err.message)
    assert_no_secret(strings_of(err), { basic, PASSWORD })
    assert_no_secret(lines, { basic, PASSWORD })
    local d = assert(lcm.new { url = s.url, headers = { Authorization = "ApiKey k3y-SECRET-3" }, logger = logger,
                               max_attempts = 1 })
    s:fault { status = 403, body = "key k3y-SECRET-3 is not allowed" }
    _, err = d:get_outcomes("", "MANUAL")
    assert.equal("key *** is not allowed", err.body)
    s:fault { status = 401, body = quoting_envelope("bad key k3y-SECRET-3") }
    _, err = d:get_outcomes("", "MANUAL")
    assert_no_secret(strings_of(err), { "k3y-SECRET-3" })
    assert_no_secret(lines, { "k3y-SECRET-3" })
    assert.equal("ApiKey k3y-SECRET-3", s:requests()[#s:requests()].headers.authorization)
  end)

  it("keeps the quoted credential out of the outbox's stored error and dead.log", function()
    local dir = sim.tmpdir()
    finally(function() os.execute("rm -rf '" .. dir .. "'") end)
    local c = assert(lcm.new { url = s.url, bearer_token = TOKEN, outbox = dir, max_attempts = 1 })
    -- an answer for another call whose callid quotes the token: recorded unknown, queued
    s:fault { status = 200, content_type = "application/json",
              body = cjson.encode { channel = "LCM", topic = "WebService",
                                    subtopic = "SetBusinessOutcomeWithCallOutcomeResult",
                                    message = { callid = "x " .. TOKEN, response = { success = true } } } }
    local _, err = c:set_outcome(seed.SET)
    assert.same({ "CALLID_MISMATCH", true }, { err.code, err.queued })
    -- the flush meets LCM's refusal quoting the token: dead-lettered with its error
    s:fault { status = 401, body = quoting_envelope("Invalid token " .. TOKEN, "Bearer " .. TOKEN) }
    local r = assert(c:flush_outbox())
    assert.equal(0, r.sent)
    local files = read_all(dir)
    assert.truthy(files[1]:find("Invalid token ***", 1, true), "the dead record keeps its (masked) error")
    assert_no_secret(files, { TOKEN })
  end)

  it("keeps the server's CR/LF out of tostring(err) and the logger's lines", function()
    local lines = {}
    local logger = function(_, message) lines[#lines + 1] = message end
    local c = assert(lcm.new { url = s.url, logger = logger, max_attempts = 1 })
    s:fault { status = 200, body = quoting_envelope("a\r\nlcm: forged", "b\nc", "WS\r\nX") }
    local _, err = c:get_outcomes("", "MANUAL")
    assert.equal("WS\r\nX", err.code)
    local other_call = { callid = "1\r\nlcm: forged", response = { success = true } }
    s:fault { status = 200, body = cjson.encode { channel = "LCM", topic = "WebService",
                                                  subtopic = "SetBusinessOutcomeWithCallOutcomeResult",
                                                  message = other_call } }
    local _, err2 = c:set_outcome(seed.SET)
    assert.equal("CALLID_MISMATCH", err2.code)
    assert.is_true(#lines >= 2)
    local texts = { tostring(err), tostring(err2) }
    for _, l in ipairs(lines) do texts[#texts + 1] = l end
    for _, text in ipairs(texts) do
      assert.is_nil(text:find("[\r\n]"), text)
    end
    assert.truthy(tostring(err):find("WS\\r\\nX: a\\r\\nlcm: forged (b\\nc)", 1, true))
  end)
end)
