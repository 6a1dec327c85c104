-- What the outbox specs share: scratch directories, a URL nobody listens on, and the usual
-- fixture (one lcm-sim for the describe block, a fresh directory for each test).
local busted = require "busted"
local sim = require "helpers.sim"
local socket = require "socket"

local M = {}

-- A fresh directory (under base, when given).
function M.new_dir(base)
  if not base then return sim.tmpdir() end
  local dir = base .. "/lcm-spec-" .. sim.tmpname():match("[^/]+$")
  assert(os.execute("mkdir -p " .. dir))
  return dir
end

function M.file_size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n
end

-- LCM "down": nothing listens on this port.
function M.down_url(path)
  return "http://127.0.0.1:" .. sim.closed_port() .. "/" .. (path or "")
end

-- Polls fn every millisecond until it returns true, at most `tries` times (default 10000):
-- whether it did. A bound on a wait for another process, not a timed assertion.
function M.wait_until(fn, tries)
  for _ = 1, tries or 10000 do
    if fn() then return true end
    socket.sleep(0.001)
  end
  return false
end

-- Whether process pid has ended (gone, or a zombie not reaped yet), polled as wait_until
-- does: after a kill -9, a wait for the process instead of a fixed sleep.
function M.wait_gone(pid, tries)
  return M.wait_until(function()
    local f = io.open("/proc/" .. pid .. "/stat")
    if not f then return true end
    local stat = f:read("*l") or ""
    f:close()
    return stat:match(".*%) (%a)") == "Z" -- the state, after the command's name in ()
  end, tries)
end

-- Call inside a describe block: t.sim (reset before each test) and t.dir (fresh for each
-- test, removed after it).
function M.fixture()
  local t = {}
  busted.setup(function() t.sim = sim.start() end)
  busted.teardown(function() t.sim:stop() end)
  busted.before_each(function()
    t.sim:reset()
    t.dir = M.new_dir()
  end)
  busted.after_each(function() os.execute("rm -rf " .. t.dir) end)
  return t
end

return M
