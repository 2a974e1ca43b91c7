#pragma once
// W-TinyLFU (policy.h describes it; policy.h's makePolicy builds it).
#include <cstdint>
#include <vector>

#include "cache/frequency_sketch.h"
#include "cache/policy.h"

namespace sg::cache {

class TinyLfuPolicy final : public EvictionPolicy {
 public:
  static constexpr uint64_t kWindowPercent = 1;
  static constexpr uint64_t kProtectedPercent = 80;  // of the main area
  static constexpr uint32_t kHashFloodThreshold = 6;

  TinyLfuPolicy(uint64_t capacity, uint64_t expected_weight);

  void onHit(PolicyNode& node) override;
  void add(PolicyNode& node, std::vector<Eviction>& evicted) override;
  void remove(PolicyNode& node) override;
  // Probation, then protected, then the window, each from its LRU end: the order
  // evictFromMain falls back to when no candidate duels.
  void forEachColdestFirst(const std::function<void(const PolicyNode&)>& visit) const override;

  uint64_t windowWeight() const { return window_weight_; }
  uint64_t protectedWeight() const { return protected_weight_; }
  uint64_t windowCapacity() const { return window_max_; }
  const FrequencySketch& sketch() const { return sketch_; }

 private:
  enum Queue : uint8_t { kWindow, kProbation, kProtected };

  uint64_t evictFromWindow();
  void evictFromMain(uint64_t candidates, std::vector<Eviction>& evicted);
  void evictNode(PolicyNode& node, bool rejected, std::vector<Eviction>& evicted);
  void demoteProtectedOverflow();
  bool admit(const PolicyNode& candidate, const PolicyNode& victim);
  NodeList& listOf(uint8_t queue);

  uint64_t window_max_;
  uint64_t protected_max_;
  uint64_t window_weight_ = 0;
  uint64_t protected_weight_ = 0;
  NodeList window_;
  NodeList probation_;
  NodeList protected_;
  FrequencySketch sketch_;
  uint64_t random_state_ = 0x9e3779b97f4a7c15ULL;
};

}  // namespace sg::cache
