-- lcm.policy: every failure decision in one table, from the facts the C core reports.
local policy = require "lcm.policy"
local core = require "lcm.core"

local WS_ERROR = [[{"channel":"LCM","topic":"Error","subtopic":"WS_Error","data":
  {"errorType":"WS_Error","errorMessage":"Invalid Call ID:999","msg":"Invalid Call ID."}}]]

-- Which failures are retryable: err.retryable, a public field (docs/errors.md), so these
-- values are the contract. C reports the facts (its errors say retryable = false), and
-- policy.retryable decides.
describe("retryable", function()
  local by_name = {}
  for _, c in pairs(core.curl_codes()) do by_name[c.name] = c end

  -- policy.retryable of a libcurl failure with this code name, as lcm.core reports it.
  local function curl_retryable(name)
    return policy.retryable { kind = name == "OPERATION_TIMEDOUT" and "timeout" or "transport", code = name }
  end

  -- { HTTP status of an answer without an LCM error body, retryable }
  local STATUSES = {
    { 408, false }, { 425, false }, { 429, true }, { 500, true }, { 501, false }, { 502, true },
    { 503, true }, { 504, true }, { 505, false }, { 507, false }, { 400, false }, { 401, false },
    { 403, false }, { 404, false }, { 409, false }, { 413, false }, { 302, false }, { 304, false },
    { 100, false }, { 0, false }, { 999, false },
  }
  for _, c in ipairs(STATUSES) do
    it("of an HTTP " .. c[1] .. " is " .. tostring(c[2]), function()
      local _, err = core.answer("<html>busy</html>", c[1], "X")
      assert.same({ "http", c[1], false }, { err.kind, err.status, err.retryable }) -- a fact, no decision
      assert.equal(c[2], policy.retryable(err))
    end)
  end

  it("of LCM's error envelope is false, whatever the status", function()
    for _, status in ipairs { 200, 429, 500, 503 } do
      local _, err = core.answer(WS_ERROR, status, "X")
      assert.same({ "lcm", status, false }, { err.kind, err.status, policy.retryable(err) })
    end
  end)

  it("of an answer that is not for this call or not readable is false", function()
    for _, body in ipairs { "hello", "[1]", '{"channel":"CTI"}' } do
      local _, err = core.answer(body, 200, "X")
      assert.same({ "protocol", false }, { err.kind, policy.retryable(err) })
    end
  end)

  -- Exactly these libcurl codes are retryable: the ones a second attempt can heal (the
  -- network, the server's connection, a timeout). Every other code is permanent.
  local CURL_RETRYABLE = {
    "COULDNT_RESOLVE_PROXY", "COULDNT_RESOLVE_HOST", "COULDNT_CONNECT", "WEIRD_SERVER_REPLY", "HTTP2",
    "PARTIAL_FILE", "UPLOAD_FAILED", "OPERATION_TIMEDOUT", "GOT_NOTHING", "SEND_ERROR", "RECV_ERROR",
    "SEND_FAIL_REWIND", "SSL_SHUTDOWN_FAILED", "AGAIN", "NO_CONNECTION_AVAILABLE", "HTTP2_STREAM", "HTTP3",
    "QUIC_CONNECT_ERROR", "PROXY", "UNRECOVERABLE_POLL",
  }
  local CURL_PERMANENT = {
    "SSL_CACERT_BADFILE", "PEER_FAILED_VERIFICATION", "SSL_CONNECT_ERROR", "SSL_CERTPROBLEM", "SSL_CLIENTCERT",
    "SSL_INVALIDCERTSTATUS", "USE_SSL_FAILED", "SSL_PINNEDPUBKEYNOTMATCH", "SSL_ENGINE_NOTFOUND",
    "UNSUPPORTED_PROTOCOL", "URL_MALFORMAT", "FAILED_INIT", "NOT_BUILT_IN", "OUT_OF_MEMORY",
    "LOGIN_DENIED", "BAD_FUNCTION_ARGUMENT", "TOO_MANY_REDIRECTS", "FILESIZE_EXCEEDED",
    "BAD_CONTENT_ENCODING", "RANGE_ERROR", "INTERFACE_FAILED", "REMOTE_ACCESS_DENIED",
    "ABORTED_BY_CALLBACK", "WRITE_ERROR", "READ_ERROR", "HTTP_RETURNED_ERROR",
  }
  for _, name in ipairs(CURL_RETRYABLE) do
    it("of libcurl's " .. name .. " is true", function() assert.is_true(curl_retryable(name)) end)
  end
  for _, name in ipairs(CURL_PERMANENT) do
    it("of libcurl's " .. name .. " is false", function() assert.is_false(curl_retryable(name)) end)
  end

  it("of every other libcurl code lcm.core reports is false", function()
    local listed = {}
    for _, name in ipairs(CURL_RETRYABLE) do listed[name] = true end
    local n = 0
    for name in pairs(by_name) do
      if not listed[name] then
        n = n + 1
        assert.is_false(curl_retryable(name), name)
      end
    end
    assert.is_true(n > 70)
  end)

  it("is decided here for every libcurl code lcm.core reports (a new code must be decided)", function()
    for name in pairs(by_name) do assert.is_true(policy.curl_decided(name), name) end
    assert.is_false(policy.curl_decided("NO_SUCH_CODE"))
    assert.is_false(policy.curl_decided("CURLE_200"))
  end)

  it("of a libcurl code newer than the curl/curl.h lcm.core was built against is true", function()
    assert.is_true(policy.retryable { kind = "transport", code = "CURLE_200", sent = true })
  end)

  -- { err, retryable }: lcm's own codes of the transport kind, and the kinds never retried.
  local OTHERS = {
    { { kind = "transport", code = "OUT_OF_MEMORY", sent = true }, false },
    { { kind = "transport", code = "NO_RANDOM" }, false },
    { { kind = "transport", code = "CURLE_x" }, false },
    { { kind = "transport" }, false },
    { { kind = "protocol", code = "TOO_LARGE", sent = true }, false },
    { { kind = "protocol", code = "CALLID_MISMATCH" }, false },
    { { kind = "rejected" }, false },
    { { kind = "invalid", field = "client" }, false },
    { { kind = "outbox", code = "ENOSPC" }, false },
    { { kind = "lcm", code = "WS_Error", status = 503 }, false },
    { { kind = "http", status = 503 }, true },
    { { kind = "http" }, false },
  }
  for _, c in ipairs(OTHERS) do
    it("of " .. c[1].kind .. " " .. tostring(c[1].code or c[1].status) .. " is " .. tostring(c[2]), function()
      assert.equal(c[2], policy.retryable(c[1]))
    end)
  end
end)

describe("failure policy", function()
  -- facts -> { may_be_recorded, queued (as judged by recorded), replay, retry cost }
  local CASES = {
    { "LCM's error envelope", { kind = "lcm" }, { false, false, "dead", 5 } },
    { "a well-formed success = false", { kind = "rejected" }, { false, false, "dead", 5 } },
    { "a refused argument", { kind = "invalid" }, { false, false, "dead", 5 } },
    { "a connect failure, nothing sent", { kind = "transport", sent = false, retryable = true },
      { false, true, "keep", 5 } },
    { "a transport failure after sending", { kind = "transport", retryable = true }, { true, true, "keep", 5 } },
    { "a timeout after sending", { kind = "timeout", retryable = true }, { true, true, "keep", 10 } },
    { "a timeout before sending", { kind = "timeout", sent = false }, { false, false, "keep", 10 } },
    { "an HTTP 503", { kind = "http", status = 503, retryable = true }, { true, true, "keep", 5 } },
    { "an HTTP 401", { kind = "http", status = 401 }, { true, true, "keep", 5 } },
    { "an answer for another call", { kind = "protocol", code = "BAD_SUBTOPIC" }, { true, true, "keep", 5 } },
  }
  for _, c in ipairs(CASES) do
    it(c[1] .. " is judged in one place", function()
      local err = c[2]
      local may = policy.may_be_recorded(err)
      err.recorded = policy.recorded(err, false)
      assert.same(c[3], { may, policy.queue(err) and true or false, policy.replay(err), policy.retry_cost(err) })
      assert.equal(may and "unknown" or false, err.recorded)
    end)
  end

  it("an earlier attempt that may have been recorded makes the Set unknown", function()
    assert.equal("unknown", policy.recorded({ kind = "lcm" }, true))
  end)
end)
