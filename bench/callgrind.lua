-- make bench, the instruction rows: callgrind counts of the client process only (the server
-- runs in its own process, which valgrind does not follow), stable on a machine shared with
-- other work where wall time is not. Each scenario runs N and 2N times in bench/cg_host.c;
-- (count(2N) - count(N)) / N is one repetition's work, start-up having cancelled out.
--   BENCH_CG_N=40       repetitions of the fresh-state rows (the loop rows make 5x as many)
--   BENCH_CALLGRIND=0   skip these rows
--   BENCH_PROFILE=1     also print, per row, the functions the instructions go to, and the
--                       cost of each module of the Lua layer required on its own
--   BENCH_CG_KEEP=DIR   keep the callgrind.out files in DIR (for callgrind_annotate)
local M = {}

local N = tonumber(os.getenv("BENCH_CG_N") or "40")

local sh -- bench.lua's: runs a shell command, returns its output

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs cg_host under callgrind; returns the out file's path and its instruction total.
local function callgrind(ctx, args, tag)
  local out = string.format("%s/%s.out", ctx.dir, tag)
  local cmd = string.format("valgrind --tool=callgrind --callgrind-out-file=%s %s %s >/dev/null 2>%s.log", out,
                            ctx.host, args, out)
  if not os.execute(cmd) then error("callgrind failed: " .. args .. "\n" .. sh("tail -5 " .. out .. ".log"), 0) end
  local f = assert(io.open(out))
  local text = f:read("*a")
  f:close()
  return out, tonumber(text:match("\nsummary: (%d+)") or text:match("\ntotals: (%d+)"))
end

-- The smaller of `tries` runs: a run can only gain instructions by chance, never lose
-- them. Now and then a run over https pays one more TLS handshake (~7M
-- instructions, see docs/performance.md), which would not cancel out; the least of several runs
-- of each length makes that rare.
local function least(tries, ctx, args, tag)
  local out, ir = callgrind(ctx, args, tag)
  for i = 2, tries do
    local o, n = callgrind(ctx, args, tag .. "-" .. i)
    if n < ir then out, ir = o, n end
  end
  return out, ir
end

