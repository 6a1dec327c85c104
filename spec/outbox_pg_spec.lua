-- The PostgreSQL outbox (lcm.outbox.postgresql), against a real PostgreSQL 15 that these
-- specs start (spec/helpers/pg.lua): a cluster of PBXes queueing in one database while LCM
-- is down, flushers killed and racing, PostgreSQL itself down, and its faults.
local lcm = require "lcm"
local sim = require "helpers.sim"
local helper = require "helpers.outbox"
local pg = require "helpers.pg"

local missing = pg.missing()

-- Runs the lcm command once: its output, and its exit status.
local function cli(args)
  local out = sim.run("{ " .. sim.LUA .. " bin/lcm " .. args .. " 2>&1; echo \"::exit=$?\"; }")
  return out:gsub("::exit=%d+%s*$", ""), tonumber(out:match("::exit=(%d+)%s*$"))
end

-- The exit status of a shell command.
local function status(cmd)
  local out = sim.run(cmd .. " >/dev/null 2>&1; echo \"rc=$?\"")
  return tonumber(out:match("rc=(%d+)"))
end

local SET = "{ callid = %s, account_number = 'x', business_outcome = 101, call_outcome = 0, user_id = '1' }"

local function set(callid)
  return { callid = callid, account_number = "x", business_outcome = 101, call_outcome = 0, user_id = "1" }
end

