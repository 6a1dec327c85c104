-- The method names of lcm.api's typed calls, in lcm.api's order (spec/api_spec.lua checks
-- that the two lists agree). lcm.client and lcm.public install a stub under each name that
-- loads lcm.api at the first typed call: building its call specs is most of what
-- `require "lcm"` would cost a fresh Lua state (FreeSWITCH, pbx_lua: one per call), and a
-- dialplan uses one or two of them, if any.
return {
  "set_dnc", "set_callback", "set_personal_callback", "set_business_outcome_with_callback",
  "set_business_outcome_with_personal_callback", "set_new_mode_number", "set_call_outcome",
  "set_business_outcome", "set_contact_business_fields", "send_agent_state", "get_call_outcomes",
  "get_business_outcomes", "get_bo_group_parent", "get_business_outcome_parent", "get_callback_modes",
  "get_campaign_modes", "get_mode_information", "get_screen_pop_data", "get_dnc_business_fields",
  "get_business_fields", "get_personal_callback_list", "get_campaign_groups",
  "get_download_contacts_for_dialing", "get_download_all_contacts", "add_compliance",
  "get_campaigns_for_mcd_request",
}
