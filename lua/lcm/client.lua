-- The client: what happens to a request between lcm.new and the C core. For each call,
-- the arguments are checked and converted (lcm.check), then Client:_send asks the C core
-- to encode the envelope (core.encode), sends it with libcurl (http:perform), turns the
-- answer into its message or one error object (core.answer), and retries what is safe to
-- retry (lcm.retry). Set calls that still fail are queued in the outbox (lcm.outbox).
local core = require "lcm.core"
local check = require "lcm.check"
local answers = require "lcm.answers"
local retry = require "lcm.retry"
local stats = require "lcm.counters" -- lcm.stats' counting part: its presentation is not loaded
local redact = require "lcm.redact"

local M = {}

-- Answers whose subtopic differs from the request's (from the vendor's pages). A Set...
-- request is answered by Set...Result; other subtopics' answers are not checked.
local ANSWER_SUBTOPIC = {
  GetOutcomeByOutcomegroup = "BusinessOutCome",
  GetBusinessOutcome = "BusinessOutcome",
  GetBOGroupParent = "BOGroupParent",
  GetBusinessOutcomeParent = "BusinessOutcomeParent",
  GetCallOutCome = "CallOutcome",
}

-- Whether a subtopic is a Set: "Set..." in any case (answers' subtopics are compared
-- ignoring case too), so call("setDNC") gets a Set's key, result check and outbox.
local function is_set(subtopic)
  return subtopic:sub(1, 3):lower() == "set"
end

local function answer_subtopic(subtopic)
  return ANSWER_SUBTOPIC[subtopic] or (is_set(subtopic) and subtopic .. "Result") or nil
end

--- A client of the LCM WebService, made by @{lcm.new}: `client:get_outcomes(...)`,
-- `client:set_outcome{...}`, the typed call of every documented subtopic, and `client:call`
-- for any other. Every call returns its result, or `nil, err` (see @{errors.md|Errors});
-- none raises for runtime data. Typed calls take a table of snake_case fields, or their
-- fields positionally in the order given here:
-- `client:get_callback_modes(callid, account_number)`. Every field is checked before
-- anything is sent: a bad or unknown one is `invalid` with `err.field` naming it. A date
-- is also accepted as an `os.time()` value or a table `{ year =, month =, day =, hour =,`
-- `min = }`; an impossible date, or an end before its start, is `invalid`.
-- Every Set (`set_...`) carries an Idempotency-Key, returns `true` when
-- LCM accepted it, is `rejected` when LCM answers `success: false`, has `err.recorded`,
-- and is queued in the outbox (option `outbox`) when its fate is not known.
-- A list answer has `list:find(x)`: the record whose ID is x (107 and "107" alike) or whose
-- name or description is x, ignoring case.
-- @classmod Client
local Client = {}
Client.__index = Client

-- A host's logger or sleep must not turn our nil, err into a raised error.
local function safe_call(fn, ...)
  if fn then pcall(fn, ...) end
end


-- message may be a format with arguments: it is only formatted when there is a logger.
function Client:_log(level, message, ...)
  if not self.logger then return end
  if select("#", ...) > 0 then message = string.format(message, ...) end
  safe_call(self.logger, level, message)
end

-- Whether LCM may have recorded a Set whose attempt ended in err. False only where it
-- provably did not: nothing left (a closed client; libcurl says nothing was sent:
-- err.sent == false), LCM's own error envelope, or a well-formed success = false.
-- Everything else after the request left (a 5xx, a timeout, an answer we cannot read or
-- that is not for this call...) may hide a recorded outcome.
local function may_be_recorded(err)
  local kind = err.kind
  if kind == "invalid" or kind == "lcm" or kind == "rejected" then return false end
  if kind == "transport" or kind == "timeout" then return err.sent ~= false end
  return true
end

-- err.recorded for the error of a Set: "unknown" when any of its attempts may have been
-- recorded (earlier says whether one before the last may have), else false.
local function set_recorded(err, subtopic, earlier)
  if is_set(subtopic) then
    err.recorded = (earlier or may_be_recorded(err)) and "unknown" or false
  end
