#pragma once
// Internal to lb: what every algorithm shares, done once per pick by CandidateSelector —
// which servers may be chosen (health, retries, backups, panic mode; rules in balancer.h),
// their effective weights (slow start) and the bounded-load limit. Algorithms derive from
// BalancerBase and see the outcome as Candidates.
#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lb/balancer.h"

namespace sg::lb {

enum class Tier : uint8_t { kPrimary = 0, kBackup = 1 };

// A ramp in permille. Effective weight = configured weight x ramp, so a server that is not
// slow-starting weighs its configured weight x kFullRamp.
inline constexpr uint32_t kFullRamp = 1000;
inline constexpr uint32_t kMinRamp = 100;  // slow start's 10% floor

inline uint32_t loadOf(std::span<const uint32_t> in_flight, uint32_t server) noexcept {
  return server < in_flight.size() ? in_flight[server] : 0;
}

class Candidates {
 public:
  bool empty() const noexcept { return list_.empty(); }
  // Candidate server indices, ascending, all of tier().
  std::span<const uint32_t> list() const noexcept { return list_; }
  Tier tier() const noexcept { return tier_; }
  bool panicked() const noexcept { return panicked_; }
  bool contains(uint32_t server) const noexcept { return (state_[server] & mask_) == want_; }
  // Effective weight (> 0): configured weight x ramp(server).
  uint64_t weight(uint32_t server) const noexcept { return weights_[server]; }
  uint64_t totalWeight() const noexcept { return total_weight_; }
  // Running totals: ends()[k] = weight of list()[0] + ... + weight of list()[k].
  std::span<const uint64_t> ends() const noexcept { return ends_; }
  // All candidates weigh the same: a uniform draw over list() is then a weighted one.
  bool uniform() const noexcept { return uniform_; }
  uint32_t ramp(uint32_t server) const noexcept { return ramps_[server]; }

  // Bounded loads: one more request keeps `server` within the limit.
  bool underLoadLimit(uint32_t server, std::span<const uint32_t> in_flight) const noexcept {
    return load_limit_ == kNoLimit || loadOf(in_flight, server) + uint64_t{1} <= load_limit_;
  }
  // Slow start for the hash algorithms: a ramping server admits a fixed share of keys equal
  // to its ramp; a key admitted at some ramp stays admitted as the ramp grows. Applies
  // only while some candidate is not ramping (else there is nowhere better to send keys).
  bool admits(uint32_t server, uint64_t hash) const noexcept;
  // What the hash algorithms ask of a server their walk reaches.
  bool accepts(uint32_t server, uint64_t hash, std::span<const uint32_t> in_flight) const noexcept {
    return contains(server) && underLoadLimit(server, in_flight) && admits(server, hash);
  }
  // For a hash walk that found nothing acceptable: the first accepting candidate from a
  // position chosen by `hash`, else the first under the load limit (the least loaded one
  // always is), else list()[hash % size]. Requires !empty().
  uint32_t fallback(uint64_t hash, std::span<const uint32_t> in_flight) const noexcept;

 private:
  friend class CandidateSelector;
  static constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

  std::span<const uint32_t> list_;
  std::span<const uint64_t> ends_;
  const uint8_t* state_ = nullptr;
  const uint64_t* weights_ = nullptr;
  const uint32_t* ramps_ = nullptr;
  uint64_t total_weight_ = 0;
  uint64_t load_limit_ = kNoLimit;
  uint8_t mask_ = 0;
  uint8_t want_ = 0;
  Tier tier_ = Tier::kPrimary;
  bool panicked_ = false;
  bool uniform_ = false;
  bool admission_ = false;  // some candidates ramp and some do not
};

class CandidateSelector {
 public:
  CandidateSelector(const BalancerOptions& options, std::vector<ServerSpec> servers);
  CandidateSelector(const CandidateSelector&) = delete;  // candidates_ points into members
  CandidateSelector& operator=(const CandidateSelector&) = delete;

