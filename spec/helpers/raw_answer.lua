-- A one-shot HTTP server for answers lcm-sim cannot give (libmicrohttpd refuses to build
-- them, e.g. a 200 KiB header): `lua raw_answer.lua PORT_FILE ANSWER_FILE` listens on
-- 127.0.0.1 (a free port, written to PORT_FILE), reads one request and writes the bytes of
-- ANSWER_FILE as the answer. See M.start below, which runs it as a separate process.
local socket = require "socket"

local M = {}

local function serve(port_file, answer_file)
  local f = assert(io.open(answer_file, "rb"))
  local answer = f:read("*a")
  f:close()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  f = assert(io.open(port_file .. ".tmp", "w"))
  f:write(port)
  f:close()
  assert(os.rename(port_file .. ".tmp", port_file))
  server:settimeout(10)
  local c = server:accept()
  if not c then return end
  c:settimeout(5)
  local len = 0
  repeat
    local line = c:receive("*l")
    local n = line and line:lower():match("^content%-length:%s*(%d+)")
    if n then len = tonumber(n) end
  until not line or line == ""
  if len > 0 then c:receive(len) end
  c:send(answer)
  c:close()
end

-- Starts the server in its own process; returns its url.
function M.start(answer)
  local sim = require "helpers.sim"
  local port_file, answer_file = sim.tmpname(), sim.tmpname()
  sim.write(answer_file, answer)
  local lua = os.getenv("LUA") or "lua5.4"
  os.execute(sim.ENV .. lua .. " spec/helpers/raw_answer.lua " .. port_file .. " " .. answer_file .. " &")
  local port
  for _ = 1, 500 do
    port = tonumber(sim.read(port_file) or "")
    if port then break end
    socket.sleep(0.01)
  end
  os.remove(port_file)
  os.remove(answer_file)
  return "http://127.0.0.1:" .. assert(port, "raw_answer did not start") .. "/"
end

if arg and arg[0] and arg[0]:match("raw_answer%.lua$") then serve(arg[1], arg[2]) end

return M
