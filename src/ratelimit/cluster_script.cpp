#include "ratelimit/cluster_script.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "ratelimit/key_hash.h"

namespace sg::ratelimit {

// Each function mirrors the one of the same name in algorithms.cpp; the comments there say
// what the state means. Differences, all forced by doubles or by Redis:
// - fdiv/cdiv instead of / and %: floor(a / b) in doubles is already exact for a below 2^53,
//   and the remainder check makes that a checked fact rather than a property of rounding;
// - `granted` requests taken at once in closed form: at one `now` a repeated apply() only
//   moves the level (deficit, window count) by one request each time, so the number admitted
//   is how many requests fit, and the last attempt's outcome follows from the final level;
// - the window state keeps its start in microseconds rather than its index, and counts are
//   clamped to the count, so a state written under another period still reads as a time;
// - a refused GCRA request writes nothing (apply() leaves the state alone too).
const std::string_view kClusterScript = R"lua(
local function fdiv(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1 elseif r >= b then q = q + 1 end
  return q
end
local function cdiv(a, b)
  local q = fdiv(a, b)
  if q * b < a then q = q + 1 end
  return q
end

local alg = ARGV[1]
local refill, cost = tonumber(ARGV[2]), tonumber(ARGV[3])
local capacity, fill_us = tonumber(ARGV[4]), tonumber(ARGV[5])
local count, period, want = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
if not (refill and cost and capacity and fill_us and count and period and want)
    or refill < 1 or cost < 1 or period < 1 or want < 1 then
  return redis.error_reply('ERR scalegate rate limit: bad arguments')
end
local now = tonumber(ARGV[9] or '')
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
if count == 0 then return {0, 0, 0, period} end
local MARGIN_MS = 1000 -- kClusterExpiryMarginMs

local function load(pattern)
  local raw = redis.call('GET', KEYS[1])
  if not raw then return nil end
  local x, y, z = string.match(raw, pattern)
  if not x then return nil end
  return {tonumber(x), tonumber(y), tonumber(z)}
end
local function store(idle_at, value)
  local ttl = math.max(cdiv(idle_at - now, 1000), 0) + MARGIN_MS
  redis.call('SET', KEYS[1], value, 'PX', ttl)
end

local function token_bucket()
  local a, level = now, capacity
  local s = load('^t:(%-?%d+):(%d+)$')
  if s then a, level = s[1], math.min(s[2], capacity) end
  local at = math.max(now, a)
  local elapsed = at - a
  if elapsed >= fill_us then
    level = capacity
  else
    level = math.min(capacity, level + elapsed * refill)
  end
  local granted = math.min(want, fdiv(level, cost))
  level = level - granted * cost
  local skew = at - now
  local until_full = cdiv(capacity - level, refill)
  local retry = 0
  if granted < want then retry = cdiv(cost - level, refill) + skew end
  store(at + until_full, string.format('t:%.0f:%.0f', at, level))
  return {granted, fdiv(level, cost), until_full + skew, retry}
end

local function gcra()
  local a, b = now, 0
  local s = load('^g:(%-?%d+):(%d+)$')
  if s then a, b = s[1], s[2] end
  local deficit = 0
  if a > now or (a == now and b > 0) then
    deficit = math.min(a - now, fill_us + 1) * refill + math.min(b, refill - 1)
  end
  local granted = 0
  if deficit <= capacity then granted = math.min(want, fdiv(capacity - deficit, cost)) end
  deficit = deficit + granted * cost
  local until_idle = cdiv(deficit, refill)
  local retry = 0
  if granted < want then retry = cdiv(deficit + cost - capacity, refill) end
  if granted > 0 then
    local whole = fdiv(deficit, refill)
    store(now + until_idle, string.format('g:%.0f:%.0f', now + whole, deficit - whole * refill))
  end
  return {granted, fdiv(capacity - math.min(deficit, capacity), cost), until_idle, retry}
end

local function sliding_window()
  local window, prev, cur = fdiv(now, period), 0, 0
  local s = load('^w:(%-?%d+):(%d+):(%d+)$')
  if s then
    local stored = fdiv(s[1], period)
    prev, cur = math.min(s[2], count), math.min(s[3], count)
    if window < stored then
      window = stored
    elseif window - stored == 1 then
      prev, cur = cur, 0
    elseif window ~= stored then
      prev, cur = 0, 0
    end
  end
  local start = window * period
  local weighted = prev * (period - math.max(now - start, 0))
  local share = cdiv(weighted, period)
  -- Admitted while cur + 1 + share <= count, i.e. weighted + (cur + 1) x P <= count x P.
  local granted = math.min(want, math.max(count - share - cur, 0))
  cur = cur + granted
  local reset = 0
  if cur > 0 then
    reset = start + 2 * period - now
  elseif prev > 0 then
    reset = start + period - now
  end
  local retry = 0
  if granted < want then
    if cur < count then
      retry = start + period - fdiv((count - cur - 1) * period, prev) - now
    else
      retry = start + 2 * period - fdiv((count - 1) * period, cur) - now
    end
  end
  store(now + reset, string.format('w:%.0f:%.0f:%.0f', start, prev, cur))
  return {granted, math.max(count - cur - share, 0), reset, retry}
end

if alg == 'tb' then return token_bucket() end
if alg == 'gcra' then return gcra() end
if alg == 'sw' then return sliding_window() end
return redis.error_reply('ERR scalegate rate limit: unknown algorithm')
)lua";

namespace {

__extension__ using Uint128 = unsigned __int128;

void appendNumber(std::vector<std::string>& out, uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.emplace_back(buffer, result.ptr);
}

const char* algorithmArg(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kTokenBucket:
      return "tb";
    case Algorithm::kGcra:
      return "gcra";
    case Algorithm::kSlidingWindow:
      return "sw";
  }
  return "?";
}

bool fail(std::string* why, std::string message) {
  if (why != nullptr) *why = std::move(message);
  return false;
}

}  // namespace

