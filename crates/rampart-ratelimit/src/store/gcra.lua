-- GCRA for every policy of one request, all or nothing, in one round trip.
-- KEYS[i]: the policy's key for this request (hash-tagged).
-- ARGV[1]: "" to use the server's clock, or a time in microseconds (tests).
-- ARGV[2 + 5(i-1) ..]: interval_us, limit_us (burst x interval), cost, want, enforce (1/0).
--   want >= cost: when more than cost is available, charge up to want units
--   (a lease: the caller admits the extra units locally later).
-- Returns 5 integers per key: admitted (1/0), remaining, reset_us, retry_after_us, granted.
-- Times are integer microseconds: doubles hold them exactly (< 2^53).
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local n = #KEYS
local tats, news, oks, params = {}, {}, {}, {}
local all_pass = true
for i = 1, n do
  local b = 2 + (i - 1) * 5
  local interval = tonumber(ARGV[b])
  local limit = tonumber(ARGV[b + 1])
  local cost = tonumber(ARGV[b + 2])
  local want = tonumber(ARGV[b + 3])
  local enforce = ARGV[b + 4] == '1'
  local stored = redis.call('GET', KEYS[i])
  local tat = now
  if stored then
    tat = tonumber(stored) or now
  end
  if tat < now then
    tat = now
  end
  local take = cost
  if want > cost then
    local available = math.floor((limit - (tat - now)) / interval)
    if available > want then available = want end
    if available > cost then take = available end
  end
  local new_tat = tat + take * interval
  local ok = (new_tat - now) <= limit
  if enforce and not ok then
    all_pass = false
  end
  tats[i], news[i], oks[i] = tat, new_tat, ok
  params[i] = { interval, limit, take }
end

local out = {}
for i = 1, n do
  local interval, limit, take = params[i][1], params[i][2], params[i][3]
  local tat, new_tat, ok = tats[i], news[i], oks[i]
  local charge = ok and all_pass
  if charge then
    local ttl_ms = math.ceil((new_tat - now) / 1000)
    if ttl_ms < 1 then ttl_ms = 1 end
    redis.call('SET', KEYS[i], string.format('%d', new_tat), 'PX', ttl_ms)
    out[#out + 1] = 1
    out[#out + 1] = math.floor((limit - (new_tat - now)) / interval)
    out[#out + 1] = new_tat - now
    out[#out + 1] = 0
    out[#out + 1] = take
  elseif ok then
    out[#out + 1] = 1
    out[#out + 1] = math.floor((limit - (tat - now)) / interval)
    out[#out + 1] = tat - now
    out[#out + 1] = 0
    out[#out + 1] = 0
  else
    local before = limit - (tat - now)
    if before < 0 then before = 0 end
    out[#out + 1] = 0
    out[#out + 1] = math.floor(before / interval)
    out[#out + 1] = tat - now
    out[#out + 1] = new_tat - now - limit
    out[#out + 1] = 0
  end
end
return out
