-- The lcm command (bin/lcm): the library from a shell, cron or a monitoring system.
-- Every subcommand is a client call or an outbox function; this file only parses the
-- command line, gathers the options (lcm.config) and prints the result, as text for
-- people or, with --json, as one JSON value for scripts. Exit codes: OK..UNKNOWN below and the
-- README ("The lcm command").
local lcm = require "lcm"
local core = require "lcm.core"
local check = require "lcm.check"
local config = require "lcm.config"
local outbox = require "lcm.outbox"
local suggest = require "lcm.suggest"

local M = {}

-- The monitoring-plugin convention, for every subcommand: OK, WARNING (done, but not
-- all of it: queued for later, records left, a slow answer), CRITICAL (failed), UNKNOWN
-- (a usage error or invalid input: nothing was sent).
local OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3

-- A private lua-cjson instance: the shared one's settings belong to whoever set them.
local json = require("cjson.safe").new()

-- lua-cjson 2.1.0 encodes an empty table as {}; a list we print stays a list with this
-- marker, replaced by [] once encoded.
local EMPTY = "\1lcm-empty-list\1"
local function list(t)
  if next(t) == nil then return EMPTY end
  return t
end

local function encode(value)
  local text = assert(json.encode(value))
  return (text:gsub('"\\u0001lcm%-empty%-list\\u0001"', "[]"))
end

-- Options every subcommand takes. `option`: the lcm.new option a flag sets.
local GLOBAL = {
  { "url", "URL", "the LCM WebService URL; {subtopic} is replaced by the subtopic", option = "url" },
  { "config", "FILE", "a config file: a Lua table of lcm.new options (default " .. config.FILE .. ")" },
  { "source", "NAME", "the envelope's source", option = "source" },
  { "ca-file", "FILE", "the CAs to trust, PEM", option = "ca_file" },
  { "proxy", "URL", "the HTTP(S) proxy; the environment's http_proxy... are never used", option = "proxy" },
  { "outbox", "DIR", "queue Sets that fail with a retryable error there", option = "outbox" },
  { "timeout", "MS", "milliseconds for one attempt (timeout_ms)", option = "timeout_ms", number = true },
  { "json", nil, "print one JSON value (the result, or {\"error\": {...}})" },
  { "verbose", nil, "log what the library does to stderr" },
  { "help", nil, "this help" },
}
-- A flag whose option the environment also sets names its variable: config.ENV says which.
for _, o in ipairs(GLOBAL) do
  local var = o.option and config.ENV[o.option]
  if var then o[3] = o[3] .. " ($" .. var .. ")" end
end

local function usage_error(message)
  return { usage = message }
end

