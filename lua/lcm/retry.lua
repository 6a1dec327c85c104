-- When and how long to wait before another attempt.
local core = require "lcm.core"

local M = {
  BASE_MS = 100,
  CAP_MS = 2000,
}

-- Full-jitter exponential backoff: a random wait in [0, min(cap, base * 2^(n-1))), so that
-- many dialer processes failing together do not come back together. A server's
-- Retry-After (seconds) is honoured, but never beyond the cap: a dialer script cannot
-- hold a call for minutes.
function M.delay_ms(attempt, retry_after_s, random)
  if retry_after_s then return math.min(M.CAP_MS, retry_after_s * 1000) end
  local ceiling = math.min(M.CAP_MS, M.BASE_MS * 2 ^ (attempt - 1))
  return math.floor((random or core.random)() * ceiling)
end

return M
