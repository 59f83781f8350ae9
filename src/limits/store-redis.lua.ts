/**
 * The Lua script behind the Redis limit store. It lives in a TS module, not a `.lua` file,
 * because the build (`tsc`) copies nothing but compiled TS into `dist/`. (Keep this module
 * the only `store-redis.lua*` file: `require('./store-redis.lua')` would load a real
 * `store-redis.lua` file first.)
 *
 * ## Contract
 *
 * KEYS[i]   the state of window i (`tollgate:{subject}:scope`, see store-redis.ts).
 * ARGV[1]   cost, a non-negative integer.
 * ARGV[3i-1], ARGV[3i], ARGV[3i+1]   max, perMs and algorithm (`g`cra, `f`ixed, `s`liding)
 *           of window i. In upper case (`G`, `F`, `S`) the window is advisory (a shadow
 *           rule of a multi-subject call, see GroupsRequest): it never refuses the call,
 *           and spends only when it fits itself.
 * ARGV[3n+2] (n = #KEYS) optional: `d` for a dry run, which answers exactly as the real
 *           check would and writes nothing.
 * Returns   { allowed, then per window: allowed, remaining, resetMs }, integers only.
 *
 * Every window is evaluated before anything is written; only when all of them fit is
 * `cost` spent in each (one SET ... PX per key, so value and expiry change together).
 * A refusal writes nothing. The script is the unit of atomicity: no other command runs
 * between the reads and the writes.
 *
 * ## Units and accuracy
 *
 * Time is Redis server time (`TIME`), in integer microseconds, so every sidecar replica
 * shares one clock whatever its own clock says. Amounts are integer micro-units
 * (1 unit = 1e6): GCRA's drain and the sliding estimate are fractional, and a Lua number
 * returned to Redis truncates to an integer, so fractions are rounded to the nearest
 * micro-unit once, and every comparison with `max` is exact integer arithmetic (doubles
 * hold integers exactly up to 2^53, i.e. a max of about 9e9 units). Stored numbers are
 * written with `%.0f`, because Lua's default number formatting keeps only 14 digits and
 * a microsecond timestamp has 16.
 *
 * ## State (one string per key; read with GET, written with SET PX)
 *
 * gcra     `g:<used>:<at>`             used micro-units as of time `at` (µs).
 * fixed    `f:<start>:<count>`         micro-units spent in the window starting at `start`.
 * sliding  `s:<start>:<count>:<prev>`  same, plus what the window before `start` spent.
 *
 * Nothing stores `max` or `per`, so a changed `max` reinterprets what was spent (2 of 2
 * used leaves 48 when max becomes 50). A state written by another algorithm (the
 * operator switched it) is read as empty: a one-time fresh budget for that window.
 *
 * ## Algorithms
 *
 * gcra     A leaky bucket holding what was used, draining at max/per: a token bucket
 *          with burst = max and smooth refill. Exact, to the micro-unit. The clock may
 *          step back after a failover; `at` then stays put so no time drains twice.
 * fixed    Calendar windows: start = now - now mod per, multiples of per since the Unix
 *          epoch (1d resets at 00:00 UTC). Exact, but allows up to 2 * max across a
 *          window boundary.
 * sliding  Weighted two-window counter (Cloudflare's): estimate = prev * (time left in the
 *          current window / per) + count. It assumes the previous window's requests were
 *          evenly spread, so it may be off by a fraction of prev in either direction;
 *          Cloudflare measured 0.003% of requests wrongly allowed or limited.
 *
 * ## remaining and resetMs
 *
 * remaining = floor(max - used), never negative, after the spend when the request was
 * allowed, as it stands when refused. resetMs is rounded up to whole ms:
 * - gcra: allowed, until used drains to 0; refused, until it has drained enough for cost.
 * - fixed: until the window ends, either way.
 * - sliding: allowed, until the window ends; refused, until the estimate has decayed
 *   enough for cost, which may be in the next window, where the current count becomes
 *   the previous one.
 * A window that refuses by itself reports at least 1 ms, and per when cost > max (fixed:
 * the window end), as no wait would let it fit.
 * A window that would allow while another refuses reports allowed = 1 with nothing spent.
 */
