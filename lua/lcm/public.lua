--- The LCM WebService from Lua: constants, @{lcm.new}, the default client and its shortcuts.
-- lcm: the LCM WebService (List and Campaign Manager) from Lua.
--
-- This file is the public surface: constants, lcm.new and the module-level shortcuts.
-- lua/lcm/init.lua, what `require "lcm"` finds, hands over to it: as lcm.public it is
-- embedded in lcm.core with the rest of the layer.
-- A request's path continues in lua/lcm/client.lua (Client:set_outcome -> Client:_send)
-- and from there into C (csrc/codec.c, csrc/http.c). Runtime failures come back as
-- nil, err; err.kind says which of the eight kinds it is (see README, "Errors").
--
-- `local lcm = require "lcm"`. The guide is the README; this page is the reference. A
-- client's calls are the methods of @{Client}; the error object is described in
-- @{errors.md|Errors}.
-- @module lcm
local core = require "lcm.core"
local check = require "lcm.check"
local Client = require "lcm.client"
local retry = require "lcm.retry"
local routes = require "lcm.routes"
-- lcm.tasks is loaded at the first of its functions: a fresh state per call does not pay for it.
local function tasks_fn(name)
  return function(...) return require("lcm.tasks")[name](...) end
end

local lcm = {
  --- The version of lcm, a string like `"1.0.0"` (the file VERSION).
  -- @field _VERSION
  _VERSION = core._VERSION,
  --- The call type of a manual dial: `call_type` of @{Client:get_outcomes} (the default).
  -- @field MANUAL
  MANUAL = "MANUAL",
  --- The call type of an inbound call.
  -- @field INBOUND
  INBOUND = "INBOUND",
  --- The call type of an outbound (dialer) call.
  -- @field OUTBOUND
  OUTBOUND = "OUTBOUND",
  --- Telephony outcome IDs by name: what `call_outcome` accepts as a name.
  -- The telephony outcome IDs of the vendor's sample list; a tenant may configure others.
  -- A name is looked up ignoring case (`"dnc"`, `"No Answer"`); with the tenant's own list
  -- (`call_outcomes`, from @{Client:get_call_outcomes}) that list is used instead.
  -- @table CALL_OUTCOME
  -- @field SUCCESS 0
  -- @field ABANDONED 1
  -- @field INVALID 2
  -- @field BUSY 3
  -- @field CALLBACK 4
  -- @field DNC 5
  -- @field FAX 6
  -- @field ANSWERING_MACHINE 7
  -- @field NO_ANSWER 8
  -- @field REJECT 9
  CALL_OUTCOME = routes.CALL_OUTCOME,
  --- JSON null as it appears in an answer (the `raw` record of a list entry): a unique
  -- light userdata, the same value as `cjson.null`.
  -- @field null
  null = core.null,
  --- Whether a value is an lcm error object (see @{errors.md|Errors}).
  -- @function is_error
  -- @param x any value
  -- @treturn boolean
  is_error = core.is_error,
  --- What lcm did in this process, as a table.
  -- What lcm did in this process (every client, every Lua state and thread): a table, and
  -- the Prometheus text format (see README, "Seeing what lcm does"). lcm.stats is loaded
  -- when asked: the calls count through lcm.counters alone.
  -- The counters are kept in C: one set for every client in every Lua state and thread.
  -- @function stats
  -- @treturn table `{ requests = { [subtopic] = n }, attempts = {...}, retries = {...},`
  -- `errors = { [kind] = { [code] = n } }, outbox = { queued =, not_queued =, sent =, dead =, unusable = },`
  -- `budget = { [target] = tokens }, latency = { [subtopic] = { count =, sum_ms =,`
  -- `buckets = { { le =, count = }, ... } } }, dropped = n }`
  stats = function() return require("lcm.stats").table() end,
  --- The same numbers as @{stats} in the Prometheus text exposition format (0.0.4), for a
  -- scrape endpoint or a monitoring script.
  -- @function stats_text
  -- @treturn string one HELP and TYPE line per metric, the series sorted
  stats_text = function() return require("lcm.stats").text() end,
  --- Sets the limits of the process-wide connection pool.
  -- The process-wide connection pool's limits (csrc/pool.c, README "Embedding").
  -- Fields left out keep their values.
  -- @function configure_pool
  -- @tparam table limits
  -- @tparam[opt=32] int limits.max_idle handles kept idle (least recently used closed first)
  -- @tparam[opt=256] int limits.max_total handles of the pool, idle or in use
  -- @tparam[opt=60000] int limits.idle_timeout_ms an idle handle is closed after this
  -- @treturn[1] boolean true
  -- @return[2] nil
  -- @return[2] err, `invalid` with `field`
  configure_pool = core.configure_pool,
  --- Runs a function as a task: every lcm call made in it yields while it waits (network,
  -- retry backoff), so one Lua state keeps many calls in flight. Tasks run in @{run} (or
  -- whatever loop drives @{engine}); they start at its next turn, in the order spawned.
  -- @function spawn
  -- @tparam function fn the task's function
  -- @param ... its arguments
  -- @treturn[1] table the task: `status` ("running", "done", "failed"), `results` (a table
  -- of fn's returns, with `n`), `error` and `traceback` when it raised
  -- @return[2] nil
  -- @return[2] err, `invalid` (`field = "fn"`) when fn is not a function
  spawn = tasks_fn("spawn"),
  --- Runs the tasks until every one has ended, or until timeout_ms has passed.
  -- A task that raises does not stop the others: its error and traceback are returned.
  -- Called from inside a task it is `invalid` (a task already runs in the loop).
  -- @function run
  -- @tparam[opt] number timeout_ms at most this long (0 to 86400000); default: until done
  -- @treturn[1] int the tasks still running (0 when all ended)
  -- @treturn[1] table the failures: `{ { error =, traceback =, task = }, ... }`
  -- @return[2] nil
  -- @return[2] err, `invalid`
  run = tasks_fn("run"),
  --- Ends every request in flight or waiting now: each call returns `nil, err` with
  -- `err.kind = "timeout"` and `err.code = "CANCELLED"`, and a Set among them goes to the
  -- outbox (`err.queued`). Tasks waiting for a request or a retry's backoff run to their end;
  -- a task sleeping again (a ticker) is left. For a script that must stop: `lcm.run(grace)`,
  -- then `lcm.stop()`.
  -- @function stop
  -- @treturn[1] int the tasks still running
  -- @treturn[1] table the failures, as @{run}'s
  stop = tasks_fn("stop"),
  --- The loop of this Lua state as a pollable, for another event loop (cqueues, luv, a
  -- poll loop): `pollfd()` (a descriptor, readable when there is work), `events()` ("r"),
  -- `timeout()` (seconds until the next timer, or nil), `step()` (does the work that is
  -- ready without blocking, resumes tasks; returns the tasks still running). Calls made in
  -- a cqueues coroutine yield to cqueues by themselves.
  -- @function engine
  -- @treturn table the pollable
  engine = tasks_fn("engine"),
  --- Sets this Lua state's engine limits.
  -- @function configure_engine
  -- @tparam table limits
  -- @tparam[opt=64] int limits.max_in_flight requests running at once (1 to 100000); more
  -- wait their turn in order, none is dropped
  -- @treturn[1] boolean true
  -- @return[2] nil
  -- @return[2] err, `invalid` with `field`
  configure_engine = tasks_fn("configure"),
}

--- Waits ms milliseconds: inside a task (or a cqueues coroutine) the others run meanwhile;
-- elsewhere it blocks the thread.
-- @tparam number ms 0 to 86400000
-- @treturn[1] boolean true
-- @return[2] nil
-- @return[2] err, `invalid` (`field = "ms"`)
function lcm.sleep(ms)
  if type(ms) ~= "number" or not (ms >= 0 and ms <= 86400000) then
    return nil, core.error { kind = "invalid", field = "ms",
                             message = "ms must be a number of milliseconds from 0 to 86400000" }
  end
  return require("lcm.tasks").sleep(ms, core.sleep)
end

--- The options of @{new} and @{configure} (a table). An unknown option raises (a
-- programming mistake, with the nearest known name suggested); a bad value returns
-- `nil, err` (`invalid`, `err.field` the option's name).
-- @table options
-- @tfield string url (required) where messages are POSTed; `{subtopic}` in it is replaced by
-- the request's subtopic. `http://` or `https://` only, no credentials in it.
-- @tfield[opt="lcm-lua"] string source the envelope's `source`: the name of your application
-- @tfield[opt=5000] int timeout_ms the whole of one attempt; 1 to 86400000 (a day)
-- @tfield[opt=2000] int connect_timeout_ms the connection phase of one attempt; 1 to 86400000
-- @tfield[opt=3] int max_attempts attempts per call, retries included; 1 to 100
-- @tfield[opt] int deadline_ms bounds all attempts of one call together, waits included
-- @tfield[opt=500] int|false retry_budget the capacity of the process-wide retry token
-- bucket of the target, 1 to 1000000; `false` turns it off
-- @tfield[opt=true] boolean share take connections from the process-wide pool (see
-- @{configure_pool}); `false`: a private connection
-- @tfield[opt] string outbox a directory: every Set whose outcome is not known to LCM is
-- queued there (see @{Client:flush_outbox})
-- @tfield[opt] table headers extra headers, `{ ["X-Tenant"] = "acme" }`; lcm's own headers and
-- those that change the request's framing are refused
-- @tfield[opt] string bearer_token sent as `Authorization: Bearer ...`
-- @tfield[opt] string username HTTP basic authentication
-- @tfield[opt] string password HTTP basic authentication
-- @tfield[opt] string ca_file a PEM file of the CAs to trust (default: the system's)
-- @tfield[opt=false] boolean insecure the literal `true` skips TLS verification (logged as a warning)
-- @tfield[opt] string proxy an HTTP(S) proxy URL
-- @tfield[opt="lcm-lua/VERSION"] string user_agent
-- @tfield[opt=1048576] int max_response_bytes larger answers are refused while they are read
-- @tfield[opt] func logger `function(level, message, err)`; levels `debug`, `warn`, `error`;
-- `err` is set on the lines about one call's failure: the error that call returns
-- @tfield[opt] func sleep `function(ms)` used between retries (default: a C sleep), e.g.
-- `function(ms) session:sleep(ms) end` in FreeSWITCH
local DEFAULTS = {
  source = "lcm-lua",
  timeout_ms = 5000,
  connect_timeout_ms = 2000,
  max_attempts = 3,
  max_response_bytes = 1024 * 1024,
  retry_budget = retry.BUDGET,
  user_agent = "lcm-lua/" .. core._VERSION,
}

--- A new client.
-- @tparam table opts the @{options}
-- @treturn[1] Client
-- @return[2] nil
-- @return[2] err, `invalid` (a bad option) or `transport` (libcurl could not be set up)
function lcm.new(opts)
  local o, err = check.options(opts, DEFAULTS)
  if not o then return nil, err end
  return Client.new(o)
end

--- Sets the default client of the module-level @{shortcuts}, closing the one before.
-- The default client of the module-level shortcuts: lcm.configure{...}, or LCM_URL.
-- Without it, the first shortcut makes one from the environment: `LCM_URL`,
-- `LCM_BEARER_TOKEN`, `LCM_SOURCE`, `LCM_CA_FILE`, `LCM_OUTBOX`.
-- @function configure
-- @tparam table opts the @{options}
-- @treturn[1] boolean true
-- @return[2] nil
-- @return[2] err, as from @{new}
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

--- Module-level shortcuts: the client methods on the default client.
-- lcm.get_outcomes(...), lcm.set_outcome{...}, lcm.call(...): the client methods, on the
-- default client.
-- `lcm.<method>(...)` is `client:<method>(...)` on the default
-- client (see @{configure}), with the same arguments and results; `nil, err` (`invalid`,
-- `field = "url"`) when there is no default client. Each one:
--
-- * `lcm.get_outcomes`: @{Client:get_outcomes}
-- * `lcm.set_outcome`: @{Client:set_outcome}
-- * `lcm.call`: @{Client:call}
-- * `lcm.set_dnc`: @{Client:set_dnc}
-- * `lcm.set_callback`: @{Client:set_callback}
-- * `lcm.set_personal_callback`: @{Client:set_personal_callback}
-- * `lcm.set_business_outcome_with_callback`: @{Client:set_business_outcome_with_callback}
-- * `lcm.set_business_outcome_with_personal_callback`: @{Client:set_business_outcome_with_personal_callback}
-- * `lcm.set_new_mode_number`: @{Client:set_new_mode_number}
-- * `lcm.set_call_outcome`: @{Client:set_call_outcome}
-- * `lcm.set_business_outcome`: @{Client:set_business_outcome}
-- * `lcm.set_contact_business_fields`: @{Client:set_contact_business_fields}
-- * `lcm.send_agent_state`: @{Client:send_agent_state}
-- * `lcm.get_call_outcomes`: @{Client:get_call_outcomes}
-- * `lcm.get_business_outcomes`: @{Client:get_business_outcomes}
-- * `lcm.get_bo_group_parent`: @{Client:get_bo_group_parent}
-- * `lcm.get_business_outcome_parent`: @{Client:get_business_outcome_parent}
-- * `lcm.get_callback_modes`: @{Client:get_callback_modes}
-- * `lcm.get_campaign_modes`: @{Client:get_campaign_modes}
-- * `lcm.get_mode_information`: @{Client:get_mode_information}
-- * `lcm.get_screen_pop_data`: @{Client:get_screen_pop_data}
-- * `lcm.get_dnc_business_fields`: @{Client:get_dnc_business_fields}
-- * `lcm.get_business_fields`: @{Client:get_business_fields}
-- * `lcm.get_personal_callback_list`: @{Client:get_personal_callback_list}
-- * `lcm.get_campaign_groups`: @{Client:get_campaign_groups}
-- * `lcm.get_download_contacts_for_dialing`: @{Client:get_download_contacts_for_dialing}
-- * `lcm.get_download_all_contacts`: @{Client:get_download_all_contacts}
-- * `lcm.add_compliance`: @{Client:add_compliance}
-- * `lcm.get_campaigns_for_mcd_request`: @{Client:get_campaigns_for_mcd_request}
-- @table shortcuts
local SHORTCUTS = { "get_outcomes", "set_outcome", "call" }
-- lcm/api.lua's calls, by name only: lcm.api itself is loaded by the client at the first one.
for _, name in ipairs(routes.NAMES) do SHORTCUTS[#SHORTCUTS + 1] = name end
for _, name in ipairs(SHORTCUTS) do
  lcm[name] = function(...)
    -- lcm:get_outcomes(...): the hint, whether or not there is a default client.
    if rawequal((...), lcm) then return nil, Client.misuse(name, true) end
    local client, err = default()
    if not client then return nil, err end
    return client[name](client, ...)
  end
end

return lcm