describe("the PostgreSQL outbox", function()
  if missing then
    it("runs against a real PostgreSQL", function()
      pending(missing)
      return
    end)
    return
  end

  local p, s, dir
  setup(function()
    p = pg.start()
    s = sim.start { fixtures = { any_callid = true } }
    assert.equal(0, status(sim.LUA .. " bin/lcm outbox init '" .. p.uri .. "'"))
  end)
  teardown(function()
    if s then s:stop() end
    if p then p:stop() end
  end)
  before_each(function()
    s:reset()
    dir = helper.new_dir()
    p:sql("TRUNCATE lcm_outbox.queue, lcm_outbox.dead")
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function start(script, name)
    local file = dir .. "/" .. name .. ".lua"
    sim.write(file, script)
    local out = dir .. "/" .. name .. ".out"
    local h = assert(io.popen(sim.ENV .. sim.LUA .. " " .. file .. " > " .. out .. " 2>&1 & echo $!"))
    local pid = assert(tonumber(h:read("*l")))
    h:close()
    return { pid = pid, out = out }
  end

  local function wait(proc)
    assert(helper.wait_gone(proc.pid, 120000), "process " .. proc.pid .. " did not end")
    return sim.read(proc.out) or ""
  end

  local function count(sql) return tonumber(p:sql(sql)) end

  it("three PBXes queue 300 Sets while LCM is down; a flusher killed mid-flush and two racing ones " ..
     "record each exactly once", function()
    local writers = {}
    for w = 1, 3 do
      writers[w] = start(string.format([[
        local lcm = require "lcm"
        local c = assert(lcm.new { url = %q, outbox = %q, max_attempts = 1, sleep = function() end })
        for i = 1, 100 do
          local ok, err = c:set_outcome(]] .. SET:format('"w' .. w .. '-" .. i') .. [[)
          print(ok and "sent" or err.queued and "queued" or ("lost " .. tostring(err.outbox_error)))
        end]], helper.down_url(), p.uri), "writer" .. w)
    end
    for w = 1, 3 do
      local out = wait(writers[w])
      local _, queued = out:gsub("queued", "")
      assert.equal(100, queued, out)
    end
    assert.equal(300, count("SELECT count(*) FROM lcm_outbox.queue"))
    assert.equal(0, s:count())
    -- every LCM answer slow: the first flusher is killed while it holds a row
    local slow = {}
    for i = 1, 400 do slow[i] = { delay_ms = 20 } end
    s:fault(slow)
    local flush = string.format([[
      local lcm = require "lcm"
      local c = assert(lcm.new { url = %q, outbox = %q, max_attempts = 1 })
      local counts, err = c:flush_outbox()
      print(counts and ("sent " .. counts.sent .. " remaining " .. counts.remaining) or tostring(err))]],
      s.url, p.uri)
    local first = start(flush, "flush1")
    assert(helper.wait_until(function() return #s:outcomes() >= 20 end, 60000), "the first flush sent nothing")
    os.execute("kill -9 " .. first.pid)
    wait(first)
    local sent_before = #s:outcomes()
    assert.is_true(sent_before < 300, "the first flush was not killed mid-flush")
    local second, third = start(flush, "flush2"), start(flush, "flush3")
    local out2, out3 = wait(second), wait(third)
    -- (remaining: what was queued when each ended, the other's row in flight included)
    assert.matches("sent %d+ remaining %d+", out2)
    assert.matches("sent %d+ remaining %d+", out3)
    local sent2, sent3 = tonumber(out2:match("sent (%d+)")), tonumber(out3:match("sent (%d+)"))
    assert.is_true(sent2 > 0 and sent3 > 0, "the two flushers did not both work: " .. out2 .. " / " .. out3)
    local outcomes = s:outcomes()
    assert.equal(300, #outcomes)
    local keys, callids = {}, {}
    for _, o in ipairs(outcomes) do
      assert.is_nil(keys[o.idempotency_key], "recorded twice: key " .. tostring(o.idempotency_key))
      assert.is_nil(callids[o.callid], "recorded twice: callid " .. tostring(o.callid))
      keys[o.idempotency_key], callids[o.callid] = true, true
    end
    for w = 1, 3 do
      for i = 1, 100 do assert.is_true(callids["w" .. w .. "-" .. i], "never recorded: w" .. w .. "-" .. i) end
    end
    assert.equal(0, count("SELECT count(*) FROM lcm_outbox.queue"))
    assert.equal(0, count("SELECT count(*) FROM lcm_outbox.dead"))
  end)

  it("spools to the fallback directory while PostgreSQL is down; the flush delivers each once", function()
    local uri = p.uri .. "?fallback=" .. dir
    local logged = {}
    local down = assert(lcm.new { url = helper.down_url(), outbox = uri, max_attempts = 1,
                                  logger = function(level, message) logged[#logged + 1] = level .. " " .. message end })
    assert.is_nil(select(2, down:set_outcome(set("before"))).outbox_error)
    p:ctl("stop")
    local ok, run = pcall(function()
      for i = 1, 5 do
        local _, err = down:set_outcome(set("spooled-" .. i))
        assert.same({ true, nil }, { err.queued, err.outbox_error })
        assert.matches("^08001: postgresql: .*%(postgresql://postgres:%*%*%*@", err.outbox_fallback)
      end
      assert.equal(5, #require("lcm.core").outbox_read(dir .. "/outbox.log"))
      for _, line in ipairs(logged) do assert.is_nil(line:find(p.env.PGPASSWORD, 1, true), line) end
      -- no fallback: queued = false, and why (without the password)
      local bare = assert(lcm.new { url = helper.down_url(), outbox = p.uri, max_attempts = 1 })
      local _, err = bare:set_outcome(set("lost"))
      assert.is_false(err.queued)
      assert.matches("^08001: postgresql: ", err.outbox_error)
      assert.is_nil(err.outbox_error:find(p.env.PGPASSWORD, 1, true))
      -- a flush while PostgreSQL is down: exit 1, everything where it was
      local out = sim.run(sim.LUA .. " bin/lcm outbox flush '" .. uri .. "' --url " .. s.url)
      assert.is_nil(out:find(p.env.PGPASSWORD, 1, true), out)
      assert.equal(1, status(sim.LUA .. " bin/lcm outbox flush '" .. uri .. "' --url " .. s.url))
      assert.equal(5, #require("lcm.core").outbox_read(dir .. "/outbox.log"))
    end)
    p:ctl("start")
    assert(ok, run)
    local up = assert(lcm.new { url = s.url, outbox = uri })
    local counts = assert(up:flush_outbox())
    assert.same({ sent = 6, failed = 0, remaining = 0, corrupt = 0, moved = 5 }, counts)
    assert.same({ sent = 0, failed = 0, remaining = 0, corrupt = 0, moved = 0 }, assert(up:flush_outbox()))
    local seen = {}
    for _, o in ipairs(s:outcomes()) do
      assert.is_nil(seen[o.callid], "recorded twice: " .. o.callid)
      seen[o.callid] = true
    end
    for i = 1, 5 do assert.is_true(seen["spooled-" .. i]) end
    assert.equal(6, #s:outcomes())
    assert.equal(0, #require("lcm.core").outbox_read(dir .. "/outbox.log"))
  end)

  it("moves what LCM refuses for good to the dead table, and requeue-dead brings it back once", function()
    local down = assert(lcm.new { url = helper.down_url(), outbox = p.uri, max_attempts = 1 })
    down:set_outcome(set("good"))
    local _, err = down:call("SetBusinessOutcomeWithCallOutcome", { callid = "" })
    assert.is_true(err.queued)
    local out, rc = cli("outbox flush '" .. p.uri .. "' --url " .. s.url)
    assert.equal(4, rc, out)
    assert.matches("sent 1, failed 1", out)
    assert.matches("Callid is empty", p:sql("SELECT dead_error FROM lcm_outbox.dead"))
    assert.matches("2 | 1 | 1 |", "2 | " .. p:sql("SELECT queued + 1, dead FROM lcm_outbox.backlog"):gsub("|", " | ") ..
                   " |")
    out, rc = cli("outbox status '" .. p.uri .. "'")
    assert.equal(2, rc, out)
    assert.matches("0 queued, 1 dead", out)
    assert.is_nil(out:find(p.env.PGPASSWORD, 1, true), out)
    out, rc = cli("outbox requeue-dead '" .. p.uri .. "'")
    assert.equal(0, rc, out)
    assert.equal(1, count("SELECT count(*) FROM lcm_outbox.queue"))
    assert.equal(0, count("SELECT count(*) FROM lcm_outbox.dead"))
  end)

  it("a connection dropped mid-transaction leaves the row to the next flush, recorded once", function()
    local down = assert(lcm.new { url = helper.down_url(), outbox = p.uri, max_attempts = 1 })
    for i = 1, 3 do down:set_outcome(set("drop-" .. i)) end
    s:fault { { delay_ms = 1500 } }
    -- while the first replay waits on LCM, its backend is terminated (its row lock with it)
    local kill = sim.file("SELECT pg_terminate_backend(pid) FROM pg_stat_activity " ..
                          "WHERE application_name = 'lcm' AND state = 'idle in transaction'")
    os.execute(sim.ENV .. p:shell_env() .. "sh -c 'sleep 0.5; psql -X -At -f " .. kill .. "' >/dev/null 2>&1 &")
    local up = assert(lcm.new { url = s.url, outbox = p.uri, max_attempts = 1 })
    local counts, err = up:flush_outbox()
    assert.is_nil(counts)
    assert.same({ "outbox" }, { err.kind })
    assert.is_nil(tostring(err):find(p.env.PGPASSWORD, 1, true))
    assert.equal(1, #s:outcomes()) -- LCM took the first one, whose delete never happened
    assert.equal(3, count("SELECT count(*) FROM lcm_outbox.queue"))
    counts = assert(up:flush_outbox()) -- a new connection
    assert.same({ sent = 3, failed = 0, remaining = 0 }, { sent = counts.sent, failed = counts.failed,
                                                           remaining = counts.remaining })
    assert.equal(3, #s:outcomes()) -- the first replayed under its key: not twice
  end)

  it("a statement timeout is queued = false with PostgreSQL's reason, and nothing is written", function()
    local uri = p.uri .. "?options=-c%20statement_timeout%3D300"
    local c = assert(lcm.new { url = helper.down_url(), outbox = uri, max_attempts = 1 })
    -- (sim.ENV: a sanitizer run's preload stays out of psql)
    os.execute(sim.ENV .. p:shell_env() ..
               "psql -X -Atc 'BEGIN; LOCK TABLE lcm_outbox.queue; SELECT pg_sleep(1.5); COMMIT' " ..
               ">/dev/null 2>&1 &")
    assert(helper.wait_until(function()
      return count("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = " ..
                   "'lcm_outbox.queue'::regclass") > 0
    end, 5000))
    local _, err = c:set_outcome(set("slow"))
    assert.is_false(err.queued)
    assert.matches("statement timeout", err.outbox_error)
    assert(helper.wait_until(function()
      return count("SELECT count(*) FROM pg_locks WHERE relation = 'lcm_outbox.queue'::regclass") == 0
    end, 5000))
    assert.equal(0, count("SELECT count(*) FROM lcm_outbox.queue"))
  end)

  it("a read-only target is queued = false (or spooled to the fallback), and a flush exits 1", function()
    p:sql("DROP DATABASE IF EXISTS lcm_ro")
    p:sql("CREATE DATABASE lcm_ro")
    local uri = p.uri:gsub("/[^/]*$", "/lcm_ro")
    assert.equal(0, status(sim.LUA .. " bin/lcm outbox init '" .. uri .. "'"))
    p:sql("ALTER DATABASE lcm_ro SET default_transaction_read_only = on")
    local c = assert(lcm.new { url = helper.down_url(), outbox = uri, max_attempts = 1 })
    local _, err = c:set_outcome(set("ro"))
    assert.is_false(err.queued)
    assert.matches("read%-only transaction", err.outbox_error)
    c = assert(lcm.new { url = helper.down_url(), outbox = uri .. "?fallback=" .. dir, max_attempts = 1 })
    _, err = c:set_outcome(set("ro"))
    assert.is_true(err.queued)
    assert.matches("read%-only transaction", err.outbox_fallback)
    assert.equal(1, #require("lcm.core").outbox_read(dir .. "/outbox.log"))
    assert.equal(1, status(sim.LUA .. " bin/lcm outbox flush '" .. uri .. "?fallback=" .. dir .. "' --url " .. s.url))
    assert.equal(1, #assert(require("lcm.outbox").records(dir)).queued) -- still there
  end)

  it("a full disk on the outbox's tablespace is queued = false (or spooled), nothing half written", function()
    local _, mounted = sim.run("id -u | grep -qx 0 && mkdir -p " .. dir .. "/tiny && mount -t tmpfs -o size=512k " ..
                               "tmpfs " .. dir .. "/tiny && chown postgres " .. dir .. "/tiny")
    if not mounted then
      pending("a tmpfs tablespace needs root and mount (CAP_SYS_ADMIN)")
      return
    end
    finally(function() -- (busted keeps one finally: the mount's cleanup is here too)
      p:psql("DROP DATABASE lcm_full")
      p:psql("DROP TABLESPACE lcm_tiny")
      os.execute("umount " .. dir .. "/tiny")
    end)
    p:sql("DROP DATABASE IF EXISTS lcm_full")
    p:sql("CREATE DATABASE lcm_full")
    local uri = p.uri:gsub("/[^/]*$", "/lcm_full")
    assert.equal(0, status(sim.LUA .. " bin/lcm outbox init '" .. uri .. "'"))
    p:sql("CREATE TABLESPACE lcm_tiny LOCATION '" .. dir .. "/tiny'")
    local env = p:shell_env():gsub("PGDATABASE='[^']*'", "PGDATABASE='lcm_full'")
    local function full_sql(sql) return sim.run(env .. "psql -X -Atc \"" .. sql .. "\"") end
    assert(select(2, full_sql("ALTER TABLE lcm_outbox.queue SET TABLESPACE lcm_tiny")))
    -- filled to the last byte: rows of incompressible bodies, one statement each (a failed
    -- one rolls back alone), big ones then one-byte ones
    local fill = {}
    for i = 1, 400 do
      local size = i <= 300 and 60 or 0
      fill[i] = "INSERT INTO lcm_outbox.queue (idempotency_key, subtopic, body, host, queued_at) SELECT " ..
                "gen_random_uuid(), 'x', convert_to(coalesce((SELECT string_agg(md5(random()::text), '') FROM " ..
                "generate_series(1, " .. size .. ")), 'x'), 'UTF8'), 'filler', now();"
    end
    local out = sim.run(env .. "psql -X -At -f " .. sim.file(table.concat(fill, "\n")))
    assert.matches("No space left on device", out)
    local c = assert(lcm.new { url = helper.down_url(), outbox = uri, max_attempts = 1 })
    local _, err = c:set_outcome(set("full"))
    assert.is_false(err.queued)
    assert.matches("No space left on device", err.outbox_error)
    c = assert(lcm.new { url = helper.down_url(), outbox = uri .. "?fallback=" .. dir, max_attempts = 1 })
    _, err = c:set_outcome(set("full"))
    assert.is_true(err.queued)
    assert.equal("0", full_sql("SELECT count(*) FROM lcm_outbox.queue WHERE host <> 'filler'"):match("%d+"))
  end)

  it("bad configuration is invalid naming outbox, and says what to do", function()
    local _, err = lcm.new { url = s.url, outbox = p.uri .. "?no_such_parameter=1" }
    assert.same({ "invalid", "outbox" }, { err.kind, err.field })
    assert.matches("no_such_parameter", err.message)
    _, err = lcm.new { url = s.url, outbox = "postgresql://u:sekret@[::1/db" }
    assert.same({ "invalid", "outbox" }, { err.kind, err.field })
    assert.is_nil(tostring(err):find("sekret", 1, true), tostring(err))
    -- no schema, and one of another version
    p:sql("DROP DATABASE IF EXISTS lcm_bare")
    p:sql("CREATE DATABASE lcm_bare")
    local bare = p.uri:gsub("/[^/]*$", "/lcm_bare")
    local c = assert(lcm.new { url = helper.down_url(), outbox = bare, max_attempts = 1 })
    _, err = c:set_outcome(set("x"))
    assert.is_false(err.queued)
    assert.matches("run lcm outbox init", err.outbox_error)
    local out, rc = cli("outbox flush '" .. bare .. "' --url " .. s.url)
    assert.equal(2, rc, out)
    assert.matches("outbox .*run lcm outbox init", out)
    assert.equal(0, status(sim.LUA .. " bin/lcm outbox init '" .. bare .. "'"))
    local env = p:shell_env():gsub("PGDATABASE='[^']*'", "PGDATABASE='lcm_bare'")
    sim.run(env .. "psql -X -Atc 'UPDATE lcm_outbox.meta SET version = 99'")
    out, rc = cli("outbox flush '" .. bare .. "' --url " .. s.url)
    assert.equal(2, rc, out)
    assert.matches("version 99, newer than this lcm's", out)
    -- the module missing: a Lua path with lcm.core only
    local only_core = dir .. "/cpath"
    os.execute("mkdir -p " .. only_core .. "/lcm")
    local script = sim.file(string.format([[
      local lcm = require "lcm"
      local c = lcm.new { url = "http://127.0.0.1:1/", outbox = %q }
      assert(c and not package.loaded["lcm.outbox.postgresql"], "a directory outbox loaded the PostgreSQL module")
      local _, e = lcm.new { url = "http://127.0.0.1:1/", outbox = %q }
      print(e.kind, e.field, e.message)]], dir, p.uri))
    local cpath, n = os.getenv("LUA_CPATH"):gsub("build/[^/;]+/%?%.so", only_core .. "/?.so")
    assert.equal(1, n, "LUA_CPATH names no build/<dir>/?.so")
    local build = os.getenv("LUA_CPATH"):match("(build/[^/;]+)/%?%.so")
    os.execute("cp " .. build .. "/lcm/core.so " .. only_core .. "/lcm/")
    out = sim.run("LUA_CPATH='" .. cpath .. "' " .. sim.LUA .. " " .. script)
    assert.matches("invalid\toutbox\toutbox: a postgresql:// outbox needs the lcm.outbox.postgresql module.*" ..
                   "install lua%-lcm%-postgresql", out)
    -- lcm.core itself does not link libpq
    local ldd = sim.run("ldd " .. only_core .. "/lcm/core.so")
    assert.is_nil(ldd:find("libpq", 1, true), ldd)
  end)
end)