export const CHECK_SCRIPT = `
local U = 1000000
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local cost = tonumber(ARGV[1]) * U
local dry = ARGV[3 * #KEYS + 2] == 'd'

local function round(x) return math.floor(x + 0.5) end
local function num(x) return string.format('%.0f', x) end
local function ms(us)
  if us <= 0 then return 0 end
  return math.ceil(us / 1000)
end
local function left(max, used)
  local r = math.floor((max - used) / U)
  if r < 0 then return 0 end
  return r
end

-- Each evaluator returns: fits, the state to store when spending, its TTL in ms,
-- remaining and resetMs if spent, remaining and resetMs if nothing is spent.

local function gcra(raw, max, per)
  local used, at = 0, now
  local tag, u, t = string.match(raw or '', '^(%a):(%d+):(%d+)$')
  if tag == 'g' then
    used, at = tonumber(u), tonumber(t)
    if now > at then
      used = math.max(0, used - round((now - at) * max / per))
      at = now
    end
  end
  local fits = used + cost <= max
  local after = used + cost
  local full = ms(after * per / max)
  local wait
  if fits then wait = ms(used * per / max)
  elseif cost > max then wait = ms(per)
  else wait = ms((used + cost - max) * per / max) end
  return fits, 'g:' .. num(after) .. ':' .. num(at), math.max(1, full),
    left(max, after), full, left(max, used), wait
end

local function fixed(raw, max, per)
  local start = now - math.fmod(now, per)
  local count = 0
  local tag, s, c = string.match(raw or '', '^(%a):(%d+):(%d+)$')
  if tag == 'f' and tonumber(s) == start then count = tonumber(c) end
  local rest = ms(start + per - now)
  return count + cost <= max, 'f:' .. num(start) .. ':' .. num(count + cost),
    math.max(1, rest), left(max, count + cost), rest, left(max, count), rest
end

local function sliding(raw, max, per)
  local start = now - math.fmod(now, per)
  local count, prev = 0, 0
  local tag, s, c, p = string.match(raw or '', '^(%a):(%d+):(%d+):(%d+)$')
  if tag == 's' then
    s = tonumber(s)
    if s == start then count, prev = tonumber(c), tonumber(p)
    elseif s == start - per then prev = tonumber(c) end
  end
  local rest = start + per - now
  local estimate = count + round(prev * rest / per)
  local fits = estimate + cost <= max
  local wait
  if fits then wait = rest
  elseif cost > max then wait = per
  elseif count + cost <= max then
    -- prev's share decays to max - cost - count before this window ends
    wait = rest - (max - cost - count) * per / prev
  else
    -- only in the next window, where count becomes the decaying previous window
    wait = rest + math.max(0, per - (max - cost) * per / count)
  end
  return fits, 's:' .. num(start) .. ':' .. num(count + cost) .. ':' .. num(prev),
    ms(rest + per), left(max, estimate + cost), ms(rest), left(max, estimate), ms(wait)
end

local evaluators = { g = gcra, f = fixed, s = sliding }
local results = {}
local allowed = true
for i = 1, #KEYS do
  local max = tonumber(ARGV[3 * i - 1]) * U
  local per = tonumber(ARGV[3 * i]) * 1000
  local code = ARGV[3 * i + 1]
  local evaluate = evaluators[string.lower(code)]
  local r = { evaluate(redis.call('GET', KEYS[i]), max, per) }
  results[i] = r
  if not r[1] and code == string.lower(code) then allowed = false end
end

local out = { allowed and 1 or 0 }
for i = 1, #KEYS do
  local r = results[i]
  if allowed and r[1] then
    if cost > 0 and not dry then redis.call('SET', KEYS[i], r[2], 'PX', num(r[3])) end
    table.insert(out, 1)
    table.insert(out, r[4])
    table.insert(out, r[5])
  elseif r[1] then
    table.insert(out, 1)
    table.insert(out, r[6])
    table.insert(out, r[7])
  else
    table.insert(out, 0)
    table.insert(out, r[6])
    table.insert(out, math.max(1, r[7]))
  end
end
return out
`
