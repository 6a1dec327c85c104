-- The client: what happens to a request between lcm.new and the C core. For each call,
-- the arguments are checked and converted (lcm.check), then Client:_send asks the C core
-- to encode the envelope (core.encode), sends it with libcurl (http:perform), turns the
-- answer into its message or one error object (core.answer), and retries what is safe to
-- retry (lcm.retry). Set calls that still fail are queued in the outbox (lcm.outbox).
local core = require "lcm.core"
local check = require "lcm.check"
local answers = require "lcm.answers"
local retry = require "lcm.retry"
local policy = require "lcm.policy"
local routes = require "lcm.routes"
local stats = require "lcm.counters" -- lcm.stats' counting part: its presentation is not loaded
local redact = require "lcm.redact"

local M = {}

-- One predicate for Sets and one table of answer subtopics (lcm.routes), shared with the
-- outbox and lcm.api: a Set the client queues is one the flush replays.
local is_set, answer_subtopic = routes.is_set, routes.answer

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

-- Where a request waits (lcm.tasks): loaded by the first lcm.spawn, or for a call made while
-- cqueues is loaded. Until then no call can be in a task, and a request is submitted to the
-- state's engine and waited for there, as tasks.perform does outside a task: a PBX's fresh
-- state per call does not pay for loading lcm.tasks (~190k instructions).
local function waits_in()
  local tasks = package.loaded["lcm.tasks"]
  if not tasks and package.loaded.cqueues then tasks = require "lcm.tasks" end
  return tasks
end

local function perform(http, url, body, key, timeout, connect_timeout)
  local tasks = waits_in()
  if tasks then return tasks.perform(http, url, body, key, timeout, connect_timeout) end
  local engine, err = core.engine()
  if not engine then return nil, err end
  return engine:perform(http, url, body, key, timeout, connect_timeout)
end

local function sleep(ms, block)
  local tasks = waits_in()
  if tasks then return tasks.sleep(ms, block) end
  return block(ms)
end

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

-- err.recorded for the error of a Set (lcm.policy judges it).
local function set_recorded(err, subtopic, earlier)
  if is_set(subtopic) then err.recorded = policy.recorded(err, earlier) end
end

-- An error of a call that sent nothing (a bad argument, no randomness for its key...).
local function finish(err, subtopic, attempts)
  err.subtopic = subtopic
  err.attempts = attempts
  if is_set(subtopic) then err.recorded = false end
  stats.error(err)
  return nil, err
end

-- A line about one call's failure: the logger's third argument is the error the call
-- returns, so a host that logs the returned error itself (with its callid, at its own
-- level) can leave these lines out, and a failure is logged once.
function Client:_log_failure(err, message)
  safe_call(self.logger, "error", message, err)
end

-- The error of a call that was attempted: counted, judged (err.recorded) and logged.
function Client:_fail(err, subtopic, attempts, earlier)
  redact.error(err, self.mask) -- before the logger, the outbox's error and dead.log see it
  err.subtopic, err.attempts = subtopic, attempts
  set_recorded(err, subtopic, earlier)
  stats.error(err)
  self:_log_failure(err, tostring(err))
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
    local status, answer, retry_after = perform(self.http, url, body, key, timeout,
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
      -- A closed client, or a task resumed by hand, is refused before any attempt (invalid).
      if err.kind == "invalid" then attempt = attempt - 1 end
    end
    err.retryable = policy.retryable(err) -- the one place an attempt's error is judged
    -- CANCELLED: lcm.stop() ends the call now (a Set goes to the outbox: it is retryable).
    if not err.retryable or attempt >= self.max_attempts or err.code == "CANCELLED" then break end
    earlier = earlier or policy.may_be_recorded(err)
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
    sleep(wait, self.sleep_safe)
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
  if not message and self.outbox and policy.queue(err) then
    self.outbox_module.queue(self:_outbox_port(), self.outbox, rec, err)
    stats.count("lcm_outbox_total", err.queued and "queued" or "not_queued")
  end
  return message, err
end

-- What the outbox may do with this client, and nothing more (it reads no field of the
-- client): replay a record judged as its first attempt was, log, ask whether the client is
-- closed, and the source to encode a version-1 record with. Made at the first use.
function Client:_outbox_port()
  local port = self.port
  if not port then
    port = {
      source = self.source,
      replay = function(req) return self:_replay(req) end,
      log = function(...) return self:_log(...) end,
      log_failure = function(err, message) return self:_log_failure(err, message) end,
      closed = function() return self.closed == true end,
    }
    self.port = port
  end
  return port
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
  return self.outbox_module.flush(self:_outbox_port(), self.outbox)
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

-- An outbox the process cannot use (missing, not a directory, not writable, a file in it
-- another user owns) does not stop the client: its Sets are sent, and only one whose fate
-- is unknown tries the outbox and reports queued = false with outbox_error. Counted every
-- time (lcm.stats().outbox.unusable) and logged at error once per process: a PBX makes a
-- client per call, and one line in its log says it; lcm ping and lcm outbox status report
-- it as CRITICAL.
function Client:_check_outbox()
  local usable, why = self.outbox_module.check(self.outbox, true) -- quick: a PostgreSQL one does not connect
  if usable then return true end
  if stats.count("lcm_outbox_total", "unusable") == 1 then
    self:_log("error", "the outbox is not usable: %s: Sets are still sent, but one whose outcome is unknown " ..
              "cannot be queued (lcm outbox status)", tostring(why))
  end
  return nil, why
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
    -- The module is the target's: a directory's, or a postgresql:// URI's (lcm.outbox.module_for).
    outbox_module = o.outbox and require("lcm.outbox").module_for(o.outbox) or nil,
    budget = o.retry_budget and retry.budget(o.retry_budget, o.url) or nil,
    logger = o.logger,
    sleep_safe = o.sleep and function(ms) safe_call(o.sleep, ms) end or core.sleep,
    mask = mask, -- a closure: the secrets stay out of the client table a host may print
    body_excerpt = body_excerpter(mask),
    http = http,
  }, Client)
  if o.insecure then self:_log("warn", "TLS certificate verification is disabled (insecure = true)") end
  if o.outbox then self:_check_outbox() end
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

-- The seed calls (lcm.seed_calls), made by the machinery of every call (lcm.build).
local build = require "lcm.build"
for _, spec in ipairs(require("lcm.seed_calls").CALLS) do
  Client[spec.method] = build.method(build.prepare(spec), finish)
end

for _, name in ipairs { "call", "get_outcomes", "set_outcome", "flush_outbox", "close" } do
  Client[name] = guard(name, Client[name])
end

-- Typed calls of the other documented subtopics (set_dnc, get_callback_modes...): lcm/api.lua,
-- loaded at the first of them. Until then each name holds a stub that installs the real
-- methods (guarded) over the stubs and calls its own (the names: lcm.routes).
local API_NAMES = routes.NAMES
local api_installed = false
for _, name in ipairs(API_NAMES) do
  Client[name] = guard(name, function(...)
    if not api_installed then
      require("lcm.api").install(Client, finish)
      for _, n in ipairs(API_NAMES) do Client[n] = guard(n, Client[n]) end
      api_installed = true
    end
    return Client[name](...)
  end)
end

return M