end

-- An error of a call that sent nothing (a bad argument, no randomness for its key...).
local function finish(err, subtopic, attempts)
  err.subtopic = subtopic
  err.attempts = attempts
  if is_set(subtopic) then err.recorded = false end
  stats.error(err)
  return nil, err
end

-- The error of a call that was attempted: counted, judged (err.recorded) and logged.
function Client:_fail(err, subtopic, attempts, earlier)
  redact.error(err, self.mask) -- before the logger, the outbox's error and dead.log see it
  err.subtopic, err.attempts = subtopic, attempts
  set_recorded(err, subtopic, earlier)
  stats.error(err)
  self:_log("error", tostring(err))
  return nil, err
end

-- Sends one encoded request body and returns the answer's `message` table, the attempts it
-- took and whether an attempt before the last may have reached LCM; or nil, err. Retries
-- what is retryable.
-- `key` (Set... calls) is the Idempotency-Key: the same on every attempt, so a server
-- that did the work but whose answer was lost does not do it twice.
function Client:_send(subtopic, body, key)
  local err
  local route = self.routes[subtopic]
  if not route then
    route = { url = (self.url:gsub("{subtopic}", subtopic)), expect = answer_subtopic(subtopic) }
    self.routes[subtopic] = route
  end
  local url, expect = route.url, route.expect
  local started = core.monotonic_ms()
  local deadline = self.deadline_ms and started + self.deadline_ms
  local attempt, spent, earlier = 0, nil, false
  while true do
    attempt = attempt + 1
    local timeout = self.timeout_ms
    if deadline then timeout = math.max(1, math.min(timeout, math.floor(deadline - core.monotonic_ms()))) end
    local status, answer, retry_after = self.http:perform(url, body, key, timeout,
                                                          math.min(self.connect_timeout_ms, timeout))
    local message
    if status then
      message, err = core.answer(answer, status, expect)
      if message then
        if self.budget then self.budget:refund(spent) end
        self:_log("debug", "%s: HTTP %d on attempt %d", subtopic, status, attempt)
        stats.request(subtopic, attempt, core.monotonic_ms() - started)
        return message, nil, attempt, earlier
      end
      err.retry_after = retry_after
      if err.kind == "http" then err.body = self.body_excerpt(answer) end
      redact.error(err, self.mask) -- before the retry's log line below
    else
      err = answer
      -- http:perform refuses a closed client before any attempt (kind invalid).
      if err.kind == "invalid" then attempt = attempt - 1 end
    end
    if not err.retryable or attempt >= self.max_attempts then break end
    earlier = earlier or may_be_recorded(err)
    local wait = retry.delay_ms(attempt, retry_after)
    if deadline and core.monotonic_ms() + wait >= deadline then
      err.deadline_exceeded = true -- no room for another attempt
      break
    end
    spent = self.budget and self.budget:take(err)
    if self.budget and not spent then
      err.budget_exhausted = true
      break
    end
    self:_log("warn", "%s: attempt %d failed (%s), retrying in %d ms",
              subtopic, attempt, core.printable(tostring(err.code or err.status or err.kind)), wait)
    safe_call(self.sleep, wait)
  end
  stats.request(subtopic, attempt, core.monotonic_ms() - started)
  return self:_fail(err, subtopic, attempt, earlier)
end

-- A Get... (or any other non-Set) request: encodes data, returns the answer's `message`.
function Client:_get(subtopic, data)
  local body, err = core.encode(subtopic, self.source, data)
  if not body then return finish(err, subtopic, 0) end
  return self:_send(subtopic, body, nil)
end

-- Sends a Set request that is already encoded (rec = { subtopic =, body =, key =, callid = })
-- and checks LCM's result for it: the answer's message, or nil, err (with err.recorded).
-- Used by _set and by the outbox's replay, so a replayed outcome is judged exactly as its
-- first attempt was.
function Client:_replay(rec)
  local message, err, attempts, earlier = self:_send(rec.subtopic, rec.body, rec.key)
  if not message then return nil, err end
  local ok
  ok, err = answers.set_result(message, rec.callid)
  if not ok then return self:_fail(err, rec.subtopic, attempts, earlier) end
  return message
