-- make bench, the PostgreSQL outbox rows (issue 15): what a queued Set costs in PostgreSQL
-- against the file outbox, and how fast 1, 2 and 4 flushers drain one PostgreSQL outbox.
-- bench.lua calls run(sh) at its end; the measured work runs in child processes of this
-- same file (`lua5.4 bench/outbox_pg.lua queue|flush ...`), as PBXes and cron jobs would.
--
-- - Queued Set: LCM down (a closed port: connection refused), max_attempts = 1,
--   retry_budget = false; BENCH_PG_N Sets per run and outbox kind, runs interleaved, median
--   of 3 with the spread. "no outbox" is the same failing Set without one: what is over it
--   is the outbox's cost. The file outbox fsyncs every record; PostgreSQL (a throwaway 15
--   cluster from pg_virtualenv, reached on its Unix socket) commits every INSERT
--   synchronously, run with fsync = on (pg_virtualenv's default is off: shown as a row too).
-- - Callgrind (when valgrind is there and BENCH_CALLGRIND is not 0): instructions of the
--   client process per queued Set, (count(2n) - count(n)) / n; the PostgreSQL server's work
--   and the kernel's (fsync, the socket) are not counted.
-- - Flush: BENCH_PG_M records queued once, restored before each run; 1, 2 and 4 flusher
--   processes (client:flush_outbox) at once against lcm-sim; records per second over the
--   wall time from starting the processes to the last one ending (their start-up included),
--   median of 3. Exactly once: lcm-sim recorded M outcomes, M distinct Idempotency-Keys and
--   callids, it answered exactly M requests (a record sent twice, even under its key, would
--   be one more), the flushers' `sent` add up to M, and the queue is empty.
--   BENCH_PG=0 skips these rows.
local mode = ...

local SET = { account_number = "x", business_outcome = 101, call_outcome = 0, user_id = "1" }

if mode == "queue" then
  -- queue URL OUTBOX|- N TAG: N Sets (after 10 not timed), each must be queued (or, without
  -- an outbox, fail); prints microseconds per Set.
  local lcm = require "lcm"
  local core = require "lcm.core"
  local _, url, target, n, tag = ...
  n = assert(tonumber(n))
  local opts = { url = url, max_attempts = 1, retry_budget = false }
  if target ~= "-" then opts.outbox = target end
  local c = assert(lcm.new(opts))
  local function one(callid)
    local set = { callid = callid }
    for k, v in pairs(SET) do set[k] = v end
    local ok, err = c:set_outcome(set)
    assert(not ok, "LCM answered: it should be down")
    if target ~= "-" and not err.queued then error("not queued: " .. tostring(err.outbox_error), 0) end
  end
  for i = 1, 10 do one(tag .. "-w" .. i) end
  local start = core.monotonic_ms()
  for i = 1, n do one(tag .. "-" .. i) end
  print(string.format("%.3f", (core.monotonic_ms() - start) * 1000 / n))
  os.exit(0)
elseif mode == "flush" then
  -- flush URL OUTBOX: one flusher; prints what it sent.
  local lcm = require "lcm"
  local _, url, target = ...
  local c = assert(lcm.new { url = url, outbox = target, max_attempts = 1 })
  local counts, err = c:flush_outbox()
  if not counts then error(tostring(err), 0) end
  print(string.format("sent %d failed %d remaining %d", counts.sent, counts.failed, counts.remaining))
  os.exit(0)
end

local M = {}

local VERSION = "15"
local SELF = debug.getinfo(1, "S").source:match("^@(.*)$")
local LUA = os.getenv("LUA") or "lua5.4"
local ENV = "unset LD_PRELOAD ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; "

local sh -- bench.lua's: runs a shell command, returns its output

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function ok_run(cmd)
  local r = os.execute(cmd .. " >/dev/null 2>&1")
  return r == true or r == 0
end

local function own_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*l"):match("^(%d+)")
  f:close()
  return pid
end

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Why PostgreSQL cannot be used here, or nil (as spec/helpers/pg.lua).
local function missing()
  if os.getenv("BENCH_PG") == "0" then return "BENCH_PG=0" end
  if not ok_run("command -v pg_virtualenv") then
    return "pg_virtualenv is not installed (Debian package postgresql-common)"
  end
  if not ok_run("test -x /usr/lib/postgresql/" .. VERSION .. "/bin/postgres") then
    return "PostgreSQL " .. VERSION .. " is not installed (Debian package postgresql-" .. VERSION .. ")"
  end
  if not pcall(require, "lcm.outbox.postgresql") then
    return "lcm.outbox.postgresql is not built (make pg, needs libpq-dev)"
  end
  return nil
end

-- A throwaway cluster (pg_virtualenv -t: as root too), dropped when stop() is called or
-- this process is gone. Its URI goes through the Unix socket.
local function start_pg(dir)
  local script = string.format("env > %s/env.tmp && mv %s/env.tmp %s/env; " ..
                               "while [ ! -e %s/stop ] && kill -0 %s 2>/dev/null; do sleep 0.2; done",
                               dir, dir, dir, dir, own_pid())
  local pid = sh(string.format("%s pg_virtualenv -t -v %s sh -c '%s' > %s/pg.log 2>&1 & echo $!", ENV, VERSION,
                               script, dir)):match("%d+")
  local socket = require "socket"
  local env
  for _ = 1, 600 do
    local text = read(dir .. "/env")
    if text then
      env = {}
      for k, v in text:gmatch("(PG[%w_]*)=([^\n]*)") do env[k] = v end
      break
    end
    socket.sleep(0.1)
  end
  if not env then error("pg_virtualenv did not start: " .. (read(dir .. "/pg.log") or ""), 0) end
  local pg = { env = env }
  -- drops the cluster, and waits for pg_virtualenv to have done so (at most 30 s)
  function pg.stop()
    os.execute("touch " .. dir .. "/stop")
    for _ = 1, 300 do
      if not ok_run("kill -0 " .. pid) then break end
      socket.sleep(0.1)
    end
  end
  local parts = { "env" }
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. q(v) end
  pg.shell = ENV .. table.concat(parts, " ") .. " "
  function pg.sql(sql)
    local out = sh(pg.shell .. "psql -X -At -v ON_ERROR_STOP=1 -c " .. q(sql) .. " 2>&1; echo \"::rc=$?\"")
    local text, rc = out:match("^(.-)\n?::rc=(%d+)%s*$")
    if rc ~= "0" then error("psql: " .. sql .. ": " .. tostring(text), 0) end
    return text
  end
  local sockdir = pg.sql("SHOW unix_socket_directories"):match("^[^,]+")
  -- its Unix socket takes the password (pg_virtualenv's cluster has peer authentication
  -- there, for the OS user of the same name only), as a PBX's lcm user would log in
  local hba = pg.sql("SHOW hba_file")
  local rules = assert(read(hba), "cannot read " .. hba)
  local f = assert(io.open(hba, "w"))
  f:write("local all all md5\n", rules)
  f:close()
  pg.sql("SELECT pg_reload_conf()")
  pg.uri = string.format("postgresql://%s:%s@/%s?host=%s&port=%s", env.PGUSER, env.PGPASSWORD, env.PGDATABASE,
                         sockdir, env.PGPORT)
  pg.data = pg.sql("SHOW data_directory")
  return pg
end

local function spread(t)
  table.sort(t)
  return t[2], t[1], t[3]
end

-- The child runs: their output, raising with it when they failed.
local function child(args)
  local out = sh(string.format("%s %s %s 2>&1; echo \"::rc=$?\"", LUA, q(SELF), args))
  local text, rc = out:match("^(.-)\n?::rc=(%d+)%s*$")
  if rc ~= "0" then error("bench/outbox_pg.lua " .. args .. ": " .. tostring(text), 0) end
  return text
end

local function callgrind_ir(dir, args)
  local out = dir .. "/cg.out"
  os.remove(out)
  if not ok_run(string.format("valgrind --tool=callgrind --callgrind-out-file=%s %s %s %s", out, LUA, q(SELF),
                              args)) then
    error("callgrind failed: " .. args, 0)
  end
  local text = assert(read(out))
  return tonumber(text:match("\nsummary: (%d+)") or text:match("\ntotals: (%d+)"))
end

function M.run(shell)
  sh = shell
  local why = missing()
  if why then
    print()
    print("The PostgreSQL outbox rows: skipped (" .. why .. ")")
    return
  end
  local N = tonumber(os.getenv("BENCH_PG_N") or "500")
  local FLUSH_M = tonumber(os.getenv("BENCH_PG_M") or "2000")
  local CG_N = tonumber(os.getenv("BENCH_PG_CG_N") or "50")
  local dir = sh("mktemp -d"):gsub("%s+$", "") -- /tmp: the file system of pg_virtualenv's cluster
  os.execute("chmod 755 " .. dir)
  local pg, s
  local ok, err = pcall(function()
    pg = start_pg(dir)
    assert(ok_run(LUA .. " bin/lcm outbox init " .. q(pg.uri)), "lcm outbox init failed")
    local lcm_sim = require "lcm.sim"
    s = assert(lcm_sim.start { fixtures = { any_callid = true } })
    local socket = require "socket"
    local probe = assert(socket.bind("127.0.0.1", 0))
    local _, port = probe:getsockname()
    probe:close()
    local down = "http://127.0.0.1:" .. port .. "/api/{subtopic}"
    local files = dir .. "/outbox"
    local function clean()
      os.execute("rm -rf " .. files .. " && mkdir " .. files)
      pg.sql("TRUNCATE lcm_outbox.queue, lcm_outbox.dead")
    end
    local function fsync(on)
      pg.sql("ALTER SYSTEM SET fsync = " .. (on and "on" or "off"))
      pg.sql("SELECT pg_reload_conf()")
      socket.sleep(0.3)
      assert(pg.sql("SHOW fsync") == (on and "on" or "off"), "fsync not reloaded")
    end
    local kinds = {
      { name = "no outbox (the failing Set alone)", target = "-" },
      { name = "file outbox (write + fsync per record)", target = files },
      { name = "PostgreSQL, Unix socket, synchronous_commit on, fsync on", target = pg.uri, fsync = true },
      { name = "PostgreSQL, same, fsync off (pg_virtualenv's default: not durable)", target = pg.uri,
        fsync = false },
    }
    -- 1. A queued Set: runs interleaved across kinds, so a busy moment of the shared machine
    -- falls on all of them.
    local times = {}
    for run = 1, 3 do
      for i, k in ipairs(kinds) do
        clean()
        if k.fsync ~= nil then fsync(k.fsync) end
        times[i] = times[i] or {}
        times[i][run] = tonumber(child(string.format("queue %s %s %d r%d", q(down), q(k.target), N, run)))
      end
    end
    fsync(true)
    local irs = {}
    if os.getenv("BENCH_CALLGRIND") ~= "0" and ok_run("command -v valgrind") then
      for i, k in ipairs(kinds) do
        if k.fsync ~= false then
          clean()
          local once = callgrind_ir(dir, string.format("queue %s %s %d cg1", q(down), q(k.target), CG_N))
          clean()
          local twice = callgrind_ir(dir, string.format("queue %s %s %d cg2", q(down), q(k.target), 2 * CG_N))
          irs[i] = (twice - once) / CG_N
        end
      end
    end

    -- 2. Flush throughput: M records queued once (LCM down), kept aside, restored before each run.
    clean()
    child(string.format("queue %s %s %d flush", q(down), q(pg.uri), FLUSH_M - 10))
    pg.sql("DROP TABLE IF EXISTS public.bench_saved")
    pg.sql("CREATE TABLE public.bench_saved AS SELECT * FROM lcm_outbox.queue")
    child(string.format("queue %s %s %d flush", q(down), q(files), FLUSH_M - 10))
    os.execute("cp " .. files .. "/outbox.log " .. dir .. "/saved.log")
    local function count(sql) return tonumber(pg.sql(sql)) end
    assert(count("SELECT count(*) FROM public.bench_saved") == FLUSH_M, "the PostgreSQL outbox holds not M")

    local function flush_run(target, flushers)
      s:reset()
      if target == files then
        os.execute("rm -rf " .. files .. " && mkdir " .. files .. " && cp " .. dir .. "/saved.log " .. files ..
                   "/outbox.log")
      else
        pg.sql("TRUNCATE lcm_outbox.queue, lcm_outbox.dead")
        pg.sql("INSERT INTO lcm_outbox.queue SELECT * FROM public.bench_saved")
        pg.sql("VACUUM ANALYZE lcm_outbox.queue")
      end
      local cmds = {}
      for f = 1, flushers do
        cmds[f] = string.format("%s %s flush %s %s > %s/flush%d.out 2>&1", LUA, q(SELF), q(s.url), q(target), dir, f)
      end
      local core = require "lcm.core"
      local start = core.monotonic_ms()
      os.execute("( " .. table.concat(cmds, " & ") .. " & wait )")
      local ms = core.monotonic_ms() - start
      local sent, per = 0, {}
      for f = 1, flushers do
        local out = read(dir .. "/flush" .. f .. ".out") or ""
        local n = tonumber(out:match("^sent (%d+) failed 0 "))
        if not n then error("flusher " .. f .. ": " .. out, 0) end
        sent, per[f] = sent + n, n
      end
      local state = s:state()
      local keys, callids, outcomes = {}, {}, 0
      for _, o in ipairs(state.outcomes) do
        outcomes = outcomes + 1
        keys[o.idempotency_key or ""], callids[o.callid or ""] = true, true
      end
      local nkeys, ncallids = 0, 0
      for _ in pairs(keys) do nkeys = nkeys + 1 end
      for _ in pairs(callids) do ncallids = ncallids + 1 end
      local left = target == files and #core.outbox_read(files .. "/outbox.log")
                   or count("SELECT count(*) FROM lcm_outbox.queue")
      local exact = outcomes == FLUSH_M and nkeys == FLUSH_M and ncallids == FLUSH_M and
                    state.requests == FLUSH_M and sent == FLUSH_M and left == 0
      return FLUSH_M * 1000 / ms, exact, string.format("requests %d, outcomes %d, keys %d, sent %s, left %d",
        state.requests, outcomes, nkeys, table.concat(per, "+"), left)
    end

    local flushes = {
      { name = "file outbox, 1 flusher (its flush.lock admits one)", target = files, n = 1 },
      { name = "PostgreSQL, 1 flusher", target = pg.uri, n = 1 },
      { name = "PostgreSQL, 2 flushers", target = pg.uri, n = 2 },
      { name = "PostgreSQL, 4 flushers", target = pg.uri, n = 4 },
    }
    for _, f in ipairs(flushes) do f.rates, f.exact, f.detail = {}, true, {} end
    for run = 1, 3 do
      for _, f in ipairs(flushes) do
        local rate, exact, detail = flush_run(f.target, f.n)
        f.rates[run], f.exact, f.detail[run] = rate, f.exact and exact, detail
      end
    end

    print()
    print(string.format("The PostgreSQL outbox (PostgreSQL %s, %s, %d-core machine)", VERSION,
                        pg.sql("SHOW server_version"):match("^%S+"), tonumber(sh("nproc")) or 0))
    print()
    print(string.format("A queued Set, LCM down (connection refused), max_attempts = 1, retry_budget = false: " ..
                        "%d Sets per run, median of 3 runs (min-max); instructions: client process only, " ..
                        "(count(2n) - count(n)) / n, n = %d", N, CG_N))
    print()
    print("| outbox | us/Set | min-max | over no outbox | instructions/Set (client) |")
    print("|---|---:|---|---:|---:|")
    local base = spread(times[1])
    for i, k in ipairs(kinds) do
      local med, lo, hi = spread(times[i])
      print(string.format("| %s | %.1f | %.1f-%.1f | %s | %s |", k.name, med, lo, hi,
                          i == 1 and "" or string.format("%+.1f", med - base),
                          irs[i] and string.format("%.0fk", irs[i] / 1000) or ""))
    end
    print()
    print(string.format("Flush: %d queued records drained into lcm-sim; records/s over the wall time of " ..
                        "the flusher processes (start-up included), median of 3 runs (min-max)", FLUSH_M))
    print()
    print("| flushers | records/s | min-max | each exactly once | last run |")
    print("|---|---:|---|---|---|")
    for _, f in ipairs(flushes) do
      local med, lo, hi = spread(f.rates)
      print(string.format("| %s | %.0f | %.0f-%.0f | %s | %s |", f.name, med, lo, hi,
                          f.exact and "yes (3 runs)" or "NO", f.detail[3]))
    end
  end)
  if s then s:stop() end
  if pg then pg.stop() end
  os.execute("rm -rf " .. dir)
  if not ok then
    -- a broken environment (PostgreSQL that does not start, a missing tool) does not fail
    -- the bench: its other rows stand; the reason is printed instead of these rows
    print()
    print("The PostgreSQL outbox rows: not measured (" .. tostring(err) .. ")")
  end
end

return M
