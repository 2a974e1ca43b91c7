#include "queue/redis_job_scripts.h"

#include <string>

namespace sg::queue {

namespace {

// Shared by every script. A job's hash: s secret (hex), st state, a attempts, c created,
// u updated (when it entered its state), n next attempt, r started, m t h b the request,
// k idempotency key, e last error, rs rh rb ro rz the result, d dead reason, up g gm fan-out
// (the member's upstream, the head's row number, on the head: the members' row numbers,
// comma-separated), x the stream entry it waits or runs as ("jobs <id>" or "retries <id>",
// empty when in none).
constexpr const char* kPrelude = R"lua(
local P = KEYS[1]
local G = 'scalegate'
local FIELDS = {'s','st','a','c','u','n','r','m','t','h','b','k','e','rs','rh','rb','ro','rz','d',
  'up','g','gm'}
local function job(seq) return P .. 'j:' .. seq end
-- A first attempt's stream entry names its batch: only jobs of one key share a batch.
local function batchKey(method, target, upstream)
  return method .. ' ' .. target .. ' ' .. (upstream or '')
end
local function count(from, to)
  if from then redis.call('HINCRBY', P .. 'counts', from, -1) end
  if to then redis.call('HINCRBY', P .. 'counts', to, 1) end
end
local function allowed(list, state)
  return state and string.find(',' .. list .. ',', ',' .. state .. ',', 1, true) ~= nil
end
local function row(seq)
  local r = redis.call('HMGET', job(seq), unpack(FIELDS))
  table.insert(r, 1, seq)
  return r
end
-- Acks and deletes the stream entry a job waits or runs as.
local function release(x)
  if not x or x == '' then return end
  local sp = string.find(x, ' ', 1, true)
  local stream, id = P .. string.sub(x, 1, sp - 1), string.sub(x, sp + 1)
  redis.call('XACK', stream, G, id)
  redis.call('XDEL', stream, id)
end
local function ensureGroup(stream)
  pcall(redis.call, 'XGROUP', 'CREATE', P .. stream, G, '0', 'MKSTREAM')
end
-- The oldest entry no consumer has read: the job that waits longest for its first delivery.
local function firstUnread(stream)
  local key = P .. stream
  if redis.call('EXISTS', key) == 0 then return nil end
  local last = '0-0'
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local name, id
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then id = g[i + 1] end
    end
    if name == G then last = id end
  end
  return redis.call('XRANGE', key, '(' .. last, '+', 'COUNT', 1)[1]
end
local function toDead(seq, from, now, reason, err)
  local h = job(seq)
  redis.call('HSET', h, 'st', ARGV_DEAD, 'u', now, 'x', '', 'd', reason)
  if err then redis.call('HSET', h, 'e', err) end
  redis.call('ZADD', P .. 'dead', now, seq)
  count(from, ARGV_DEAD)
end
)lua";

// ARGV: dead state, now, secret, method, target, headers, body, 'k' + idempotency key ('' none),
// max_length (0 none), drop oldest (1) or reject, result_ttl ms, queued state, retrying
// state, states drop_oldest applies to, then for a fan-out each member's secret and upstream
// in list order (the first is the head). Returns {0, seq} new (the head's row number
// for a fan-out), {1, seq, secret} existing, {2} full. A fan-out counts once against max_length
// and keeps its idempotency key on the head only.
constexpr const char* kEnqueue = R"lua(
local now, idem, has_idem = ARGV[2], string.sub(ARGV[8], 2), ARGV[8] ~= ''
if has_idem then
  local seq = redis.call('GET', P .. 'idem:' .. idem)
  if seq then
    local secret = redis.call('HGET', job(seq), 's')
    if secret then return {1, tonumber(seq), secret} end
  end
end
local max_length = tonumber(ARGV[9])
if max_length > 0 then
  local c = redis.call('HMGET', P .. 'counts', ARGV[12], ARGV[13])
  if tonumber(c[1] or 0) + tonumber(c[2] or 0) >= max_length then
    if ARGV[10] ~= '1' then return {2} end
    local oldest = firstUnread('jobs')
    if not oldest then return {2} end
    local seq = oldest[2][2]
    local state = redis.call('HGET', job(seq), 'st')
    if not allowed(ARGV[14], state) then return {2} end
    redis.call('XDEL', P .. 'jobs', oldest[1])
    toDead(seq, state, now, 'dropped: the queue was full (overflow: drop_oldest)')
  end
end
local members = {}  -- {secret, upstream}; a single job is one member without an upstream
for i = 15, #ARGV - 1, 2 do members[#members + 1] = {ARGV[i], ARGV[i + 1]} end
local fanout = #members > 0
if not fanout then members[1] = {ARGV[3], ''} end
-- Consecutive row numbers in list order (nothing else runs during a script).
local head = redis.call('INCRBY', P .. 'seq', #members) - #members + 1
local seqs = {}
for i, member in ipairs(members) do
  local seq = string.format('%d', head + i - 1)  -- tostring would round past 14 digits
  seqs[i] = seq
  local id = redis.call('XADD', P .. 'jobs', '*', 'j', seq, 'k',
    batchKey(ARGV[4], ARGV[5], member[2]))
  redis.call('HSET', job(seq), 's', member[1], 'st', ARGV[12], 'a', 0, 'c', now, 'u', now,
    'n', now, 'r', 0, 'm', ARGV[4], 't', ARGV[5], 'h', ARGV[6], 'b', ARGV[7], 'x', 'jobs ' .. id)
  if fanout then redis.call('HSET', job(seq), 'up', member[2], 'g', seqs[1]) end
  count(nil, ARGV[12])
end
if fanout then redis.call('HSET', job(seqs[1]), 'gm', table.concat(seqs, ',')) end
if has_idem then
  redis.call('HSET', job(seqs[1]), 'k', idem)
  redis.call('SET', P .. 'idem:' .. idem, seqs[1], 'PX', ARGV[11])
end
return {0, head}
)lua";

// ARGV: dead state (unused), now, consumer, max, which (any | first | later), states a claim
// applies to, running state. Returns the claimed jobs' rows.
constexpr const char* kClaim = R"lua(
local now, consumer, max, which = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local out = {}
local function readOne(stream)
  local args = {'XREADGROUP', 'GROUP', G, consumer, 'COUNT', 1, 'STREAMS', P .. stream, '>'}
  local ok, r = pcall(redis.call, unpack(args))
  if not ok then
    ensureGroup(stream)
    r = redis.call(unpack(args))
  end
  if not r then return nil end
  local e = r[1][2][1]
  return e[1], e[2]
end
-- Marks the entry's job running; an entry whose job no longer waits is dropped.
local function take(stream, id, fields)
  local seq = fields[2]
  local h = job(seq)
  local state = redis.call('HGET', h, 'st')
  if not allowed(ARGV[6], state) then
    redis.call('XACK', P .. stream, G, id)
    redis.call('XDEL', P .. stream, id)
    return false
  end
  redis.call('HINCRBY', h, 'a', 1)
  redis.call('HSET', h, 'st', ARGV[7], 'r', now, 'u', now, 'x', stream .. ' ' .. id)
  count(state, ARGV[7])
  out[#out + 1] = row(seq)
  return true
end
local function takeMany(stream)
  while #out < max do
    local id, fields = readOne(stream)
    if not id then return end
    take(stream, id, fields)
  end
end
if which ~= 'first' then
  for _, seq in ipairs(redis.call('ZRANGEBYSCORE', P .. 'wait', '-inf', now, 'LIMIT', 0, 1000)) do
    redis.call('ZREM', P .. 'wait', seq)
    redis.call('XADD', P .. 'retries', '*', 'j', seq)
  end
  takeMany('retries')
  if which == 'any' then takeMany('jobs') end
  return out
end
-- A batch: the oldest first attempt, then the next ones while they share its method, target
-- and upstream (unread entries cannot be taken out of order, so a job of another target or
-- upstream ends the batch).
if max < 1 then return out end
local id, fields
repeat id, fields = readOne('jobs') until not id or take('jobs', id, fields)
if not id then return out end
while #out < max do
  local nextOne = redis.call('XRANGE', P .. 'jobs', '(' .. id, '+', 'COUNT', 1)[1]
  if not nextOne or nextOne[2][4] ~= fields[4] then break end
  id = readOne('jobs')
  take('jobs', id, nextOne[2])
end
return out
)lua";

// ARGV: dead state, now, seq, secret, attempt, kind (ok | retry | fail | dead), retry at,
// error, dead reason, result (1 or 0), status, headers, body, omitted, size, states the event
// applies to, the state it leads to. Returns 0 settled, 1 no such job, 2 wrong state or attempt.
constexpr const char* kSettle = R"lua(
local now, seq, kind = ARGV[2], ARGV[3], ARGV[6]
local h = job(seq)
local v = redis.call('HMGET', h, 's', 'st', 'a', 'x')
if not v[1] or v[1] ~= ARGV[4] then return 1 end
if not allowed(ARGV[16], v[2]) or v[3] ~= ARGV[5] then return 2 end
release(v[4])
redis.call('HSET', h, 'st', ARGV[17], 'u', now, 'x', '', 'e', ARGV[8])
if ARGV[10] == '1' then
  redis.call('HSET', h, 'rs', ARGV[11], 'rh', ARGV[12], 'rb', ARGV[13], 'ro', ARGV[14], 'rz', ARGV[15])
else
  redis.call('HDEL', h, 'rs', 'rh', 'rb', 'ro', 'rz')
end
if kind == 'retry' then
  redis.call('HSET', h, 'n', ARGV[7])
  redis.call('ZADD', P .. 'wait', ARGV[7], seq)
elseif kind == 'dead' then
  redis.call('HSET', h, 'd', ARGV[9])
  redis.call('ZADD', P .. 'dead', now, seq)
else
  redis.call('ZADD', P .. 'ended', now, seq)
end
count(v[2], ARGV[17])
return 0
)lua";

