-- The outbox: Set requests that may still have to reach LCM are written to disk
-- (lcm.core's outbox_* functions frame each record with its length and a CRC32, flock
-- and fsync) and replayed later by flush_outbox with their original Idempotency-Key, so
-- that an outcome is neither lost while LCM is down nor recorded twice when it is back.
--
-- A record's payload (version 3) is one line of tab-separated name=value fields:
--   v=3 <TAB> subtopic=... <TAB> key=... <TAB> callid=s:12345 <TAB> queued_at=... <TAB>
--   error=... <TAB> body=<the exact JSON request body that was sent>
-- with "%", TAB, CR and LF in values written as %25, %09, %0D and %0A. The body is
-- replayed byte for byte: no JSON library (least of all the host's `require "cjson"`,
-- whose settings a host may change) touches it after core.encode made it.
local core = require "lcm.core"
local stats = require "lcm.counters" -- counting only: lcm.stats' presentation is not loaded
local routes = require "lcm.routes"
local policy = require "lcm.policy"

local M = {}

local VERSION = "3"
local KEY = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local FIELDS = { "subtopic", "key", "callid", "queued_at", "error", "body", "raw", "dead_at", "dead_error" }

local function escape(s)
  return (s:gsub("[%%\t\r\n]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- A callid keeps its type ("s:" string, "n:" number) so that a replay checks LCM's answer
-- exactly as the first attempt did.
local function callid_text(v)
  if type(v) == "string" then return "s:" .. v end
  if type(v) == "number" and v == v then
    if math.type and math.type(v) == "integer" then return "n:" .. string.format("%d", v) end
    local s = string.format("%.17g", v)
    return "n:" .. (s:find("[.eni]") and s or s .. ".0") -- read back as a float on 5.3+ too
  end
  return nil
end

local function callid_value(s)
  local t, v = s:match("^([sn]):(.*)$")
  if t == "s" then return v end
  return t == "n" and tonumber(v) or nil
end
-- (the PostgreSQL outbox keeps a callid with its type the same way: lua/lcm/outbox/pg.lua)
M.callid_text, M.callid_value = callid_text, callid_value

-- The payload of a record: rec's fields (any of FIELDS) in that order.
function M.encode(rec)
  local parts = { "v=" .. VERSION }
  for _, name in ipairs(FIELDS) do
    local v = rec[name]
    if name == "callid" then v = callid_text(v) end
    if v ~= nil then parts[#parts + 1] = name .. "=" .. escape(tostring(v)) end
  end
  return table.concat(parts, "\t")
end

local legacy_json -- lcm's own lua-cjson instance (cjson.new), made for the first old record

-- Records of lcm 0.1 (v = 1: the request's data) and of the unreleased v = 2 (its body)
-- were JSON. They are read with a private cjson instance and replayed; v1's data is
-- encoded again (core.encode) when it is replayed.
local function decode_legacy(payload)
  legacy_json = legacy_json or require("cjson.safe").new()
  local t = legacy_json.decode(payload)
  if type(t) ~= "table" then return nil, "not an outbox record (JSON that is not an object)" end
  if t.v == 1 then
    if type(t.data) ~= "table" then return nil, "version 1 record without data" end
    return { subtopic = t.subtopic, key = t.key, data = t.data, callid = t.data.callid,
             queued_at = t.queued_at, error = t.error }
  elseif t.v == 2 then
    return { subtopic = t.subtopic, key = t.key, body = t.body, callid = t.callid, queued_at = t.queued_at,
             error = t.error }
  end
  return nil, "outbox record of unknown version " .. tostring(t.v)
end

-- The fields of a record's payload, or nil and why it cannot be read. Values are strings,
-- but callid (a string or a number) and the v1 data table.
function M.decode(payload)
  if payload:sub(1, 1) == "{" then return decode_legacy(payload) end
  local rec, version = {}, nil
  for field in (payload .. "\t"):gmatch("([^\t]*)\t") do
    local name, value = field:match("^([%w_]+)=(.*)$")
    if not name then return nil, "not an outbox record (a field without a name)" end
    if version == nil then
      version = name == "v" and value or ""
    else
      rec[name] = unescape(value)
    end
  end
  if version ~= VERSION then return nil, "outbox record of unknown version " .. tostring(version) end
  if rec.callid then rec.callid = callid_value(rec.callid) end
  return rec
end

-- Which outbox a target names. A directory: this file outbox. A postgresql:// (or
-- postgres://) URI: the PostgreSQL outbox, a module of its own linked with libpq
-- (lcm.outbox.postgresql, Debian package lua-lcm-postgresql), loaded only then, so that a
-- PBX without PostgreSQL loads nothing more. Both offer queue, flush, records,
-- requeue_dead, check and display. nil, err (invalid, field outbox) when that module is
-- missing.
function M.is_uri(target)
  return type(target) == "string" and (target:find("^postgresql://") or target:find("^postgres://")) ~= nil
end

function M.module_for(target)
  if not M.is_uri(target) then return M end
  local ok, mod = pcall(require, "lcm.outbox.postgresql")
  if ok and type(mod) == "table" then return mod end
  return nil, core.error { kind = "invalid", field = "outbox", message = "outbox: a postgresql:// outbox needs the " ..
    "lcm.outbox.postgresql module, which did not load (" .. tostring(mod):match("^[^\n]*") ..
    "): install lua-lcm-postgresql (or build it: make)" }
end

-- lcm.new's check of the option: the target, or nil, err (invalid, field outbox) for a URI
-- whose module is missing or that libpq cannot read (a malformed URI, an unknown
-- parameter). A directory is not checked here: see lcm.check.
function M.check_target(target)
  local mod, err = M.module_for(target)
  if not mod then return nil, err end
  if mod ~= M then return mod.check_target(target) end
  return target
end

-- Whether the process can queue in dir (see Client:_check_outbox), and dir as shown to
-- an admin: the PostgreSQL module's own hide a password.
function M.check(dir) return core.outbox_check(dir) end
function M.display(dir) return dir end

-- A record as _replay needs it, or nil and why it can never be replayed.
local function replayable(port, rec)
  -- A Set by the client's own rule (lcm.routes.is_set, "setDNC" too): what was queued is
  -- replayed; with a name core.encode would send (letters, digits, '_': it goes into the URL).
  if not routes.is_set(rec.subtopic) or not rec.subtopic:match("^[%w_]+$") or #rec.subtopic > 64 then
    return nil, "cannot be replayed: bad subtopic " .. string.format("%q", tostring(rec.subtopic):sub(1, 64))
  end
  if type(rec.key) ~= "string" or not rec.key:match(KEY) then
    return nil, "cannot be replayed: bad Idempotency-Key " .. string.format("%q", tostring(rec.key):sub(1, 64))
  end
  if rec.body == nil and rec.data ~= nil then -- version 1
    local body, err = core.encode(rec.subtopic, port.source, rec.data)
    if not body then return nil, "cannot be replayed: " .. tostring(err) end
    rec.body = body
  end
  if type(rec.body) ~= "string" or rec.body:sub(1, 1) ~= "{" then
    return nil, "cannot be replayed: no JSON request body"
  end
  return { subtopic = rec.subtopic, body = rec.body, key = rec.key, callid = rec.callid }
end

-- An error of kind outbox from a core.outbox_* failure (message, errno name).
local function outbox_error(message, code)
  message = tostring(message)
  if code and message:sub(1, #code + 2) == code .. ": " then message = message:sub(#code + 3) end
  return core.error { kind = "outbox", code = code, message = message }
end

-- Appends one Set request (rec = { subtopic =, body =, key =, callid = }, see Client:_set)
-- that failed with err to dir's outbox.log: true, or nil and why not. Never raises.
function M.append(dir, rec, err)
  local ok, appended, why = pcall(function()
    local payload = M.encode { subtopic = rec.subtopic, key = rec.key, callid = rec.callid,
                               queued_at = rec.queued_at or os.time(), error = tostring(err), body = rec.body }
    return core.outbox_append(dir, "outbox.log", payload)
  end)
  if not ok then return nil, "cannot queue: " .. tostring(appended) end
  if appended ~= true then return nil, why end
  return true
end

-- Queues one Set request (rec = { subtopic =, body =, key =, callid = }, see
-- Client:_set); sets err.queued, and err.outbox_error (why) when it could not. `port` is
-- what the client lets the outbox do (Client:_outbox_port): replay, log, closed, source.
function M.queue(port, dir, rec, err)
  local why
  err.queued, why = M.append(dir, rec, err)
  err.queued = err.queued == true
  if not err.queued then
    err.outbox_error = why
    port.log_failure(err, "not queued: " .. tostring(why))
  end
  return err.queued
end

-- Replays one decoded record (M.decode's fields): "sent", "keep" (may still reach LCM: it
-- and all after it stay) or "dead", with the reason and the fields to keep as a dead letter.
-- The PostgreSQL outbox replays its rows through this too, so both are judged alike.
function M.replay_record(port, rec)
  local req, why = replayable(port, rec)
  if not req then return "dead", why, rec end
  local ran, message, err = pcall(port.replay, req)
  if not ran then return "dead", "cannot be replayed: " .. tostring(message), rec end
  if message then return "sent" end
  -- Keep it, or dead.log: lcm.policy decides (only an answer about this record kills it).
  if policy.replay(err) == "keep" then return "keep" end
  return "dead", tostring(err), rec
end

local function replay(port, payload)
  local rec, why = M.decode(payload)
  if not rec then return "dead", why, { raw = payload } end
  return M.replay_record(port, rec)
end

-- Damaged bytes cannot be replayed, but what is still readable of them (a callid, an
-- outcome, a key) is an outcome someone has to handle: they are kept aside in damaged.log.
-- true, or nil, err (kind outbox) when they could not be.
function M.keep_damaged(dir, damaged)
  for _, bytes in ipairs(damaged) do
    local wrote, failure, errno = core.outbox_append(dir, "damaged.log",
      M.encode { raw = bytes, dead_at = os.time(), dead_error = "damaged: its frame or checksum does not match" })
    if not wrote then return nil, outbox_error(failure, errno) end
  end
  return true
end

local function flush_locked(port, dir)
  local counts = { sent = 0, failed = 0, remaining = 0, corrupt = 0 }
  local ok, why, code = core.outbox_take(dir)
  if not ok then return nil, outbox_error(why, code) end
  local records, corrupt, torn, damaged = core.outbox_read(dir .. "/outbox.flushing")
  if not records then return nil, outbox_error(corrupt, torn) end
  -- Damaged bytes are kept aside before the batch is rewritten without them, and a flush
  -- that cannot keep them stops with everything in place. A torn last record never
  -- reached its caller as queued.
  local kept, not_kept = M.keep_damaged(dir, damaged)
  if not kept then return nil, not_kept end
  counts.corrupt = corrupt + (torn and 1 or 0)
  local keep = {}
  for _, payload in ipairs(records) do
    if #keep > 0 then
      keep[#keep + 1] = payload -- after a failure that may still be cured, the rest in order
    else
      local outcome, reason, fields = replay(port, payload)
      if outcome == "sent" then
        counts.sent = counts.sent + 1
        stats.count("lcm_outbox_total", "sent")
      elseif outcome == "keep" then
        keep[1] = payload
      else
        fields.dead_at, fields.dead_error = os.time(), reason
        local wrote, failure = core.outbox_append(dir, "dead.log", M.encode(fields))
        if wrote then
          counts.failed = counts.failed + 1
          stats.count("lcm_outbox_total", "dead")
          port.log("error", "outbox record moved to dead.log: %s", reason)
        else
          keep[1] = payload -- kept rather than lost
          port.log("error", "%s", failure)
        end
      end
    end
  end
  counts.remaining = #keep
  ok, why, code = core.outbox_replace(dir, keep)
  if not ok then return nil, outbox_error(why, code) end
  if corrupt > 0 then
    port.log("error", "%d damaged outbox record(s) kept in %s/damaged.log (lcm outbox list)", corrupt, dir)
  end
  return counts
end

-- Replays the outbox in order. Returns { sent =, failed =, remaining =, corrupt = } or,
-- while another flush holds the lock, { busy = true, ... }; nil, err (kind outbox) when the
-- outbox cannot be read or written. Never raises, and never leaves flush.lock held.
function M.flush(port, dir)
  if port.closed() then
    return nil, core.error { kind = "invalid", field = "client", message = "the client is closed" }
  end
  local locked, counts, err = core.outbox_locked(dir, flush_locked, port, dir)
  if locked == nil then
    if counts == "busy" then return { sent = 0, failed = 0, remaining = 0, corrupt = 0, busy = true } end
    return nil, outbox_error(counts, err)
  end
  if not locked then
    return nil, core.error { kind = "outbox", code = "RAISED", message = "flush failed: " .. tostring(counts) }
  end
  return counts, err
end


-- For lcm outbox list, status and requeue-dead (lua/lcm/cli.lua) --------------------------

-- The records of one outbox file, decoded; one that cannot be decoded is { raw = payload }.
-- Also the number of damaged ones (a torn last record included).
local function read_records(path)
  local payloads, damaged, torn = core.outbox_read(path)
  if not payloads then return nil, outbox_error(damaged, torn) end
  local out = {}
  for i, payload in ipairs(payloads) do out[i] = M.decode(payload) or { raw = payload } end
  return out, damaged + (torn and 1 or 0)
end

-- What an outbox holds, without changing it or taking its lock: { queued = { record... },
-- dead = { record... }, damaged = n }, queued in replay order (the batch of a flush that
-- stopped comes first); nil, err (kind outbox).
function M.records(dir)
  -- A missing file is an empty outbox, but a missing directory is a mistake (a typo in a
  -- monitoring check would report "empty" for ever).
  local d, why = io.open(dir .. "/.", "rb")
  if not d then return nil, outbox_error(why, "ENOENT") end
  d:close()
  local st = { queued = {}, damaged = 0, kept = {} }
  for _, name in ipairs { "outbox.flushing", "outbox.log", "dead.log", "damaged.log" } do
    local list, damaged = read_records(dir .. "/" .. name)
    if not list then return nil, damaged end
    st.damaged = st.damaged + damaged
    if name == "dead.log" then
      st.dead = list
    elseif name == "damaged.log" then
      -- damaged bytes a flush kept aside: damaged until someone handles them and removes
      -- the file (docs/outbox.md)
      st.kept = list
      st.damaged = st.damaged + #list
    else
      for _, rec in ipairs(list) do st.queued[#st.queued + 1] = rec end
    end
  end
  return st
end

-- The Idempotency-Key of a requeued dead letter. LCM answered the old key for good (a
-- server that honours the key answers it the same way again), so the retry needs a new
-- one; derived from the old key alone, not random, so that every copy of one dead letter
-- (requeued twice after a crash before dead.log was removed, or dead-lettered twice when a
-- flush could not rewrite outbox.flushing) is sent under one key and recorded once.
function M.requeued_key(key)
  local text, hex = tostring(key) .. "/requeued", {}
  for round = 1, 4 do
    local h = round * 2654435761 % 4294967291
    for i = 1, #text do h = (h * 31 + text:byte(i)) % 4294967291 end -- < 2^37: exact in a double
    hex[round] = string.format("%08x", h)
  end
  local x = table.concat(hex)
  return string.format("%s-%s-4%s-8%s-%s", x:sub(1, 8), x:sub(9, 12), x:sub(14, 16), x:sub(18, 20), x:sub(21, 32))
end

-- Under the flush lock (only a flush writes dead.log): appends every dead letter to
-- outbox.log with a new key (requeued_key), then removes dead.log. A crash in between
-- queues some twice under the same new key, which makes that harmless. Damaged bytes are
-- kept aside.
local function requeue_locked(dir)
  local dead = dir .. "/dead.log"
  local payloads, damaged, torn = core.outbox_read(dead)
  if not payloads then return nil, outbox_error(damaged, torn) end
  for _, payload in ipairs(payloads) do
    local rec = M.decode(payload)
    if rec and rec.body then -- a version 3 record: a new key, without its dead_ fields
      rec.key = M.requeued_key(rec.key)
      rec.dead_at, rec.dead_error = nil, nil
      payload = M.encode(rec)
    end -- else as it is: an older record (flush reads those) or one it will dead-letter again
    local ok, why, code = core.outbox_append(dir, "outbox.log", payload)
    if not ok then return nil, outbox_error(why, code) end
  end
  local ok, why
  if damaged > 0 or torn then
    ok, why = os.rename(dead, dead .. ".damaged-" .. os.time())
  else
    ok, why = os.remove(dead)
  end
  if not ok and #payloads > 0 then return nil, outbox_error("requeued, but " .. tostring(why), "REMOVE") end
  return #payloads
end

-- Moves the dead letters back to the queue, for the next flush (after their cause was
-- fixed). Returns how many; nil, err (kind outbox; code BUSY while a flush runs).
function M.requeue_dead(dir)
  local locked, n, err = core.outbox_locked(dir, requeue_locked, dir)
  if locked == nil then
    if n == "busy" then return nil, outbox_error("a flush is running: try again", "BUSY") end
    return nil, outbox_error(n, err)
  end
  if not locked then return nil, outbox_error("requeue-dead failed: " .. tostring(n), "RAISED") end
  return n, err
end

return M
