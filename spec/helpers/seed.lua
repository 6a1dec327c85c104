-- The seed's SetBusinessOutcomeWithCallOutcome sample, as set_outcome arguments.
local M = {}

M.SET = {
  callid = "12345", account_number = "5|3|1|0|0|44|1", business_outcome = 101, call_outcome = 0,
  lead_score = 0, user_id = "1234", agent_comments = "Test comment", target_amount = 0,
}

-- A copy of M.SET with some fields changed.
function M.set_args(changes)
  local t = {}
  for k, v in pairs(M.SET) do t[k] = v end
  for k, v in pairs(changes or {}) do t[k] = v end
  return t
end

-- A copy of M.SET without one field.
function M.without(name)
  local t = M.set_args()
  t[name] = nil
  return t
end

return M
