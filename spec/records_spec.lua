-- Answer records built in C (core.records, core.record: csrc/records.c), with the rules
-- lcm.answers states for int, str, num and bool. Table-driven: each row is a wire value
-- and what each converter must make of it, down to the integer subtype on 5.3+.
local core = require "lcm.core"
local cjson = require "cjson"

local NULL = cjson.null
local INT = math.type and "integer" or "float" -- what an exact integer becomes on this Lua

local function kind(v) -- "integer"/"float" for numbers (5.3+), else type(v)
  if type(v) == "number" then return math.type and math.type(v) or "float" end
  return type(v)
end

-- { wire value, int, str, num, bool }; a number expected as an integer is written as INT_(n)
local function INT_(n) return { int = n } end
local ROWS = {
  { "107", INT_(107), "107", INT_(107), nil },
  { "-0042", INT_(-42), "-0042", INT_(-42), nil },
  { "000", INT_(0), "000", INT_(0), nil },
  { "9007199254740992", INT_(2 ^ 53), "9007199254740992", INT_(2 ^ 53), nil },
  { "9007199254740993", "9007199254740993", "9007199254740993", "skip", nil },
  { "12a", "12a", "12a", nil, nil },
  { "", "", "", nil, nil },
  { "+5", "+5", "+5", INT_(5), nil },
  { " 10 ", " 10 ", " 10 ", INT_(10), nil },
  { "0x10", "0x10", "0x10", INT_(16), nil },
  { "1.5", "1.5", "1.5", 1.5, nil },
  { "1e400", "1e400", "1e400", nil, nil },
  { "nan", "nan", "nan", nil, nil },
  { 107.0, INT_(107), "107", INT_(107), nil },
  { 1.5, 1.5, "1.5", 1.5, nil },
  { 2 ^ 60, 2 ^ 60, tostring(2 ^ 60), "skip", nil },
  { 1 / 0, 1 / 0, tostring(1 / 0), nil, nil },
  { 1, INT_(1), "1", INT_(1), true },
  { 0, INT_(0), "0", INT_(0), false },
  { "true", "true", "true", nil, true },
  { "True", "True", "True", nil, true },
  { "1", INT_(1), "1", INT_(1), true },
  { "false", "false", "false", nil, false },
  { "False", "False", "False", nil, false },
  { "0", INT_(0), "0", INT_(0), false },
  { "TRUE", "TRUE", "TRUE", nil, nil },
  { true, true, nil, nil, true },
  { false, false, nil, nil, false },
  { NULL, nil, nil, nil, nil },
}

local function expect(want, got, what)
  if type(want) == "table" then
    assert.equal(want.int, got, what)
    assert.equal(INT, kind(got), what .. " (subtype)")
  elseif want ~= "skip" then
    if want ~= want then assert.is_true(got ~= got, what) else assert.equal(want, got, what) end
    if type(want) == "number" and math.type then assert.equal(math.type(want), math.type(got), what .. " (subtype)") end
  end
end

local SHAPE = { { "i", "V", "int" }, { "s", "V", "str" }, { "n", "V", "num" }, { "b", "V", "bool" } }

describe("core.record converts each wire value as lcm.answers says", function()
  for _, row in ipairs(ROWS) do
    it(string.format("%s %s", type(row[1]), tostring(row[1])), function()
      local raw = { V = row[1] }
      local rec = core.record(raw, SHAPE)
      assert.equal(raw, rec.raw)
      expect(row[2], rec.i, "int")
      expect(row[3], rec.s, "str")
      expect(row[4], rec.n, "num")
      expect(row[5], rec.b, "bool")
    end)
  end

  it("matches a key exactly first, then ignoring case; a missing key is nil", function()
    local rec = core.record({ OutComeID = "1", outcomeid = "2", DESCRIPTION = "x" },
                           { { "id", "OutComeID", "int" }, { "d", "Description", "str" }, { "m", "Missing", "str" } })
    assert.same({ 1, "x" }, { rec.id, rec.d })
    assert.is_nil(rec.m)
  end)

  it("calls a converter given as a function with the wire value", function()
    local rec = core.record({ A = "x" }, { { "a", "A", function(v) return v .. "!" end } })
    assert.equal("x!", rec.a)
  end)

  it("refuses a shape that is not one", function()
    assert.has_error(function() core.record({}, { { "a", "A", "float" } }) end)
    assert.has_error(function() core.record({}, { { "a", 1, "int" } }) end)
    assert.has_error(function() core.record({}, { "a" }) end)
  end)
end)

describe("core.records", function()
  local SHAPE1 = { { "id", "ID", "int" } }
  local MT = { marker = true }

  local bad = {
    { "a response that is not a table", { response = "x" }, "the answer's message.response is not a list" },
    { "no response at all", { other = 1 }, "the answer's message.response is not a list" },
    { "a JSON null response", { response = NULL }, "the answer's message.response is not a list" },
    { "an object for a list", { response = { a = 1 } }, "the answer's message.response is not a list" },
    { "a key past the list's end", { response = { { ID = 1 }, [5] = { ID = 5 } } },
      "the answer's message.response is not a list" },
    { "a record that is not an object", { response = { { ID = 1 }, "x" } }, "record 2 is not an object" },
  }
  for _, case in ipairs(bad) do
    it("is a protocol error for " .. case[1], function()
      local list, err = core.records(case[2], SHAPE1, MT)
      assert.is_nil(list)
      assert.is_true(core.is_error(err))
      assert.same({ "protocol", "BAD_RESPONSE", case[3], false },
                  { err.kind, err.code, err.message, err.retryable })
    end)
  end

  it("reads message.response (any case) in order, with the metatable", function()
    local list = assert(core.records({ Response = { { ID = "7" }, { id = 8 } } }, SHAPE1, MT))
    assert.equal(MT, getmetatable(list))
    assert.same({ 7, 8 }, { list[1].id, list[2].id })
    assert.equal(2, #list)
  end)

  it("takes the message itself when it is the list (the MCD answer)", function()
    local list = assert(core.records({ { ID = "7" } }, SHAPE1, MT))
    assert.equal(7, list[1].id)
  end)

  it("makes an empty list of an empty response", function()
    local list = assert(core.records({ response = {} }, SHAPE1, MT))
    assert.equal(0, #list)
  end)
end)
