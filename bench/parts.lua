-- The parts of one client:get_outcomes, each a global function for bench/cg_host.c's
-- call: step (bench/callgrind.lua, BENCH_PROFILE=1), so that each can be counted alone.
-- They reach into the Lua layer's internals, which change: a part whose internals are
-- gone is not defined, and its row is left out.
-- luacheck: globals part_empty part_check part_encode part_perform part_answer part_records part_get
-- luacheck: globals part_options part_http part_new
local url, ca_file = ...
local lcm = require "lcm"
local core = require "lcm.core"
local check = require "lcm.check"
local outcomes = require "lcm.outcomes"

local client = assert(lcm.new { url = url, ca_file = ca_file })
local SUBTOPIC, DATA = "GetOutcomeByOutcomegroup", { callid = "", type = "MANUAL" }
local GET_CALLID = { empty_ok = true, integer_ok = true }
local body = core.encode and core.encode(SUBTOPIC, "lcm-lua", DATA)
local answer
if body and client.http then answer = select(2, client.http:perform(url, body, nil, 5000, 2000)) end
local message = answer and core.answer and core.answer(answer, 200, "BusinessOutCome")

function part_empty() return true end

function part_check()
  return check.text("callid", "", GET_CALLID) and check.text("type", "MANUAL")
end

if body then
  function part_encode() return core.encode(SUBTOPIC, "lcm-lua", { callid = "", type = "MANUAL" }) end
  function part_perform() return client.http:perform(url, body, nil, 5000, 2000) end
end

if message then
  function part_answer() return core.answer(answer, 200, "BusinessOutCome") end
  function part_records() return outcomes.from_message(message) end
end

function part_get() return client:get_outcomes("", "MANUAL") end

-- lcm.new's parts: the options' checks, and the C client (a libcurl easy handle).
local DEFAULTS = { source = "lcm-lua", timeout_ms = 5000, connect_timeout_ms = 2000, max_attempts = 3,
                   max_response_bytes = 1024 * 1024, retry_budget = 500, user_agent = "lcm-lua" }
if check.options then
  function part_options() return check.options({ url = url, ca_file = ca_file }, DEFAULTS) end
end
if core.http then
  local HEADERS = { "Content-Type: application/json", "Accept: application/json", "Expect:" }
  function part_http()
    local http = core.http { headers = HEADERS, ca_file = ca_file, user_agent = "lcm-lua",
                             max_response_bytes = 1048576 }
    http:close()
    return true
  end
end
function part_new()
  local c = lcm.new { url = url, ca_file = ca_file }
  c:close()
  return true
end