end

-- Every Set... request (set_outcome, call("Set...")): encodes data, sends it with a fresh
-- Idempotency-Key and, when it may still have to reach LCM (retryable, or recorded
-- "unknown"), queues it in the outbox. Returns the answer's message, or nil, err.
function Client:_set(subtopic, data, callid)
  local body, err = core.encode(subtopic, self.source, data)
  if not body then return finish(err, subtopic, 0) end
  local key
  key, err = core.uuid()
  if not key then return finish(err, subtopic, 0) end
  local rec = { subtopic = subtopic, body = body, key = key, callid = callid }
  local message
  message, err = self:_replay(rec)
  if not message and self.outbox and (err.retryable or err.recorded == "unknown") then
    self.outbox_module.queue(self, self.outbox, rec, err)
    stats.count("lcm_outbox_total", err.queued and "queued" or "not_queued")
  end
  return message, err
end

--- Sends any subtopic with the data as given (wire names, no checks but JSON encoding).
-- Any LCM WebService subtopic: returns the answer's decoded `message`. A Set... subtopic
-- is a Set: its result is checked and it is queued like set_outcome's.
-- @string subtopic the request's subtopic, e.g. `"GetCallBackModes"`
-- @tparam[opt={}] table data the request's data, with the wire names
-- @treturn[1] table the answer's `message`, decoded
-- @return[2] nil
-- @return[2] err
function Client:call(subtopic, data)
  local s, err = check.text("subtopic", subtopic)
  if not s then return finish(err, tostring(subtopic), 0) end
  if data == nil then data = {} end
  if is_set(s) then
    local callid = type(data) == "table" and data.callid or nil
    -- A number that is not an exact integer can never be matched against the answer's
    -- callid: the Set would stay "unknown" and block the outbox behind it for good.
    if type(callid) == "number" and check.integer(callid) == nil then
      return finish(select(2, check.invalid("data.callid", "must be a string or an integer of at most 2^53")), s, 0)
    end
    return self:_set(s, data, callid)
  end
  return self:_get(s, data)
end

local GET_CALLID = { empty_ok = true, integer_ok = true }

--- The business outcomes an agent may pick for a call.
-- The business outcomes an agent may pick for a call (GetOutcomeByOutcomegroup).
-- @tparam string|int callid the call's ID
-- @string[opt="MANUAL"] call_type @{lcm.MANUAL}, @{lcm.INBOUND} or @{lcm.OUTBOUND}
-- @treturn[1] table a list of `{ id, description, parent_id, campaign_id, lead_score, raw }`,
-- with `find`
-- @return[2] nil
-- @return[2] err
function Client:get_outcomes(callid, call_type)
  local SUBTOPIC = "GetOutcomeByOutcomegroup"
  local id, err = check.text("callid", callid, GET_CALLID)
  if not id then return finish(err, SUBTOPIC, 0) end
  local t
  t, err = check.text("type", call_type)
  if not t then return finish(err, SUBTOPIC, 0) end
  local message, attempts
  message, err, attempts = self:_get(SUBTOPIC, { callid = id, type = t })
  if not message then return nil, err end
  local list
  list, err = answers.outcomes(message)
  if not list then return self:_fail(err, SUBTOPIC, attempts) end
  return list
end

