-- The outbox on PostgreSQL (`outbox = "postgresql://user@host/db"`): the file outbox's
-- promises for a cluster of PBXes sharing one database (docs/outbox.md). Carried in
-- lcm/outbox/postgresql.so (csrc/pg/outbox_pg.c), which runs this chunk with its libpq
-- driver as the argument: lcm.core does not link libpq.
--
-- - A queued Set is one INSERT, autocommitted with synchronous_commit on: committed to
--   disk before the call returns queued = true. Its Idempotency-Key is UNIQUE, so a
--   retry after a lost answer to the commit, or a spooled record moved in twice, is one row.
-- - A flush takes one row at a time, oldest first, with SELECT ... FOR UPDATE SKIP LOCKED,
--   replays it through the client's port (lcm.outbox.replay_record: judged by lcm.policy
--   exactly as a file record), and deletes it or moves it to the dead table in the same
--   transaction. Flushers on every host can run at once; one killed leaves its row locked
--   only as long as its connection lives, and the next replays it with the same key.
-- - When PostgreSQL cannot take a Set (down, unreachable, read-only, full...), the Set is
--   appended to the fallback directory named by the URI's `fallback` parameter, a file
--   outbox; each flush on that host moves those records into PostgreSQL first. Without a
--   fallback the Set is queued = false with outbox_error.
local driver = ...
local core = require "lcm.core"
local outbox = require "lcm.outbox"
local stats = require "lcm.counters"

local M = {}

-- The schema this lcm reads and writes (lcm outbox init creates or migrates to it).
M.SCHEMA_VERSION = 1

