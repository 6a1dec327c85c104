-- Dates and times as LCM writes them: DD/MM/YYYY and HH:mm (24 h), from strings in that
-- form, os.time() numbers (read in the local time zone, the dialer's clock) or
-- {year=, month=, day=, hour=, min=} tables. Every checker returns the wire string and the
-- parts it read ({year, month, day, hour, min}), or nil, err (`invalid`, naming the field).
local check = require "lcm.check"

local M = {}

local invalid = check.invalid

-- os.date raises for times it cannot represent; 9999-12-31 is far past any callback.
local MAX_TIME = 253402300799

local function leap(y) return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 end

local function days_in(month, year)
  if month == 2 then return leap(year) and 29 or 28 end
  return (month == 4 or month == 6 or month == 9 or month == 11) and 30 or 31
end

local function whole(v, lo, hi)
  return type(v) == "number" and v == v and v == math.floor(v) and v >= lo and v <= hi
end

local function valid_date(p)
  return whole(p.year, 1, 9999) and whole(p.month, 1, 12) and whole(p.day, 1, days_in(p.month, p.year))
end

local function valid_time(p)
  return whole(p.hour, 0, 23) and whole(p.min, 0, 59)
end

-- The parts of an os.time() number or a table, or nil, err.
local function parts_of(field, v, what)
  if type(v) == "number" then
    if not whole(v, 0, MAX_TIME) then return invalid(field, "must be an os.time() value from 1970 to 9999") end
    local ok, t = pcall(os.date, "*t", v)
    if not ok or type(t) ~= "table" then return invalid(field, "is a time this system cannot represent") end
    return t
  end
  if type(v) ~= "table" then
    return invalid(field, "must be a string, an os.time() value or a {year=, month=, day=, hour=, min=} table")
  end
  local p = { year = v.year, month = v.month, day = v.day, hour = v.hour, min = v.min }
  if what ~= "time" and not valid_date(p) then return invalid(field, "is not a real date") end
  if what ~= "date" and not valid_time(p) then return invalid(field, "is not a valid time (hour 0-23, min 0-59)") end
  return p
end

local function fmt_date(p) return string.format("%02d/%02d/%04d", p.day, p.month, p.year) end
local function fmt_time(p) return string.format("%02d:%02d", p.hour, p.min) end
local function fmt_datetime(p) return fmt_date(p) .. " " .. fmt_time(p) end

local function read_date(field, s)
  local d, m, y = s:match("^(%d%d)/(%d%d)/(%d%d%d%d)$")
  local p = { day = tonumber(d), month = tonumber(m), year = tonumber(y) }
  if not d then return invalid(field, "must be a date in DD/MM/YYYY form") end
  if not valid_date(p) then return invalid(field, "is not a real date") end
  return p
end

local function read_time(field, s)
  local h, mi = s:match("^(%d%d):(%d%d)$")
  local p = { hour = tonumber(h), min = tonumber(mi) }
  if not h then return invalid(field, "must be a time in HH:mm (24 h) form") end
  if not valid_time(p) then return invalid(field, "is not a valid time (hour 0-23, min 0-59)") end
  return p
end

local function read_datetime(field, s)
  local d, t = s:match("^(%S+) (%S+)$")
  if not d then return invalid(field, "must be a date and time in 'DD/MM/YYYY HH:mm' form") end
  local p, err = read_date(field, d)
  if not p then return nil, err end
  local tp
  tp, err = read_time(field, t)
  if not tp then return nil, err end
  p.hour, p.min = tp.hour, tp.min
  return p
end

-- A checker: a string is read by `read`, a number or a table by parts_of.
local function checker(read, what, format)
  return function(field, v)
    local p, err
    if type(v) == "string" then
      local s
      s, err = check.text(field, v)
      if not s then return nil, err end
      p, err = read(field, s)
    else
      p, err = parts_of(field, v, what)
    end
    if not p then return nil, err end
    return format(p), p
  end
end

M.date = checker(read_date, "date", fmt_date)                     -- "DD/MM/YYYY"
M.time = checker(read_time, "time", fmt_time)                     -- "HH:mm"
M.datetime = checker(read_datetime, "datetime", fmt_datetime)     -- SetDNC's "DD/MM/YYYY HH:mm"

-- Minutes since year 0 of a date's and a time's parts (either may be missing), for ordering.
local function stamp(date, time)
  local n = 0
  if date then n = ((date.year * 12 + date.month) * 31 + date.day) * 1440 end
  if time then n = n + time.hour * 60 + time.min end
  return n
end

-- true when the end (end_date, end_time) is not before the start; else nil, err naming
-- end_date_field when the dates alone are out of order, end_time_field when the times are.
-- Parts come from the checkers above (a datetime's parts serve as both date and time).
function M.order(start_date, start_time, end_date, end_time, end_date_field, end_time_field)
  if stamp(end_date, nil) < stamp(start_date, nil) then return invalid(end_date_field, "is before the start") end
  if stamp(end_date, end_time) < stamp(start_date, start_time) then
    return invalid(end_time_field, "is before the start")
  end
  return true
end

return M
