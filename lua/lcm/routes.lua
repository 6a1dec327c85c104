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
  return type(subtopic) == "string" and subtopic:sub(1, 3):lower() == "set"
end

-- { method, request subtopic, answer subtopic (nil: a Set's, subtopic .. "Result") }, as the
-- vendor's pages' samples spell them (docs/api.md says where the pages disagree). The seed
-- calls come first; the rest are in lcm.api's order (its LDoc order).
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
  { "get_call_outcomes", "GetCallOutCome", "CallOutCome" },
  { "get_business_outcomes", "GetBusinessOutCome", "BusinessOutCome" },
  { "get_bo_group_parent", "GetBOGroupParent", "BOGroupParent" },
  { "get_business_outcome_parent", "GetBusinessOutcomeParent", "BusinessOutcomeParent" },
  { "get_callback_modes", "GetCallBackModes", "CallBackModes" },
  { "get_campaign_modes", "GetCampaignModes", "CampaignModes" },
  { "get_mode_information", "GetModeInformation", "GetModeInformationResult" },
  { "get_screen_pop_data", "GetScreenPopData", "ScreenPopData" },
  { "get_dnc_business_fields", "GetDNCBussField", "DNCBussField" },
  { "get_business_fields", "GetContactDetail", "ContactDetail" },
  { "get_personal_callback_list", "GetPersonalCallbackList", "PersonalCallbackList" },
  { "get_campaign_groups", "GetCampaignGroups", "SetCampaignGroup" },
  { "get_download_contacts_for_dialing", "GetDownloadContactsForDialing", "DownloadContactsForDialing" },
  { "get_download_all_contacts", "GetDownloadAllContactsForDialing", "DownloadAllContactsForDialing" },
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
local SEED = { get_outcomes = true, set_outcome = true }

M.NAMES = {}     -- lcm.api's methods, in order
M.BY_METHOD = {} -- method -> { method =, subtopic =, answer =, set = }
local ANSWER = {} -- request subtopic, lower case -> the answer's subtopic
for _, c in ipairs(M.CALLS) do
  local method, subtopic = c[1], c[2]
  local set = M.is_set(subtopic)
  local answer = c[3] or (set and subtopic .. "Result") or nil
  M.BY_METHOD[method] = { method = method, subtopic = subtopic, answer = answer, set = set }
  ANSWER[subtopic:lower()] = answer
  if not SEED[method] then M.NAMES[#M.NAMES + 1] = method end
end

--- The subtopic the answer to a request must carry (compared ignoring case), or nil when it
-- is not known (client:call of an undocumented Get): every documented call's from M.CALLS,
-- any other Set's subtopic .. "Result".
function M.answer(subtopic)
  return ANSWER[subtopic:lower()] or (M.is_set(subtopic) and subtopic .. "Result") or nil
end

return M
