-- make bench: one table, measured in one run against one local fixed-response server
-- (nginx serving a canned BusinessOutCome answer over http and https), so that what is
-- measured is the client. Times are microseconds per call, the median of 3 runs; ratios
-- are to the raw libcurl floor of the same protocol, measured in the same run.
local lcm = require "lcm"
local core = require "lcm.core"
local cjson = require "cjson"
local socket = require "socket"

local HOST = assert(os.getenv("BENCH_HOST"), "run with make bench")
local N = tonumber(os.getenv("BENCH_N") or "20000")
local ANSWER = cjson.encode { channel = "LCM", topic = "WebService", subtopic = "BusinessOutCome", message = {
  response = {
    { CampaignID = "0", OutComeID = "107", LeadScore = "0", ParentID = "5", Description = "success" },
    { CampaignID = "0", OutComeID = "108", LeadScore = "0", ParentID = "6", Description = "Fail" },
  } } }
-- The Sets' answers (the bench's Sets are for call 12345), and the list answers of the
-- per-record rows: 100 and 10,000 records of get_outcomes' shape.
local function set_result(subtopic)
  return cjson.encode { channel = "LCM", topic = "WebService", subtopic = subtopic .. "Result",
                        message = { callid = "12345", response = { success = true } } }
end
local function outcomes_answer(n)
  local list = {}
  for i = 1, n do
    list[i] = { CampaignID = "0", OutComeID = tostring(100 + i), LeadScore = "0", ParentID = "5",
                Description = "outcome " .. i }
  end
  return cjson.encode { channel = "LCM", topic = "WebService", subtopic = "BusinessOutCome",
                        message = { response = list } }
end
local RECORDS = { 100, 10000 }
local REQUEST = [[{"channel":"LCM","topic":"WebService","subtopic":"GetOutcomeByOutcomegroup",]] ..
                [["source":"bench","data":{"callid":"","type":"MANUAL"}}]]

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

