-- The install paths: luarocks make, and make install with PREFIX/DESTDIR/LUA_VERSION.
-- Each installed copy is used from another directory against a real lcm-sim. Packaging
-- does not depend on the interpreter under test, so this always uses Lua 5.4.
local sim = require "helpers.sim"

local SCRIPT = [[local lcm = require "lcm"
local c = assert(lcm.new { url = os.getenv("URL") })
local list = assert(c:get_outcomes("", lcm.MANUAL))
print(lcm._VERSION, #list, package.searchpath("lcm.core", package.cpath))]]

local function use(tree_share, tree_lib, url)
  local script = sim.tmpname()
  sim.write(script, SCRIPT)
  local out, ok = sim.run(string.format(sim.ENV ..
    "cd / && URL='%s' LUA_PATH='%s/?.lua;%s/?/init.lua;;' LUA_CPATH='%s/?.so;;' lua5.4 %s",
    url, tree_share, tree_share, tree_lib, script))
  os.remove(script)
  return out, ok
end

describe("installing", function()
  local s, version
  setup(function()
    s = sim.start()
    version = sim.read("VERSION"):match("^(%S+)")
  end)
  teardown(function() s:stop() end)

  it("luarocks make installs a module that works from another directory", function()
    local tree, src = sim.tmpname(), sim.tmpname()
    -- luarocks builds in the source tree (lcm/core.so, csrc/*.o): use a copy, so that no
    -- stray module is left where the default ./?.so path would find it.
    local out, ok = sim.run(sim.ENV .. "mkdir -p " .. src .. " && git ls-files -z | xargs -0 cp --parents -t " .. src)
    assert.is_true(ok, out)
    -- --deps-mode=none: lua-cjson comes from Debian's lua-cjson package, not a rock.
    out, ok = sim.run(sim.ENV .. "cd " .. src .. " && luarocks --lua-version 5.4 make --deps-mode=none" ..
                      " --tree " .. tree .. " rockspec/lcm-" .. version .. "-1.rockspec")
    os.execute("rm -rf " .. src)
    assert.is_true(ok, out)
    out, ok = use(tree .. "/share/lua/5.4", tree .. "/lib/lua/5.4", s.url)
    os.execute("rm -rf " .. tree)
    assert.is_true(ok, out)
    assert.equal(version .. "\t2\t" .. tree .. "/lib/lua/5.4/lcm/core.so\n", out)
  end)

  it("make install puts the module where that Lua version looks", function()
    local dest = sim.tmpname()
    local out, ok = sim.run(sim.ENV .. "make --no-print-directory install LUA_VERSION=5.4 PREFIX=/usr/local" ..
                            " DESTDIR=" .. dest)
    assert.is_true(ok, out)
    local prefix = dest .. "/usr/local"
    assert.is_not_nil(sim.read(prefix .. "/bin/lcm-sim"))
    out, ok = use(prefix .. "/share/lua/5.4", prefix .. "/lib/lua/5.4", s.url)
    os.execute("rm -rf " .. dest)
    assert.is_true(ok, out)
    assert.equal(version .. "\t2\t" .. prefix .. "/lib/lua/5.4/lcm/core.so\n", out)
  end)
end)
