-- make bench, the rows for many calls in flight from one process (issue 14), against the
-- same nginx as the other rows, the same get_outcomes request over http:
--   (a) bench/multi_host.c: a C loop on libcurl's multi interface, INFLIGHT easy handles
--       on one multi, each re-added when done, answers discarded (the baseline);
--   (b) bench/tasks_lcm.lua: lcm, one Lua state, INFLIGHT tasks (lcm.spawn) each calling
--       client:get_outcomes in a loop, then lcm.run();
--   (c) bench/tasks_lua_http.lua: lua-http on cqueues under lua5.3, INFLIGHT coroutines
--       each POSTing on its own keep-alive connection and decoding with lua-cjson.
-- Throughput is calls per second, the median of 3 runs of BENCH_ASYNC_N calls; instructions
-- per call are callgrind's (count(2N) - count(N)) / N of the whole client process
-- (BENCH_ASYNC_CG_N = N); memory per call in flight is the RSS with BENCH_ASYNC_SLOW
-- requests waiting on a location that answers after 2 s, over the RSS before them; RSS
-- flat is lcm's RSS after 10% and after all of BENCH_ASYNC_FLAT calls.
--   BENCH_ASYNC=0          skip these rows
--   BENCH_ONLY=async       only these rows (bench/bench.lua)
local M = {}

local INFLIGHT = tonumber(os.getenv("BENCH_ASYNC_INFLIGHT") or "64")
local N = tonumber(os.getenv("BENCH_ASYNC_N") or "20000")
local CG_N = tonumber(os.getenv("BENCH_ASYNC_CG_N") or "2000")
local SLOW = tonumber(os.getenv("BENCH_ASYNC_SLOW") or "1000")
local FLAT = tonumber(os.getenv("BENCH_ASYNC_FLAT") or "100000")
local SLOW_WAIT_MS = 1000 -- the slow location answers after 2 s

local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")

-- How to run each client: an environment prefix and a command, to which the mode's
-- arguments are added (apart, so that valgrind can stand between them).
local function commands(multi_host)
  return {
    a = { "", multi_host },
    b = { "", "lua5.4 " .. here .. "/tasks_lcm.lua" },
    c = { "LUA_PATH=\"${LUA_PATH:-;};/usr/share/lua/5.1/?.lua\" ", "lua5.3 " .. here .. "/tasks_lua_http.lua" },
  }
end
local function line(c, args, wrapper) return c[1] .. (wrapper or "") .. c[2] .. " " .. args end

-- ulimit: 1,000 connections need more descriptors than a login shell's usual 1024.
local function ulimit(cmd) return "ulimit -n 8192 2>/dev/null; " .. cmd end

