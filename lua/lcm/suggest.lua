-- "Did you mean ...?": the known name nearest to a misspelt one, for unknown options,
-- fields, flags and subcommands (timeout -> timeout_ms, agent_comment -> agent_comments).
local M = {}

-- Levenshtein distance, two rows at a time; names are short.
local function distance(a, b)
  local prev, cur = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = ca == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end

-- The candidate nearest to word (case-insensitive), or nil when none is near enough: a
-- distance of at most a third of the word's length (at least 2), or a candidate that
-- starts with the word or that the word starts with (timeout -> timeout_ms).
-- candidates: a list of names, or a table whose string keys are the names.
function M.nearest(word, candidates)
  if type(word) ~= "string" or word == "" then return nil end
  local names = {}
  for k, v in pairs(candidates) do
    local name = type(k) == "string" and k or v
    if type(name) == "string" then names[#names + 1] = name end
  end
  table.sort(names) -- ties go the same way whatever pairs() does
  local w = word:lower()
  local best, best_d
  for _, name in ipairs(names) do
    local n = name:lower()
    local d = distance(w, n)
    if n:sub(1, #w) == w or w:sub(1, #n) == n then d = math.min(d, 1) end
    if not best_d or d < best_d then best, best_d = name, d end
  end
  if best_d and best_d <= math.max(2, math.floor(#w / 3)) then return best end
  return nil
end

-- " (did you mean 'x'?)", or "" when nothing is near.
function M.hint(word, candidates)
  local near = M.nearest(word, candidates)
  return near and (" (did you mean '" .. near .. "'?)") or ""
end

return M
