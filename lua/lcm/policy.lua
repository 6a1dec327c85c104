-- The failure policy, in one file. The C core reports facts about a failed attempt:
-- err.kind; err.status (the HTTP status); err.code (libcurl's code name, CURLE_<n> for a code
-- newer than the curl/curl.h lcm.core was built against, or the answer's defect); err.sent
-- (libcurl's word on whether anything left). C decides nothing: every error it makes has
-- err.retryable = false until the client asks this file. From those facts, this file alone
-- decides whether another attempt could succeed (err.retryable, set by Client:_send on every
-- failed attempt), whether LCM may have recorded a Set (err.recorded), whether a failed Set
-- is queued in the outbox, whether a replayed record is kept or dead-lettered, and what a
-- retry costs the retry budget. Requires nothing.
local M = {
  -- The retry budget's prices, after the AWS SDKs' "standard" retry mode: a retry costs
  -- tokens, a retry after a timeout costs more (a timed-out server is the likeliest to be
  -- drowning), and a success pays back what its last retry cost, or a little.
  RETRY_COST = 5,
  TIMEOUT_COST = 10,
  NO_RETRY_REFUND = 1,
}

-- HTTP statuses (of an answer without LCM's error envelope) that the same request may get
-- past: too many requests, and a server or gateway that is failing or overloaded. Every
-- other status (a 4xx about the request, 501, 505, a 3xx: redirects are not followed)
-- would only come back again.
local RETRYABLE_STATUS = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

-- Every CURLE_* code lcm knows, by name without CURLE_ (csrc/curl_codes.txt lists the same
-- names, with the phase err.sent is measured by; spec/policy_spec.lua checks that every
-- code lcm.core reports is decided here). Retryable: the same request may succeed if sent
-- again (the network, the server's connection, a timeout).
local CURL_RETRYABLE = {
  COULDNT_RESOLVE_PROXY = true, COULDNT_RESOLVE_HOST = true, COULDNT_CONNECT = true,
  WEIRD_SERVER_REPLY = true, HTTP2 = true, PARTIAL_FILE = true, UPLOAD_FAILED = true,
  OPERATION_TIMEDOUT = true, GOT_NOTHING = true, SEND_ERROR = true, RECV_ERROR = true,
  SEND_FAIL_REWIND = true, SSL_SHUTDOWN_FAILED = true, AGAIN = true, NO_CONNECTION_AVAILABLE = true,
  HTTP2_STREAM = true, HTTP3 = true, QUIC_CONNECT_ERROR = true, PROXY = true, UNRECOVERABLE_POLL = true,
  -- lcm's engine's own (csrc/engine.c): lcm.stop() ended the request (CANCELLED), or a
  -- fork() child cannot wait for its parent's (FORKED). Sent again later, it may succeed:
  -- a Set among them goes to the outbox, never lost.
  CANCELLED = true, FORKED = true,
  -- No descriptor left for a connection (the open-file limit, many requests in flight): it
  -- passes as requests end, so a Set is retried and then queued, not refused for good.
  NO_DESCRIPTORS = true,
}
-- Permanent: it will fail the same way (configuration, certificates, a TLS handshake that
-- fails fails again, out of memory, an answer too large, a body callback that refused it).
-- Codes of protocols lcm does not enable (FTP, TFTP, LDAP, SSH, RTSP...) cannot occur; they
-- are permanent so that an impossible one is never replayed forever. One string, read only
-- by M.curl_decided: nothing is built from it when the module loads.
local CURL_PERMANENT = [[
  UNSUPPORTED_PROTOCOL FAILED_INIT URL_MALFORMAT NOT_BUILT_IN REMOTE_ACCESS_DENIED FTP_ACCEPT_FAILED
  FTP_WEIRD_PASS_REPLY FTP_ACCEPT_TIMEOUT FTP_WEIRD_PASV_REPLY FTP_WEIRD_227_FORMAT FTP_CANT_GET_HOST
  FTP_COULDNT_SET_TYPE FTP_COULDNT_RETR_FILE OBSOLETE20 QUOTE_ERROR HTTP_RETURNED_ERROR WRITE_ERROR
  OBSOLETE24 READ_ERROR OUT_OF_MEMORY OBSOLETE29 FTP_PORT_FAILED FTP_COULDNT_USE_REST OBSOLETE32
  RANGE_ERROR HTTP_POST_ERROR SSL_CONNECT_ERROR BAD_DOWNLOAD_RESUME FILE_COULDNT_READ_FILE
  LDAP_CANNOT_BIND LDAP_SEARCH_FAILED OBSOLETE40 FUNCTION_NOT_FOUND ABORTED_BY_CALLBACK
  BAD_FUNCTION_ARGUMENT OBSOLETE44 INTERFACE_FAILED OBSOLETE46 TOO_MANY_REDIRECTS UNKNOWN_OPTION
  SETOPT_OPTION_SYNTAX OBSOLETE50 OBSOLETE51 SSL_ENGINE_NOTFOUND SSL_ENGINE_SETFAILED OBSOLETE57
  SSL_CERTPROBLEM SSL_CIPHER PEER_FAILED_VERIFICATION BAD_CONTENT_ENCODING OBSOLETE62
  FILESIZE_EXCEEDED USE_SSL_FAILED SSL_ENGINE_INITFAILED LOGIN_DENIED TFTP_NOTFOUND TFTP_PERM
  REMOTE_DISK_FULL TFTP_ILLEGAL TFTP_UNKNOWNID REMOTE_FILE_EXISTS TFTP_NOSUCHUSER OBSOLETE75
  OBSOLETE76 SSL_CACERT_BADFILE REMOTE_FILE_NOT_FOUND SSH SSL_CRL_BADFILE SSL_ISSUER_ERROR
  FTP_PRET_FAILED RTSP_CSEQ_ERROR RTSP_SESSION_ERROR FTP_BAD_FILE_LIST CHUNK_FAILED
  SSL_PINNEDPUBKEYNOTMATCH SSL_INVALIDCERTSTATUS RECURSIVE_API_CALL AUTH_ERROR SSL_CLIENTCERT
  TOO_LARGE ECH_REQUIRED
]]

--- Whether this file decides libcurl's code name (without CURLE_) one way or the other.
function M.curl_decided(name)
  if CURL_RETRYABLE[name] then return true end
  if type(name) ~= "string" or not name:match("^[%u%d_]+$") then return false end
  return CURL_PERMANENT:find("%s" .. name .. "%s") ~= nil
end

--- Whether another attempt of the same request could succeed (err.retryable): for "http",
-- the status; for "transport" and "timeout", libcurl's code. lcm's own codes of those kinds
-- (OUT_OF_MEMORY while reading the answer, NO_RANDOM) are not retryable; nor is anything
-- else (LCM's error envelope whatever its status, an answer we cannot read or that is not
-- for this call, success = false, a refused argument, the outbox).
function M.retryable(err)
  local kind = err.kind
  if kind == "http" then return RETRYABLE_STATUS[err.status] == true end
  if kind ~= "transport" and kind ~= "timeout" then return false end
  local code = err.code
  if CURL_RETRYABLE[code] then return true end
  -- A libcurl code newer than the curl/curl.h lcm.core was built against (lcm.core names
  -- it CURLE_<n>): retryable. The newer libcurl at run time knows what it means and lcm
  -- cannot; treating it as permanent could turn a passing network fault into a lost
  -- outcome, while a retry costs at most max_attempts and the retry budget.
  return type(code) == "string" and code:match("^CURLE_%d+$") ~= nil
end

-- Error kinds that are an answer about the request itself (LCM's error envelope, a
-- well-formed success = false, or this code refusing it): nothing else will change them.
local ABOUT_REQUEST = { rejected = true, lcm = true, invalid = true }

--- Whether LCM may have recorded a Set whose attempt ended in err. False only where it
-- provably did not: nothing left (a closed client; libcurl says nothing was sent:
-- err.sent == false), LCM's own error envelope, or a well-formed success = false.
-- Everything else after the request left (a 5xx, a timeout, an answer we cannot read or
-- that is not for this call...) may hide a recorded outcome.
function M.may_be_recorded(err)
  local kind = err.kind
  if ABOUT_REQUEST[kind] then return false end
  if kind == "transport" or kind == "timeout" then return err.sent ~= false end
  return true
end

--- err.recorded of a Set that was attempted: "unknown" when any of its attempts may have
-- been recorded (earlier: whether one before the last may have), else false.
function M.recorded(err, earlier)
  return (earlier or M.may_be_recorded(err)) and "unknown" or false
end

--- Whether a failed Set goes to the outbox: it may still reach LCM (retryable), or LCM
-- may have it already (replaying it with its Idempotency-Key is then harmless).
function M.queue(err)
  return err.retryable or err.recorded == "unknown"
end

--- What a flush does with a record whose replay failed with err: "keep" it (and the queue
-- behind it) for the next flush, or "dead" (dead.log). Only an answer about this record
-- sends it to dead.log; anything else (a TLS or proxy setup, a 401, an answer that says
-- nothing) keeps it: a misconfigured flusher must not empty the outbox into dead.log.
function M.replay(err)
  if err.retryable or err.recorded == "unknown" or not ABOUT_REQUEST[err.kind] then return "keep" end
  return "dead"
end

--- The tokens a retry after err costs the retry budget.
function M.retry_cost(err)
  return err.kind == "timeout" and M.TIMEOUT_COST or M.RETRY_COST
end

return M
