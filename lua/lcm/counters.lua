-- The counting a call does (what lcm.stats() and lcm.stats_text() show): series names built
-- from a metric and its label values, added to the process-wide counters in C
-- (csrc/stats.c). Apart from lcm.stats, whose table and text are needed only when asked
-- for: a fresh Lua state per call (FreeSWITCH, pbx_lua) loads this part alone.
local core = require "lcm.core"

local M = {}

-- Metric name -> its label names, in series order (lcm.stats reads them back the same way).
M.LABELS = {
  lcm_requests_total = { "subtopic" },
  lcm_attempts_total = { "subtopic" },
  lcm_retries_total = { "subtopic" },
  lcm_errors_total = { "kind", "code" },
  lcm_outbox_total = { "event" },
  lcm_retry_budget_tokens = { "target", "capacity" },
  lcm_stats_dropped_series_total = {},
}

local function quote(v)
  return '"' .. tostring(v):gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }) .. '"'
end
M.quote = quote

-- The series name of metric with these label values.
function M.series(metric, ...)
  local names = M.LABELS[metric]
  if #names == 0 then return metric end
  local parts = {}
  for i, name in ipairs(names) do parts[i] = name .. "=" .. quote(select(i, ...)) end
  return metric .. "{" .. table.concat(parts, ",") .. "}"
end

-- Series names are cached per state: building them costs more than counting.
local cache = {}
function M.count(metric, label, n)
  local by_label = cache[metric]
  if not by_label then
    by_label = {}
    cache[metric] = by_label
  end
  local key = by_label[label]
  if not key then
    key = M.series(metric, label)
    by_label[label] = key
  end
  return core.stats_add(key, n or 1) -- the new total
end

-- err.code can be the server's errorType: any text. A label is a short name or "OTHER",
-- so that no answer can make counting fail (or grow the series without end).
local function code_label(err)
  local code = err.code or (err.status and tostring(err.status)) or ""
  if type(code) ~= "string" or #code > 48 or code:find("[^%w_.%-]") then return "OTHER" end
  return code
end

function M.error(err)
  core.stats_add(M.series("lcm_errors_total", err.kind, code_label(err)))
end

-- One call's request: its attempts and how long it took, retries and waits included.
function M.request(subtopic, attempts, ms)
  M.count("lcm_requests_total", subtopic)
  if attempts > 0 then M.count("lcm_attempts_total", subtopic, attempts) end
  if attempts > 1 then M.count("lcm_retries_total", subtopic, attempts - 1) end
  core.stats_observe(subtopic, ms)
end

return M
