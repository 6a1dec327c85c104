-- A throwaway PostgreSQL for the specs of the PostgreSQL outbox: pg_virtualenv
-- (postgresql-common) makes a cluster in a temporary directory (-t: as root too), runs a
-- shell that writes its environment to a file and waits, and drops the cluster when that
-- shell ends: when stop() is called, or when the busted process is gone.
local sim = require "helpers.sim"
local socket = require "socket"

local M = {}

local VERSION = "15"

local function own_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*l"):match("^(%d+)")
  f:close()
  return pid
end

-- Why PostgreSQL cannot be started here, or nil.
function M.missing()
  local _, ok = sim.run("command -v pg_virtualenv")
  if not ok then return "pg_virtualenv is not installed (Debian package postgresql-common)" end
  _, ok = sim.run("test -x /usr/lib/postgresql/" .. VERSION .. "/bin/postgres")
  if not ok then
    return "PostgreSQL " .. VERSION .. " is not installed (Debian package postgresql-" .. VERSION .. ")"
  end
  return nil
end

local Pg = {}
Pg.__index = Pg

-- Starts a cluster; raises when it does not come up in 60 s.
function M.start()
  local dir = sim.tmpdir()
  local script = string.format("env > %s/env.tmp && mv %s/env.tmp %s/env; " ..
                               "while [ ! -e %s/stop ] && kill -0 %s 2>/dev/null; do sleep 0.2; done",
                               dir, dir, dir, dir, own_pid())
  os.execute(string.format("%s pg_virtualenv -t -v %s sh -c '%s' > %s/log 2>&1 &", sim.ENV, VERSION, script, dir))
  local env
  for _ = 1, 600 do
    local f = io.open(dir .. "/env")
    if f then
      env = {}
      for line in f:lines() do
        local k, v = line:match("^(PG[%w_]*)=(.*)$")
        if k then env[k] = v end
      end
      f:close()
      break
    end
    socket.sleep(0.1)
  end
  assert(env, "pg_virtualenv did not start: " .. (sim.read(dir .. "/log") or ""))
  local self = setmetatable({ dir = dir, env = env }, Pg)
  -- the URI with the password in it, as an admin may write one: the specs check it is never shown
  self.uri = string.format("postgresql://%s:%s@%s:%s/%s", env.PGUSER, env.PGPASSWORD, env.PGHOST, env.PGPORT,
                           env.PGDATABASE)
  return self
end

-- The shell prefix that gives a command this cluster's environment (psql, pg_ctlcluster).
-- A shell prefix: the cluster's environment, and no sanitizer runtime (make asan preloads it
-- into the specs' interpreter; psql and pg_ctlcluster are not built for it, and LeakSanitizer
-- reported their allocations, and localedef's, in CI's make asan).
function Pg:shell_env()
  local parts = { sim.ENV .. "env" }
  for k, v in pairs(self.env) do parts[#parts + 1] = k .. "='" .. v .. "'" end
  return table.concat(parts, " ") .. " "
end

-- Runs SQL with psql; its output (unaligned, tuples only) and whether it succeeded.
function Pg:psql(sql)
  local file = sim.file(sql)
  return sim.run(self:shell_env() .. "psql -X -At -v ON_ERROR_STOP=1 -f " .. file)
end

-- Like psql, raising on failure.
function Pg:sql(sql)
  local out, ok = self:psql(sql)
  assert(ok, out)
  return (out:gsub("\n$", ""))
end

function Pg:ctl(action)
  local out, ok = sim.run(self:shell_env() .. "pg_ctlcluster " .. VERSION .. " regress " .. action)
  assert(ok, out)
end

function Pg:stop()
  sim.write(self.dir .. "/stop", "")
end

return M
