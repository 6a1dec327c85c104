-- lcm: the LCM WebService (List and Campaign Manager) from Lua.
--
-- This file is the public surface: constants, lcm.new and the module-level shortcuts.
-- lua/lcm/init.lua, what `require "lcm"` finds, hands over to it: as lcm.public it is
-- embedded in lcm.core with the rest of the layer.
-- A request's path continues in lua/lcm/client.lua (Client:set_outcome -> Client:_send)
-- and from there into C (csrc/codec.c, csrc/http.c). Runtime failures come back as
-- nil, err; err.kind says which of the eight kinds it is (see README, "Errors").
local core = require "lcm.core"
local check = require "lcm.check"
local Client = require "lcm.client"
local retry = require "lcm.retry"

local lcm = {
  _VERSION = core._VERSION,
  MANUAL = "MANUAL",
  INBOUND = "INBOUND",
  OUTBOUND = "OUTBOUND",
  -- The telephony outcome IDs of the vendor's sample list; a tenant may configure others.
  CALL_OUTCOME = {
    SUCCESS = 0, ABANDONED = 1, INVALID = 2, BUSY = 3, CALLBACK = 4, DNC = 5, FAX = 6,
    ANSWERING_MACHINE = 7, NO_ANSWER = 8, REJECT = 9,
  },
  null = core.null,
  is_error = core.is_error,
  -- What lcm did in this process (every client, every Lua state and thread): a table, and
  -- the Prometheus text format (see README, "Seeing what lcm does"). lcm.stats is loaded
  -- when asked: the calls count through lcm.counters alone.
  stats = function() return require("lcm.stats").table() end,
  stats_text = function() return require("lcm.stats").text() end,
  -- The process-wide connection pool's limits (csrc/pool.c, README "Embedding").
  configure_pool = core.configure_pool,
}

local DEFAULTS = {
  source = "lcm-lua",
  timeout_ms = 5000,
  connect_timeout_ms = 2000,
  max_attempts = 3,
  max_response_bytes = 1024 * 1024,
  retry_budget = retry.BUDGET,
  user_agent = "lcm-lua/" .. core._VERSION,
}

function lcm.new(opts)
  local o, err = check.options(opts, DEFAULTS)
  if not o then return nil, err end
  return Client.new(o)
end

-- The default client of the module-level shortcuts: lcm.configure{...}, or LCM_URL.
local default_client

function lcm.configure(opts)
  local client, err = lcm.new(opts)
  if not client then return nil, err end
  if default_client then default_client:close() end
  default_client = client
  return true
end

local function default()
  if default_client then return default_client end
  -- The environment configures the default client as it does the lcm command:
  -- LCM_URL, LCM_BEARER_TOKEN, LCM_SOURCE, LCM_CA_FILE, LCM_OUTBOX (lcm/config.lua).
  local opts = require("lcm.config").from_env(os.getenv)
  if not opts.url then
    return nil, core.error { kind = "invalid", field = "url",
                             message = "no default client: call lcm.configure{url = ...} or set LCM_URL" }
  end
  local client, err = lcm.new(opts)
  if client then default_client = client end
  return client, err
end

-- lcm.get_outcomes(...), lcm.set_outcome{...}, lcm.call(...): the client methods, on the
-- default client.
local SHORTCUTS = { "get_outcomes", "set_outcome", "call" }
-- lcm/api.lua's calls, by name only: lcm.api itself is loaded by the client at the first one.
for _, name in ipairs(require "lcm.api_names") do SHORTCUTS[#SHORTCUTS + 1] = name end
for _, name in ipairs(SHORTCUTS) do
  lcm[name] = function(...)
    local client, err = default()
    if not client then return nil, err end
    return client[name](client, ...)
  end
end

return lcm