void appendClusterArgs(Algorithm algorithm, const Limits& limits, uint64_t want,
                       std::vector<std::string>& out, std::optional<int64_t> now_us) {
  out.emplace_back(algorithmArg(algorithm));
  appendNumber(out, limits.refill);
  appendNumber(out, limits.cost);
  appendNumber(out, limits.capacity);
  appendNumber(out, static_cast<uint64_t>(limits.fill_us));
  appendNumber(out, limits.count);
  appendNumber(out, limits.period_us);
  appendNumber(out, std::clamp<uint64_t>(want, 1, kClusterExactLimit - 1));
  if (now_us.has_value()) {
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, *now_us);
    out.emplace_back(buffer, result.ptr);
  } else {
    out.emplace_back();
  }
}

std::optional<ClusterResult> decodeClusterReply(std::span<const int64_t> reply, uint64_t want,
                                                std::string* why) {
  want = std::clamp<uint64_t>(want, 1, kClusterExactLimit - 1);  // as appendClusterArgs sent it
  if (reply.size() != 4) {
    fail(why, "rate limit script: expected 4 integers, got " + std::to_string(reply.size()));
    return std::nullopt;
  }
  const int64_t granted = reply[0];
  const bool refused = granted >= 0 && static_cast<uint64_t>(granted) < want;
  // The script's own invariants: anything else is a corrupt reply or a foreign script.
  if (granted < 0 || static_cast<uint64_t>(granted) > want || reply[1] < 0 || reply[2] < 0 ||
      reply[3] < 0 || refused != (reply[3] > 0)) {
    fail(why, "rate limit script: inconsistent reply");
    return std::nullopt;
  }
  ClusterResult result;
  result.granted = static_cast<uint64_t>(granted);
  result.outcome = {.allowed = !refused,
                    .remaining = static_cast<uint64_t>(reply[1]),
                    .reset_us = reply[2],
                    .retry_us = reply[3]};
  return result;
}

bool fitsClusterArithmetic(Algorithm algorithm, const Limits& limits, std::string* why) {
  if (limits.count == 0) return true;  // refused outright: only period_us is returned
  const Uint128 exact = kClusterExactLimit;
  if (algorithm == Algorithm::kSlidingWindow) {
    // prev x left, (count - cur - 1) x P and the division helpers' q x b are all at most
    // count x P plus one more of the larger factor.
    if ((Uint128{limits.count} + 1) * (Uint128{limits.period_us} + 1) < exact) return true;
    return fail(why, "count x period_us (" + std::to_string(limits.count) + " x " +
                         std::to_string(limits.period_us) +
                         ") must stay below 2^53 for scope: cluster");
  }
  // The largest intermediates: level + elapsed x refill (< 2 x capacity) and the GCRA
  // deficit before its clamp is checked (< capacity + 3 x refill), plus a divisor each.
  const Uint128 largest = 2 * Uint128{limits.capacity} + 4 * Uint128{limits.refill} + limits.cost;
  if (largest >= exact) {
    return fail(why, "burst x period_us / gcd(count, period_us) (" +
                         std::to_string(limits.capacity) +
                         ") must stay below 2^52 for scope: cluster");
  }
  // Times are now + fill_us: keep fill_us far below 2^53 so that now (2^50.7 in 2026) fits.
  if (static_cast<uint64_t>(limits.fill_us) >= (uint64_t{1} << 50)) {
    return fail(why, "the bucket takes more than 2^50 us (35 years) to fill");
  }
  return true;
}

std::string clusterKey(std::string_view limit_name, std::string_view key) {
  std::string out = "sg:rl:{";
  out += std::to_string(limit_name.size());
  out += ':';
  out += limit_name;
  if (key.size() <= kClusterMaxKeyBytes) {
    out += ':';
    out += key;
    out += '}';
    return out;
  }
  // '#' instead of ':' after the name: no short key can spell a long key's name. The hash
  // keys are fixed because every gateway must name the same bucket; two 64-bit hashes make
  // an accidental collision between long keys negligible.
  out += '#';
  out += std::to_string(key.size());
  out += ':';
  out += key.substr(0, kClusterMaxKeyBytes / 2);
  char hex[40];
  const uint64_t first = sipHash(SipKey{0x73672d726c2d6b31, 0x636c75737465722d}, key, 2, 4);
  const uint64_t second = sipHash(SipKey{0x73672d726c2d6b32, 0x6c6f6e672d6b6579}, key, 2, 4);
  char* end = std::to_chars(hex, hex + sizeof hex, first, 16).ptr;
  *end++ = ':';
  end = std::to_chars(end, hex + sizeof hex, second, 16).ptr;
  out += ':';
  out.append(hex, end);
  out += '}';
  return out;
}

}  // namespace sg::ratelimit
