-- Starts a real lcm-sim process on 127.0.0.1 (port 0: the kernel picks a free one) and
-- talks to its control API with LuaSocket, so the tests do not check lcm with lcm.
local http = require "socket.http"
local ltn12 = require "ltn12"
local socket = require "socket"
local cjson = require "cjson"

local M = {}

local ROOT = os.getenv("PWD") or "."
M.SIM = os.getenv("LCM_SIM") or (ROOT .. "/build/lcm-sim")
-- A sanitizer run (make asan) names its runtimes in LCM_PRELOAD: Lua processes started by
-- the specs load the sanitized lcm.core too, so they get them back.
-- M.SAN is that prefix, for any program that loads lcm.core (the interpreter, lcm-embed).
local preload = os.getenv("LCM_PRELOAD")
M.SAN = preload and ("env LD_PRELOAD='" .. preload .. "' ") or ""
M.LUA = M.SAN .. (os.getenv("LUA") or "lua5.4")
-- Sanitizer runs preload their runtime into the interpreter; the processes the specs start
-- (lcm-sim, curl, openssl, luarocks) are not built for it and must not inherit it. A
-- shell statement, put in front of such commands.
M.ENV = "unset LD_PRELOAD ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; "

local function tmpname()
  local name = os.tmpname()
  os.remove(name)
  return name
end
M.tmpname = tmpname

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
M.read = read

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end
M.write = write

local Sim = {}
Sim.__index = Sim

-- opts: fixtures (a Lua table, written as JSON), tls (true: a fresh self-signed
-- certificate for 127.0.0.1 and localhost; see M.certificate).
function M.start(opts)
  opts = opts or {}
  local port_file = tmpname()
  local args = { M.SIM, "--quiet", "--port", "0", "--port-file", port_file }
  local self = setmetatable({ port_file = port_file }, Sim)
  if opts.fixtures then
    self.fixtures_file = tmpname()
    write(self.fixtures_file, cjson.encode(opts.fixtures))
    args[#args + 1] = "--fixtures " .. self.fixtures_file
  end
  if opts.tls then
    self.cert = opts.tls == true and M.certificate() or opts.tls
    args[#args + 1] = "--cert " .. self.cert.cert .. " --key " .. self.cert.key
  end
  local p = assert(io.popen(M.ENV .. table.concat(args, " ") .. " >/dev/null 2>&1 & echo $!"))
  self.pid = assert(tonumber(p:read("*l")), "could not start lcm-sim")
  p:close()
  for _ = 1, 500 do
    local port = tonumber(read(port_file) or "")
    if port then
      self.port = port
      break
    end
    socket.sleep(0.01)
  end
  assert(self.port, "lcm-sim did not start (is it built? run make)")
  local scheme = opts.tls and "https" or "http"
  self.base = string.format("%s://127.0.0.1:%d", scheme, self.port)
  self.control = string.format("http://127.0.0.1:%d", self.port)
  self.url = self.base .. "/api/{subtopic}"
  if opts.tls then self.control = nil end -- LuaSocket alone has no TLS: use self:curl
  return self
end

function Sim:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    self.pid = nil
  end
  os.remove(self.port_file)
  if self.fixtures_file then os.remove(self.fixtures_file) end
end

-- A control request; TLS simulators are controlled with the curl command line tool.
function Sim:request(method, path, body)
  if not self.control then
    local cmd = string.format("%scurl -sk -X %s %s%s", M.ENV, method, self.base, path)
    if body then cmd = cmd .. " --data-binary @" .. self:_file(body) end
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    return cjson.decode(out)
  end
  local out = {}
  local _, code = http.request {
    url = self.control .. path, method = method, sink = ltn12.sink.table(out),
    source = body and ltn12.source.string(body) or nil,
    headers = body and { ["content-length"] = #body, ["content-type"] = "application/json" } or nil,
  }
  assert(code == 200, "lcm-sim control " .. path .. " answered " .. tostring(code))
  return cjson.decode(table.concat(out))
end

function Sim._file(_, body)
  local name = tmpname()
  write(name, body)
  return name
end

function Sim:state() return self:request("GET", "/_sim/state") end
function Sim:requests() return self:request("GET", "/_sim/requests") end
function Sim:reset() return self:request("POST", "/_sim/reset", "{}") end
function Sim:fault(f) return self:request("POST", "/_sim/faults", cjson.encode(f)) end
function Sim:add_call(c) return self:request("POST", "/_sim/calls", cjson.encode(c)) end

-- How many LCM requests the simulator has seen (control requests not counted).
function Sim:count() return self:state().requests end

-- The outcomes it recorded, as a list (cjson gives {} for an empty one).
function Sim:outcomes()
  local list = self:state().outcomes
  return type(list) == "table" and list or {}
end

-- A self-signed certificate for 127.0.0.1 and localhost, made once per test run.
local cert_cache
function M.certificate(names)
  if cert_cache and not names then return cert_cache end
  local dir = tmpname()
  assert(os.execute("mkdir -p " .. dir))
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
  socket.sleep(0.05)
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