-- Session settings lcm needs and sets only when the server's are weaker: a queued Set must
-- be on disk when the INSERT returns, and a dialer's call must not wait on a stuck
-- statement for ever (an URI's options=-c statement_timeout=... wins).
local STATEMENT_TIMEOUT = "5s"

-- Schema migrations: MIGRATIONS[n] takes the schema from version n - 1 to n.
local MIGRATIONS = {
  {
    [[CREATE TABLE lcm_outbox.queue (
        id bigserial PRIMARY KEY,
        idempotency_key uuid NOT NULL UNIQUE,
        subtopic text NOT NULL,
        callid text,
        callid_is_number boolean NOT NULL DEFAULT false,
        body bytea NOT NULL,
        host text NOT NULL,
        queued_at timestamptz NOT NULL,
        error text)]],
    [[CREATE TABLE lcm_outbox.dead (
        id bigserial PRIMARY KEY,
        idempotency_key uuid NOT NULL,
        subtopic text NOT NULL,
        callid text,
        callid_is_number boolean NOT NULL DEFAULT false,
        body bytea NOT NULL,
        host text NOT NULL,
        queued_at timestamptz NOT NULL,
        error text,
        dead_at timestamptz NOT NULL DEFAULT now(),
        dead_error text NOT NULL)]],
    [[CREATE VIEW lcm_outbox.backlog AS
        SELECT host,
               count(*) FILTER (WHERE state = 'queued') AS queued,
               count(*) FILTER (WHERE state = 'dead') AS dead,
               now() - min(queued_at) FILTER (WHERE state = 'queued') AS oldest_queued_age
        FROM (SELECT host, queued_at, 'queued' AS state FROM lcm_outbox.queue
              UNION ALL SELECT host, queued_at, 'dead' FROM lcm_outbox.dead) AS r
        GROUP BY host]],
  },
}

-- The columns of a record, read back as strings (the driver's binary results: every
-- column that is not text or bytea is cast to text).
local COLUMNS = [[id::text, idempotency_key::text, subtopic, callid, callid_is_number::text, body, host,
                  extract(epoch from queued_at)::bigint::text, error]]

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The password of a URI (user:password@ or password=), as written and as decoded: never
-- in an error, a log line or lcm outbox status.
local function passwords(target)
  local out = {}
  local raw = target:match("^[%w+.-]+://[^/?#@]-:([^/?#@]*)@")
  if raw and raw ~= "" then out[#out + 1] = raw end
  for v in target:gmatch("[?&]password=([^&#]*)") do
    if v ~= "" then out[#out + 1] = v end
  end
  local n = #out
  for i = 1, n do
    local decoded = unescape(out[i])
    if decoded ~= out[i] then out[#out + 1] = decoded end
  end
  table.sort(out, function(a, b) return #a > #b end) -- a longer one first: no half-masked password
  return out
end

local function masker(target)
  local secrets = passwords(target)
  return function(s)
    s = tostring(s)
    for _, p in ipairs(secrets) do
      local at = 1
      repeat
        local i, j = s:find(p, at, true)
        if i then
          s = s:sub(1, i - 1) .. "***" .. s:sub(j + 1)
          at = i + 3
        end
      until not i
    end
    return s
  end
end

-- The URI as shown to an admin: its password replaced by ***.
function M.display(target)
  return masker(target)(target)
end

-- The target split into libpq's connection string and lcm's own `fallback` parameter
-- (which libpq would refuse as unknown), with what the rest needs; nil, err (invalid,
-- field outbox) when libpq cannot read it. Cached per state: a PBX makes a client per call.
local targets = {}
local function invalid(message)
  return nil, core.error { kind = "invalid", field = "outbox", message = "outbox " .. message }
end

local function parse(target)
  local t = targets[target]
  if t then return t end
  local mask = masker(target)
  local base, query = target:match("^([^?#]*)%??([^#]*)")
  local kept, fallback = {}, nil
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=(.*)$")
    if k == "fallback" then
      fallback = unescape(v)
    else
      kept[#kept + 1] = pair
    end
  end
  local conninfo = base .. (#kept > 0 and ("?" .. table.concat(kept, "&")) or "")
  local ok, why = driver.parse(conninfo)
  if not ok then
    return invalid("is not a PostgreSQL URI libpq accepts: " .. mask(why) ..
                   " (postgresql://user@host/db?param=value, with libpq's parameters and lcm's fallback=DIR)")
  end
  if fallback == "" then return invalid("has an empty fallback= (a directory: the local file outbox)") end
  t = { conninfo = conninfo, fallback = fallback, mask = mask, shown = mask(target) }
  targets[target] = t
  return t
end

function M.check_target(target)
  local t, err = parse(target)
  if not t then return nil, err end
  return target
end

-- An error of kind outbox from PostgreSQL's failure: the SQLSTATE as its code (08001: no
-- connection; 57014: a statement timeout; 25006: read-only; 53100: disk full).
local function pg_error(t, message, state)
  return core.error { kind = "outbox", code = state or "08001",
                      message = "postgresql: " .. t.mask(message) .. " (" .. t.shown .. ")" }
end

-- One connection per target and Lua state, made at its first use and kept: a queued Set
-- costs one round trip. A connection found broken is dropped and made again once.
local conns = {}

local function setup(t, c)
  local rows, why, state = c:exec("SELECT current_setting('synchronous_commit'), " ..
                                  "current_setting('statement_timeout'), " ..
                                  "(SELECT version::text FROM lcm_outbox.meta LIMIT 1)")
  if not rows then
    if state == "42P01" or state == "3F000" then -- no meta table, no schema
      return invalid("has no lcm outbox schema in that database: run lcm outbox init " .. t.shown)
    end
    return nil, pg_error(t, why, state)
  end
  local sync, timeout, version = rows[1][1], rows[1][2], tonumber(rows[1][3])
  if version ~= M.SCHEMA_VERSION then
    if version and version > M.SCHEMA_VERSION then
      return invalid("has an lcm outbox schema of version " .. version .. ", newer than this lcm's (" ..
                     M.SCHEMA_VERSION .. "): upgrade lcm on this host")
    end
    return invalid("has an lcm outbox schema of version " .. tostring(version) .. ", this lcm needs " ..
                   M.SCHEMA_VERSION .. ": run lcm outbox init " .. t.shown)
  end
  if sync == "off" then
    rows, why, state = c:exec("SET synchronous_commit = on")
    if not rows then return nil, pg_error(t, why, state) end
  end
  if timeout == "0" then
    rows, why, state = c:exec("SET statement_timeout = '" .. STATEMENT_TIMEOUT .. "'")
    if not rows then return nil, pg_error(t, why, state) end
  end
  return true
end

local function connect(t, no_schema)
  local c, why = driver.connect(t.conninfo)
  if not c then return nil, pg_error(t, why, "08001") end
  if not no_schema then
    local ok, err = setup(t, c)
    if not ok then
      c:close()
      return nil, err
    end
  end
  return c
end

local function connection(t)
  local c = conns[t.conninfo]
  if c then return c end
  local err
  c, err = connect(t)
  if c then conns[t.conninfo] = c end
  return c, err
end

local function drop(t)
  local c = conns[t.conninfo]
  conns[t.conninfo] = nil
  if c then c:close() end
end

-- Runs sql on t's connection: rows, affected; nil, err. A statement on a connection that
-- broke since its last use (a restart, a terminated backend) is run once more on a new
-- one when `again` allows it (a statement that is safe to repeat).
local function exec(t, again, sql, ...)
  local c, err = connection(t)
  if not c then return nil, err end
  local rows, why, state, broken = c:exec(sql, ...)
  if rows then return rows, why end
  if broken then
    drop(t)
    if again then return exec(t, false, sql, ...) end
  end
  return nil, pg_error(t, why, state)
end

local function callid_columns(v)
  local text = outbox.callid_text(v)
  if not text then return nil, "false" end
  return text:sub(3), text:sub(1, 1) == "n" and "true" or "false"
end

-- INSERT of a record: safe to repeat (its key is UNIQUE). rec: subtopic, key, callid, body,
-- queued_at (seconds), error; host.
local INSERT = [[INSERT INTO lcm_outbox.queue
  (idempotency_key, subtopic, callid, callid_is_number, body, host, queued_at, error)
  VALUES ($1::text::uuid, $2, $3, $4::text::boolean, $5::bytea, $6, to_timestamp($7::text::float8), $8)
  ON CONFLICT (idempotency_key) DO NOTHING]]

local host_name
local function insert_args(rec)
  host_name = host_name or driver.hostname()
  local callid, is_number = callid_columns(rec.callid)
  return rec.key, rec.subtopic, callid, is_number, rec.body, rec.host or host_name,
         string.format("%d", tonumber(rec.queued_at) or os.time()), rec.error and core.printable(rec.error) or nil
end

-- Queues one Set (see lcm.outbox.queue): in PostgreSQL, else in the fallback directory.
-- Sets err.queued, err.outbox_error when it could not, err.outbox_fallback (PostgreSQL's
-- failure) when it went to the fallback directory.
function M.queue(port, target, rec, err)
  local t, failure = parse(target)
  local ok
  if t then
    local ran, rows, why = pcall(function()
      return exec(t, true, INSERT, insert_args { key = rec.key, subtopic = rec.subtopic, callid = rec.callid,
                                                 body = rec.body, error = tostring(err) })
    end)
    ok, failure = ran and rows ~= nil, ran and why or core.error { kind = "outbox", code = "RAISED",
                                                                   message = "cannot queue: " .. tostring(rows) }
  end
  if ok then
    err.queued = true
    return true
  end
  -- as the file outbox words it: "<code>: <message>" (the SQLSTATE), or an invalid's message
  local reason = failure.kind == "outbox" and (tostring(failure.code) .. ": " .. tostring(failure.message))
                 or tostring(failure.message)
  if t and t.fallback then
    local spooled, why = outbox.append(t.fallback, rec, err)
    if spooled then
      err.queued, err.outbox_fallback = true, reason
      port.log("warn", "queued in the fallback directory %s, PostgreSQL could not take it: %s", t.fallback, reason)
      return true
    end
    reason = reason .. "; fallback " .. t.fallback .. ": " .. tostring(why)
  end
  err.queued, err.outbox_error = false, reason
  port.log_failure(err, "not queued: " .. reason)
  return false
end

-- A row of COLUMNS as lcm.outbox.replay_record takes it.
local function record(row)
  return { id = row[1], key = row[2], subtopic = row[3],
           callid = row[4] and outbox.callid_value((row[5] == "true" and "n:" or "s:") .. row[4]) or nil,
           body = row[6], host = row[7], queued_at = tonumber(row[8]), error = row[9] or nil }
end

-- Moves the records spooled in the fallback directory into PostgreSQL, under that
-- directory's flush lock (a flush on the same host at the same time skips it): they are
-- inserted in one transaction, then removed from the directory. A crash in between
-- inserts them again next time, which their UNIQUE key makes one row (or, when the first
-- copy was flushed already, one more replay under the same key: the file outbox's promise).
-- The number moved, or nil, err.
local function move_locked(t, dir)
  -- the transaction first: a server that cannot be reached leaves the directory untouched
  local rows, err = exec(t, true, "BEGIN")
  if not rows then return nil, err end
  local ok, why, code = core.outbox_take(dir)
  if not ok then return nil, core.error { kind = "outbox", code = code, message = tostring(why) } end
  local payloads, corrupt, torn, damaged = core.outbox_read(dir .. "/outbox.flushing")
  if not payloads then return nil, core.error { kind = "outbox", code = torn, message = tostring(corrupt) } end
  local kept
  kept, err = outbox.keep_damaged(dir, damaged)
  if not kept then return nil, err end
  local stay, moved = {}, 0
  for _, payload in ipairs(payloads) do
    local rec = outbox.decode(payload)
    if rec and type(rec.body) == "string" and rec.key and rec.subtopic then
      rows, err = exec(t, false, INSERT, insert_args(rec))
      if not rows then
        exec(t, false, "ROLLBACK")
        return nil, err
      end
      moved = moved + 1
    else
      stay[#stay + 1] = payload -- not this version's: a file flush of the directory replays it
    end
  end
  rows, err = exec(t, false, "COMMIT")
  if not rows then return nil, err end
  ok, why, code = core.outbox_replace(dir, stay)
  if not ok then return nil, core.error { kind = "outbox", code = code, message = tostring(why) } end
  return moved
end

local function move_spooled(t)
  local dir = t.fallback
  if not core.outbox_check(dir) then return 0 end -- nothing was ever spooled where nothing can be
  local locked, moved, err = core.outbox_locked(dir, move_locked, t, dir)
  if locked == nil then
    if moved == "busy" then return 0 end
    return nil, core.error { kind = "outbox", code = err, message = tostring(moved) }
  end
  if not locked then return nil, core.error { kind = "outbox", code = "RAISED", message = tostring(moved) } end
  return moved, err
end

local NEXT = "SELECT " .. COLUMNS .. " FROM lcm_outbox.queue ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
local DEAD = [[INSERT INTO lcm_outbox.dead
  (idempotency_key, subtopic, callid, callid_is_number, body, host, queued_at, error, dead_error)
  SELECT idempotency_key, subtopic, callid, callid_is_number, body, host, queued_at, error, $2
  FROM lcm_outbox.queue WHERE id = $1::text::bigint]]

-- Replays rows until none is left that no other flusher holds, or one must be kept.
-- Each row is one transaction: taken, replayed, deleted (or dead-lettered) and committed.
-- Its commit need not wait for the disk (synchronous_commit off for it alone): a delete
-- lost in a crash replays the row again under its key, which LCM answers once.
local function replay_rows(port, t, counts)
  while true do
    local rows, err = exec(t, true, "BEGIN")
    if not rows then return nil, err end
    rows, err = exec(t, false, "SET LOCAL synchronous_commit = off")
    if rows then rows, err = exec(t, false, NEXT) end
    if not rows then return nil, err end
    if #rows == 0 then
      return exec(t, false, "COMMIT")
    end
    local rec = record(rows[1])
    local outcome, reason = outbox.replay_record(port, rec)
    if outcome == "keep" then
      exec(t, false, "ROLLBACK")
      return true
    end
    if outcome == "dead" then
      rows, err = exec(t, false, DEAD, rec.id, core.printable(tostring(reason)))
      if not rows then return nil, err end
    end
    rows, err = exec(t, false, "DELETE FROM lcm_outbox.queue WHERE id = $1::text::bigint", rec.id)
    if rows then rows, err = exec(t, false, "COMMIT") end
    if not rows then return nil, err end
    if outcome == "sent" then
      counts.sent = counts.sent + 1
      stats.count("lcm_outbox_total", "sent")
    else
      counts.failed = counts.failed + 1
      stats.count("lcm_outbox_total", "dead")
      port.log("error", "outbox record moved to the dead table: %s", reason)
    end
  end
end

local function count_queued(t)
  local rows, err = exec(t, true, "SELECT count(*)::text FROM lcm_outbox.queue")
  if not rows then return nil, err end
  return tonumber(rows[1][1])
end

-- Replays the outbox (see lcm.outbox.flush): { sent =, failed =, remaining =, corrupt =,
-- moved = } (moved: records brought in from the fallback directory), or nil, err (kind
-- outbox, or invalid naming outbox for a missing or foreign schema). Never raises.
function M.flush(port, target)
  if port.closed() then
    return nil, core.error { kind = "invalid", field = "client", message = "the client is closed" }
  end
  local t, err = parse(target)
  if not t then return nil, err end
  local counts = { sent = 0, failed = 0, remaining = 0, corrupt = 0, moved = 0 }
  local ran, ok
  ran, ok, err = pcall(function()
    if t.fallback then
      local moved, failure = move_spooled(t)
      if not moved then return nil, failure end
      counts.moved = moved
    end
    local done, failure = replay_rows(port, t, counts)
    if not done then return nil, failure end
    counts.remaining, failure = count_queued(t)
    if not counts.remaining then return nil, failure end
    return true
  end)
  if not ran then
    pcall(exec, t, false, "ROLLBACK")
    return nil, core.error { kind = "outbox", code = "RAISED", message = "flush failed: " .. tostring(ok) }
  end
  if not ok then
    if err.kind == "outbox" then pcall(exec, t, false, "ROLLBACK") end
    return nil, err
  end
  return counts
end

-- What the outbox holds (see lcm.outbox.records): { queued =, dead =, damaged =, kept = },
-- the fallback directory's records first; nil, err.
function M.records(target)
  local t, err = parse(target)
  if not t then return nil, err end
  local st = { queued = {}, dead = {}, damaged = 0, kept = {} }
  if t.fallback and core.outbox_check(t.fallback) then
    local local_st
    local_st, err = outbox.records(t.fallback)
    if not local_st then return nil, err end
    st.queued, st.damaged, st.kept = local_st.queued, local_st.damaged, local_st.kept
  end
  local rows
  rows, err = exec(t, true, "SELECT " .. COLUMNS .. " FROM lcm_outbox.queue ORDER BY id")
  if not rows then return nil, err end
  for _, row in ipairs(rows) do st.queued[#st.queued + 1] = record(row) end
  rows, err = exec(t, true, "SELECT " .. COLUMNS .. [[, extract(epoch from dead_at)::bigint::text, dead_error
                                                      FROM lcm_outbox.dead ORDER BY id]])
  if not rows then return nil, err end
  for _, row in ipairs(rows) do
    local rec = record(row)
    rec.dead_at, rec.dead_error = tonumber(row[10]), row[11]
    st.dead[#st.dead + 1] = rec
  end
  return st
end

-- Moves the dead letters back to the queue in one transaction, each under a new key derived
-- from its old one (lcm.outbox.requeued_key: requeuing one twice sends it once). The number.
function M.requeue_dead(target)
  local t, err = parse(target)
  if not t then return nil, err end
  local rows
  rows, err = exec(t, true, "BEGIN")
  if not rows then return nil, err end
  local function fail(e)
    exec(t, false, "ROLLBACK")
    return nil, e
  end
  rows, err = exec(t, false, "SELECT " .. COLUMNS .. " FROM lcm_outbox.dead ORDER BY id FOR UPDATE")
  if not rows then return fail(err) end
  for _, row in ipairs(rows) do
    local rec = record(row)
    rec.key = outbox.requeued_key(rec.key)
    local done
    done, err = exec(t, false, INSERT, insert_args(rec))
    if done then done, err = exec(t, false, "DELETE FROM lcm_outbox.dead WHERE id = $1::text::bigint", rec.id) end
    if not done then return fail(err) end
  end
  local n = #rows
  rows, err = exec(t, false, "COMMIT")
  if not rows then return nil, err end
  return n
end

-- Whether this process can use the outbox: quick (lcm.new, for every client: a fresh Lua
-- state per call must not connect) checks the URI only; otherwise (lcm outbox status,
-- flush) it connects and checks the schema. true, or nil and why.
function M.check(target, quick)
  local t, err = parse(target)
  if not t then return nil, err.message end
  if quick then return true end
  local c
  c, err = connection(t)
  if not c then return nil, tostring(err) end
  return true
end

-- lcm outbox init: creates the schema, or migrates it to this lcm's version, in one
-- transaction (two inits at once wait for each other). "created", "migrated from N",
-- "up to date"; nil, err.
function M.init(target)
  local t, err = parse(target)
  if not t then return nil, err end
  local c
  c, err = connect(t, true)
  if not c then return nil, err end
  local function run(sql)
    local rows, why, state = c:exec(sql)
    if not rows then return nil, pg_error(t, why, state) end
    return rows
  end
  local result
  local ok, done, failure = pcall(function()
    local steps = { "BEGIN", "SELECT pg_advisory_xact_lock(hashtext('lcm_outbox'))::text",
                    "CREATE SCHEMA IF NOT EXISTS lcm_outbox",
                    "CREATE TABLE IF NOT EXISTS lcm_outbox.meta (version integer NOT NULL)" }
    for _, sql in ipairs(steps) do
      local rows, e = run(sql)
      if not rows then return nil, e end
    end
    local rows, e = run("SELECT version::text FROM lcm_outbox.meta")
    if not rows then return nil, e end
    local from = rows[1] and tonumber(rows[1][1]) or 0
    if from > M.SCHEMA_VERSION then
      return invalid("has an lcm outbox schema of version " .. from .. ", newer than this lcm's (" ..
                     M.SCHEMA_VERSION .. "): upgrade lcm on this host")
    end
    for v = from + 1, M.SCHEMA_VERSION do
      for _, sql in ipairs(MIGRATIONS[v]) do
        rows, e = run(sql)
        if not rows then return nil, e end
      end
    end
    rows, e = run(from == 0 and "INSERT INTO lcm_outbox.meta VALUES (" .. M.SCHEMA_VERSION .. ")"
                  or "UPDATE lcm_outbox.meta SET version = " .. M.SCHEMA_VERSION)
    if rows then rows, e = run("COMMIT") end
    if not rows then return nil, e end
    result = from == 0 and "created" or from == M.SCHEMA_VERSION and "up to date" or ("migrated from " .. from)
    return true
  end)
  if not (ok and done) then c:exec("ROLLBACK") end
  c:close()
  if not ok then
    return nil, core.error { kind = "outbox", code = "RAISED", message = "init failed: " .. tostring(done) }
  end
  if not done then return nil, failure end
  return result
end

return M