-- snake_case argument -> wire name and check. Wire names given by mistake are caught
-- with a hint (see SUGGEST).
local INTEGER_OK, EMPTY_OK = { integer_ok = true }, { empty_ok = true } -- built once, not per call
local SET_FIELDS = {
  { "callid", "callid", function(f, v) return check.text(f, v, INTEGER_OK) end },
  { "account_number", "AccountNumber", function(f, v) return check.text(f, v) end },
  { "business_outcome", "BusinessOutcome", function(f, v)
      if type(v) == "table" and v.id ~= nil then v = v.id end -- a record from get_outcomes
      return check.id(f, v)
    end },
  { "call_outcome", "CallOutcome", check.id },
  { "lead_score", "LeadScore", check.number, 0 },
  { "user_id", "UserID", function(f, v) return check.text(f, v, INTEGER_OK) end },
  { "agent_comments", "AgentComments", function(f, v) return check.text(f, v, EMPTY_OK) end, "" },
  { "target_amount", "TargetAmount", check.number, 0 },
}
local KNOWN, SUGGEST = {}, {}
for _, f in ipairs(SET_FIELDS) do
  KNOWN[f[1]] = true
  SUGGEST[f[2]:lower()] = f[1]
end

--- Sets the business and the telephony outcome of a call.
-- Sets the business and the telephony outcome of a call (SetBusinessOutcomeWithCallOutcome).
-- @tab args
-- @tparam string|int args.callid the call's ID
-- @string args.account_number the contact's account number (key)
-- @tparam int|table args.business_outcome an ID, or a record of @{get_outcomes}
-- @int args.call_outcome the telephony outcome ID (see @{lcm.CALL_OUTCOME})
-- @tparam string|int args.user_id the agent
-- @number[opt=0] args.lead_score
-- @string[opt=""] args.agent_comments
-- @number[opt=0] args.target_amount
-- @treturn[1] boolean true: LCM recorded it
-- @return[2] nil
-- @return[2] err, with `recorded` (and `queued` when the client has an outbox)
function Client:set_outcome(args)
  local SUBTOPIC = "SetBusinessOutcomeWithCallOutcome"
  if type(args) ~= "table" then
    return finish(select(2, check.invalid("outcome", "must be a table of fields")), SUBTOPIC, 0)
  end
  for k in pairs(args) do
    if not KNOWN[k] then
      return finish(select(2, check.unknown_field(k, "set_outcome", SUGGEST, KNOWN)), SUBTOPIC, 0)
    end
  end
  local data = {}
  for _, f in ipairs(SET_FIELDS) do
    local name, wire, checker, default = f[1], f[2], f[3], f[4]
    local v = args[name]
    if v == nil then v = default end
    if v == nil then return finish(select(2, check.invalid(name, "is required")), SUBTOPIC, 0) end
    local value, err = checker(name, v)
    if value == nil then return finish(err, SUBTOPIC, 0) end
    data[wire] = value
  end
  local message, err = self:_set(SUBTOPIC, data, data.callid)
  if not message then return nil, err end
  return true
end

--- Replays the Sets queued in the outbox, oldest first.
-- Replays the outcomes queued in the outbox (see lcm/outbox.lua).
-- Never raises; a concurrent flush (another process) is not waited for.
-- @treturn[1] table `{ sent =, failed =, remaining =, corrupt = }` (and `busy = true` when
-- another flush holds the outbox)
-- @return[2] nil
-- @return[2] err, `invalid` (no outbox configured, a closed client) or `outbox`
function Client:flush_outbox()
  if not self.outbox then
    return nil, core.error { kind = "invalid", field = "outbox", message = "outbox: no outbox was configured" }
  end
  return self.outbox_module.flush(self, self.outbox)
end

--- Closes the client: its connection goes back to the pool; later calls are `invalid`.
-- close and garbage collection share one function in C; calling it twice is fine.
-- Safe twice; garbage collection does the same.
function Client:close()
  self.closed = true -- for flush_outbox, which must not dead-letter what a closed client cannot send
  self.http:close()
end

-- An http error keeps the start of the answer's body (err.body): a 401 that says "token
-- expired" is the whole diagnosis. At most BODY_EXCERPT bytes of valid UTF-8, and never a
-- secret: the client's secrets are masked (lcm.redact) in the whole body before it is cut,
-- so no part of one is left at the cut.
local BODY_EXCERPT = 512
local function body_excerpter(mask)
  return function(body) return core.utf8_excerpt(mask(body), BODY_EXCERPT) end