// ARGV: dead state, now, consumer, visibility timeout ms, max attempts (0 none), states a
// stall applies to, retrying state. Takes over entries pending longer than the visibility
// timeout with any consumer (an instance that died, or a delivery that hangs) and retries
// their jobs at once, or dead-letters them on their last attempt. Returns how many.
constexpr const char* kStalled = R"lua(
local now, consumer, max_attempts = ARGV[2], ARGV[3], tonumber(ARGV[5])
local err = 'stalled: the delivery ran longer than the visibility timeout'
local n = 0
for _, stream in ipairs({'jobs', 'retries'}) do
  local key = P .. stream
  local cursor, rounds = '0-0', 0
  repeat
    local ok, r = pcall(redis.call, 'XAUTOCLAIM', key, G, consumer, ARGV[4], cursor, 'COUNT', 100)
    if not ok then break end
    cursor, rounds = r[1], rounds + 1
    for _, e in ipairs(r[2]) do
      local id, fields = e[1], e[2]
      redis.call('XACK', key, G, id)
      redis.call('XDEL', key, id)
      local seq = fields[2]
      local v = redis.call('HMGET', job(seq), 'st', 'a', 'x')
      if allowed(ARGV[6], v[1]) and v[3] == stream .. ' ' .. id then
        if max_attempts > 0 and tonumber(v[2]) >= max_attempts then
          toDead(seq, v[1], now, 'stalled on its last attempt', err)
        else
          redis.call('HSET', job(seq), 'st', ARGV[7], 'u', now, 'n', now, 'x', '', 'e', err)
          redis.call('ZADD', P .. 'wait', now, seq)
          count(v[1], ARGV[7])
        end
        n = n + 1
      end
    end
  until cursor == '0-0' or rounds >= 10
