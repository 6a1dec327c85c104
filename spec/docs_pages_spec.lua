-- The guide (README.md, docs/*.md) against the code, read from both at test time: every
-- option of docs/configuration.md is in lcm.check's option table and the other way round;
-- every call of docs/calls.md is a client method (lcm.client, lcm.api) and the other way
-- round; every lcm-sim fixture of sim/handler.lua is in docs/sim.md and the other way round;
-- and every relative link of the README and docs/ points to a file (and heading) that exists.
-- Nothing here needs LDoc (spec/docs_spec.lua checks the generated reference).
local sim = require "helpers.sim"
local lcm = require "lcm"

local function read(path) return assert(sim.read(path), "cannot read " .. path) end

-- Names in a but not in b, sorted.
local function missing(a, b)
  local out = {}
  for k in pairs(a) do if not b[k] then out[#out + 1] = k end end
  table.sort(out)
  return out
end

-- The lines of a page outside fenced code blocks.
local function prose_lines(text)
  local out, fenced = {}, false
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("^%s*```") then fenced = not fenced
    elseif not fenced then out[#out + 1] = line end
  end
  return out
end

-- The first cells of the table rows of a page's section (from the heading `heading` to the
-- next heading of the same or a higher level), or of the whole page without a heading.
local function first_cells(text, heading)
  local cells, inside = {}, heading == nil
  for _, line in ipairs(prose_lines(text)) do
    if heading and line == heading then inside = true
    elseif heading and inside and line:match("^##?%s") then inside = false
    elseif inside and line:match("^|") and not line:match("^|%s*%-%-%-") then
      cells[#cells + 1] = line:match("^|([^|]*)|") or ""
    end
  end
  return cells
end

-- The options a page documents: every `name` in the first cell of the option table.
local OPTIONS_HEADING = "## `lcm.new` options"
local function documented_options(text)
  local names = {}
  for _, cell in ipairs(first_cells(text, OPTIONS_HEADING)) do
    for name in cell:gmatch("`([%w_]+)`") do names[name] = true end
  end
  return names
end

-- The calls a page documents: every `client:name` in the first cell of a table row.
local function documented_calls(text)
  local names = {}
  for _, cell in ipairs(first_cells(text)) do
    for name in cell:gmatch("`client:([%w_]+)") do names[name] = true end
  end
  return names
end

-- The client's public methods, from the code: lcm.client's and lcm.api's.
local function code_calls()
  local names = {}
  local client = assert(lcm.new { url = "http://127.0.0.1:9/{subtopic}" })
  for name, v in pairs(getmetatable(client).__index) do
    if type(v) == "function" and not name:match("^_") then names[name] = true end
  end
  client:close()
  for _, spec in ipairs(require("lcm.api").CALLS) do names[spec.method] = true end
  return names
end

-- The fixture keys lcm-sim reads (sim/handler.lua): its defaults' keys and every key it
-- looks up in the fixtures.
local function code_fixtures()
  local src = read("sim/handler.lua")
  local names = {}
  local defaults = assert(src:match("\nlocal DEFAULT_FIXTURES = (%b{})"), "DEFAULT_FIXTURES not found")
  -- top-level keys only: `  name = ` at two spaces of indentation
  for name in defaults:gmatch("\n  ([%a_][%w_]*) = ") do names[name] = true end
  for name in src:gmatch("state%.fixtures%.([%a_][%w_]*)") do names[name] = true end
  for name in src:gmatch('get_by_account%("[%w_]+", "([%w_]+)"') do names[name] = true end
  return names
end

local function documented_fixtures(text)
  local names = {}
  for _, cell in ipairs(first_cells(text, "## Fixtures")) do
    for name in cell:gmatch("`([%w_]+)`") do names[name] = true end
  end
  return names
end

-- GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`.
local function slug(heading)
  return (heading:lower():gsub("[^%w%s%-_]", ""):gsub("%s", "-"))
end

local function anchors(text)
  local out = {}
  for _, line in ipairs(prose_lines(text)) do
    local h = line:match("^#+%s+(.-)%s*$")
    if h then out[slug(h)] = true end
  end
  return out
end

local function pages()
  local list = { "README.md" }
  local p = assert(io.popen("ls docs/*.md"))
  for f in p:lines() do list[#list + 1] = f end
  p:close()
  return list
end

-- Every relative link of every page: { "page: target" } for those that lead nowhere.
local function broken_links(list)
  local broken = {}
  for _, page in ipairs(list) do
    local dir = page:match("^(.*)/") or "."
    local text = read(page)
    for _, line in ipairs(prose_lines(text)) do
      for target in line:gmatch("%]%(([^)%s]+)%)") do
        if not target:match("^%a[%w+.-]*:") then -- not http:, https:, mailto:
          local file, anchor = target:match("^([^#]*)#?(.*)$")
          local path = file == "" and page or (dir .. "/" .. file)
          local body = sim.read(path)
          if not body then
            broken[#broken + 1] = page .. ": " .. target .. " (no file " .. path .. ")"
          elseif anchor ~= "" and path:match("%.md$") and not anchors(body)[anchor] then
            broken[#broken + 1] = page .. ": " .. target .. " (no heading #" .. anchor .. " in " .. path .. ")"
          end
        end
      end
    end
  end
  return broken
end

describe("docs/configuration.md", function()
  local page = read("docs/configuration.md")
  local docs = documented_options(page)
  local code = require("lcm.check").OPTIONS

  it("documents every option of lcm.new, and only those", function()
    assert.is_true(next(docs) ~= nil, "no option table under " .. OPTIONS_HEADING)
    assert.same({}, missing(code, docs)) -- in the code, not in the docs
    assert.same({}, missing(docs, code)) -- in the docs, not in the code
  end)

  -- The check itself can fail: an option added to the code without docs is found.
  it("would find an option added to the code without docs", function()
    local more = { new_option_without_docs = true }
    for k in pairs(docs) do more[k] = true end
    assert.same({ "new_option_without_docs" }, missing(more, docs))
  end)
end)

describe("docs/calls.md", function()
  local docs = documented_calls(read("docs/calls.md"))
  local code = code_calls()

  it("documents every client method (lcm.client and lcm.api), and only those", function()
    assert.is_true(next(docs) ~= nil, "no `client:name` in the tables of docs/calls.md")
    assert.same({}, missing(code, docs))
    assert.same({}, missing(docs, code))
  end)

  it("has a module-level shortcut for every typed call it documents", function()
    local absent = {}
    for _, spec in ipairs(require("lcm.api").CALLS) do
      if docs[spec.method] and type(lcm[spec.method]) ~= "function" then absent[#absent + 1] = spec.method end
    end
    assert.same({}, absent)
  end)
end)

describe("docs/sim.md", function()
  it("lists every fixture lcm-sim reads, and only those", function()
    local docs, code = documented_fixtures(read("docs/sim.md")), code_fixtures()
    assert.truthy(code.any_callid and code.calls and code.outcome_groups, "the fixture parser found too little")
    assert.same({}, missing(code, docs))
    assert.same({}, missing(docs, code))
  end)
end)

describe("the links of README.md and docs/*.md", function()
  it("point to files and headings that exist", function()
    local list = pages()
    assert.is_true(#list > 10, "docs/*.md not found")
    assert.same({}, broken_links(list))
  end)

  it("are checked: a link to a missing file or heading is found", function()
    local dir = sim.tmpname()
    assert(os.execute("mkdir -p " .. require("lcm.sim").quote(dir)))
    sim.write(dir .. "/a.md", "# A\n\n## Two words\n\n[ok](a.md#two-words) [no](b.md) [bad](a.md#none)\n" ..
                              "```\n[in code](c.md)\n```\n[web](https://example.com/x)\n")
    local broken = broken_links { dir .. "/a.md" }
    os.execute("rm -rf " .. require("lcm.sim").quote(dir))
    assert.equal(2, #broken, table.concat(broken, "\n"))
    assert.matches("%(no file .*b%.md%)", broken[1])
    assert.matches("no heading #none", broken[2])
  end)
end)

describe("README.md", function()
  local readme = read("README.md")

  it("is a short guide that sends the reader to every page of docs/", function()
    local lines = select(2, readme:gsub("\n", ""))
    assert.is_true(lines <= 200, "README.md has " .. lines .. " lines")
    local unlinked = {}
    for _, page in ipairs(pages()) do
      if page ~= "README.md" and not readme:find("(" .. page .. ")", 1, true) then unlinked[#unlinked + 1] = page end
    end
    assert.same({}, unlinked)
  end)

  it("describes the two make commands, which the Makefile has", function()
    local demo = "make demo   # installs what is missing, builds, runs examples/dialer.lua against lcm-sim"
    local test = "make test   # installs what is missing, builds, runs the whole busted suite (Lua 5.4)"
    assert.truthy(readme:find(demo, 1, true))
    assert.truthy(readme:find(test, 1, true))
    local makefile = read("Makefile")
    assert.truthy(makefile:find("\ndemo:", 1, true))
    assert.truthy(makefile:find("\ntest:", 1, true))
  end)
end)
