-- A peer for make bench's instruction rows: what a script does without lcm, LuaSocket's
-- socket.http POSTing the request, lua-cjson decoding the answer, and a plain Lua loop
-- making records of it (the hand-written builder the issue compares with). Defines the
-- global peer_luasocket for bench/cg_host.c's call: step.
-- luacheck: globals peer_luasocket
local url = ...
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local REQUEST = [[{"channel":"LCM","topic":"WebService","subtopic":"GetOutcomeByOutcomegroup",]] ..
                [["source":"bench","data":{"callid":"","type":"MANUAL"}}]]
local HEADERS = { ["content-type"] = "application/json", ["content-length"] = #REQUEST }

function peer_luasocket()
  local out = {}
  local ok, status = http.request { url = url, method = "POST", headers = HEADERS,
                                    source = ltn12.source.string(REQUEST), sink = ltn12.sink.table(out) }
  if not ok or status ~= 200 then return false end
  local list = {}
  for i, r in ipairs(cjson.decode(table.concat(out)).message.response) do
    list[i] = { id = tonumber(r.OutComeID), description = r.Description, parent_id = tonumber(r.ParentID),
                campaign_id = tonumber(r.CampaignID), lead_score = tonumber(r.LeadScore), raw = r }
  end
  return #list > 0
end
