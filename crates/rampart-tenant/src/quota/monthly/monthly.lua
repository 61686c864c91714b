-- Monthly quota: check and increment in one step.
-- KEYS[1]  the counter of one tenant, quota and month
-- ARGV[1]  limit, ARGV[2] cost, ARGV[3] when the key expires (Unix seconds)
-- Returns {admitted (1 or 0), units used this month after the call}.
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
if used + cost > limit then
  return {0, used}
end
used = redis.call('INCRBY', KEYS[1], cost)
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return {1, used}
