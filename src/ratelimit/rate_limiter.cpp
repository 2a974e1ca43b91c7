#include "ratelimit/rate_limiter.h"

#include <algorithm>

namespace sg::ratelimit {

namespace {

uint32_t ceilSeconds(int64_t us) {
  if (us <= 0) return 0;
  const uint64_t seconds = (static_cast<uint64_t>(us) + 999'999) / 1'000'000;
  return static_cast<uint32_t>(std::min<uint64_t>(seconds, UINT32_MAX));
}

}  // namespace

Decision toDecision(const Outcome& outcome, const Limits& limits, int32_t tier) {
  Decision decision;
  decision.allowed = outcome.allowed;
  decision.limit = limits.quota;
  // r counts against q: what may pass now plus what comes back during w. With nothing left
  // now it is 0, whatever comes back later, so r > 0 always means a request now passes.
  decision.remaining = outcome.remaining == 0 ? 0 : outcome.remaining + limits.refilled_in_window;
  decision.reset_us = outcome.reset_us;
  decision.reset_seconds = ceilSeconds(outcome.reset_us);
  decision.window_seconds = limits.window_seconds;
  decision.tier = tier;
  if (!outcome.allowed) {
    decision.retry_after_us = outcome.retry_us;
    decision.retry_after_seconds = std::max<uint32_t>(ceilSeconds(outcome.retry_us), 1);
  }
  return decision;
}

RateLimiter::RateLimiter(const config::RateLimitConfig& config, uint64_t hash_seed)
    : name_(config.name),
      algorithm_(config.algorithm),
      shadow_(config.shadow),
      hash_seed_(hash_seed),
      sip_key_(sipKeyFromSeed(hash_seed)),
      default_limits_(makeLimits(config.algorithm, config.rate, config.burst)),
      table_(config.max_keys) {
  tiers_.reserve(config.tiers.size());
  int32_t index = 0;
  for (const auto& [key, tier] : config.tiers) {
    tiers_.push_back(Tier{0, key, makeLimits(config.algorithm, tier.rate, tier.burst), index++});
  }
  hashTiers();
}

void RateLimiter::hashTiers() {
  for (auto& tier : tiers_) tier.hash = hashKey(sip_key_, tier.key);
  std::sort(tiers_.begin(), tiers_.end(),
            [](const Tier& a, const Tier& b) { return a.hash < b.hash; });
}

RateLimiter::Carry RateLimiter::carryOut(int64_t now_us) {
  Carry carry;
  carry.hash_seed = hash_seed_;
  table_.forEachLive(
      now_us, [&carry](uint64_t tag, const State& state) { carry.keys.emplace_back(tag, state); });
  return carry;
}

void RateLimiter::carryIn(const Carry& carry, int64_t now_us) {
  hash_seed_ = carry.hash_seed;
  sip_key_ = sipKeyFromSeed(hash_seed_);
  hashTiers();
  for (const auto& [tag, state] : carry.keys) table_.restore(tag, state, now_us);
}

const RateLimiter::Tier* RateLimiter::findTier(uint64_t hash, std::string_view key) const noexcept {
  auto it = std::lower_bound(tiers_.begin(), tiers_.end(), hash,
                             [](const Tier& tier, uint64_t value) { return tier.hash < value; });
  for (; it != tiers_.end() && it->hash == hash; ++it) {
    if (it->key == key) return &*it;
  }
  return nullptr;
}

const Limits& RateLimiter::limitsFor(std::string_view key) const noexcept {
  if (tiers_.empty()) return default_limits_;
  const Tier* tier = findTier(hashKey(sip_key_, key), key);
  return tier != nullptr ? tier->limits : default_limits_;
}

int32_t RateLimiter::tierFor(std::string_view key) const noexcept {
  if (tiers_.empty()) return -1;
  const Tier* tier = findTier(hashKey(sip_key_, key), key);
  return tier != nullptr ? tier->index : -1;
}

Decision RateLimiter::check(std::string_view key, int64_t now_us) noexcept {
  const uint64_t hash = hashKey(sip_key_, key);
  const Tier* tier = tiers_.empty() ? nullptr : findTier(hash, key);
  const Limits& limits = tier != nullptr ? tier->limits : default_limits_;
  const Algorithm algorithm = algorithm_;
  const Outcome outcome = table_.update(hash, now_us, [&](State& state, bool fresh) {
    if (fresh) state = freshState(algorithm, limits, now_us);
    return apply(algorithm, limits, state, now_us);
  });
  return toDecision(outcome, limits, tier != nullptr ? tier->index : -1);
}

}  // namespace sg::ratelimit
