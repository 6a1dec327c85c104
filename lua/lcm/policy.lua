-- The failure policy, in one file: from the facts the C core reports on a failed attempt
-- (err.kind; err.status, err.code; err.retryable, which csrc/codec.c and csrc/curl_codes.txt
-- decide per status and libcurl code; err.sent, libcurl's word on whether anything left),
-- what the Lua layer does with it: whether LCM may have recorded a Set (err.recorded),
-- whether a failed Set is queued in the outbox, whether a replayed record is kept or
-- dead-lettered, and what a retry costs the retry budget. Requires nothing.
local M = {
  -- The retry budget's prices, after the AWS SDKs' "standard" retry mode: a retry costs
  -- tokens, a retry after a timeout costs more (a timed-out server is the likeliest to be
  -- drowning), and a success pays back what its last retry cost, or a little.
  RETRY_COST = 5,
  TIMEOUT_COST = 10,
  NO_RETRY_REFUND = 1,
}

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