end

-- A client from options already checked by lcm.check.options.
function M.new(o)
  local fixed = { "Content-Type: application/json", "Accept: application/json", "Expect:" }
  if o.bearer_token then fixed[#fixed + 1] = "Authorization: Bearer " .. o.bearer_token end
  for _, h in ipairs(o.headers or {}) do fixed[#fixed + 1] = h end
  -- nil, err when libcurl cannot be set up (its global init failed, out of memory).
  local http, err = core.http {
    headers = fixed,
    ca_file = o.ca_file, insecure = o.insecure, proxy = o.proxy, user_agent = o.user_agent,
    username = o.username, password = o.password, max_response_bytes = o.max_response_bytes,
    share = o.share,
  }
  if not http then return nil, err end
  local mask = redact.masker(o)
  local self = setmetatable({
    url = o.url,
    routes = {}, -- subtopic -> { url = url with {subtopic} replaced, expect = answer's subtopic }
    source = o.source,
    timeout_ms = o.timeout_ms,
    connect_timeout_ms = o.connect_timeout_ms,
    max_attempts = o.max_attempts,
    deadline_ms = o.deadline_ms,
    outbox = o.outbox,
    -- lcm.outbox is loaded for a client that has one only (a fresh Lua state per call pays
    -- for what it uses), and here, never on the failure path that needs it.
    outbox_module = o.outbox and require "lcm.outbox" or nil,
    budget = o.retry_budget and retry.budget(o.retry_budget, o.url) or nil,
    logger = o.logger,
    sleep = o.sleep or core.sleep,
    mask = mask, -- a closure: the secrets stay out of the client table a host may print
    body_excerpt = body_excerpter(mask),
    http = http,
  }, Client)
  if o.insecure then self:_log("warn", "TLS certificate verification is disabled (insecure = true)") end
  return self
end

-- Misuse gets a hint instead of a confusing error deep inside: client.get_outcomes(...)
-- (a dot: self is not a client) and lcm:get_outcomes(...) (the module with a colon: its
-- shortcut passes the module table on as the first argument). Every public method is
-- wrapped here, the typed ones of lcm.api too (when it loads): the check is written once.
local function is_module(v) -- the lcm module table (init.lua), recognised by its fields
  return type(v) == "table" and rawget(v, "_VERSION") == core._VERSION and type(rawget(v, "new")) == "function"
end

-- The error of method `name` called without a client; module: it got the lcm module.
-- Also for the module-level shortcuts (init.lua), which can see lcm:m(...) before they
-- look for a default client.
function M.misuse(name, module)
  local how = "call it as client:" .. name .. "(...)"
  local message = module and ("the lcm module is not a client: " .. how .. ", or lcm." .. name ..
                              "(...) for the default client") or ("client is missing: " .. how)
  return core.error { kind = "invalid", field = "client", attempts = 0, message = message }
end

local function guard(name, method)
  return function(self, ...)
    local module = is_module(self) or is_module((...))
    if getmetatable(self) ~= Client or module then return nil, M.misuse(name, module) end
    return method(self, ...)
  end
end

for _, name in ipairs { "call", "get_outcomes", "set_outcome", "flush_outbox", "close" } do
  Client[name] = guard(name, Client[name])
end

-- Typed calls of the other documented subtopics (set_dnc, get_callback_modes...): lcm/api.lua,
-- loaded at the first of them. Until then each name holds a stub that installs the real
-- methods (guarded) over the stubs and calls its own (see lcm/api_names.lua).
local API_NAMES = require "lcm.api_names"
local api_installed = false
for _, name in ipairs(API_NAMES) do
  Client[name] = guard(name, function(...)
    if not api_installed then
      require("lcm.api").install(Client)
      for _, n in ipairs(API_NAMES) do Client[n] = guard(n, Client[n]) end
      api_installed = true
    end
    return Client[name](...)
  end)
end

-- lcm.api's calls end their unsent failures the same way (err.recorded for a Set, counted).
M.finish = finish

return M