-- nginx in a scratch directory, on two free loopback ports.
local function start_nginx()
  local dir = sh("mktemp -d"):gsub("%s+$", "")
  os.execute("mkdir -p " .. dir .. "/tmp")
  assert(os.execute(string.format("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost " ..
    "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem 2>/dev/null", dir, dir)))
  local http_port, https_port = free_port(), free_port()
  -- The record answers are files (nginx's `return` takes at most 4 KB): served to a POST by
  -- the static module's 405 turned into a 200 of the same file.
  -- (readable by nginx's worker, which runs as nobody when the bench runs as root)
  os.execute("mkdir -p " .. dir .. "/r && chmod 755 " .. dir .. " " .. dir .. "/r")
  for _, n in ipairs(RECORDS) do
    local r = assert(io.open(dir .. "/r/" .. n, "w"))
    r:write(outcomes_answer(n))
    r:close()
  end
  -- A location that answers 2 s late, for the rows of calls in flight (bench/async.lua), when
  -- nginx has the echo module (Debian's libnginx-mod-http-echo): echo_sleep does not block
  -- the worker.
  local echo = "/usr/share/nginx/modules/ngx_http_echo_module.so"
  local has_echo = io.open(echo) and true
  local f = assert(io.open(dir .. "/nginx.conf", "w"))
  f:write(has_echo and string.format("load_module %s;\n", echo) or "")
  f:write(string.format([[
worker_processes 1;
worker_rlimit_nofile 8192;
error_log %s/error.log;
pid %s/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %s/tmp; proxy_temp_path %s/tmp; fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:%d;
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s/cert.pem;
    ssl_certificate_key %s/key.pem;
    location / { default_type application/json; return 200 '%s'; }
    location = /api/SetBusinessOutcomeWithCallOutcome { default_type application/json; return 200 '%s'; }
    location = /api/SetDNC { default_type application/json; return 200 '%s'; }
    location /r/ { root %s; default_type application/json; error_page 405 =200 $uri; }
    %s
  }
}
]], dir, dir, dir, dir, dir, dir, dir, http_port, https_port, dir, dir, ANSWER,
    set_result("SetBusinessOutcomeWithCallOutcome"), set_result("SetDNC"), dir,
    has_echo and string.format("location /slow/ { default_type application/json; echo_read_request_body; " ..
                               "echo_sleep 2; echo '%s'; }", ANSWER) or ""))
  f:close()
  local pid = sh(string.format("nginx -p %s -c %s/nginx.conf -g 'daemon off;' >/dev/null 2>&1 & echo $!",
                               dir, dir)):gsub("%s+$", "")
  for _ = 1, 200 do
    local c = socket.tcp()
    if c:connect("127.0.0.1", https_port) then
      c:close()
      break
    end
    socket.sleep(0.02)
  end
  local base = { http = "http://127.0.0.1:" .. http_port, https = "https://127.0.0.1:" .. https_port }
  local records = {}
  for _, n in ipairs(RECORDS) do records[n] = base.http .. "/r/" .. n end
  return { dir = dir, pid = pid, cert = dir .. "/cert.pem", records = records,
           slow = has_echo and base.http .. "/slow/api" or nil,
           http = base.http .. "/api", https = base.https .. "/api",
           -- lcm's URL for the Sets ({subtopic} replaced per call), and one Set's URL for the raw floor
           sets = base.https .. "/api/{subtopic}", set_floor = base.https .. "/api/SetDNC" }
end

local function median3(fn)
  local t = { fn(), fn(), fn() }
  table.sort(t)
  return t[2]
end

-- Microseconds per call of fn over n calls, after a warm-up.
local function per_call(n, fn)
  for _ = 1, 50 do fn() end
  local start = core.monotonic_ms()
  for _ = 1, n do fn() end
  return (core.monotonic_ms() - start) * 1000 / n
end

local function host(args)
  return tonumber(sh(HOST .. " " .. args)) or error("bench_host failed: " .. args)
end

local function rss_kib()
  local f = io.open("/proc/self/statm")
  local pages = f:read("*n") and f:read("*n")
  f:close()
  return pages * 4
end

local ngx = start_nginx()
local only_async = os.getenv("BENCH_ONLY") == "async"
local ok, err = true, nil
if not only_async then ok, err = pcall(function()
  local rows = {}
  local function row(name, proto, us, target) rows[#rows + 1] = { name, proto, us, target } end

  local floor = {
    http = median3(function() return host("floor " .. ngx.http .. " " .. N) end),
    https = median3(function() return host("floor " .. ngx.https .. " " .. N .. " " .. ngx.cert) end),
  }
  row("1. raw libcurl loop, one reused handle (floor)", "http", floor.http)
  row("1. raw libcurl loop, one reused handle (floor)", "https", floor.https)

  for _, proto in ipairs { "http", "https" } do
    local c = assert(lcm.new { url = ngx[proto], ca_file = proto == "https" and ngx.cert or nil })
    row("2. client:get_outcomes, sequential", proto,
        median3(function() return per_call(N, function() assert(c:get_outcomes("", "MANUAL")) end) end), 1.10)
    c:close()
  end

  local fresh_n = math.max(1000, N // 10)
  row("3. fresh Lua state per call, shared cache", "https", median3(function()
    return host(string.format("fresh %s %d %s share", ngx.https, fresh_n, ngx.cert))
  end), 1.5)
  row("3. fresh Lua state per call, no cache", "https", median3(function()
    return host(string.format("fresh %s %d %s noshare", ngx.https, fresh_n // 4, ngx.cert))
  end))

  -- 16 threads, each call a fresh Lua state (FreeSWITCH, or pbx_lua per channel): the
  -- process-wide handle pool against share = false. us/call is wall time over all calls.
  for _, mode in ipairs { "share", "noshare" } do
    local out = sh(string.format("%s concurrent %s %d %s %s 16", HOST, ngx.https, fresh_n, ngx.cert, mode))
    local us, conns = out:match("^(%S+) (%d+)")
    assert(us, "bench_host concurrent failed: " .. out)
    row(string.format("3. 16 threads of fresh-state calls, %s: %s connections for %d calls",
                      mode == "share" and "handle pool" or "share = false", conns, fresh_n // 16 * 16),
        "https", tonumber(us))
  end

  local curl_cmd = string.format("curl -s -X POST -H 'Content-Type: application/json' --data-binary '%s' ", REQUEST)
  for _, proto in ipairs { "http", "https" } do
    local cmd = curl_cmd .. (proto == "https" and ("--cacert " .. ngx.cert .. " ") or "") .. ngx[proto]
    row("4. io.popen(\"curl ...\") + cjson.decode", proto, median3(function()
      return per_call(200, function()
        local p = io.popen(cmd)
        assert(cjson.decode(p:read("*a")).message)
        p:close()
      end)
    end))
  end
  local ltn12 = require "ltn12"
  local function luasocket(request_fn, url, params)
    return function()
      local out = {}
      local req = { url = url, method = "POST", source = ltn12.source.string(REQUEST), sink = ltn12.sink.table(out),
                    headers = { ["content-type"] = "application/json", ["content-length"] = #REQUEST } }
      for k, v in pairs(params or {}) do req[k] = v end
      request_fn(req)
      assert(cjson.decode(table.concat(out)).message)
    end
  end
  row("4. LuaSocket socket.http + cjson.decode", "http",
      median3(function() return per_call(2000, luasocket(require("socket.http").request, ngx.http)) end))
  row("4. LuaSec ssl.https + cjson.decode", "https", median3(function()
    return per_call(500, luasocket(require("ssl.https").request, ngx.https, { cafile = ngx.cert, verify = "peer" }))
  end))

  local load_us = median3(function() return host("load " .. ngx.http .. " 2000") end)

  local c = assert(lcm.new { url = ngx.http })
  for _ = 1, 2000 do c:get_outcomes("", "MANUAL") end
  collectgarbage()
  local before = rss_kib()
  for _ = 1, 200000 do c:get_outcomes("", "MANUAL") end
  collectgarbage()
  local growth = rss_kib() - before

  print(string.format("lcm %s, %s, Lua %s, %d calls per timed row (median of 3)", lcm._VERSION,
                      core.curl_version():match("^%S+"), _VERSION:match("%d.%d"), N))
  print()
  -- The server's latency on a shared machine moves the floor between runs; the client's
  -- own cost, the microseconds over the floor of the same protocol, moves much less.
  print("| row | proto | us/call | x floor | us over floor | target |")
  print("|---|---|---:|---:|---:|---|")
  for _, r in ipairs(rows) do
    local ratio = r[3] / floor[r[2]]
    local target = r[4] and string.format("<= %.2fx %s", r[4], ratio <= r[4] and "met" or "MISSED") or ""
    print(string.format("| %s | %s | %.1f | %.2f | %+.1f | %s |", r[1], r[2], r[3], ratio, r[3] - floor[r[2]],
                        target))
  end
  print(string.format("| 5. require \"lcm\" + lcm.new in a fresh state | | %.1f | | | <= 50 us %s |", load_us,
                      load_us <= 50 and "met" or "MISSED"))
  print(string.format("| 6. RSS growth over 200k calls | http | %d KiB | | | <= 512 KiB %s |", growth,
                      growth <= 512 and "met" or "MISSED"))
end) end
-- The instruction rows (bench/callgrind.lua), against the same server.
if ok and not only_async then
  ok, err = pcall(dofile(arg[0]:gsub("[^/]*$", "") .. "callgrind.lua").run, os.getenv("CG_HOST"), ngx, sh)
end
-- The rows of many calls in flight from one process (bench/async.lua).
if ok then ok, err = pcall(dofile(arg[0]:gsub("[^/]*$", "") .. "async.lua").run, ngx, sh) end
-- The PostgreSQL outbox rows (bench/outbox_pg.lua; they print a skip line when PostgreSQL is not there).
if ok and not only_async then ok, err = pcall(dofile(arg[0]:gsub("[^/]*$", "") .. "outbox_pg.lua").run, sh) end
os.execute("kill " .. ngx.pid .. " 2>/dev/null")
os.execute("rm -rf " .. ngx.dir)
if not ok then error(err, 0) end
