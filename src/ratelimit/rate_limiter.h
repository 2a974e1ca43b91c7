#pragma once
// Local rate limiting: one RateLimiter per configured rate_limit, shared by every worker
// thread, so a limit is exact across the workers of one machine.
//
// check(key, now) decides one request. The key is the value the config's `key` names (the
// client IP, a header's value, the route name, or anything constant for `global`); it picks
// the tier (config tiers are looked up by the key's value) and the bucket. The clock is
// injected: now_us is any monotonic microsecond count, read once per request by the caller.
//
// Shadow mode (config `shadow`) is the caller's business: the limiter always reports the
// truth (allowed = false when the limit is exceeded, and counts it as refused), and the
// caller lets a refused request through when shadow() is true. Refused requests never
// consume quota, so a shadow limiter refuses exactly what an enforcing one would.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "ratelimit/algorithms.h"
#include "ratelimit/key_hash.h"
#include "ratelimit/key_table.h"

namespace sg::ratelimit {

struct Decision {
  bool allowed = true;
  uint64_t limit = 0;                // RateLimit-Policy q: burst for buckets, count for windows
  uint64_t remaining = 0;            // RateLimit r: further requests allowed right now
  uint32_t reset_seconds = 0;        // RateLimit t: until the quota is fully restored (ceil)
  uint32_t retry_after_seconds = 0;  // refused only: until a request would pass (ceil, >= 1)
  uint32_t window_seconds = 0;       // RateLimit-Policy w
  int32_t tier = -1;                 // index into config tiers (map order); -1 = default rate
  int64_t reset_us = 0;              // reset_seconds, exact
  int64_t retry_after_us = 0;        // retry_after_seconds, exact (0 when allowed)
};

// The Decision an algorithm's Outcome amounts to under `limits` (tier: index into the
// config's tiers, -1 for the default rate).
Decision toDecision(const Outcome& outcome, const Limits& limits, int32_t tier);

class RateLimiter {
 public:
  // hash_seed keys the key hash (see key_hash.h): pass a random value in production so that
  // clients cannot choose keys that collide; tests pass a fixed one.
  explicit RateLimiter(const config::RateLimitConfig& config, uint64_t hash_seed = 0);

  // Never allocates, never throws; takes one shard lock for a few dozen nanoseconds.
  Decision check(std::string_view key, int64_t now_us) noexcept;

  const std::string& name() const noexcept { return name_; }
  Algorithm algorithm() const noexcept { return algorithm_; }
  bool shadow() const noexcept { return shadow_; }
  // The limits a key gets (its tier's, or the default), as check() would use them.
  const Limits& limitsFor(std::string_view key) const noexcept;
  // The tier index a key gets (-1: the default rate).
  int32_t tierFor(std::string_view key) const noexcept;
  // Key table counters; bytes counts the key table only (tiers are sized by the config).
  TableStats stats() const noexcept { return table_.stats(); }

  // What a reload's successor takes over: the hash seed (the table holds key hashes only,
  // which mean nothing under another seed) and the state of every key not idle yet.
  struct Carry {
    uint64_t hash_seed = 0;
    std::vector<std::pair<uint64_t, State>> keys;  // (stored hash, state)
  };
  Carry carryOut(int64_t now_us);
  // Takes `carry` over, before this limiter decides anything (not thread-safe).
  void carryIn(const Carry& carry, int64_t now_us);

 private:
  struct Tier {
    uint64_t hash = 0;
    std::string key;
    Limits limits;
    int32_t index = 0;
  };

  const Tier* findTier(uint64_t hash, std::string_view key) const noexcept;
  void hashTiers();  // tiers_' hashes under sip_key_, sorted by hash

  std::string name_;
  Algorithm algorithm_;
  bool shadow_;
  uint64_t hash_seed_;
  SipKey sip_key_;
  Limits default_limits_;
  std::vector<Tier> tiers_;  // sorted by hash
  KeyTable table_;
};

}  // namespace sg::ratelimit
