-- The outbox: set_outcome calls that still failed with a retryable error are written to
-- disk (lcm.core's outbox_* functions: fsync, flock, a checksum per record) and replayed
-- later by flush_outbox with their original Idempotency-Key, so that an outcome is
-- neither lost while LCM is down nor recorded twice when it comes back.
local core = require "lcm.core"
local cjson = require "cjson.safe"

local M = {}

local VERSION = 2

-- Queues one Set request (rec = { subtopic =, body =, key =, callid = }, see
-- Client:_set); sets err.queued (and err.outbox_error when it could not).
function M.queue(client, dir, rec, err)
  local payload = cjson.encode { v = VERSION, subtopic = rec.subtopic, body = rec.body, key = rec.key,
                                 callid = rec.callid, queued_at = os.time(), error = tostring(err) }
  local ok, why = core.outbox_append(dir, "outbox.log", payload)
  err.queued = ok == true
  err.outbox_error = why
  if not ok then client:_log("error", "not queued: " .. tostring(why)) end
  return err.queued
end

local function dead(dir, record, reason)
  record.dead_at, record.dead_error = os.time(), reason
  return core.outbox_append(dir, "dead.log", cjson.encode(record))
end

-- Replays the outbox in order. Returns { sent =, failed =, remaining =, corrupt = } or,
-- while another flush holds the lock, { busy = true, ... }; nil, err when the outbox
-- cannot be read or written.
function M.flush(client, dir)
  local counts = { sent = 0, failed = 0, remaining = 0, corrupt = 0 }
  local lock, why = core.outbox_lock(dir)
  if not lock then
    if why == "busy" then
      counts.busy = true
      return counts
    end
    return nil, core.error { kind = "invalid", field = "outbox", message = why }
  end
  local ok
  ok, why = core.outbox_take(dir)
  local records, corrupt, torn
  if ok then records, corrupt, torn = core.outbox_read(dir .. "/outbox.flushing") end
  if not records then
    lock:close()
    return nil, core.error { kind = "invalid", field = "outbox", message = why or corrupt }
  end
  -- Damaged records cannot be replayed; a torn last one never reached its caller as queued.
  counts.corrupt = corrupt + (torn and 1 or 0)
  local keep = {}
  for i, payload in ipairs(records) do
    if #keep > 0 then
      keep[#keep + 1] = payload -- after a retryable failure, keep the rest in order
    else
      local record = cjson.decode(payload)
      if type(record) ~= "table" or record.v ~= VERSION or type(record.body) ~= "string"
         or type(record.subtopic) ~= "string" or type(record.key) ~= "string" or not record.key:match("^[%x-]+$") then
        counts.corrupt = counts.corrupt + 1
      else
        local message, err = client:_replay(record)
        if message then
          counts.sent = counts.sent + 1
        elseif err.retryable then
          keep[1] = records[i]
        else
          local wrote, failure = dead(dir, record, tostring(err))
          if not wrote then -- keep it rather than lose it
            keep[1] = records[i]
            client:_log("error", failure)
          else
            counts.failed = counts.failed + 1
          end
        end
      end
    end
  end
  counts.remaining = #keep
  ok, why = core.outbox_replace(dir, keep)
  lock:close()
  if not ok then return nil, core.error { kind = "invalid", field = "outbox", message = why } end
  if counts.corrupt > 0 then
    client:_log("warn", counts.corrupt .. " damaged outbox record(s) skipped")
  end
  return counts
end

return M
