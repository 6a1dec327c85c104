-- lua/lcm/dates.lua: LCM's DD/MM/YYYY and HH:mm from strings, os.time() values and tables.
local dates = require "lcm.dates"
local lcm = require "lcm"

local function refused(field, value, err)
  assert.is_nil(value)
  assert.is_true(lcm.is_error(err))
  assert.same({ "invalid", field }, { err.kind, err.field })
  return err.message
end

describe("dates", function()
  it("reads and writes DD/MM/YYYY from all three forms", function()
    assert.equal("29/02/2024", (dates.date("d", "29/02/2024")))
    assert.equal("05/01/2026", (dates.date("d", { year = 2026, month = 1, day = 5 })))
    local t = os.time { year = 2026, month = 12, day = 31, hour = 23, min = 59 }
    assert.equal("31/12/2026", (dates.date("d", t)))
    local s, parts = dates.date("d", "01/03/2026")
    assert.equal("01/03/2026", s)
    assert.same({ 2026, 3, 1 }, { parts.year, parts.month, parts.day })
  end)

  it("reads and writes HH:mm (24 h) from all three forms", function()
    assert.equal("00:00", (dates.time("t", "00:00")))
    assert.equal("23:59", (dates.time("t", "23:59")))
    assert.equal("07:05", (dates.time("t", { hour = 7, min = 5 })))
    assert.equal("18:30", (dates.time("t", os.time { year = 2026, month = 6, day = 1, hour = 18, min = 30 })))
  end)

  it("writes DD/MM/YYYY HH:mm for a date and time together", function()
    assert.equal("01/03/2026 09:00", (dates.datetime("dt", "01/03/2026 09:00")))
    assert.equal("31/03/2026 18:00",
                 (dates.datetime("dt", { year = 2026, month = 3, day = 31, hour = 18, min = 0 })))
    local t = os.time { year = 2026, month = 1, day = 2, hour = 3, min = 4 }
    assert.equal("02/01/2026 03:04", (dates.datetime("dt", t)))
  end)

  it("refuses impossible dates, naming the field", function()
    for _, v in ipairs { "29/02/2026", "31/04/2026", "00/01/2026", "32/01/2026", "01/13/2026", "01/00/2026",
                         "29/02/1900", "1/3/2026", "2026-03-01", "01/03/26", " 01/03/2026", "01/03/2026 " } do
      refused("start_date", dates.date("start_date", v))
    end
    for _, t in ipairs { { year = 2026, month = 2, day = 29 }, { year = 2026, month = 4, day = 31 },
                         { year = 2026, month = 1, day = 1.5 }, { year = 2026, month = 13, day = 1 },
                         { month = 1, day = 1 }, { year = 0 / 0, month = 1, day = 1 }, {} } do
      refused("start_date", dates.date("start_date", t))
    end
    assert.equal("29/02/2000", (dates.date("d", "29/02/2000"))) -- divisible by 400: a leap year
  end)

  it("refuses impossible times", function()
    for _, v in ipairs { "24:00", "12:60", "7:05", "0705", "07:05:00", "", "noon" } do
      refused("end_time", dates.time("end_time", v))
    end
    refused("end_time", dates.time("end_time", { hour = 24, min = 0 }))
    refused("end_time", dates.time("end_time", { hour = 9 }))
    refused("dt", dates.datetime("dt", "01/03/2026"))
    refused("dt", dates.datetime("dt", "01/03/2026 25:00"))
    refused("dt", dates.datetime("dt", { year = 2026, month = 3, day = 1 }))
  end)

  it("refuses os.time() values it cannot represent and values of other types, without raising", function()
    for _, v in ipairs { 0 / 0, math.huge, -math.huge, -1, 1.5, 1e300, 2 ^ 63, true, print } do
      refused("d", dates.date("d", v))
      refused("d", dates.datetime("d", v))
    end
    refused("d", dates.date("d", "01/03/2026\0"))
    refused("d", dates.date("d", "caf\233"))
    refused("d", dates.date("d", string.rep("1", 100000)))
  end)

  it("orders a start and an end, naming the end's date or time field", function()
    local _, d1 = dates.date("a", "01/03/2026")
    local _, d2 = dates.date("b", "02/03/2026")
    local _, t1 = dates.time("c", "18:00")
    local _, t2 = dates.time("d", "09:00")
    assert.is_true(dates.order(d1, t1, d2, t2, "end_date", "end_time"))
    assert.is_true(dates.order(d1, t2, d1, t2, "end_date", "end_time")) -- equal is not before
    refused("end_date", dates.order(d2, t2, d1, t1, "end_date", "end_time"))
    refused("end_time", dates.order(d1, t1, d1, t2, "end_date", "end_time"))
    local _, a = dates.datetime("a", "31/12/2025 23:59")
    local _, b = dates.datetime("b", "01/01/2026 00:00")
    assert.is_true(dates.order(a, a, b, b, "end", "end"))
    refused("end", dates.order(b, b, a, a, "end", "end"))
  end)
end)
