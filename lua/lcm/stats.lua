-- What lcm has done in this process: lcm.stats() as a table, lcm.stats_text() in the
-- Prometheus text exposition format. The numbers live in C (csrc/stats.c), one set per
-- process, because FreeSWITCH and Asterisk make a Lua state per call.
local core = require "lcm.core"
local counters = require "lcm.counters"

local M = {}

-- Metric name -> { type, help, the lcm.stats() table it goes into }; the label names are
-- lcm.counters' (LABELS), which counts.
local METRICS = {
  lcm_requests_total = { "counter", "Calls made (get_outcomes, set_outcome, call...), by subtopic", "requests" },
  lcm_attempts_total = { "counter", "HTTP requests sent, retries included, by subtopic", "attempts" },
  lcm_retries_total = { "counter", "Attempts after the first, by subtopic", "retries" },
  lcm_errors_total = { "counter", "Calls that failed, by error kind and code", "errors" },
  lcm_outbox_total = { "counter", "Outbox events: queued, not_queued, sent, dead, unusable (an outbox it cannot use)",
                       "outbox" },
  lcm_retry_budget_tokens = { "gauge", "Retry budget left, by target and capacity (one bucket each)", "budget" },
  lcm_stats_dropped_series_total = { "counter", "Observations dropped: too many distinct series", "dropped" },
}

local quote = counters.quote

-- The counting itself is lcm.counters' (what the client loads); here for callers of lcm.stats.
M.series, M.count, M.error, M.request = counters.series, counters.count, counters.error, counters.request

M.observe = core.stats_observe
M.reset = core.stats_reset

local function parse(series)
  local metric, labels = series:match("^([%w_]+){(.*)}$")
  if not metric then return series, {} end
  local values, pos = {}, 1
  while pos <= #labels do -- name="value", where value has \\, \" and \n escaped
    local start = labels:match('^[%w_]+="()', pos)
    if not start then break end
    local value, i = {}, start
    while i <= #labels and labels:sub(i, i) ~= '"' do
      local c = labels:sub(i, i)
      if c == "\\" then
        i = i + 1
        c = labels:sub(i, i) == "n" and "\n" or labels:sub(i, i)
      end
      value[#value + 1] = c
      i = i + 1
    end
    values[#values + 1] = table.concat(value)
    pos = i + 2 -- past the quote and the comma
  end
  return metric, values
end

-- The retry budget's shared buckets (csrc/budget.c), read when asked: a level, not a count,
-- so lcm.stats_reset leaves it. Sorted, so that two scrapes of the same levels are the same.
local function budget_levels()
  local levels = core.budget_levels()
  table.sort(levels, function(a, b)
    if a.target ~= b.target then return a.target < b.target end
    return a.capacity < b.capacity
  end)
  return levels
end

-- { requests = { [subtopic] = n }, attempts = ..., retries = ..., errors = { [kind] = { [code] = n } },
--   outbox = { queued =, not_queued =, sent =, dead =, unusable = },
--   budget = { { target = "http://host:port", capacity =, tokens = }, ... },
--   latency = { [subtopic] = { count =, sum_ms =, buckets = { { le =, count = }, ... } } }, dropped = n }
function M.table()
  local raw = core.stats()
  local out = { requests = {}, attempts = {}, retries = {}, errors = {}, outbox = {}, budget = {},
                latency = raw.latency, dropped = 0 }
  for series, n in pairs(raw.counters) do
    local metric, values = parse(series)
    local m = METRICS[metric]
    if m and #values == #counters.LABELS[metric] then
      local t = out[m[3]]
      if #values == 0 then
        out[m[3]] = n
      elseif #values == 1 then
        t[values[1]] = n
      else
        t[values[1]] = t[values[1]] or {}
        t[values[1]][values[2]] = n
      end
    end
  end
  out.budget = budget_levels()
  return out
end

local function number(n)
  if n == math.huge then return "+Inf" end
  if n == math.floor(n) and n < 2 ^ 53 and n > -2 ^ 53 then return string.format("%d", n) end
  for digits = 15, 16 do -- the shortest that reads back as n
    local s = string.format("%." .. digits .. "g", n)
    if tonumber(s) == n then return s end
  end
  return string.format("%.17g", n)
end

-- The Prometheus text format, version 0.0.4: one HELP and TYPE line per metric, series
-- sorted so that two scrapes of the same numbers are the same bytes.
function M.text()
  local raw = core.stats()
  local by_metric = {}
  for series, n in pairs(raw.counters) do
    local metric = parse(series)
    by_metric[metric] = by_metric[metric] or {}
    table.insert(by_metric[metric], series .. " " .. number(n))
  end
  for _, b in ipairs(budget_levels()) do
    local metric = "lcm_retry_budget_tokens"
    by_metric[metric] = by_metric[metric] or {}
    table.insert(by_metric[metric], M.series(metric, b.target, number(b.capacity)) .. " " .. number(b.tokens))
  end
  local names = {}
  for name in pairs(METRICS) do names[#names + 1] = name end
  table.sort(names)
  local lines = {}
  for _, name in ipairs(names) do
    local m, series = METRICS[name], by_metric[name]
    if series then
      table.sort(series)
      lines[#lines + 1] = "# HELP " .. name .. " " .. m[2]
      lines[#lines + 1] = "# TYPE " .. name .. " " .. m[1]
      for _, line in ipairs(series) do lines[#lines + 1] = line end
    end
  end
  local subtopics = {}
  for subtopic in pairs(raw.latency) do subtopics[#subtopics + 1] = subtopic end
  table.sort(subtopics)
  if #subtopics > 0 then
    local name = "lcm_request_duration_seconds"
    lines[#lines + 1] = "# HELP " .. name .. " Time of one call, retries included, by subtopic"
    lines[#lines + 1] = "# TYPE " .. name .. " histogram"
    for _, subtopic in ipairs(subtopics) do
      local h, cumulative = raw.latency[subtopic], 0
      for _, b in ipairs(h.buckets) do
        cumulative = cumulative + b.count
        local le = b.le == math.huge and "+Inf" or number(b.le / 1000)
        lines[#lines + 1] = string.format('%s_bucket{subtopic=%s,le="%s"} %s', name, quote(subtopic), le,
                                          number(cumulative))
      end
      lines[#lines + 1] = string.format("%s_sum{subtopic=%s} %s", name, quote(subtopic), number(h.sum_ms / 1000))
      lines[#lines + 1] = string.format("%s_count{subtopic=%s} %s", name, quote(subtopic), number(h.count))
    end
  end
  return table.concat(lines, "\n") .. (#lines > 0 and "\n" or "")
end

return M
