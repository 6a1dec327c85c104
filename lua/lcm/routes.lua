-- Every documented LCM call's route: its method name, the subtopic it sends, the subtopic
-- its answer carries, and whether it is a Set. This is the light half of the one call table:
-- the client, the outbox and lcm.public load it with `require "lcm"` (a fresh Lua state per
-- call pays for a few strings, not for the checkers), while lcm.api, the heavy half (fields,
-- checkers, defaults, record shapes), is loaded at the first typed call and takes each
-- entry's subtopic, answer and kind from here, so they are written once.
-- Requires nothing: anyone may require it.
local M = {}

--- Whether a subtopic is a Set: it starts with "Set" in any case (call("setDNC") too, as
-- LCM itself and answers' subtopics ignore case). The one rule for the client (Idempotency-Key,
-- result check, recorded, outbox), the outbox (what it accepts) and the replay (what it
-- sends again): an outcome the client queued is always one the flush can replay.
function M.is_set(subtopic)
  return type(subtopic) == "string" and subtopic:find("^[Ss][Ee][Tt]") ~= nil
end

-- { method, request subtopic, answer subtopic }, as the vendor's pages' samples spell them
-- (docs/api.md says where the pages disagree). An answer left out is the rule's: a Set's
-- is its subtopic .. "Result", a Get's its subtopic without "Get" (GetCallBackModes ->
-- CallBackModes). The seed calls come first; the rest in lcm.api's (LDoc) order.
-- Kept to strings and small tables: `require "lcm"` loads it in every fresh Lua state.
M.CALLS = {
  { "get_outcomes", "GetOutcomeByOutcomegroup", "BusinessOutCome" },
  { "set_outcome", "SetBusinessOutcomeWithCallOutcome" },
  { "set_dnc", "SetDNC" },
  { "set_callback", "SetCallbackWithComments" },
  { "set_personal_callback", "SetPersonalCallbackWithComments" },
  { "set_business_outcome_with_callback", "SetBusinessOutcomeWithCallback" },
  { "set_business_outcome_with_personal_callback", "SetBusinessOutcomeWithPersonalCallback" },
  { "set_new_mode_number", "SetNewModeNumber" },
  { "set_call_outcome", "SetCallOutcomeWithComments" },
  { "set_business_outcome", "SetBusinessOutcomeWithComments" },
  { "set_contact_business_fields", "SetContactBusinessFields" },
  { "send_agent_state", "SendAgentState", "SendAgentState" },
  { "get_call_outcomes", "GetCallOutCome" },
  { "get_business_outcomes", "GetBusinessOutCome" },
  { "get_bo_group_parent", "GetBOGroupParent" },
  { "get_business_outcome_parent", "GetBusinessOutcomeParent" },
  { "get_callback_modes", "GetCallBackModes" },
  { "get_campaign_modes", "GetCampaignModes" },
  { "get_mode_information", "GetModeInformation", "GetModeInformationResult" },
  { "get_screen_pop_data", "GetScreenPopData" },
  { "get_dnc_business_fields", "GetDNCBussField" },
  { "get_business_fields", "GetContactDetail" },
  { "get_personal_callback_list", "GetPersonalCallbackList" },
  { "get_campaign_groups", "GetCampaignGroups", "SetCampaignGroup" },
  { "get_download_contacts_for_dialing", "GetDownloadContactsForDialing" },
  { "get_download_all_contacts", "GetDownloadAllContactsForDialing" },
  { "add_compliance", "AddCompliance", "AddComplianceResponse" },
  { "get_campaigns_for_mcd_request", "GetCampaignsForMCDRequest", "SetCampaignsForMCDResponse" },
}

--- Telephony outcome IDs by name (lcm.CALL_OUTCOME, documented in lcm/public.lua): what a
-- call_outcome field accepts as a name when the caller gives no call_outcomes list.
M.CALL_OUTCOME = {
  SUCCESS = 0, ABANDONED = 1, INVALID = 2, BUSY = 3, CALLBACK = 4, DNC = 5, FAX = 6,
  ANSWERING_MACHINE = 7, NO_ANSWER = 8, REJECT = 9,
}

-- The seed calls (get_outcomes, set_outcome) are written in lcm.client; every other method
-- is lcm.api's, installed at its first call (M.NAMES: the names the lazy stubs are made from).
M.NAMES = {}
for i = 3, #M.CALLS do M.NAMES[i - 2] = M.CALLS[i][1] end

--- The answer subtopic of an entry of M.CALLS: its own, or the rule's.
function M.expected(c)
  return c[3] or (M.is_set(c[2]) and c[2] .. "Result") or c[2]:sub(4)
end

--- The subtopic a method sends, or nil.
function M.subtopic(method)
  for _, c in ipairs(M.CALLS) do
    if c[1] == method then return c[2] end
  end
end

--- A call's route by its method name: { method, subtopic, answer, set }.
function M.route(method)
  for _, c in ipairs(M.CALLS) do
    if c[1] == method then
      return { method = method, subtopic = c[2], set = M.is_set(c[2]), answer = M.expected(c) }
    end
  end
end

-- subtopic -> the answer's subtopic, or false: filled at each subtopic's first request, so a
-- fresh Lua state pays for the routes it uses only.
local answer_of = {}

--- The subtopic the answer to a request must carry (compared ignoring case), or nil when it
-- is not known (client:call of an undocumented Get): every documented call's from M.CALLS
-- (its subtopic in any case), any other Set's subtopic .. "Result".
function M.answer(subtopic)
  local a = answer_of[subtopic]
  if a == nil then
    a = false
    local found
    for _, c in ipairs(M.CALLS) do
      if c[2] == subtopic then found = c break end
    end
    if not found then -- another case ("setDNC", the table's "GetBusinessOutcome")
      local want = subtopic:lower()
      for _, c in ipairs(M.CALLS) do
        if c[2]:lower() == want then found = c break end
      end
    end
    if found then a = M.expected(found) end
    if not a and M.is_set(subtopic) then a = subtopic .. "Result" end
    answer_of[subtopic] = a
  end
  return a or nil
end

return M
