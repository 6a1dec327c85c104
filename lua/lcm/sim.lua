--- A real lcm-sim for your own tests: start one on a free port, arm faults, read what it
-- recorded, reset, stop.
-- lcm.sim: a real lcm-sim process for your own tests (busted or any other runner).
--
--   local sim = require "lcm.sim"
--   local s = assert(sim.start())              -- 127.0.0.1, a free port
--   local client = assert(lcm.new { url = s.url })
--   s:fault { subtopic = "SetDNC", status = 503, count = 2 }
--   ... run the script under test ...
--   assert.equal(1, #s:outcomes())
--   s:reset(); s:stop()
--
-- The control requests go through LuaSocket, not through lcm, so a test does not check
-- lcm with lcm; a TLS simulator is controlled with the curl command-line tool (LuaSocket
-- alone has no TLS). Control methods raise when the simulator does not answer: that is a
-- broken test setup, not a result.
-- @module lcm.sim
local M = {}

-- The simulator is not built with the sanitizer runtime a test's interpreter may have
-- preloaded (make asan), and must not inherit it: a shell prefix for what we start.
M.ENV = "unset LD_PRELOAD ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; "

-- Small file helpers for specs: a fresh temporary path, a whole file, a file written.
local function readable(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  f:close()
end

local function tmpname()
  local name = os.tmpname()
  os.remove(name)
  return name
end
M.tmpname, M.read, M.write = tmpname, read, write

-- os.execute's success, on 5.1 (a status number) and 5.2+ (true or nil) alike.
local function succeeded(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

--- The path of the lcm-sim binary that @{start} runs by default.
-- The lcm-sim binary: $LCM_SIM, else lcm-sim on the PATH, else the build tree next to
-- this file (a repository checkout after make).
-- @treturn string
function M.binary()
  local env = os.getenv("LCM_SIM")
  if env and env ~= "" then return env end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    if readable(dir .. "/lcm-sim") then return dir .. "/lcm-sim" end
  end
  local root = debug.getinfo(1, "S").source:match("^@(.-)lua/lcm/sim%.lua$")
  return (root or "") .. "build/lcm-sim"
end

local function json()
  -- A private instance: the shared cjson's settings belong to the program under test.
  return require("cjson").new()
end

local Sim = {}
Sim.__index = Sim

-- Whether process pid is running: not gone, and not a zombie (an exited process that
-- nobody has reaped yet: the simulator is not our child, and PID 1 may not reap it).
local function running(pid)
  local stat = read("/proc/" .. pid .. "/stat")
  if stat then return not stat:match("^%d+ %b() Z") end
  return succeeded("kill -0 " .. pid .. " 2>/dev/null")
end

--- Starts an lcm-sim and waits until it listens.
-- opts (all optional): fixtures (a table, written as JSON) or fixtures_file (a path),
-- tls = { cert = file, key = file }, binary (default M.binary()), host (127.0.0.1).
-- Returns the simulator, or nil and a message saying why it did not start.
-- @tab[opt] opts
-- @tab[opt] opts.fixtures answers to serve instead of the built-in ones (written as JSON)
-- @string[opt] opts.fixtures_file a JSON file of fixtures
-- @tab[opt] opts.tls `{ cert = file, key = file }`: serve https
-- @string[opt] opts.binary default @{binary}()
-- @string[opt="127.0.0.1"] opts.host
-- @treturn[1] Sim with `url` (for @{lcm.new}'s `url`), `base` and `port`
-- @return[2] nil
-- @return[2] string why it did not start
function M.start(opts)
  opts = opts or {}
  local cjson = json()
  local self = setmetatable({ files = {} }, Sim)
  local port_file, log = tmpname(), tmpname()
  self.files[1], self.files[2] = port_file, log
  local host = opts.host or "127.0.0.1"
  local args = { quote(opts.binary or M.binary()), "--quiet", "--host", quote(host), "--port", "0",
                 "--port-file", quote(port_file) }
  local fixtures = opts.fixtures_file
  if opts.fixtures then
    fixtures = tmpname()
    self.files[#self.files + 1] = fixtures
    write(fixtures, cjson.encode(opts.fixtures))
  end
  if fixtures then args[#args + 1] = "--fixtures " .. quote(fixtures) end
  if opts.tls then args[#args + 1] = "--cert " .. quote(opts.tls.cert) .. " --key " .. quote(opts.tls.key) end
  local p = io.popen(M.ENV .. table.concat(args, " ") .. " >/dev/null 2>" .. quote(log) .. " & echo $!")
  self.pid = p and tonumber(p:read("*l"))
  if p then p:close() end
  local socket = require "socket"
  for _ = 1, 500 do
    self.port = tonumber(read(port_file) or "")
    if self.port or not self.pid or not running(self.pid) then break end
    socket.sleep(0.01)
  end
  if not self.port then
    local why = (read(log) or ""):gsub("%s+$", "")
    self:stop()
    return nil, "lcm-sim did not start (" .. args[1] .. "): " .. (why ~= "" and why or "no port after 5 s")
  end
  self.tls = opts.tls ~= nil and opts.tls ~= false
  self.base = string.format("%s://%s:%d", self.tls and "https" or "http", host, self.port)
  self.url = self.base .. "/api/{subtopic}"
  return self
end

--- A running simulator, from @{start}. Its control methods raise when the simulator does
-- not answer: that is a broken test setup, not a result.
-- @type Sim

--- Stops the simulator.
-- Stops the process, waits until it has exited (so its port no longer answers), and
-- removes its files; safe twice.
function Sim:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    local socket = require "socket"
    for _ = 1, 500 do
      if not running(self.pid) then break end
      socket.sleep(0.01)
    end
    if running(self.pid) then os.execute("kill -9 " .. self.pid .. " 2>/dev/null") end
    self.pid = nil
  end
  for _, f in ipairs(self.files) do os.remove(f) end
  self.files = {}
end

local function curl(self, method, path, body)
  local cmd = string.format("%scurl -sS -k -X %s -w '\\n%%{http_code}' %s", M.ENV, method, quote(self.base .. path))
  local file
  if body then
    file = tmpname()
    write(file, body)
    cmd = cmd .. " -H 'Content-Type: application/json' --data-binary @" .. quote(file)
  end
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  if file then os.remove(file) end
  local text, code = out:match("^(.*)\n(%d+)$")
  return text, tonumber(code)
end

local function plain(self, method, path, body)
  local http, ltn12 = require "socket.http", require "ltn12"
  local out = {}
  local _, code = http.request {
    url = self.base .. path, method = method, sink = ltn12.sink.table(out),
    source = body and ltn12.source.string(body) or nil,
    headers = body and { ["content-length"] = #body, ["content-type"] = "application/json" } or nil,
  }
  return table.concat(out), code
end

--- Sends a control request.
-- One control request (the simulator's /_sim/ API): its decoded answer.
-- @string method `"GET"` or `"POST"`
-- @string path under `/_sim/`
-- @string[opt] body JSON
-- @return the decoded answer
function Sim:request(method, path, body)
  local text, code = (self.tls and curl or plain)(self, method, path, body)
  if code ~= 200 then
    error("lcm-sim control " .. method .. " " .. path .. " answered " .. tostring(code) .. ": " .. tostring(text), 2)
  end
  local ok, value = pcall(json().decode, text)
  if not ok then error("lcm-sim control " .. path .. ": " .. tostring(value), 2) end
  return value
end

local function encode(v) return json().encode(v) end

-- A list from a JSON answer (cjson gives {} for an empty array, which is a list too).
local function list(v) return type(v) == "table" and v or {} end

--- The simulator's state.
-- { requests =, connections =, streamed =, outcomes =, sets =, faults = }
-- @treturn table
function Sim:state() return self:request("GET", "/_sim/state") end
--- How many LCM requests it answered.
-- How many LCM requests it has answered (control requests not counted).
-- @treturn int
function Sim:count() return self:state().requests end
--- The outcomes it recorded.
-- The outcomes it recorded (SetBusinessOutcomeWithCallOutcome), with their wire fields.
-- @treturn table a list
function Sim:outcomes() return list(self:state().outcomes) end
--- The other Sets it recorded.
-- The other Sets it recorded: { subtopic =, data =, idempotency_key = }.
-- @treturn table a list
function Sim:sets() return list(self:state().sets) end
--- The last requests.
-- The last 200 requests: { method =, path =, headers =, body = }.
-- @treturn table a list
function Sim:requests() return list(self:request("GET", "/_sim/requests")) end
--- Forgets everything.
-- Forgets everything: recorded requests and outcomes, calls added, armed faults.
function Sim:reset() return self:request("POST", "/_sim/reset", "{}") end
--- Arms a fault.
-- Arms one fault, or a list of them (see README, "lcm-sim"): { subtopic =, count =,
-- status =, body =, delay_ms =, drop =, after =, truncate =, retry_after =, stream_bytes = }.
-- @tab f the fault, or a list of them
function Sim:fault(f) return self:request("POST", "/_sim/faults", encode(f)) end
--- Adds a call it knows.
-- Adds a call it knows: { callid =, type =, accept = false (Sets answer success: false) }.
-- @tab c the call
function Sim:add_call(c) return self:request("POST", "/_sim/calls", encode(c)) end

return M