end
return n
)lua";

// ARGV: dead state, now, cutoff (jobs queued before it expire), states expiry applies to.
// Jobs wait in entry order, so the scan stops at the first one young enough.
constexpr const char* kExpire = R"lua(
local now, cutoff = ARGV[2], tonumber(ARGV[3])
local first = firstUnread('jobs')
if not first then return 0 end
local n = 0
for _, e in ipairs(redis.call('XRANGE', P .. 'jobs', first[1], '+', 'COUNT', 1000)) do
  local seq = e[2][2]
  local v = redis.call('HMGET', job(seq), 'st', 'u')
  if allowed(ARGV[4], v[1]) then
    if tonumber(v[2]) >= cutoff then break end
    redis.call('XDEL', P .. 'jobs', e[1])
    toDead(seq, v[1], now, 'expired: not started within message_ttl')
    n = n + 1
  end
end
return n
)lua";

// ARGV: dead state, cutoff. Deletes up to 1000 jobs that ended before the cutoff.
constexpr const char* kPurge = R"lua(
local seqs = redis.call('ZRANGEBYSCORE', P .. 'ended', '-inf', '(' .. ARGV[2], 'LIMIT', 0, 1000)
for _, seq in ipairs(seqs) do
  local v = redis.call('HMGET', job(seq), 'st', 'k')
  if v[1] then count(v[1], nil) end
  if v[2] and redis.call('GET', P .. 'idem:' .. v[2]) == seq then
    redis.call('DEL', P .. 'idem:' .. v[2])
  end
  redis.call('DEL', job(seq))
  redis.call('ZREM', P .. 'ended', seq)
