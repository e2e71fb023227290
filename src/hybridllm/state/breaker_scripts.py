"""The Lua scripts behind shared circuit breakers. Each runs atomically on the server.

Per deployment ``D``, with the prefix ``P`` (``{br}`` is a hash tag: one Cluster slot, so one
script can sync every breaker in one round trip)::

    P{br}:s:D   hash    state (closed|open|half_open), opened_at (ms), cooldown (s), gen, opened
    P{br}:w:D   hash    failure window: "<second>:o" / "<second>:f" -> outcome counts
    P{br}:p:D   string  the half-open probe, held by one replica (PX: the probe's time limit)
    P{br}:c:D   string  a Retry-After cool-down (PX: its length)

Times come from the Redis server clock (``TIME``), so replicas need not agree on theirs.
"""

from __future__ import annotations

__all__ = ["ABANDON", "CLAIM", "COOL", "OUTCOME", "SYNC"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: s1, w1, p1, c1, s2, ...   ARGV: window_s, min_calls, failure_rate, cooldown, then per
# deployment: gen, ok, failed (outcomes since the last sync, of calls let through in ``gen``).
# Adds the outcomes to the window, opens a breaker whose failure share is reached, and returns
# per deployment {state, ms until a probe may pass, gen, times opened, cool-down ms, probe held}.
SYNC = (
    _NOW
    + """
local sec = math.floor(now / 1000)
local window, min_calls = tonumber(ARGV[1]), tonumber(ARGV[2])
local rate, base = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 1, #KEYS / 4 do
  local s, w, p, c = KEYS[4 * i - 3], KEYS[4 * i - 2], KEYS[4 * i - 1], KEYS[4 * i]
  local g, ok, bad = tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3]), tonumber(ARGV[3 * i + 4])
  local v = redis.call('HMGET', s, 'state', 'opened_at', 'cooldown', 'gen', 'opened')
  local state = v[1] or 'closed'
  local opened_at, cooldown = tonumber(v[2]) or 0, tonumber(v[3]) or base
  local gen, opened = tonumber(v[4]) or 0, tonumber(v[5]) or 0
  if ok + bad > 0 and state == 'closed' and gen == g then
    if ok > 0 then redis.call('HINCRBY', w, sec .. ':o', ok) end
    if bad > 0 then redis.call('HINCRBY', w, sec .. ':f', bad) end
    redis.call('EXPIRE', w, math.ceil(window) + 2)
    local all = redis.call('HGETALL', w)
    local total, failed = 0, 0
    for j = 1, #all, 2 do
      local field = all[j]
      if tonumber(string.match(field, '^(%d+)')) <= sec - window then
        redis.call('HDEL', w, field)
      else
        total = total + tonumber(all[j + 1])
        if string.sub(field, -1) == 'f' then failed = failed + tonumber(all[j + 1]) end
      end
    end
    if total >= min_calls and failed / total >= rate then
      state, opened_at, gen, opened = 'open', now, gen + 1, opened + 1
      redis.call('HSET', s, 'state', state, 'opened_at', now, 'cooldown', cooldown,
                 'gen', gen, 'opened', opened)
      redis.call('DEL', w)
    end
  end
  local remaining = 0
  if state == 'open' then remaining = math.max(0, opened_at + cooldown * 1000 - now) end
  out[i] = {state, remaining, gen, opened, redis.call('PTTL', c), redis.call('EXISTS', p)}
end
return out
"""
)

# KEYS: s, p   ARGV: probe_ttl_ms, cooldown
# {0, gen}: closed, call normally; {1, gen}: this caller holds the one probe; {-1, 0}: no.
CLAIM = (
    _NOW
    + """
local v = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'cooldown', 'gen')
local state = v[1] or 'closed'
if state == 'closed' then return {0, tonumber(v[4]) or 0} end
local until_ms = (tonumber(v[2]) or 0) + (tonumber(v[3]) or tonumber(ARGV[2])) * 1000
if state == 'open' and now < until_ms then return {-1, 0} end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return {-1, 0} end
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'state', 'half_open')
return {1, gen}
"""
)

# KEYS: s, p, w   ARGV: gen, failed (0|1), cooldown, cooldown_max
# The probe's outcome: success closes (cool-down back to its base), failure re-opens (doubled).
OUTCOME = (
    _NOW
    + """
local v = redis.call('HMGET', KEYS[1], 'state', 'cooldown', 'gen', 'opened')
if v[1] ~= 'half_open' or tonumber(v[3]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[2])
local gen = tonumber(v[3]) + 1
if ARGV[2] == '1' then
  local cd = math.min((tonumber(v[2]) or tonumber(ARGV[3])) * 2, tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now, 'cooldown', cd, 'gen', gen,
             'opened', (tonumber(v[4]) or 0) + 1)
else
  redis.call('HSET', KEYS[1], 'state', 'closed', 'cooldown', ARGV[3], 'gen', gen)
  redis.call('DEL', KEYS[3])
end
return 1
"""
)

# KEYS: s, p   ARGV: gen   A probe that ended without an outcome frees the slot.
ABANDON = """
local v = redis.call('HMGET', KEYS[1], 'state', 'gen')
if v[1] == 'half_open' and tonumber(v[2]) == tonumber(ARGV[1]) then redis.call('DEL', KEYS[2]) end
return 0
"""

# KEYS: c   ARGV: ms   A Retry-After cool-down; a longer one already set wins.
COOL = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
"""
