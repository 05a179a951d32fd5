/**
 * Lua scripts of the Redis backend. Each decision is one script call (one round trip); every key a script touches
 * is passed in KEYS and shares one hash tag, so the scripts run unchanged on Redis Cluster. Times come from the
 * caller's clock (ARGV) so all instances and the memory backend apply the same arithmetic. Numbers that can pass
 * 2^31 are written with string.format('%.0f') because Lua's tostring keeps only 14 digits.
 */

/** KEYS[1] window counter. ARGV: limit, ttl ms. Returns {allowed, count}. */
export const FIXED_WINDOW = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return {0, n} end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, n}
`;

/** KEYS[1] current window, KEYS[2] previous window. ARGV: limit, previous weight, ttl ms. Returns {allowed, current, previous}. */
export const SLIDING_WINDOW = `
local curr = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
if prev * tonumber(ARGV[2]) + curr + 1 > tonumber(ARGV[1]) then return {0, curr, prev} end
curr = redis.call('INCR', KEYS[1])
if curr == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {1, curr, prev}
`;

/** KEYS[1] sorted set of timestamps. ARGV: now ms, window ms, limit, unique member. Returns {allowed, count, oldest}. */
export const SLIDING_LOG = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local n = redis.call('ZCARD', KEYS[1])
local allowed = 0
if n < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  n = n + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {allowed, n, oldest[2] or '-1'}
`;

/** KEYS[1] theoretical arrival time (µs). ARGV: now µs, interval µs, burst. Returns {allowed, tat as string}. */
export const GCRA = `
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + interval
if now < nxt - tonumber(ARGV[3]) * interval then return {0, string.format('%.0f', tat)} end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', string.format('%.0f', math.ceil((nxt - now) / 1000) + 1000))
return {1, string.format('%.0f', nxt)}
`;

/** KEYS failure counters (hashes n/exp). ARGV: now ms, window ms, lock ms, then one threshold per key. Returns count, ttl pairs. */
export const HIT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local lock = tonumber(ARGV[3])
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'n', 'exp')
  local n = tonumber(v[1] or '0')
  local exp = tonumber(v[2] or '0')
  if exp <= now then
    n = 0
    exp = now + window
  end
  n = n + 1
  local threshold = tonumber(ARGV[3 + i])
  if threshold > 0 and n >= threshold and exp < now + lock then exp = now + lock end
  redis.call('HSET', key, 'n', n, 'exp', string.format('%.0f', exp))
  redis.call('PEXPIRE', key, string.format('%.0f', math.ceil(exp - now) + 1000))
  out[#out + 1] = n
  out[#out + 1] = string.format('%.0f', math.ceil(exp - now))
end
return out
`;

/** KEYS failure counters. ARGV: now ms. Returns count, ttl pairs (0, 0 for none or expired). */
export const PEEK = `
local now = tonumber(ARGV[1])
local out = {}
for _, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'n', 'exp')
  local exp = tonumber(v[2] or '0')
  if exp > now then
    out[#out + 1] = tonumber(v[1] or '0')
    out[#out + 1] = string.format('%.0f', math.ceil(exp - now))
  else
    out[#out + 1] = 0
    out[#out + 1] = '0'
  end
end
return out
`;

/** KEYS[1] sorted set member → last seen. ARGV: now ms, window ms, member, cap. Returns the set size. */
export const DISTINCT = `
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - tonumber(ARGV[2])))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
local cap = tonumber(ARGV[4])
if n > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1)
  n = cap
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
`;

/**
 * Reserves one attempt on failure counters. KEYS: the counted keys, then the guard keys. ARGV: now ms, window ms,
 * lock ms, number of counted keys, then one threshold per counted key. Refused (nothing written) while a guard
 * holds a live count or a counted key is at its threshold; else every counted key is counted, and one reaching
 * its threshold has its expiry pushed to at least now + lock. Returns allowed, longest guard ttl, then count, ttl
 * pairs of the counted keys.
 */
export const RESERVE = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local lock = tonumber(ARGV[3])
local counted = tonumber(ARGV[4])
local guard = 0
for i = counted + 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'n', 'exp')
  local exp = tonumber(v[2] or '0')
  if exp > now and tonumber(v[1] or '0') > 0 and exp - now > guard then guard = exp - now end
end
local refused = guard > 0
local ns = {}
local exps = {}
for i = 1, counted do
  local v = redis.call('HMGET', KEYS[i], 'n', 'exp')
  local n = tonumber(v[1] or '0')
  local exp = tonumber(v[2] or '0')
  if exp <= now then
    n = 0
    exp = 0
  end
  ns[i] = n
  exps[i] = exp
  local threshold = tonumber(ARGV[4 + i])
  if threshold > 0 and n >= threshold then refused = true end
end
local out = {1, string.format('%.0f', math.ceil(guard))}
if refused then out[1] = 0 end
for i = 1, counted do
  local n = ns[i]
  local exp = exps[i]
  if not refused then
    if exp == 0 then exp = now + window end
    n = n + 1
    local threshold = tonumber(ARGV[4 + i])
    if threshold > 0 and n >= threshold and exp < now + lock then exp = now + lock end
    redis.call('HSET', KEYS[i], 'n', n, 'exp', string.format('%.0f', exp))
    redis.call('PEXPIRE', KEYS[i], string.format('%.0f', math.ceil(exp - now) + 1000))
  end
  out[#out + 1] = n
  if exp > now then out[#out + 1] = string.format('%.0f', math.ceil(exp - now)) else out[#out + 1] = '0' end
end
return out
`;

/** KEYS failure counters. ARGV: now ms. Takes one count back from each live key with a count; expiry unchanged. */
export const RELEASE = `
local now = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'n', 'exp')
  local n = tonumber(v[1] or '0')
  if tonumber(v[2] or '0') > now and n > 0 then redis.call('HSET', key, 'n', n - 1) end
end
return 0
`;
