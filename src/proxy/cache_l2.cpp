#include "proxy/cache_l2.h"

#include <algorithm>

#include "cache/cache_key.h"
#include "cache/l2_codec.h"
#include "cache/rfc9111.h"

namespace sg::proxy {

namespace {

// Shared by the scripts: the lock field's holder and expiry, and Redis's clock in ms.
constexpr std::string_view kLockHelpers = R"lua(
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function lock_of(value)
  if not value then return nil, 0 end
  local sep = string.find(value, ':', 1, true)
  if not sep then return nil, 0 end
  return string.sub(value, 1, sep - 1), tonumber(string.sub(value, sep + 1)) or 0
end
local function keep_at_least(key, ms)
  local ttl = redis.call('PTTL', key)
  if ttl < ms then redis.call('PEXPIRE', key, ms) end
end
)lua";

constexpr std::string_view kLookup = R"lua(
local all = redis.call('HGETALL', KEYS[1])
local entries, lock = {}, nil
for i = 1, #all, 2 do
  if all[i] == '_lock' then lock = all[i + 1]
  elseif all[i] ~= '_vary' then entries[#entries + 1] = all[i + 1] end
end
local mode = ARGV[1]
if mode == '0' or (mode == '1' and #entries > 0) then return {entries, 3} end
local now = now_ms()
local holder, expiry = lock_of(lock)
if holder and expiry > now then
  if holder == 'pass' then return {entries, 2} end
  if holder ~= ARGV[2] then return {entries, 0} end
end
local ms = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], '_lock', ARGV[2] .. ':' .. (now + ms))
keep_at_least(KEYS[1], ms)
return {entries, 1}
)lua";

constexpr std::string_view kStore = R"lua(
local names = redis.call('HGET', KEYS[1], '_vary')
-- other Vary names replace every variant; a key flooded with variants starts again
if (names and names ~= ARGV[1]) or redis.call('HLEN', KEYS[1]) > 64 then
  local lock = redis.call('HGET', KEYS[1], '_lock')
  redis.call('DEL', KEYS[1])
  if lock then redis.call('HSET', KEYS[1], '_lock', lock) end
end
redis.call('HSET', KEYS[1], '_vary', ARGV[1], ARGV[2], ARGV[3])
local holder = lock_of(redis.call('HGET', KEYS[1], '_lock'))
if holder == ARGV[5] then redis.call('HDEL', KEYS[1], '_lock') end
keep_at_least(KEYS[1], tonumber(ARGV[4]))
return 1
)lua";

constexpr std::string_view kRelease = R"lua(
local holder = lock_of(redis.call('HGET', KEYS[1], '_lock'))
if holder ~= ARGV[1] then return 0 end
local ms = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], '_lock', 'pass:' .. (now_ms() + ms))
keep_at_least(KEYS[1], ms)
return 1
)lua";

// Newer wins; an exact variant beats one chosen by Accept-Language.
bool better(const cache::CachedResponse& candidate, cache::VariantMatch match,
            const cache::CachedResponse* best, cache::VariantMatch best_match) {
  if (best == nullptr) return true;
  if (match != best_match) return match == cache::VariantMatch::kExact;
  return candidate.response_time > best->response_time;
}

}  // namespace

const store::Script& l2LookupScript() {
  static const store::Script script(std::string(kLockHelpers) + std::string(kLookup));
  return script;
}

const store::Script& l2StoreScript() {
  static const store::Script script(std::string(kLockHelpers) + std::string(kStore));
  return script;
}

const store::Script& l2ReleaseScript() {
  static const store::Script script(std::string(kLockHelpers) + std::string(kRelease));
  return script;
}

std::string l2Key(std::string_view primary_key) {
  std::string key = "sg:c:";
  key.append(primary_key);
  return key;
}

std::string l2PurgePattern(std::string_view prefix) {
  std::string pattern = "sg:c:";
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += '*';
  return pattern;
}

L2Lookup parseL2Lookup(const store::Reply& reply, uint32_t owner,
                       const std::vector<http::Header>& request_headers) {
  L2Lookup out;
  if (!reply.ok() || !reply.isArray() || reply.size() != 2) return out;
  const store::Reply entries = reply.element(0);
  const store::Reply lock = reply.element(1);
  if (!entries.isArray() || !lock.isInteger() || lock.integer() < 0 || lock.integer() > 3)
    return out;
  out.ok = true;
  out.lock = static_cast<L2LockState>(lock.integer());
  cache::VariantMatch best_match = cache::VariantMatch::kNone;
  std::string error;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto entry = cache::decodeL2Entry(entries.element(i).string(), owner, &error);
    if (!entry) {
      ++out.undecodable;
      continue;
    }
    const cache::VariantMatch match = cache::matchVariant(*entry, request_headers);
    if (match == cache::VariantMatch::kNone) continue;
    if (better(*entry, match, out.entry.get(), best_match)) {
      out.entry = std::move(entry);
      best_match = match;
    }
  }
  return out;
}

int64_t l2TtlMs(const cache::CachedResponse& entry, cache::Time now) {
  // Usable stale until the longer window past its lifetime ends (rfc9111.h decideServe).
  const cache::Duration left = entry.lifetime - cache::currentAge(entry, now);
  return (left + std::max(entry.stale_while_revalidate, entry.stale_if_error)).count();
}

}  // namespace sg::proxy