-- One scenario's instructions per repetition. mode "fresh": a Lua state per repetition;
-- mode "loop": one state, `setup` once, `steps` per repetition. opts.url: another URL than
-- the server's default for proto; opts.n: the repetitions (a 10,000-record answer is slow
-- under callgrind).
local function measure(ctx, name, mode, proto, steps, setup, opts)
  opts = opts or {}
  local n = opts.n or (mode == "loop" and 5 * N or N)
  local function args(reps)
    local a = { mode, opts.url or ctx.ngx[proto], reps, proto == "https" and ctx.ngx.cert or "-" }
    if setup then a[#a + 1] = quote(setup) end
    a[#a + 1] = quote(steps)
    return table.concat(a, " ")
  end
  local tag = name:gsub("[^%w]+", "_")
  local tries = 1
  if proto == "https" and (steps:find("get") or steps:find("curl")) then tries = mode == "loop" and 3 or 2 end
  local out1, once = least(tries, ctx, args(n), tag .. "-1")
  local out2, twice = least(tries, ctx, args(2 * n), tag .. "-2")
  local m = { name = name, ir = (twice - once) / n, n = n, out1 = out1, out2 = out2 }
  ctx.measured[#ctx.measured + 1] = m
  return m
end

-- Self cost by function and by object, read from a callgrind out file: names are
-- compressed ("fn=(12) name" once, "fn=(12)" after), and the cost line after a calls= line
-- is the callee's inclusive cost, not the caller's own.
local function self_costs(file)
  local ids = { ob = {}, fn = {} }
  local ob, fn, after_call = "?", "?", false
  local by_fn, by_ob = {}, {}
  for line in io.lines(file) do
    local c = line:byte(1)
    if c and (c >= 48 and c <= 57 or c == 43 or c == 45 or c == 42) then
      local ir = tonumber(line:match("^%S+%s+(%d+)"))
      if ir and not after_call then
        by_fn[fn] = (by_fn[fn] or 0) + ir
        by_ob[ob] = (by_ob[ob] or 0) + ir
      end
      after_call = false
    elseif line:match("^calls=") then
      after_call = true
    else
      local key, id, name = line:match("^(c?[of][bn])=%((%d+)%)%s*(.*)$")
      if key then
        local kind = key:gsub("^c", "")
        if name ~= "" then ids[kind][id] = name end
        name = ids[kind][id]
        if key == "ob" then ob = name:match("[^/]+$") end
        if key == "fn" then fn = name:gsub("^0x0*", "0x") .. (name:match("^0x") and " in " .. ob or "") end
      end
    end
  end
  return by_fn, by_ob
end

-- { [function] = inclusive instructions } from callgrind_annotate.
local function inclusive_costs(file)
  local t = {}
  local text = sh("callgrind_annotate --threshold=100 --inclusive=yes --auto=no " .. file)
  for count, fn in text:gmatch("\n%s*([%d,]+) %([^)]*%)%s+([^\n]+)") do
    if fn ~= "PROGRAM TOTALS" then
      -- The function, without its file and object; listed once per file it has code in
      -- (inlined code), each time with its whole inclusive cost.
      fn = fn:gsub("^%S-:", "", 1):gsub(" %[.-%]$", "")
      t[fn] = math.max(t[fn] or 0, tonumber((count:gsub(",", ""))))
    end
  end
  return t
end

-- Prints the top `count` of (b - a) / n.
local function top(title, a, b, n, total, count)
  local list = {}
  for k, ir in pairs(b) do
    local per = (ir - (a[k] or 0)) / n
    if per >= 1 and per < 0.99 * total then list[#list + 1] = { k, per } end -- not main & co.
  end
  table.sort(list, function(x, y) return x[2] > y[2] end)
  print("  " .. title)
  for i = 1, math.min(count, #list) do
    print(string.format("    %9.0f %5.1f%%  %s", list[i][2], 100 * list[i][2] / total, list[i][1]))
  end
end

-- Where one repetition of m spends its instructions.
function M.profile(m)
  print(string.format("\n%s: %.0f instructions per repetition", m.name, m.ir))
  local fn1, ob1 = self_costs(m.out1)
  local fn2, ob2 = self_costs(m.out2)
  top("self, by object", ob1, ob2, m.n, m.ir, 8)
  top("self, by function", fn1, fn2, m.n, m.ir, 20)
  top("inclusive, by function", inclusive_costs(m.out1), inclusive_costs(m.out2), m.n, m.ir, 30)
end

local function kilo(ir) return string.format("%.0fk", ir / 1000) end

function M.run(host, ngx, shell)
  if os.getenv("BENCH_CALLGRIND") == "0" then return end
  sh = shell
  local keep = os.getenv("BENCH_CG_KEEP")
  local dir = keep or sh("mktemp -d"):gsub("%s+$", "")
  os.execute("mkdir -p " .. dir)
  local ctx = { host = host, ngx = ngx, dir = dir, measured = {} }
  local ok, err = pcall(function()
    local bare = measure(ctx, "bare state", "fresh", "http", "")
    local cjson = measure(ctx, "require cjson.safe", "fresh", "http", "require:cjson.safe")
    local core = measure(ctx, "require lcm.core", "fresh", "http", "require:lcm.core")
    local lcm = measure(ctx, "require lcm", "fresh", "http", "require:lcm")
    local new = measure(ctx, "lcm.new", "fresh", "http", "require:lcm,new")
    local fs = measure(ctx, "FreeSWITCH model", "fresh", "https", "require:lcm,new,get,close")
    local fs_floor = measure(ctx, "bare state + raw request", "fresh", "https", "curl")
    local seq, raw = {}, {}
    for _, proto in ipairs { "http", "https" } do
      seq[proto] = measure(ctx, "get_outcomes " .. proto, "loop", proto, "get", "require:lcm,new")
      raw[proto] = measure(ctx, "raw libcurl " .. proto, "loop", proto, "curl", "")
    end
    -- The PBX model for the Sets: the seed Set and a typed one, over the raw floor of a Set.
    local sets = { url = ctx.ngx.sets }
    local pbx_set = measure(ctx, "PBX model set_outcome", "fresh", "https", "require:lcm,new,set,close", nil, sets)
    local pbx_dnc = measure(ctx, "PBX model set_dnc", "fresh", "https", "require:lcm,new,dnc,close", nil, sets)
    local set_floor = measure(ctx, "bare state + raw Set", "fresh", "https", "curl", nil, { url = ctx.ngx.set_floor })
    -- Per record: get_outcomes of 100 and of 10,000 records over that of the 2-record answer.
    local per_record = {}
    for _, count in ipairs { 100, 10000 } do
      local o = { url = ctx.ngx.records[count], n = count > 1000 and 2 or nil }
      local m = measure(ctx, "get_outcomes " .. count .. " records", "loop", "http", "get", "require:lcm,new", o)
      per_record[count] = (m.ir - seq.http.ir) / (count - 2)
    end
    -- A peer doing the same job in the same state: LuaSocket's socket.http + lua-cjson + a
    -- plain records loop (bench/peers.lua). lua-http is packaged for Lua 5.1-5.3 only and
    -- this host is Lua 5.4: its row is in the wall-time table's notes, not here.
    local script = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/peers.lua"
    local peer = measure(ctx, "LuaSocket + cjson http", "loop", "http", "call:peer_luasocket", "dofile:" .. script)

    local rows = {}
    local function row(name, ir, over, target)
      local ratio = over and ir / over.ir
      local met
      if target and target.ratio then met = ratio <= target.ratio end
      if target and target.ir then met = ir <= target.ir end
      rows[#rows + 1] = string.format("| %s | %s | %s | %s | %s |", name, kilo(ir),
        over and string.format("%s (%s)", kilo(over.ir), over.name) or "",
        ratio and string.format("%.2fx", ratio) or "",
        target and string.format("%s %s", target.text, met and "met" or "MISSED") or "")
    end
    row("A. bare Lua state: luaL_newstate + luaL_openlibs + lua_close", bare.ir)
    row("B. + require \"cjson.safe\"", cjson.ir - bare.ir)
    row("C. + require \"lcm.core\"", core.ir - cjson.ir)
    row("D. + require \"lcm\"", lcm.ir - core.ir)
    row("E. + lcm.new", new.ir - lcm.ir)
    row("F. require \"lcm\" + lcm.new in a fresh state, over the bare state", new.ir - bare.ir, nil,
        { ir = 500e3, text = "<= 500k" })
    row("G. FreeSWITCH model: fresh state, require, new, get_outcomes, close (https)", fs.ir, fs_floor,
        { ratio = 2.0, text = "<= 2.00x" })
    row("G. PBX model, set_outcome (https)", pbx_set.ir, set_floor, { ratio = 2.0, text = "<= 2.00x" })
    row("G. PBX model, set_dnc, a typed Set (https)", pbx_dnc.ir, set_floor, { ratio = 2.0, text = "<= 2.00x" })
    for _, proto in ipairs { "http", "https" } do
      row("H. get_outcomes, sequential, one client (" .. proto .. ")", seq[proto].ir, raw[proto],
          { ratio = 1.8, text = "<= 1.80x" })
    end
    row("H. peer: LuaSocket socket.http + cjson + records loop (http, a connection per call)", peer.ir, raw.http)
    for _, count in ipairs { 100, 10000 } do
      row(string.format("I. get_outcomes, per record (%d records, over 2)", count), per_record[count], nil,
          { ir = 20e3, text = "<= 20k" })
    end
    print()
    print(string.format("Instructions per call (callgrind, client process only; (count(2N) - count(N)) / N, " ..
                        "N = %d fresh states, %d loop calls)", N, 5 * N))
    print()
    print("| row | instructions | against | ratio | target |")
    print("|---|---:|---|---:|---|")
    for _, r in ipairs(rows) do print(r) end

    if os.getenv("BENCH_PROFILE") then
      for _, m in ipairs(ctx.measured) do M.profile(m) end
      M.modules(ctx, core)
      M.parts(ctx)
    end
  end)
  if not keep then os.execute("rm -rf " .. dir) end
  if not ok then error(err, 0) end
end

-- The Lua layer's modules one by one, each required after those it requires, so that the
-- difference is its own chunk's load and run (a module not there is skipped).
function M.modules(ctx, core)
  -- What require "lcm" loads, in order, then what is loaded at first use only (lcm.stats by
  -- lcm.stats(), lcm.outbox by a client with an outbox, lcm.api and lcm.dates by a typed call).
  local chain = { "lcm.routes", "lcm.check", "lcm.retry", "lcm.counters", "lcm.answers", "lcm.policy", "lcm.build",
                  "lcm.seed_calls", "lcm.client", "lcm.public", "lcm", "lcm.stats", "lcm.outbox", "lcm.dates",
                  "lcm.api" }
  local prev, steps = core, "require:lcm.core"
  print("\nThe Lua layer, module by module (each required after the previous ones):")
  for _, name in ipairs(chain) do
    local ok, m = pcall(measure, ctx, "require " .. name, "fresh", "http", steps .. ",require:" .. name)
    if ok then
      print(string.format("  %-14s %s", name, kilo(m.ir - prev.ir)))
      prev, steps = m, steps .. ",require:" .. name
    else
      print(string.format("  %-14s (not measured: %s)", name, m:match("[^\n]*")))
    end
  end
end

-- The parts of one get_outcomes (bench/parts.lua), each called alone in a loop; the
-- empty part is the cost of the call itself, taken off the others.
function M.parts(ctx)
  local script = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/parts.lua"
  print("\nThe parts of one get_outcomes and of lcm.new (http), each alone in one state, over an empty call:")
  local empty
  local parts = { "empty", "check", "encode", "perform", "answer", "records", "get", "options", "http", "new" }
  for _, part in ipairs(parts) do
    local ok, m = pcall(measure, ctx, "part " .. part, "loop", "http", "call:part_" .. part, "dofile:" .. script)
    if not ok then
      print(string.format("  %-8s (not measured: %s)", part, m:match("[^\n]*")))
    elseif part == "empty" then
      empty = m.ir
    else
      print(string.format("  %-8s %s", part, kilo(m.ir - empty)))
    end
  end
end

return M