  // Observes health (slow start), applies the candidate rules. The result stays valid until
  // the next call.
  const Candidates& select(const PickContext& context) noexcept;
  // Configured weight (0 counts as 1, clamped to kMaxWeight). server < size(). Returns
  // whether the weight changed (callers skip rebuilding tables otherwise).
  bool setWeight(uint32_t server, uint32_t weight);

  uint32_t size() const noexcept { return static_cast<uint32_t>(keys_.size()); }
  // The servers of a tier, ascending.
  std::span<const uint32_t> group(Tier tier) const noexcept { return groups_[index(tier)]; }
  uint32_t configuredWeight(uint32_t server) const noexcept { return configured_[server]; }
  const std::string& key(uint32_t server) const noexcept { return keys_[server]; }

 private:
  static size_t index(Tier tier) noexcept { return static_cast<size_t>(tier); }
  bool classify(const PickContext& context) noexcept;
  void choose(const PickContext& context) noexcept;
  void choosePanic(const PickContext& context) noexcept;
  void finish(Tier tier, uint32_t count, bool panicked,
              std::span<const uint32_t> in_flight) noexcept;
  void setLoadLimit(std::span<const uint32_t> in_flight) noexcept;
  bool canReuse(const PickContext& context) const noexcept;
  void remember(const PickContext& context) noexcept;
  void observeHealth(std::span<const uint8_t> healthy, int64_t now_ms) noexcept;
  void updateRamps(int64_t now_ms) noexcept;
  void setRamp(uint32_t server, uint32_t ramp) noexcept;
  void refreshUniform();

  uint32_t panic_threshold_;
  uint32_t balance_factor_;  // 0 or within [100, kMaxBalanceFactor]
  int64_t slow_start_ms_;

  std::vector<std::string> keys_;
  std::vector<uint32_t> configured_;
  std::vector<uint8_t> tier_of_;  // 0 primary, 1 backup
  std::array<std::vector<uint32_t>, 2> groups_;
  std::array<bool, 2> group_uniform_{};

  // Per-pick state.
  std::vector<uint8_t> state_;                  // kKept | kHealthy | kBackup bits
  std::array<std::vector<uint32_t>, 2> lists_;  // candidate lists, capacity = group size
  std::array<std::vector<uint64_t>, 2> ends_;   // their running weight totals
  std::array<uint32_t, 2> counts_{};
  uint32_t healthy_primaries_ = 0;
  uint32_t present_primaries_ = 0;  // primaries not removed by the operator

  // The last pick's inputs, when it had no exclusions: an identical healthy span (the common
  // case) means identical candidates, so the pass over the servers is skipped.
  std::vector<uint8_t> last_healthy_;
  bool reusable_ = false;

  // Slow start.
  std::vector<uint8_t> was_healthy_;
  std::vector<int64_t> ramp_start_;  // kNotRamping when not slow-starting
  std::vector<uint32_t> ramps_;
  std::vector<uint64_t> weights_;
  uint32_t ramping_ = 0;

  Candidates candidates_;
};

// Base of every algorithm: owns the selector and the setWeight plumbing.
class BalancerBase : public Balancer {
 public:
  void setWeight(uint32_t server, uint32_t weight) final {
    if (server >= selector_.size() || !selector_.setWeight(server, weight)) return;
    onWeightsChanged();
  }

 protected:
  BalancerBase(const BalancerOptions& options, std::vector<ServerSpec> servers)
      : selector_(options, std::move(servers)) {}
  const Candidates& select(const PickContext& context) noexcept {
    const Candidates& candidates = selector_.select(context);
    notePick(candidates.panicked());
    return candidates;
  }
  const CandidateSelector& selector() const noexcept { return selector_; }
  // Called after a configured weight changed (rebuild tables here).
  virtual void onWeightsChanged() {}

 private:
  CandidateSelector selector_;
};

}  // namespace sg::lb
