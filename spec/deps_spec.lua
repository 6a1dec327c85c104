-- The first commands on a bare machine: tools/deps.sh as a user who cannot install
-- packages, and a Makefile that runs nothing before the dependencies are there.
-- LCM_DEPS_EXTRA adds a package that is not installed, so there is something to install.
local sim = require "helpers.sim"

local root = sim.run("id -u") == "0\n"
-- As root, the cases run as nobody; as another user, as that user.
local AS_USER = root and "setpriv --reuid=nobody --regid=nogroup --clear-groups " or ""
local MISSING = "lcm-no-such-package"

-- Runs cmd in the tree with PATH set to path, as AS_USER.
local function run(path, cmd)
  return sim.run(string.format("%senv -i PATH='%s' LCM_DEPS_EXTRA=%s %s", AS_USER, path, MISSING, cmd))
end

-- A directory of links to the named programs: a PATH with only those.
local function bin_dir(programs)
  local dir = sim.tmpname()
  local links = { "mkdir -p " .. dir }
  for _, p in ipairs(programs) do
    links[#links + 1] = string.format("ln -s \"$(command -v %s)\" %s/%s", p, dir, p)
  end
  assert(sim.run(table.concat(links, " && ")))
  assert(sim.run("chmod 0755 " .. dir))
  return dir
end

describe("on a bare machine", function()
  local tools
  setup(function()
    tools = bin_dir { "sh", "id", "grep", "dpkg-query", "make", "cat", "env" }
  end)
  teardown(function() os.execute("rm -rf " .. tools) end)

  local has_sudo = sim.run("command -v sudo") ~= ""
  it("make deps, without root and sudo, says what to run as root and stops", function()
    if not (root or not has_sudo) then pending("this user has sudo (as root, the case runs as nobody)") end
    local out, ok = run(tools, "make --no-print-directory deps")
    assert.is_false(ok)
    assert.truthy(out:find("apt-get update && apt-get install -y --no-install-recommends " .. MISSING .. "\n", 1, true),
                  out)
    assert.truthy(out:find("not root and there is no sudo", 1, true), out)
    assert.is_nil(out:find("deps: installing", 1, true), out) -- it stopped, tried nothing
  end)

  it("without root but with sudo, deps.sh installs through sudo", function()
    local dir = bin_dir {}
    local log = dir .. "/log"
    sim.write(dir .. "/sudo", "#!/bin/sh\necho \"$*\" >> " .. log .. "\n")
    assert(sim.run("chmod 0755 " .. dir .. "/sudo && chmod 0777 " .. dir))
    local out, ok = run(dir .. ":" .. tools, "sh tools/deps.sh")
    local calls = sim.read(log) or ""
    os.execute("rm -rf " .. dir)
    assert.is_true(ok, out)
    assert.equal("env DEBIAN_FRONTEND=noninteractive apt-get update -qq\nenv DEBIAN_FRONTEND=noninteractive " ..
                 "apt-get install -y -qq --no-install-recommends " .. MISSING .. "\n", calls)
  end)

  it("make test evaluates nothing that needs a compiler before make deps", function()
    -- No cc, gcc or pkg-config on the PATH, as on a bare machine: reading the Makefile
    -- and planning `make test` must not run them.
    local out = run(tools, "make -n --no-print-directory test LUA_VERSION=5.1")
    assert.is_nil(out:find("not found", 1, true), out)
    assert.is_nil(out:find("No such file", 1, true), out)
    assert.truthy(out:find("sh tools/deps.sh", 1, true), out)
  end)
end)

describe("the build as a packager runs it", function()
  -- The commands make would run (-n) for lcm.core, with flags from the environment.
  local function plan(env, args)
    local build = sim.tmpname()
    local out, ok = sim.run(sim.ENV .. env .. " env -u MAKEFLAGS -u MAKELEVEL make -n --no-print-directory module " ..
                            "LUA_VERSION=5.4 BUILD=" .. build .. " " .. (args or ""))
    assert.is_true(ok, out)
    return (out:gsub("\\\n", "")) -- the recipe's continued lines as one
  end

  it("CPPFLAGS, CFLAGS and LDFLAGS from the environment reach the compile and the link", function()
    local out = plan("CPPFLAGS=-DLCM_PKG_CPP CFLAGS='-O1 -DLCM_PKG_C' LDFLAGS=-Wl,-z,now")
    local cc = out:match("[^\n]*%-o %S+/lcm/core%.so[^\n]*")
    assert.truthy(cc, out)
    for _, flag in ipairs { "-DLCM_PKG_CPP", "-O1 -DLCM_PKG_C", "-Wl,-z,now", "-fvisibility=hidden", "-Werror" } do
      assert.truthy(cc:find(flag, 1, true), flag .. " missing from: " .. cc)
    end
  end)

  it("WERROR=0 drops -Werror, LUA_CFLAGS replaces the headers pkg-config finds", function()
    local cc = plan("", "WERROR=0 LUA_CFLAGS=-I/opt/lua54/include")
    assert.is_nil(cc:find("-Werror ", 1, true), cc)
    assert.truthy(cc:find("-I/opt/lua54/include", 1, true), cc)
    assert.is_nil(cc:find("/usr/include/lua5.4", 1, true), cc)
  end)
end)
