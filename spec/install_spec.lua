-- The install paths: luarocks make, and make install with PREFIX/DESTDIR/LUA_VERSION.
-- Each installed copy is used from another directory against a real lcm-sim, with only
-- the installed tree on the Lua path. Packaging does not depend on the interpreter under
-- test, so this names its interpreters itself.
local sim = require "helpers.sim"

-- Prints the version, the count of outcomes, where lcm.core came from and, per embedded
-- module, its source's Adler-32 and the form this VM loaded it in (5.1 has no searchpath).
local SCRIPT = [[local lcm = require "lcm"
local function where(name)
  for template in package.cpath:gmatch("[^;]+") do
    local path = template:gsub("%?", (name:gsub("%.", "/")))
    local f = io.open(path)
    if f then f:close(); return path end
  end
end
local c = assert(lcm.new { url = os.getenv("URL") })
local list = assert(c:get_outcomes("", lcm.MANUAL))
local sums = require("lcm.core").embedded()
for name in pairs(sums) do require(name) end -- some load only when used (lcm.outbox...)
local _, forms = require("lcm.core").embedded()
local names = {}
for name in pairs(sums) do names[#names + 1] = name end
table.sort(names)
for i, name in ipairs(names) do names[i] = string.format("%s=%.0f/%s", name, sums[name], forms[name]) end
print(lcm._VERSION, #list, where("lcm.core"), table.concat(names, " "))]]

-- Runs SCRIPT with interpreter lua, from /, with only the tree's directories on the path.
local function use(lua, tree_share, tree_lib, url)
  local script = sim.tmpname()
  sim.write(script, SCRIPT)
  local out, ok = sim.run(string.format(sim.ENV ..
    "cd / && URL='%s' LUA_PATH='%s/?.lua;%s/?/init.lua;;' LUA_CPATH='%s/?.so;;' %s %s",
    url, tree_share, tree_share, tree_lib, lua, script))
  os.remove(script)
  return out, ok
end

-- The dynamic symbols a shared object defines.
local function exports(so)
  return (sim.run("nm -D --defined-only " .. so .. " | awk '$2 ~ /^[TDBW]$/ {print $3}'"))
end

-- make, with the variables given and nothing inherited from a make running the specs.
local function make(args)
  return sim.run(sim.ENV .. "env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory " .. args)
end

-- make ARGS into a fresh DESTDIR, which it returns; make must succeed.
local function install(args)
  local dest = sim.tmpname()
  local out, ok = make(args .. " DESTDIR=" .. dest)
  assert.is_true(ok, out)
  return dest
end

-- The files under dir, one "./path" a line, sorted.
local function files(dir)
  return (sim.run("cd " .. dir .. " && find . -type f | sort"))
end

-- luarocks make, for lua_version, with more arguments, from a copy of the tree (to check
-- that the build leaves nothing outside build/) into a fresh tree, which it returns.
-- --deps-mode=none: lua-cjson comes from Debian's lua-cjson package, not a rock.
local function rock(lua_version, args)
  local tree, src = sim.tmpname(), sim.tmpname()
  local out, ok = sim.run(sim.ENV .. "mkdir -p " .. src .. " && git ls-files -z | xargs -0 cp --parents -t " .. src)
  assert.is_true(ok, out)
  local version = sim.read("VERSION"):match("^(%S+)")
  out, ok = sim.run(sim.ENV .. "cd " .. src .. " && luarocks --lua-version " .. lua_version .. " make" ..
                    " --deps-mode=none --tree " .. tree .. " rockspec/lcm-" .. version .. "-1.rockspec " .. args)
  local stray = sim.run("cd " .. src .. " && find . -path ./build -prune -o \\( -name '*.so' -o -name '*.o' \\)" ..
                        " -print")
  os.execute("rm -rf " .. src)
  assert.is_true(ok, out)
  assert.equal("", stray)
  return tree
end

describe("installing", function()
  local s, version
  setup(function()
    s = sim.start()
    version = sim.read("VERSION"):match("^(%S+)")
  end)
  teardown(function() s:stop() end)

  it("luarocks make builds the core.so make builds and installs the commands", function()
    local tree = rock("5.4", "")
    local lib = tree .. "/lib/lua/5.4"
    local rock_out, ok = use("lua5.4", tree .. "/share/lua/5.4", lib, s.url)
    local rock_exports = exports(lib .. "/lcm/core.so")
    -- The command luarocks wrapped; a tree of one's own is on the path by LUA_PATH/LUA_CPATH.
    local usage = sim.run(string.format(sim.ENV .. "cd / && env -u LCM_URL LUA_PATH='%s/?.lua;;' " ..
                                        "LUA_CPATH='%s/?.so;;' %s/bin/lcm-flush-outbox",
                                        tree .. "/share/lua/5.4", lib, tree))
    os.execute("rm -rf " .. tree)
    assert.is_true(ok, rock_out)
    assert.truthy(rock_out:find("^" .. version .. "\t2\t" .. lib .. "/lcm/core.so\t"), rock_out)
    assert.matches("^lcm outbox: missing DIR", usage)

    -- The same module as make's: the exports and the embedded modules (names, the
    -- sources they were compiled from, the form loaded).
    local dest = install("install LUA_VERSION=5.4 PREFIX=/usr")
    local make_lib = dest .. "/usr/lib/lua/5.4"
    local make_out = use("lua5.4", dest .. "/usr/share/lua/5.4", make_lib, s.url)
    local make_exports = exports(make_lib .. "/lcm/core.so")
    os.execute("rm -rf " .. dest)
    assert.equal("luaopen_lcm_core\n", rock_exports)
    assert.equal(make_exports, rock_exports)
    assert.equal(make_out:match("[^\t]*\n$"), rock_out:match("[^\t]*\n$"))
    assert.truthy(rock_out:find("lcm.retry=%d+/lua5.4"), rock_out)
  end)

  it("luarocks for LuaJIT builds the 5.1 module with PUC 5.1's headers: it serves lua5.1 too", function()
    -- luarocks configured for LuaJIT passes LuaJIT's interpreter and headers.
    local tree = rock("5.1", "LUA=/usr/bin/luajit LUA_INCDIR=/usr/include/luajit-2.1")
    local share, lib = tree .. "/share/lua/5.1", tree .. "/lib/lua/5.1"
    local puc, puc_ok = use("lua5.1", share, lib, s.url)
    local jit, jit_ok = use("luajit", share, lib, s.url)
    os.execute("rm -rf " .. tree)
    assert.is_true(puc_ok, puc)
    assert.is_true(jit_ok, jit)
    assert.equal(puc:gsub("lua5%.1", "luajit"), jit)
  end)

  it("make install: the module, lcm.lua and the commands for that Lua, nothing else", function()
    local dest = install("install LUA_VERSION=5.4 PREFIX=/usr/local")
    local prefix = dest .. "/usr/local"
    local installed = files(dest)
    local shebang = (sim.read(prefix .. "/bin/lcm-flush-outbox") or ""):match("^[^\n]*")
    -- The installed command, run through its #! line, flushes an (empty) outbox.
    local outbox = sim.tmpname()
    local flushed = sim.run(string.format(sim.ENV .. "mkdir -p %s && cd / && LCM_URL='%s' LUA_PATH='%s/?.lua;;' " ..
                                          "LUA_CPATH='%s/?.so;;' %s/bin/lcm-flush-outbox %s", outbox, s.url,
                                          prefix .. "/share/lua/5.4", prefix .. "/lib/lua/5.4", prefix, outbox))
    os.execute("rm -rf " .. dest .. " " .. outbox)
    assert.equal("./usr/local/bin/lcm\n./usr/local/bin/lcm-flush-outbox\n./usr/local/lib/lua/5.4/lcm/core.so\n" ..
                 "./usr/local/share/lua/5.4/lcm.lua\n", installed)
    assert.equal("#!/usr/bin/lua5.4", shebang)
    assert.equal("sent 0, failed 0 (see dead.log), remaining 0, damaged 0\n", flushed)
  end)

  it("make install builds neither the simulator nor the embedding host, make install-sim the simulator", function()
    local build = sim.tmpname()
    local out, ok = make("-n install LUA_VERSION=5.1 BUILD=" .. build)
    assert.is_true(ok, out)
    assert.truthy(out:find(build .. "/lcm/core.so", 1, true), out)
    assert.is_nil(out:find("lcm-embed", 1, true), out)
    assert.is_nil(out:find("lcm-sim", 1, true), out)
    assert.is_nil(out:find("microhttpd", 1, true), out)
    assert.is_nil(out:find("lua5.4", 1, true), out)

    local dest = install("install-sim PREFIX=/usr")
    local installed = files(dest)
    os.execute("rm -rf " .. dest)
    assert.equal("./usr/bin/lcm-sim\n", installed)
  end)

  it("one tree for Lua 5.1 and LuaJIT: each loads the same core.so and its own bytecode", function()
    local dest = install("install LUA_VERSION=5.1 PREFIX=/usr")
    local share, lib = dest .. "/usr/share/lua/5.1", dest .. "/usr/lib/lua/5.1"
    local puc, puc_ok = use("lua5.1", share, lib, s.url)
    local jit, jit_ok = use("luajit", share, lib, s.url)
    local shebang = (sim.read(dest .. "/usr/bin/lcm-flush-outbox") or ""):match("^[^\n]*")
    os.execute("rm -rf " .. dest)
    assert.is_true(puc_ok, puc)
    assert.is_true(jit_ok, jit)
    local prefix = version .. "\t2\t" .. lib .. "/lcm/core.so\t"
    assert.equal(prefix, puc:sub(1, #prefix))
    assert.equal(prefix, jit:sub(1, #prefix))
    local _, all = puc:gsub("lcm%.%a+=%d+/", "")
    local _, bytecode = puc:gsub("lcm%.%a+=%d+/lua5%.1", "")
    assert.is_true(all > 0, puc)
    assert.equal(all, bytecode, puc)
    assert.equal(puc:gsub("lua5%.1", "luajit"), jit)
    assert.equal("#!/usr/bin/lua5.1", shebang)
  end)
end)