end
return #seqs
)lua";

// ARGV: dead state, now, seq, secret, states cancel applies to, failed state.
// Returns 0 cancelled, 1 no such job, 2 wrong state.
constexpr const char* kCancel = R"lua(
local now, seq = ARGV[2], ARGV[3]
local v = redis.call('HMGET', job(seq), 's', 'st', 'x')
if not v[1] or v[1] ~= ARGV[4] then return 1 end
if not allowed(ARGV[5], v[2]) then return 2 end
release(v[3])
redis.call('HSET', job(seq), 'st', ARGV[6], 'u', now, 'x', '', 'e', 'cancelled')
redis.call('ZADD', P .. 'ended', now, seq)
count(v[2], ARGV[6])
return 0
)lua";

// ARGV: dead state, now, replay (1) or discard (0), states replay applies to, queued state,
// then seq and secret pairs, or nothing for the oldest 1000 dead jobs. Returns how many.
constexpr const char* kDead = R"lua(
local now, replay = ARGV[2], ARGV[3] == '1'
local picked = {}
if #ARGV == 5 then
  for _, seq in ipairs(redis.call('ZRANGE', P .. 'dead', 0, 999)) do picked[#picked + 1] = {seq} end
else
  for i = 6, #ARGV, 2 do picked[#picked + 1] = {ARGV[i], ARGV[i + 1]} end
end
local n = 0
for _, p in ipairs(picked) do
  local seq = p[1]
  local v = redis.call('HMGET', job(seq), 's', 'st', 'm', 't', 'k', 'up')
  if v[1] and (not p[2] or v[1] == p[2]) and v[2] == ARGV_DEAD then
    redis.call('ZREM', P .. 'dead', seq)
    if replay and allowed(ARGV[4], v[2]) then
      local id = redis.call('XADD', P .. 'jobs', '*', 'j', seq, 'k', batchKey(v[3], v[4], v[6]))
      redis.call('HSET', job(seq), 'st', ARGV[5], 'a', 0, 'n', now, 'r', 0, 'u', now, 'd', '',
        'x', 'jobs ' .. id)
      count(v[2], ARGV[5])
    else
      if v[5] and redis.call('GET', P .. 'idem:' .. v[5]) == seq then
        redis.call('DEL', P .. 'idem:' .. v[5])
      end
      redis.call('DEL', job(seq))
      count(v[2], nil)
    end
    n = n + 1
  end
end
return n
)lua";

// ARGV: dead state, seq. Returns the job's row, then, when it heads a fan-out group, its
// members' rows (in row order; a purged member's row has no fields); {} when there is no
// such job. The caller checks the head's secret.
constexpr const char* kGroup = R"lua(
local seq = ARGV[2]
local v = redis.call('HMGET', job(seq), 's', 'g', 'gm')
if not v[1] then return {} end
local out = {row(seq)}
if v[2] == seq and v[3] then
  for member in string.gmatch(v[3], '[^,]+') do
    if member ~= seq then out[#out + 1] = row(member) end
  end
end
return out
)lua";

// ARGV: dead state. Returns {counts as state, n pairs, when the oldest queued job was queued}.
constexpr const char* kCounts = R"lua(
local first = firstUnread('jobs')
local oldest = 0
if first then oldest = tonumber(redis.call('HGET', job(first[2][2]), 'u') or 0) end
return {redis.call('HGETALL', P .. 'counts'), oldest}
)lua";

std::string script(const char* body) {
  // ARGV[1] is every script's dead state (toDead and the dead-letter script use it).
  return std::string("local ARGV_DEAD = ARGV[1]\n") + kPrelude + body;
}

}  // namespace

std::vector<const LuaScript*> RedisScripts::all() const {
  return {&enqueue, &claim, &settle, &stalled, &expire, &purge, &cancel, &dead, &counts, &group};
}

const RedisScripts& redisScripts() {
  static const RedisScripts scripts{
      LuaScript(script(kEnqueue)), LuaScript(script(kClaim)),  LuaScript(script(kSettle)),
      LuaScript(script(kStalled)), LuaScript(script(kExpire)), LuaScript(script(kPurge)),
      LuaScript(script(kCancel)),  LuaScript(script(kDead)),   LuaScript(script(kCounts)),
      LuaScript(script(kGroup)),
  };
  return scripts;
}

}  // namespace sg::queue
