"""The Lua scripts behind budget counters in Redis. Each runs atomically on the server.

Amounts are integers in nano-USD (1e-9 $), so sums are exact. Per counter key ``K``
(e.g. ``cost_center:research:daily:2026-11-23``), with the prefix ``P``::

    P{b}:c:K   hash   spent, reserved, h:<hold> -> amount      (expires 35 days after a write)
    P{b}:x:K   zset   <hold> scored by its expiry (ms, Redis clock)
    P{b}:d:<hold>     settled marker (a settle is applied once, even when retried)

``{b}`` is a hash tag: on a Redis Cluster every budget key lives in one slot, so one script can
check and reserve over all of a request's budgets. Expired holds are purged (their amount leaves
``reserved``) by every script that reads a counter.
"""

from __future__ import annotations

__all__ = ["COUNTER", "RECONCILE", "RESERVE", "SETTLE"]

_PURGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function purge(c, x)
  local gone = redis.call('ZRANGEBYSCORE', x, '-inf', now)
  for _, h in ipairs(gone) do
    local a = redis.call('HGET', c, 'h:' .. h)
    if a then
      redis.call('HINCRBY', c, 'reserved', -tonumber(a))
      redis.call('HDEL', c, 'h:' .. h)
    end
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', x, '-inf', now) end
end
"""

# KEYS: c1, x1, c2, x2, ...   ARGV: hold, amount, hold_ttl_ms, force (0|1), key_ttl_s, limit1..n
# Returns 0 (reserved in every counter) or i (the first counter over its limit; nothing held).
RESERVE = (
    _PURGE
    + """
local n = #KEYS / 2
local amount = tonumber(ARGV[2])
for i = 1, n do
  purge(KEYS[2 * i - 1], KEYS[2 * i])
  if ARGV[4] ~= '1' then
    local v = redis.call('HMGET', KEYS[2 * i - 1], 'spent', 'reserved')
    if (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0) + amount > tonumber(ARGV[5 + i]) then
      return i
    end
  end
end
for i = 1, n do
  local c, x = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('HINCRBY', c, 'reserved', ARGV[2])
  redis.call('HSET', c, 'h:' .. ARGV[1], ARGV[2])
  redis.call('ZADD', x, now + tonumber(ARGV[3]), ARGV[1])
  redis.call('EXPIRE', c, ARGV[5])
  redis.call('EXPIRE', x, ARGV[5])
end
return 0
"""
)

# KEYS: c1, x1, ..., done-marker   ARGV: hold, actual, marker_ttl_ms, key_ttl_s
# Drops the hold (if it has not expired) and adds the actual cost; once per hold.
SETTLE = """
if not redis.call('SET', KEYS[#KEYS], '1', 'NX', 'PX', ARGV[3]) then return 0 end
local n = (#KEYS - 1) / 2
for i = 1, n do
  local c, x = KEYS[2 * i - 1], KEYS[2 * i]
  local a = redis.call('HGET', c, 'h:' .. ARGV[1])
  if a then
    redis.call('HINCRBY', c, 'reserved', -tonumber(a))
    redis.call('HDEL', c, 'h:' .. ARGV[1])
    redis.call('ZREM', x, ARGV[1])
  end
  if ARGV[2] ~= '0' then redis.call('HINCRBY', c, 'spent', ARGV[2]) end
  redis.call('EXPIRE', c, ARGV[4])
end
return 1
"""

# KEYS: c, x   Returns {spent, reserved} after purging expired holds.
COUNTER = (
    _PURGE
    + """
purge(KEYS[1], KEYS[2])
local v = redis.call('HMGET', KEYS[1], 'spent', 'reserved')
return {tonumber(v[1]) or 0, tonumber(v[2]) or 0}
"""
)

# KEYS: c, x   ARGV: ledger spend, key_ttl_s
# The ledger is the truth. Spend the ledger holds but Redis lacks (a restart without persistence,
# settles lost in an outage) comes back: spent = max(spent, ledger - reserved). In-flight requests
# whose row is written but not yet settled are covered by their holds, so they are not counted
# twice. Returns {before, after}.
RECONCILE = (
    _PURGE
    + """
purge(KEYS[1], KEYS[2])
local v = redis.call('HMGET', KEYS[1], 'spent', 'reserved')
local spent, reserved = tonumber(v[1]) or 0, tonumber(v[2]) or 0
local want = tonumber(ARGV[1]) - reserved
if want > spent then
  redis.call('HSET', KEYS[1], 'spent', string.format('%d', want))
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {spent, want}
end
return {spent, spent}
"""
)
