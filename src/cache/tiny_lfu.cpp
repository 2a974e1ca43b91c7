#include "cache/tiny_lfu.h"

#include <algorithm>

namespace sg::cache {
namespace {

// Queue values beyond the three lists: a window leaver awaiting its admission duel (it
// sits at probation's MRU end meanwhile), and a node that left.
constexpr uint8_t kCandidate = 3;
constexpr uint8_t kGone = 4;

}  // namespace

TinyLfuPolicy::TinyLfuPolicy(uint64_t capacity, uint64_t expected_weight)
    : EvictionPolicy(capacity),
      window_max_(std::max<uint64_t>(1, capacity * kWindowPercent / 100)),
      protected_max_((capacity - std::min(capacity, window_max_)) * kProtectedPercent / 100),
      sketch_(capacity / std::max<uint64_t>(1, expected_weight)) {}

NodeList& TinyLfuPolicy::listOf(uint8_t queue) {
  switch (queue) {
    case kWindow:
      return window_;
    case kProtected:
      return protected_;
    default:
      return probation_;
  }
}

void TinyLfuPolicy::onHit(PolicyNode& node) {
  sketch_.increment(node.hash);
  switch (node.queue) {
    case kWindow:
      window_.moveToBack(node);
      return;
    case kProbation:
      NodeList::unlink(node);
      node.queue = kProtected;
      protected_.pushBack(node);
      protected_weight_ += node.weight;
      demoteProtectedOverflow();
      return;
    case kProtected:
      protected_.moveToBack(node);
      return;
    default:
      return;
  }
}

void TinyLfuPolicy::demoteProtectedOverflow() {
  while (protected_weight_ > protected_max_) {
    PolicyNode* oldest = protected_.front();
    NodeList::unlink(*oldest);
    protected_weight_ -= oldest->weight;
    oldest->queue = kProbation;
    probation_.pushBack(*oldest);
  }
}

void TinyLfuPolicy::add(PolicyNode& node, std::vector<Eviction>& evicted) {
  sketch_.increment(node.hash);
  if (node.weight > capacity_) {  // would flush the window and still not fit
    node.queue = kGone;
    evicted.push_back(Eviction{&node, true});
    return;
  }
  node.queue = kWindow;
  window_.pushBack(node);
  window_weight_ += node.weight;
  weighted_size_ += node.weight;
  ++size_;
  const uint64_t candidates = evictFromWindow();
  evictFromMain(candidates, evicted);
  // More resident entries than the sketch was sized for: grow it (this clears it, as
  // Caffeine does; it happens a logarithmic number of times).
  if (size_ > sketch_.capacity()) sketch_.ensureCapacity(2 * size_);
}

void TinyLfuPolicy::remove(PolicyNode& node) {
  if (node.queue == kWindow) window_weight_ -= node.weight;
  if (node.queue == kProtected) protected_weight_ -= node.weight;
  NodeList::unlink(node);
  node.queue = kGone;
  weighted_size_ -= node.weight;
  --size_;
}

void TinyLfuPolicy::forEachColdestFirst(const std::function<void(const PolicyNode&)>& visit) const {
  probation_.forEach(visit);
  protected_.forEach(visit);
  window_.forEach(visit);
}

void TinyLfuPolicy::evictNode(PolicyNode& node, bool rejected, std::vector<Eviction>& evicted) {
  remove(node);
  evicted.push_back(Eviction{&node, rejected});
}

// Moves window overflow, oldest first, to probation's MRU end as admission candidates.
uint64_t TinyLfuPolicy::evictFromWindow() {
  uint64_t candidates = 0;
  while (window_weight_ > window_max_) {
    PolicyNode* oldest = window_.front();
    NodeList::unlink(*oldest);
    window_weight_ -= oldest->weight;
    oldest->queue = kCandidate;
    probation_.pushBack(*oldest);
    ++candidates;
  }
  return candidates;
}

bool TinyLfuPolicy::admit(const PolicyNode& candidate, const PolicyNode& victim) {
  const uint32_t candidate_frequency = sketch_.frequency(candidate.hash);
  const uint32_t victim_frequency = sketch_.frequency(victim.hash);
  if (candidate_frequency > victim_frequency) return true;
  if (candidate_frequency < kHashFloodThreshold) return false;
  random_state_ ^= random_state_ << 13;  // xorshift64
  random_state_ ^= random_state_ >> 7;
  random_state_ ^= random_state_ << 17;
  return (random_state_ & 127) == 0;
}

// While over capacity: the newest pending candidate duels probation's LRU entry and the
// loser leaves; without candidates, the LRU end of probation, then protected, then the
// window gives way. The candidates are the last `candidates` nodes of probation.
void TinyLfuPolicy::evictFromMain(uint64_t candidates, std::vector<Eviction>& evicted) {
  PolicyNode* candidate = candidates > 0 ? probation_.back() : nullptr;
  auto next_candidate = [&](PolicyNode* from) -> PolicyNode* {
    // Older candidates sit just before `from`; a node that is no longer kCandidate ends them.
    PolicyNode* older = from == nullptr ? nullptr : probation_.before(from);
    return older != nullptr && older->queue == kCandidate ? older : nullptr;
  };
  while (weighted_size_ > capacity_) {
    PolicyNode* victim = probation_.front();
    if (candidate != nullptr && victim != nullptr && victim != candidate) {
      if (candidate->weight > capacity_ || !admit(*candidate, *victim)) {
        PolicyNode* next = next_candidate(candidate);
        evictNode(*candidate, true, evicted);
        candidate = next;
      } else {
        const bool victim_was_candidate = victim->queue == kCandidate;
        evictNode(*victim, victim_was_candidate, evicted);
        candidate->queue = kProbation;  // admitted
        candidate = next_candidate(candidate);
      }
      continue;
    }
    if (victim == nullptr) victim = protected_.front();
    if (victim == nullptr) victim = window_.front();
    if (victim == nullptr) break;
    if (victim == candidate) candidate = nullptr;  // the last candidate, alone at the front
    evictNode(*victim, victim->queue == kCandidate, evicted);
  }
  // Candidates that never had to duel stay in probation (they are `candidate` and the
  // contiguous older ones before it).
  while (candidate != nullptr) {
    PolicyNode* next = next_candidate(candidate);
    candidate->queue = kProbation;
    candidate = next;
  }
}

}  // namespace sg::cache