-- Parses args against the subcommand's options (and GLOBAL). Returns flags (name ->
-- value, true for a flag without value), positional arguments, extra (unknown --name
-- value pairs, when cmd.fields allows them), or nil and a usage error.
local function parse(cmd, args)
  local known = {}
  for _, o in ipairs(GLOBAL) do known[o[1]] = o end
  for _, o in ipairs(cmd.options or {}) do known[o[1]] = o end
  local flags, positional, extra = {}, {}, {}
  local i, only_positional = 1, false
  while i <= #args do
    local a = args[i]
    if only_positional or a == "-" or a:sub(1, 1) ~= "-" then
      positional[#positional + 1] = a
    elseif a == "--" then
      only_positional = true
    elseif a == "-h" then
      flags.help = true
    else
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:match("^%-%-(.+)$")
      local spec = name and known[name]
      if not spec and not (cmd.fields and name and name:match("^%l[%l%d-]*$")) then
        return nil, usage_error("unknown option " .. a .. suggest.hint(name or a, known):gsub("'", "'--", 1))
      end
      if spec and not spec[2] then
        if value then return nil, usage_error("--" .. name .. " takes no value") end
        flags[name] = true
      else
        if not value then
          i = i + 1
          value = args[i]
          if value == nil then return nil, usage_error("--" .. name .. " needs a value") end
        end
        if spec then flags[name] = value else extra[name] = value end
      end
    end
    i = i + 1
  end
  return flags, positional, extra
end

-- The lcm.new options the flags set.
local function flag_options(flags)
  local opts = {}
  for _, o in ipairs(GLOBAL) do
    local v = flags[o[1]]
    if o.option and v ~= nil then
      if o.number then
        v = tonumber(v)
        if not v then return nil, usage_error("--" .. o[1] .. " must be a number") end
      end
      opts[o.option] = v
    end
  end
  return opts
end

-- The proxy a client uses, for --verbose and ping: the option alone (the environment's
-- proxy variables are ignored, csrc/http.c), its user:password@ masked.
local function proxy_label(proxy)
  if type(proxy) ~= "string" then return "none (proxy option unset; http_proxy... are ignored)" end
  return (proxy:gsub("^(%a[%w+.-]*://)[^/@]*@", "%1***@"))
end

-- A client from the config file, the environment and the flags; `extra`: options the
-- subcommand imposes. Returns the client, or nil and an error (usage or invalid).
local function client(ctx, extra)
  local flags, err = flag_options(ctx.flags)
  if not flags then return nil, err end
  local opts
  opts, err = config.resolve(ctx.flags.config, flags)
  if not opts then return nil, err end
  if not opts.url then
    return nil, usage_error("no URL: give --url, set LCM_URL, or put url in " .. (ctx.flags.config or config.FILE))
  end
  for k, v in pairs(extra or {}) do opts[k] = v end
  if ctx.flags.verbose then
    opts.logger = function(level, message) io.stderr:write("lcm: [", level, "] ", message, "\n") end
    opts.logger("info", "proxy: " .. proxy_label(opts.proxy))
  end
  local c
  c, err = lcm.new(opts)
  return c, err, opts
end

-- An error's plain fields, for --json.
local function error_fields(err)
  if type(err) ~= "table" then return { message = tostring(err) } end
  if err.usage then return { kind = "usage", message = err.usage } end
  local out = {}
  for k, v in pairs(err) do
    if type(k) == "string" and (type(v) == "string" or type(v) == "number" or type(v) == "boolean") then
      out[k] = v
    end
  end
  out.message = out.message or tostring(err)
  return out
end

-- The exit code of a failed call: invalid input is UNKNOWN (nothing was sent), a Set
-- that is safely queued in the outbox is WARNING, anything else CRITICAL.
local function failure_code(err)
  if type(err) ~= "table" or err.usage or err.kind == "invalid" then return UNKNOWN end
  if err.queued then return WARNING end
  return CRITICAL
end

-- What a subcommand's run returns: { code =, text = lines or string, data = JSON value }
-- or { code =, err = }.
local function failed(err, code)
  return { code = code or failure_code(err), err = err }
end

-- The positional arguments: cmd.min to cmd.max (default 0 to 0) of the words of cmd.args.
local function arity(cmd, args)
  if #args < (cmd.min or 0) then
    local words = {}
    for w in cmd.args:gmatch("%S+") do words[#words + 1] = w end
    return nil, usage_error("missing " .. words[#args + 1])
  end
  if #args > (cmd.max or 0) then return nil, usage_error("unexpected argument '" .. args[(cmd.max or 0) + 1] .. "'") end
  return true
end

local COMMANDS = {}

local function record_line(r)
  return string.format("  %-8s %-24s parent %s, campaign %s, lead score %s", tostring(r.id),
                       tostring(r.description or ""), tostring(r.parent_id), tostring(r.campaign_id),
                       tostring(r.lead_score))
end

local function plain_records(records)
  local out = {}
  for i, r in ipairs(records) do
    out[i] = { id = r.id, description = r.description, parent_id = r.parent_id, campaign_id = r.campaign_id,
               lead_score = r.lead_score }
  end
  return list(out)
end

COMMANDS.outcomes = {
  args = "CALLID [TYPE]", min = 1, max = 2,
  summary = "the business outcomes an agent may pick for a call (GetOutcomeByOutcomegroup)",
  help = "TYPE is the call type: MANUAL (the default), INBOUND or OUTBOUND.",
  run = function(ctx)
    local c, err = client(ctx)
    if not c then return failed(err) end
    local call_type = ctx.args[2] or lcm.MANUAL
    local records
    records, err = c:get_outcomes(ctx.args[1], call_type)
    c:close()
    if not records then return failed(err) end
    local text = { string.format("Call %s (%s): %d business outcome(s)", ctx.args[1], call_type, #records) }
    for _, r in ipairs(records) do text[#text + 1] = record_line(r) end
    return { code = OK, text = text, data = plain_records(records) }
  end,
}

-- set's flags -> set_outcome's fields; --outcome is looked up (see below).
local SET_FLAGS = {
  { "account", "KEY", "the account number (AccountNumber)", field = "account_number" },
  { "outcome", "NAME|ID", "the business outcome: its ID, or its description for TYPE (--type)",
    field = "business_outcome" },
  { "call-outcome", "NAME|ID", "the telephony outcome: its ID, or its description for the call (DNC...)",
    field = "call_outcome" },
  { "user", "ID", "the agent's user ID (UserID)", field = "user_id" },
  { "comments", "TEXT", "the agent's comments", field = "agent_comments" },
  { "lead-score", "N", "the lead score (default 0)", field = "lead_score" },
  { "target", "N", "the target amount (default 0)", field = "target_amount" },
  { "type", "TYPE", "the call type whose outcomes --outcome NAME is looked up in (default MANUAL)" },
}

-- An invalid error names a field; say which flag sets it.
local function with_flag(err, flags_of_fields)
  if type(err) == "table" and err.kind == "invalid" and err.field and flags_of_fields[err.field] then
    err.flag = "--" .. flags_of_fields[err.field]
  end
  return err
end

local SET_FLAG_OF = {}
for _, o in ipairs(SET_FLAGS) do
  if o.field then SET_FLAG_OF[o.field] = o[1] end
end

-- --outcome NAME and --call-outcome NAME: the ID of the record of that description in
-- the call's own list (fetch(): get_outcomes, get_call_outcomes; the library's
-- list:find), so a tenant's own names work. An ID goes through as it is. A standard
-- name (`standard`, e.g. lcm.CALL_OUTCOME's DNC) needs no round trip, as in the library's
-- typed calls without `call_outcomes`: a Set must not depend on a Get, or an outage
-- would keep `lcm set --call-outcome DNC` from being queued (issue 16 item 4). A tenant
-- whose IDs differ from the standard ones gives the ID.
local function by_name(v, fetch, field, what, standard)
  if v == nil or v:match("^%d+$") then return v end
  local known = standard and standard(v)
  if known ~= nil then return known end
  local records, err = fetch()
  if not records then return nil, err end
  local rec = records:find(v)
  if rec then return rec.id end
  local names = {}
  for i, r in ipairs(records) do names[i] = tostring(r.description) end
  return nil, core.error { kind = "invalid", field = field,
                           message = "'" .. v .. "' is not a " .. what ..
                                     " (known: " .. table.concat(names, ", ") .. ")" }
end

COMMANDS.set = {
  args = "CALLID", min = 1, max = 1,
  summary = "set the business and the telephony outcome of a call (SetBusinessOutcomeWithCallOutcome)",
  options = SET_FLAGS,
  run = function(ctx)
    local c, err = client(ctx)
    if not c then return failed(err) end
    local ok
    local callid = ctx.args[1]
    local fields = { callid = callid }
    for _, o in ipairs(SET_FLAGS) do
      if o.field then fields[o.field] = ctx.flags[o[1]] end
    end
    local call_type = ctx.flags.type or lcm.MANUAL
    local function business() return c:get_outcomes(callid, call_type) end
    fields.business_outcome, err = by_name(fields.business_outcome, business, "business_outcome",
                                           "business outcome for a " .. call_type .. " call")
    -- A standard telephony name (lcm.CALL_OUTCOME: DNC, "No Answer"...) needs no request to
    -- LCM, so a DNC from the shell is sent, or queued while LCM is down, like one from the
    -- library; only a tenant's own name is looked up in the call's list.
    if not err then
      fields.call_outcome, err = by_name(fields.call_outcome, function() return c:get_call_outcomes(callid) end,
                                         "call_outcome", "telephony outcome for call " .. callid,
                                         function(name) return lcm.CALL_OUTCOME[check.upper_name(name)] end)
    end
    if err then
      c:close()
      return failed(with_flag(err, SET_FLAG_OF))
    end
    ok, err = c:set_outcome(fields)
    c:close()
    if not ok then return failed(with_flag(err, SET_FLAG_OF)) end
    return { code = OK, text = "call " .. callid .. ": outcome recorded", data = { ok = true, callid = callid } }
  end,
}

-- dnc and callback: every --field-name VALUE is the method's field_name, so the command
-- follows the typed API (lua/lcm/api.lua) without a second list of its fields. A shell
-- has only strings: the library converts decimal strings itself; true and false become
-- booleans (campaign_specific...).
local LITERAL = { ["true"] = true, ["false"] = false }
local function typed_set(method, subtopic, example)
  return {
    args = "CALLID [--field-name VALUE]...", min = 1, max = 1,
    summary = "client:" .. method .. " (" .. subtopic .. ")",
    help = "Each --field-name VALUE is the field field_name of client:" .. method .. "{...} (README, \"The\n" ..
           "other LCM calls\"); true and false are booleans. For example:\n  " .. example,
    fields = true,
    run = function(ctx)
      local c, err = client(ctx)
      if not c then return failed(err) end
      if type(c[method]) ~= "function" then
        c:close()
        return failed({ usage = "this lcm library has no client:" .. method }, CRITICAL)
      end
      local fields, flag_of = { callid = ctx.args[1] }, {}
      for name, v in pairs(ctx.extra) do
        local field = name:gsub("%-", "_")
        if LITERAL[v] ~= nil then v = LITERAL[v] end
        fields[field], flag_of[field] = v, name
      end
      local ok
      ok, err = c[method](c, fields)
      c:close()
      if not ok then return failed(with_flag(err, flag_of)) end
      return { code = OK, text = "call " .. ctx.args[1] .. ": " .. subtopic .. " recorded",
               data = { ok = true, callid = ctx.args[1] } }
    end,
  }
end

COMMANDS.dnc = typed_set("set_dnc", "SetDNC", "lcm dnc 12345 --account-number '5|3|1|0|0|44|1' --business-outcome 107")
COMMANDS.callback = typed_set("set_callback", "SetCallbackWithComments",
  "lcm callback 12345 --account-number 'A|1' --start-date 21/11/2026 --start-time 14:30\n" ..
  "      --end-date 21/11/2026 --end-time 15:00 --callback-mode 1 --user-id 1234")

COMMANDS.call = {
  args = "SUBTOPIC ['JSON']", min = 1, max = 2,
  summary = "any LCM WebService subtopic, with JSON data (default {}); prints the answer's message",
  help = "A Set... subtopic is a Set: its result is checked and, with an outbox, it is queued on failure.",
  run = function(ctx)
    local data, why = json.decode(ctx.args[2] or "{}")
    if type(data) ~= "table" or data[1] ~= nil then -- a non-empty JSON array is a table too
      return failed(core.error { kind = "invalid", field = "JSON",
                                 message = "the data must be a JSON object: " .. tostring(why or ctx.args[2]) })
    end
    local c, err = client(ctx)
    if not c then return failed(err) end
    local message
    message, err = c:call(ctx.args[1], data)
    c:close()
    if not message then return failed(err) end
    local text = encode(message)
    return { code = OK, text = text, data = message }
  end,
}

-- lcm.stats() (this process's counters, README "Seeing what lcm does") as JSON can carry
-- it: a latency bucket's le = math.huge as "+Inf". (The budget list is made a JSON list,
-- list(), by the caller, after reading it.)
local function stats_data()
  local t = lcm.stats()
  for _, h in pairs(t.latency) do
    for _, b in ipairs(h.buckets) do
      if b.le == math.huge then b.le = "+Inf" end
    end
  end
  return t
end

-- ping: one cheap request. GetCallOutCome with an empty callid makes LCM answer its
-- "Callid is empty" WS_Error: LCM itself answered, and no call was touched.
COMMANDS.ping = {
  args = "",
  summary = "is LCM up and answering? (a monitoring plugin: OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3)",
  options = {
    { "warning", "MS", "WARNING when the answer takes longer (default 1000)" },
    { "critical", "MS", "CRITICAL when the answer takes longer (default: only when there is none)" },
    { "stats", nil, "then print this process's counters (lcm.stats_text(); with --json, lcm.stats() as stats)" },
  },
  run = function(ctx)
    local warning, critical = tonumber(ctx.flags.warning or 1000), tonumber(ctx.flags.critical or math.huge)
    if not warning or not critical then return failed(usage_error("--warning and --critical take milliseconds")) end
    -- One attempt: a monitoring check reports what a single request sees.
    local c, err, opts = client(ctx, { max_attempts = 1, retry_budget = false })
    if not c then return failed(err) end
    local start = core.monotonic_ms()
    local message
    message, err = c:call("GetCallOutCome", { callid = "" })
    local ms = core.monotonic_ms() - start
    c:close()
    local answered = message ~= nil or err.kind == "lcm"
    -- A configured outbox the process cannot use is CRITICAL: LCM may answer, but a Set
    -- whose outcome is unknown would be lost to it.
    local usable, unusable = true, nil
    if c.outbox then usable, unusable = c.outbox_module.check(c.outbox) end
    local code, state = OK, "OK"
    if not answered or ms > critical or not usable then
      code, state = CRITICAL, "CRITICAL"
    elseif ms > warning then
      code, state = WARNING, "WARNING"
    end
    local what = answered and ("answered in %.1f ms"):format(ms) or tostring(err)
    if not usable then what = what .. "; outbox not usable: " .. unusable end
    local perf = ("time=%.1fms;%d;%s;0"):format(ms, warning, critical == math.huge and "" or ("%d"):format(critical))
    local data = { status = state, ms = math.floor(ms * 10 + 0.5) / 10, answered = answered,
                   error = err and error_fields(err) or nil, outbox_unusable = unusable,
                   proxy = opts.proxy and proxy_label(opts.proxy) }
    local via = opts.proxy and (" via proxy " .. proxy_label(opts.proxy)) or "" -- none: the line stays as it was
    local text = "LCM " .. state .. " - " .. what .. via .. " | " .. perf
    if ctx.flags.stats then
      text = text .. "\n" .. lcm.stats_text():gsub("\n$", "")
      data.stats = stats_data()
      data.stats.budget = list(data.stats.budget)
    end
    return { code = code, text = text, data = data }
  end,
}

COMMANDS.sim = {
  args = "",
  summary = "run lcm-sim, the LCM simulator, in the foreground (Ctrl-C stops it)",
  options = {
    { "port", "N", "the port (default 8089; 0: any free port)" },
    { "host", "ADDR", "the IPv4 address to listen on (default 127.0.0.1)" },
    { "port-file", "FILE", "write the port there once listening" },
    { "fixtures", "FILE", "fixtures, JSON (README, \"lcm-sim\")" },
  },
  run = function(ctx)
    local sim = require "lcm.sim"
    -- The shell's $PPID is this process: lcm-sim stops when it does (kill PID, issue 16
    -- item 12), as Lua alone cannot exec the simulator in its place.
    local cmd = { "exec", sim.quote(sim.binary()), "--parent", "$PPID" }
    for _, o in ipairs(COMMANDS.sim.options) do
      local v = ctx.flags[o[1]]
      if v then cmd[#cmd + 1] = "--" .. o[1] .. " " .. sim.quote(v) end
    end
    local r, _, status = os.execute(table.concat(cmd, " "))
    if type(r) == "number" then status = r > 255 and math.floor(r / 256) or r end -- Lua 5.1
    return { code = status or (r and OK or CRITICAL), quiet = true }
  end,
}

-- outbox ACTION [DIR]: DIR defaults to the configured outbox (--outbox, LCM_OUTBOX, file).
local function outbox_dir(ctx)
  if ctx.args[1] then return ctx.args[1] end
  local flags, err = flag_options(ctx.flags)
  if not flags then return nil, err end
  local opts
  opts, err = config.resolve(ctx.flags.config, flags)
  if not opts then return nil, err end
  if not opts.outbox then return nil, usage_error("missing DIR (or --outbox, LCM_OUTBOX, outbox in the config)") end
  return opts.outbox
end

local function when(t)
  t = tonumber(t)
  return t and os.date("!%Y-%m-%d %H:%M:%SZ", t) or "?"
end

local function status_of(st)
  if #st.dead > 0 or st.damaged > 0 then return CRITICAL end
  if #st.queued > 0 then return WARNING end
  return OK
end

local function status_counts(st)
  local oldest
  for _, r in ipairs(st.queued) do
    local t = tonumber(r.queued_at)
    if t and (not oldest or t < oldest) then oldest = t end
  end
  return { queued = #st.queued, dead = #st.dead, damaged = st.damaged, oldest_queued_at = oldest }
end

local function plain_record(r)
  local out = {}
  for _, k in ipairs { "subtopic", "callid", "key", "queued_at", "error", "dead_at", "dead_error", "raw" } do
    out[k] = r[k]
  end
  local env = type(r.body) == "string" and json.decode(r.body)
  out.data = type(env) == "table" and env.data or r.data
  return out
end

local function record_text(text, state, r)
  local p = plain_record(r)
  text[#text + 1] = string.format("%-6s %s  %s  call %s  key %s", state, when(p.dead_at or p.queued_at),
                                  tostring(p.subtopic), tostring(p.callid), tostring(p.key))
  if p.data then text[#text + 1] = "       data: " .. encode(p.data) end
  if p.error then text[#text + 1] = "       queued after: " .. p.error end
  if p.dead_error then text[#text + 1] = "       dead: " .. p.dead_error end
  if p.raw then text[#text + 1] = "       unreadable record: " .. p.raw end
  return p
end

local OUTBOX = {}

-- What this process did with outboxes (lcm.stats: queued, not queued, sent, dead) and the
-- levels of its retry budgets: for a host that runs the command's code in-process, and the
-- same lines whatever runs it.
local function process_stats(text)
  local t = stats_data()
  local counts = {}
  for _, event in ipairs { "queued", "not_queued", "sent", "dead" } do counts[event] = t.outbox[event] or 0 end
  text[#text + 1] = string.format("this process: %d queued, %d not queued, %d sent, %d dead",
                                  counts.queued, counts.not_queued, counts.sent, counts.dead)
  for _, b in ipairs(t.budget) do
    text[#text + 1] = string.format("retry budget %s (capacity %g): %g tokens", b.target, b.capacity, b.tokens)
  end
  return { outbox = counts, retry_budget = list(t.budget) }
end

OUTBOX.status = {
  summary = "what is queued and dead (OK 0: empty, WARNING 1: queued, CRITICAL 2: dead letters or damage),\n" ..
            "                and this process's outbox counters and retry budgets",
  run = function(_, dir, box)
    local st, err = box.records(dir)
    if not st then return failed(err, CRITICAL) end
    local counts = status_counts(st)
    local oldest = counts.oldest_queued_at and (" (oldest " .. when(counts.oldest_queued_at) .. ")") or ""
    local text = { string.format("%s: %d queued%s, %d dead, %d damaged", box.display(dir), counts.queued, oldest,
                                 counts.dead, counts.damaged) }
    if #st.kept > 0 then
      text[#text + 1] = #st.kept .. " damaged record(s) kept in damaged.log: lcm outbox list shows what can be " ..
                        "read; remove the file once they are handled"
    end
    -- A directory the host cannot queue in is CRITICAL whatever it holds: its Sets are sent,
    -- but one whose outcome is unknown is lost to the outbox (lcm.client, _check_outbox).
    local usable, why = box.check(dir)
    if not usable then
      counts.unusable = why
      text[#text + 1] = "not usable: " .. why
    end
    counts.process = process_stats(text)
    return { code = usable and status_of(st) or CRITICAL, text = text, data = counts }
  end,
}

OUTBOX.list = {
  summary = "every queued and dead record, oldest first",
  run = function(_, dir, box)
    local st, err = box.records(dir)
    if not st then return failed(err, CRITICAL) end
    local text, data = {}, { queued = {}, dead = {}, damaged = st.damaged }
    for _, r in ipairs(st.queued) do data.queued[#data.queued + 1] = record_text(text, "queued", r) end
    for _, r in ipairs(st.dead) do data.dead[#data.dead + 1] = record_text(text, "dead", r) end
    -- Damaged bytes a flush kept aside (damaged.log): what can still be read of them, the
    -- bytes escaped into one line each (they are not a record: anything may be there).
    data.kept = {}
    for _, r in ipairs(st.kept) do
      local raw = type(r.raw) == "string" and r.raw or ""
      local readable = {}
      for _, name in ipairs { "subtopic", "key", "callid", "queued_at" } do
        readable[name] = raw:match("\t" .. name .. "=([^\t\n]*)")
      end
      text[#text + 1] = string.format("damaged %s  %s  call %s  key %s", when(r.dead_at),
                                      core.printable(readable.subtopic or "?"), core.printable(readable.callid or "?"),
                                      core.printable(readable.key or "?"))
      text[#text + 1] = "       bytes: " .. core.printable(raw)
      data.kept[#data.kept + 1] = { dead_at = r.dead_at, subtopic = readable.subtopic, callid = readable.callid,
                                    key = readable.key, bytes = raw }
    end
    local unread = st.damaged - #st.kept
    if unread > 0 then text[#text + 1] = unread .. " damaged record(s) not yet kept aside (lcm outbox flush does)" end
    if #text == 0 then text[1] = box.display(dir) .. ": empty" end
    data.queued, data.dead, data.kept = list(data.queued), list(data.dead), list(data.kept)
    return { code = OK, text = text, data = data }
  end,
}

-- lcm outbox flush is lcm-flush-outbox, whose exit statuses existing cron lines know
-- (README, "Never lost: the outbox"): its own map of this file's codes.
local DEAD = 4
local FLUSH_EXIT = { [OK] = 0, [CRITICAL] = 1, [UNKNOWN] = 2, [WARNING] = 3, [DEAD] = 4 }

OUTBOX.flush = {
  summary = "replay the queued records (exit 0: none left, 1: outbox error, 2: usage, 3: records remain,\n" ..
            "                4: records went to dead.log or were damaged)",
  run = function(ctx, dir, box)
    -- A flush needs its outbox (exit 2, as a usage error): one the host cannot use (a file
    -- left owned by root, a typo) is refused with why, before anything is taken from it.
    -- (A PostgreSQL outbox's URI only: an unreachable server is the flush's own error, exit 1.)
    local usable, why = box.check(dir, true)
    if not usable then return failed(usage_error("outbox " .. box.display(dir) .. " is not usable: " .. why)) end
    local c, err = client(ctx, { outbox = dir })
    if not c then return failed(err) end
    local counts
    counts, err = c:flush_outbox()
    c:close()
    if not counts then return failed(err, err.kind == "invalid" and UNKNOWN or CRITICAL) end
    if counts.busy then return { code = OK, text = "another flush is running", data = counts } end
    -- What remains is what is queued now: a record queued during the flush counts too.
    local st
    st, err = box.records(dir)
    if not st then return failed(err, CRITICAL) end
    counts.remaining = #st.queued
    local text = string.format("sent %d, failed %d (see %s), remaining %d, damaged %d",
                               counts.sent, counts.failed, box == outbox and "dead.log" or "lcm outbox list",
                               counts.remaining, counts.corrupt)
    local code = OK
    if counts.remaining > 0 then
      code = WARNING
    elseif counts.failed > 0 or counts.corrupt > 0 then
      code = DEAD
    end
    return { code = code, text = text, data = counts }
  end,
}

OUTBOX["requeue-dead"] = {
  summary = "move the dead letters back into the queue (after fixing their cause), for the next flush",
  run = function(_, dir, box)
    local n, err = box.requeue_dead(dir)
    if not n then return failed(err, err.code == "BUSY" and WARNING or CRITICAL) end
    return { code = OK, text = string.format("requeued %d dead letter(s); run lcm outbox flush", n),
             data = { requeued = n } }
  end,
}

-- lcm outbox init URI: the PostgreSQL outbox's schema, created or migrated (a directory
-- needs none).
OUTBOX.init = {
  summary = "create or migrate the schema of a postgresql:// outbox (a directory needs none)",
  run = function(_, dir, box)
    if box == outbox then
      return failed(usage_error("lcm outbox init is for a postgresql:// outbox: a directory needs no init"))
    end
    local result, err = box.init(dir)
    if not result then return failed(err, err.kind == "invalid" and UNKNOWN or CRITICAL) end
    return { code = OK, text = string.format("%s: lcm outbox schema version %d, %s", box.display(dir),
                                             box.SCHEMA_VERSION, result),
             data = { version = box.SCHEMA_VERSION, result = result } }
  end,
}

COMMANDS.outbox = {
  args = "status|list|flush|requeue-dead|init [DIR|URI]", min = 1, max = 2,
  exits = function(args) return args[1] == "flush" and FLUSH_EXIT or nil end,
  summary = "the outbox: Sets queued while LCM could not be reached",
  help = "DIR defaults to the configured outbox (--outbox, LCM_OUTBOX, outbox in the config file);\n" ..
         "a postgresql:// URI names a PostgreSQL outbox (docs/outbox.md).\n" ..
         "  status        " .. OUTBOX.status.summary .. "\n" ..
         "  list          " .. OUTBOX.list.summary .. "\n" ..
         "  flush         " .. OUTBOX.flush.summary .. "\n" ..
         "  requeue-dead  " .. OUTBOX["requeue-dead"].summary .. "\n" ..
         "  init          " .. OUTBOX.init.summary,
  run = function(ctx)
    local action = table.remove(ctx.args, 1)
    local sub = OUTBOX[action] -- arity: there is one
    if not sub then
      return failed(usage_error("unknown outbox action '" .. action .. "'" .. suggest.hint(action, OUTBOX)))
    end
    local dir, err = outbox_dir(ctx)
    if not dir then return failed(err) end
    local box
    box, err = outbox.module_for(dir)
    if not box then return failed(err) end
    return sub.run(ctx, dir, box)
  end,
}

local ORDER = { "outcomes", "set", "dnc", "callback", "call", "outbox", "ping", "sim" }

local function option_lines(options)
  local out = {}
  for _, o in ipairs(options) do
    out[#out + 1] = string.format("  --%-22s %s", o[1] .. (o[2] and (" " .. o[2]) or ""), o[3])
  end
  return table.concat(out, "\n")
end

local function command_help(name)
  local cmd = COMMANDS[name]
  local parts = { "usage: lcm " .. name .. (cmd.args ~= "" and (" " .. cmd.args) or "") .. " [options]",
                  "", cmd.summary }
  if cmd.help then parts[#parts + 1] = cmd.help end
  if cmd.options then parts[#parts + 1] = "\noptions:\n" .. option_lines(cmd.options) end
  parts[#parts + 1] = "\ncommon options:\n" .. option_lines(GLOBAL)
  return table.concat(parts, "\n")
end

local function main_help()
  local lines = { "usage: lcm COMMAND [ARGS] [options]   (lcm COMMAND --help: its own help)", "", "commands:" }
  for _, name in ipairs(ORDER) do
    local cmd = COMMANDS[name]
    lines[#lines + 1] = string.format("  %-9s %s", name, cmd.summary)
  end
  lines[#lines + 1] = "\nexit codes: 0 OK, 1 WARNING (queued for later, records left, slow), 2 CRITICAL (failed),"
  lines[#lines + 1] = "            3 UNKNOWN (usage or invalid input: nothing was sent)"
  lines[#lines + 1] = "\ncommon options:\n" .. option_lines(GLOBAL)
  return table.concat(lines, "\n")
end

local function print_result(ctx, r)
  if r.quiet then return end
  if r.err then
    local err = r.err
    if ctx.flags.json then
      io.stdout:write(encode { error = error_fields(err) }, "\n")
    elseif type(err) == "table" and err.usage then
      io.stderr:write("lcm ", ctx.name, ": ", err.usage, "\nusage: lcm ", ctx.name, " ", ctx.cmd.args or "",
                      " (lcm ", ctx.name, " --help)\n")
    else
      local flag = type(err) == "table" and err.flag and (" (" .. err.flag .. ")") or ""
      local queued = type(err) == "table" and err.queued and " [queued in the outbox: lcm outbox flush]" or ""
      io.stderr:write("lcm ", ctx.name, ": ", tostring(err), flag, queued, "\n")
    end
    return
  end
  if ctx.flags.json then
    io.stdout:write(encode(r.data), "\n")
  else
    local text = type(r.text) == "table" and table.concat(r.text, "\n") or r.text
    io.stdout:write(text, "\n")
  end
end

-- Runs the command line args (a list of strings); returns the exit code.
function M.main(args)
  local name = args[1]
  if name == nil or name == "--help" or name == "-h" or name == "help" then
    local topic = name == "help" and args[2]
    if topic and COMMANDS[topic] then
      io.stdout:write(command_help(topic), "\n")
    else
      io.stdout:write(main_help(), "\n")
    end
    return name == nil and UNKNOWN or OK
  end
  local cmd = COMMANDS[name]
  if not cmd then
    io.stderr:write("lcm: unknown command '", name, "'", suggest.hint(name, COMMANDS), " (lcm --help)\n")
    return UNKNOWN
  end
  local rest = {}
  for i = 2, #args do rest[#rest + 1] = args[i] end
  local exits = cmd.exits and cmd.exits(rest)
  local function exit(code) return exits and exits[code] or code end
  local ctx = { name = name, cmd = cmd, flags = {} }
  local flags, positional, extra = parse(cmd, rest)
  if not flags then
    print_result(ctx, failed(positional))
    return exit(UNKNOWN)
  end
  ctx.flags, ctx.args, ctx.extra = flags, positional, extra
  if flags.help then
    io.stdout:write(command_help(name), "\n")
    return OK
  end
  local ok, err = arity(cmd, positional)
  if not ok then
    print_result(ctx, failed(err))
    return exit(UNKNOWN)
  end
  local ran, r = pcall(cmd.run, ctx)
  if not ran then r = { code = CRITICAL, err = "internal error: " .. tostring(r) } end
  print_result(ctx, r)
  return exit(r.code)
end

return M
