-- lua5.4 .ci/pending.lua RUN OUTPUT ALLOWED
-- Reads one busted run's output (plainTerminal: "Pending -> FILE @ LINE", then the case's
-- full name) and prints "ci: pending, not allowed in RUN: FILE: NAME" for each pending case
-- that the allowlist ALLOWED does not name for RUN; .ci/run counts those lines as failures.
-- Exit status: 0 when every pending case is allowed, 1 otherwise.
local run, output, allowed_file = arg[1], arg[2], arg[3]
assert(run and output and allowed_file, "usage: pending.lua RUN OUTPUT ALLOWED")

local allowed = {}
for line in io.lines(allowed_file) do
  local r, case = line:match("^(%S+) (.+)$")
  if r and not line:match("^#") then allowed[r .. " " .. case] = true end
end

local bad, lines = 0, {}
for line in io.lines(output) do lines[#lines + 1] = line end
for i, line in ipairs(lines) do
  -- "->" when busted writes to a pipe (CI's tee), "→" on a terminal
  local file = line:match("^Pending %-> (.-) @ %d+$") or line:match("^Pending \226\134\146 (.-) @ %d+$")
  if file then
    local case = file .. ": " .. (lines[i + 1] or "")
    if not allowed[run .. " " .. case] then
      bad = bad + 1
      print("ci: pending, not allowed in " .. run .. ": " .. case .. " (" .. (lines[i + 2] or "") .. ")")
    end
  end
end
os.exit(bad == 0 and 0 or 1)
