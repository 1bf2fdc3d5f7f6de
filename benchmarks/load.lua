-- wrk script for benchmarks/load.py: cycles through prepared requests and counts, per thread,
-- how many of each it sent and which statuses came back; done() prints the totals.
-- The manifest (first script argument) has one request per line: name, content type (or -),
-- and the file holding its body, separated by tabs.

local threads = {}

function setup(thread)
  thread:set("offset", #threads * 7)
  table.insert(threads, thread)
end

function init(args)
  requests, sent, statuses = {}, {}, {}
  for line in io.lines(args[1]) do
    local name, content_type, path = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
    local file = assert(io.open(path, "rb"))
    local body = file:read("*a")
    file:close()
    local headers = {}
    if content_type ~= "-" then headers["Content-Type"] = content_type end
    table.insert(requests, wrk.format("POST", "/predict", headers, body))
    sent[#requests] = 0
  end
  counter = offset
end

function request()
  counter = counter + 1
  local index = counter % #requests + 1
  sent[index] = sent[index] + 1
  return requests[index]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("errors connect=%d read=%d write=%d status=%d timeout=%d\n",
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
  io.write(string.format("completed %d\n", summary.requests))
  io.write(string.format("latency p50=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
  for _, thread in ipairs(threads) do
    for index, count in pairs(thread:get("sent")) do
      io.write(string.format("sent %d %d\n", index, count))
    end
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %d %d\n", status, count))
    end
  end
end
