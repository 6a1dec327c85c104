-- The specs' simulator: lcm.sim (lua/lcm/sim.lua, the module users test with) plus what
-- only these specs need: TLS certificates, closed and black-hole ports, shell runs.
local socket = require "socket"
local lcm_sim = require "lcm.sim"

local M = {}

M.SIM = lcm_sim.binary()
-- A sanitizer run (make asan) names its runtimes in LCM_PRELOAD: Lua processes started by
-- the specs load the sanitized lcm.core too, so they get them back.
-- M.SAN is that prefix, for any program that loads lcm.core (the interpreter, lcm-embed).
local preload = os.getenv("LCM_PRELOAD")
M.SAN = preload and ("env LD_PRELOAD='" .. preload .. "' ") or ""
M.LUA = M.SAN .. (os.getenv("LUA") or "lua5.4")
-- Sanitizer runs preload their runtime into the interpreter; the processes the specs start
-- (lcm-sim, curl, openssl, luarocks) are not built for it and must not inherit it. A
-- shell statement, put in front of such commands.
M.ENV = lcm_sim.ENV

local read, write = lcm_sim.read, lcm_sim.write

-- The specs' scratch directory: one per spec file (busted loads this helper afresh for each
-- file), made at the first name asked for and removed when busted exits, so that a run
-- leaves nothing behind (lcm.sim.tmpname is os.tmpname's, which makes a /tmp/lua_XXXXXX
-- file that a spec then used as a directory or left). Mode 0755: the processes the specs
-- run as nobody reach their own files in it.
local scratch, made = nil, 0
local function tmpname()
  if not scratch then
    local p = assert(io.popen('mktemp -d "${TMPDIR:-/tmp}/lcm_spec_XXXXXX"'))
    scratch = assert(p:read("*l"), "mktemp -d failed")
    p:close()
    assert(os.execute("chmod 0755 " .. scratch))
    local dir = scratch
    local ok, busted = pcall(require, "busted")
    if ok and busted.subscribe then
      busted.subscribe({ "exit" }, function()
        os.execute("rm -rf '" .. dir .. "'")
        return nil, true -- (busted's mediator: the other files' handlers run too)
      end)
    end
  end
  made = made + 1
  -- a unique base name: helpers.outbox makes directories elsewhere (/dev/shm) named after it
  return scratch .. "/" .. scratch:match("[^/]+$") .. "_" .. made
end
M.tmpname, M.read, M.write = tmpname, read, write

-- lcm.sim.start, raising when it cannot start. opts as lcm.sim.start's, but tls = true
-- makes a fresh self-signed certificate for 127.0.0.1 and localhost (see M.certificate);
-- the simulator keeps it in .cert.
function M.start(opts)
  opts = opts or {}
  local cert = opts.tls == true and M.certificate() or opts.tls
  local s = assert(lcm_sim.start { fixtures = opts.fixtures, tls = cert })
  s.cert = cert
  s._file = M.file -- s:_file(body), as specs written before lcm.sim call it
  return s
end

-- A fresh empty directory (the specs' scratch and outbox directories).
function M.tmpdir()
  local dir = tmpname()
  assert(os.execute("mkdir -p " .. dir))
  return dir
end

-- A temporary file holding body (for curl --data-binary @file); M.file(body) or s:_file(body).
function M.file(first, body)
  if body == nil then body = first end
  local name = tmpname()
  write(name, body)
  return name
end

-- A self-signed certificate for 127.0.0.1 and localhost, made once per test run.
local cert_cache
function M.certificate(names)
  if cert_cache and not names then return cert_cache end
  local dir = M.tmpdir()
  local san = names or "IP:127.0.0.1,DNS:localhost"
  local cmd = string.format(M.ENV .. "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=%s " ..
                            "-addext subjectAltName=%s -keyout %s/key.pem -out %s/cert.pem 2>/dev/null",
                            names and "other.test" or "localhost", san, dir, dir)
  assert(os.execute(cmd), "openssl failed")
  local c = { cert = dir .. "/cert.pem", key = dir .. "/key.pem", dir = dir }
  if not names then cert_cache = c end
  return c
end

-- A TCP port on 127.0.0.1 with nothing listening (bound, then closed).
function M.closed_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

-- A listener on 127.0.0.1 that never accepts, its backlog filled, so that a new
-- connection's SYN is dropped and connecting hangs: a connect timeout without the
-- internet. Returns the port and a function that closes it all.
function M.blackhole()
  local server = assert(socket.bind("127.0.0.1", 0, 1))
  local _, port = server:getsockname()
  local fillers = {}
  for i = 1, 4 do
    local c = socket.tcp()
    c:settimeout(0)
    c:connect("127.0.0.1", port)
    fillers[i] = c
  end
  -- Until its accept queue is full, when the kernel drops new connections' SYNs (a fixed
  -- sleep here let a client connect on a loaded machine): /proc/net/tcp gives a listener's
  -- queue length (rx_queue); Linux drops SYNs once it is more than the backlog (1, above).
  local function full()
    for line in io.lines("/proc/net/tcp") do
      local p, st, queued = line:match("^%s*%d+: %x+:(%x+) %x+:%x+ (%x%x) %x+:(%x+)")
      if st == "0A" and tonumber(p, 16) == tonumber(port) then return tonumber(queued, 16) > 1 end
    end
  end
  local waited = 0
  while not full() do
    assert(waited < 5000, "the black hole's accept queue never filled")
    socket.sleep(0.001)
    waited = waited + 1
  end
  return port, function()
    for _, c in ipairs(fillers) do c:close() end
    server:close()
  end
end

-- Runs a shell command (without a sanitizer runtime: use M.LUA for Lua), returns its
-- output and whether it succeeded.
function M.run(cmd)
  local p = assert(io.popen(M.ENV .. cmd .. " 2>&1; echo \"::rc=$?\""))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("::rc=(%d+)%s*$"))
  return out:gsub("::rc=%d+%s*$", ""), rc == 0
end

return M