function M.run(ngx, sh)
  if os.getenv("BENCH_ASYNC") == "0" then return end
  local multi_host = assert(os.getenv("MULTI_HOST"), "run with make bench (MULTI_HOST)")
  local cmd = commands(multi_host)
  local url, slow = ngx.http, ngx.slow
  local names = {
    a = string.format("(a) C, libcurl multi: %d easy handles on one multi (baseline)", INFLIGHT),
    b = string.format("(b) lcm: %d tasks (lcm.spawn) doing get_outcomes, lcm.run()", INFLIGHT),
    c = string.format("(c) lua-http on cqueues (lua5.3): %d coroutines, POST + cjson.decode", INFLIGHT),
  }
  local skip = {}

  -- Runs one client; returns its output, or nil and the reason it was skipped.
  local function try(which, args)
    local out = sh(ulimit(line(cmd[which], args)) .. " 2>&1")
    local reason = out:match("^skip: ([^\n]*)")
    if reason then return nil, reason end
    return out
  end
  local function number(which, args)
    local out, reason = try(which, args)
    if not out then return nil, reason end
    local v = tonumber(out:match("^%s*(%S+)%s*$"))
    if not v then error(string.format("%s %s failed:\n%s", which, args, out), 0) end
    return v
  end
  if not sh("command -v lua5.3"):find("lua5.3") then
    skip.c = "no lua5.3 (tools/deps.sh installs it)"
  elseif sh(line(cmd.c, "") .. " 2>&1"):find("module '[^']*' not found") then
    skip.c = "lua-http, lua-cqueues or lua-cjson is not installed for lua5.3 (tools/deps.sh --bench)"
  end

  -- Throughput, the median of 3.
  local rate = {}
  for _, which in ipairs { "a", "b", "c" } do
    if not skip[which] then
      local t = {}
      for i = 1, 3 do
        local v, reason = number(which, string.format("run %s %d %d", url, N, INFLIGHT))
        if not v then skip[which] = reason break end
        t[i] = v
      end
      if not skip[which] then
        table.sort(t)
        rate[which] = t[2]
      end
    end
  end

  -- Instructions per call: callgrind of N and 2N calls.
  local ir = {}
  if os.getenv("BENCH_CALLGRIND") ~= "0" then
    local dir = sh("mktemp -d"):gsub("%s+$", "")
    local function count(which, n)
      local out = string.format("%s/%s-%d.out", dir, which, n)
      local run = line(cmd[which], string.format("run %s %d %d >%s.log 2>&1", url, n, INFLIGHT, out),
                       "valgrind --tool=callgrind --callgrind-out-file=" .. out .. " ")
      if not os.execute(ulimit(run)) then error("callgrind failed: " .. sh("tail -5 " .. out .. ".log"), 0) end
      local f = assert(io.open(out))
      local text = f:read("*a")
      f:close()
      return tonumber(text:match("\nsummary: (%d+)") or text:match("\ntotals: (%d+)"))
    end
    for _, which in ipairs { "a", "b", "c" } do
      if not skip[which] then ir[which] = (count(which, 2 * CG_N) - count(which, CG_N)) / CG_N end
    end
    os.execute("rm -rf " .. dir)
  end

  -- Memory per call in flight.
  local mem = {}
  if slow then
    for _, which in ipairs { "a", "b", "c" } do
      if not skip[which] then
        local out = try(which, string.format("rss %s %d %d", slow, SLOW, SLOW_WAIT_MS))
        local before, during, ok = (out or ""):match("(%d+) (%d+)\n(%d+)")
        if not before then error(string.format("%s rss failed:\n%s", which, out), 0) end
        mem[which] = { tonumber(before), tonumber(during), tonumber(ok) }
      end
    end
  end

  -- lcm's RSS over FLAT calls.
  local flat
  if not skip.b then
    local out = try("b", string.format("flat %s %d %d", url, FLAT, INFLIGHT))
    local early, late = (out or ""):match("(%d+) (%d+)")
    if not early then error("b flat failed:\n" .. tostring(out), 0) end
    flat = { tonumber(early), tonumber(late) }
  end

  print()
  print(string.format("Many calls in flight from one process: %d in flight, get_outcomes over http, " ..
                      "%d calls per run (median of 3); instructions: callgrind, (count(%d) - count(%d)) / %d",
                      INFLIGHT, N, 2 * CG_N, CG_N, CG_N))
  print()
  print("| row | calls/s | x (a) | instructions/call | x (a) | target |")
  print("|---|---:|---:|---:|---:|---|")
  local function verdict(ok) return ok and "met" or "MISSED" end
  for _, which in ipairs { "a", "b", "c" } do
    if skip[which] then
      print(string.format("| %s | skipped: %s | | | | |", names[which], skip[which]))
    else
      local r, i = rate[which], ir[which]
      local rr, ri = rate.a and r / rate.a, i and ir.a and i / ir.a
      local target = ""
      if which == "b" then
        target = string.format("throughput >= 0.80x %s", verdict(rr >= 0.8))
        if ri then target = target .. string.format("; instructions <= 1.50x %s", verdict(ri <= 1.5)) end
      end
      print(string.format("| %s | %.0f | %.2f | %s | %s | %s |", names[which], r, rr,
                          i and string.format("%.0fk", i / 1000) or "", ri and string.format("%.2f", ri) or "", target))
    end
  end
  if next(mem) then
    print()
    print(string.format("| memory, %d requests in flight (answers 2 s late) | RSS before (KiB) | RSS with them " ..
                        "(KiB) | KiB per call in flight |", SLOW))
    print("|---|---:|---:|---:|")
    for _, which in ipairs { "a", "b", "c" } do
      local m = mem[which]
      if m then
        print(string.format("| %s | %d | %d | %.1f |", names[which]:match("^%(.%) [^:]*"), m[1], m[2],
                            (m[2] - m[1]) / SLOW))
      end
    end
  elseif not slow then
    print()
    print("memory per call in flight: skipped (nginx has no echo module: tools/deps.sh --bench installs " ..
          "libnginx-mod-http-echo)")
  end
  if flat then
    print()
    print(string.format("| lcm RSS over %d calls, %d in flight | after %d calls | after %d | growth | target |",
                        FLAT, INFLIGHT, FLAT // 10, FLAT))
    print("|---|---:|---:|---:|---|")
    local growth = flat[2] - flat[1]
    print(string.format("| (b) | %d KiB | %d KiB | %d KiB | flat (<= 512 KiB) %s |", flat[1], flat[2], growth,
                        verdict(growth <= 512)))
  end
end

return M
