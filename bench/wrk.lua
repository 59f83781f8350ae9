-- Load for one bench row (bench/wrk.ts runs it): every request is a GET of BENCH_PATH
-- carrying the next of the API keys in the file BENCH_KEYS_FILE (in the header
-- BENCH_KEY_HEADER, x-api-key by default) and the headers of
-- BENCH_HEADERS (one `name<TAB>value` per line), the status of every
-- response is counted per thread, and done() prints one JSON line (prefix BENCH-JSON)
-- with the counts, the errors and the latency percentiles (µs) that BENCH_PERCENTILES
-- lists. Environment variables, not script arguments: done() runs in wrk's main Lua
-- state, where init(args) never ran.

local threads = {}

function setup (thread)
  table.insert(threads, thread)
end

local requests = {}
local next_request = 0
statuses = {}

function init (_)
  local path = os.getenv('BENCH_PATH') or '/'
  local file = os.getenv('BENCH_KEYS_FILE')
  local extra = {}
  for line in string.gmatch(os.getenv('BENCH_HEADERS') or '', '[^\n]+') do
    local name, value = string.match(line, '^([^\t]+)\t(.*)$')
    if name ~= nil then extra[name] = value end
  end
  for key in io.lines(file) do
    if key ~= '' then
      local headers = { [os.getenv('BENCH_KEY_HEADER') or 'x-api-key'] = key }
      for name, value in pairs(extra) do headers[name] = value end
      table.insert(requests, wrk.format('GET', path, headers))
    end
  end
  assert(#requests > 0, 'no keys in ' .. tostring(file))
end

function request ()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function response (status)
  statuses[status] = (statuses[status] or 0) + 1
end

local function percentiles_json (latency, list)
  local parts = {}
  for p in string.gmatch(list, '[^,]+') do
    table.insert(parts, string.format('[%s,%d]', p, latency:percentile(tonumber(p))))
  end
  return '[' .. table.concat(parts, ',') .. ']'
end

function done (summary, latency, _)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get('statuses')) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests":%d,"duration_us":%d,"statuses":{%s},"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"latency_us":%s}\n',
    summary.requests, summary.duration, table.concat(parts, ','), e.connect, e.read, e.write, e.timeout,
    percentiles_json(latency, os.getenv('BENCH_PERCENTILES') or '50,99')))
end
