-- When and how long to wait before another attempt, and whether one may be made at all.
local core = require "lcm.core"
local policy = require "lcm.policy"

local M = {
  BASE_MS = 100,
  CAP_MS = 2000,
  -- The retry budget's capacity: retries cost tokens and successes pay them back (the
  -- prices are lcm.policy's). When LCM is down the bucket empties and calls fail after one
  -- attempt, instead of multiplying the load on a server that is struggling.
  BUDGET = 500,
}

-- Full-jitter exponential backoff: a random wait in [0, min(cap, base * 2^(n-1))), so that
-- many dialer processes failing together do not come back together. A server's
-- Retry-After (seconds) is honoured, but never beyond the cap: a dialer script cannot
-- hold a call for minutes. Retry-After is clamped in seconds, before it is multiplied:
-- a huge integer would wrap negative in milliseconds (Lua 5.3+) and no wait would be left.
-- Without randomness (core.random returns nil, err) the wait is the whole ceiling.
function M.delay_ms(attempt, retry_after_s, random)
  if retry_after_s then
    local s = tonumber(retry_after_s)
    if s == nil or s ~= s or s > M.CAP_MS / 1000 then
      s = M.CAP_MS / 1000
    elseif s < 0 then
      s = 0
    end
    return math.floor(s * 1000)
  end
  local ceiling = math.min(M.CAP_MS, M.BASE_MS * 2 ^ (attempt - 1))
  local r = (random or core.random)()
  if type(r) ~= "number" or not (r >= 0 and r < 1) then r = 1 end
  return math.floor(r * ceiling)
end

-- The tokens are counted in C (csrc/budget.c), one bucket per target (scheme://host:port)
-- and capacity, shared by every client of the process: FreeSWITCH and pbx_lua make a new
-- client for every call, and a bucket per client would start full on every call. Without a
-- url the bucket is the caller's alone.
local Budget = {}
Budget.__index = Budget

function M.budget(capacity, url)
  return setmetatable({ bucket = core.budget(url, capacity) }, Budget)
end

-- Takes the cost of retrying after err; returns the cost, or nil when the budget is short.
function Budget:take(err)
  local cost = policy.retry_cost(err)
  if not self.bucket:take(cost) then return nil end
  return cost
end

-- A call succeeded: give back what its last retry cost, or a little when it needed none.
function Budget:refund(cost)
  self.bucket:refund(cost or policy.NO_RETRY_REFUND)
end

-- The tokens left (and the capacity), shared with the other clients of the bucket.
function Budget:tokens()
  return self.bucket:tokens()
end

return M
