#include "cache/policy.h"

#include "cache/tiny_lfu.h"

namespace sg::cache {
namespace {

class LruPolicy final : public EvictionPolicy {
 public:
  explicit LruPolicy(uint64_t capacity) : EvictionPolicy(capacity) {}

  void onHit(PolicyNode& node) override { list_.moveToBack(node); }

  void add(PolicyNode& node, std::vector<Eviction>& evicted) override {
    if (node.weight > capacity_) {  // would flush everything and still not fit
      evicted.push_back(Eviction{&node, true});
      return;
    }
    list_.pushBack(node);
    weighted_size_ += node.weight;
    ++size_;
    while (weighted_size_ > capacity_) {
      PolicyNode* oldest = list_.front();
      remove(*oldest);
      evicted.push_back(Eviction{oldest, oldest == &node});
    }
  }

  void remove(PolicyNode& node) override {
    NodeList::unlink(node);
    weighted_size_ -= node.weight;
    --size_;
  }

  void forEachColdestFirst(const std::function<void(const PolicyNode&)>& visit) const override {
    list_.forEach(visit);
  }

 private:
  NodeList list_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> makePolicy(PolicyKind kind, uint64_t capacity,
                                           uint64_t expected_weight) {
  if (kind == PolicyKind::kLru) return std::make_unique<LruPolicy>(capacity);
  return std::make_unique<TinyLfuPolicy>(capacity, expected_weight);
}

std::string_view policyName(PolicyKind kind) {
  return kind == PolicyKind::kLru ? "lru" : "tinylfu";
}

}  // namespace sg::cache
