#pragma once
// Eviction policies over weighted entries (weights are bytes in the cache, 1 in the
// hit-ratio tool). A policy only orders intrusive nodes and decides who leaves; the owner
// (a cache shard, or bench/hit_ratio.cpp) keeps the entries and frees what it is told to.
// Not thread-safe: each cache shard owns one under its lock.
//
// - kLru: one recency list; the least recently used entries leave first.
// - kTinyLfu: W-TinyLFU as in Caffeine. New entries enter a window LRU (1% of the
//   capacity); entries pushed out of the window become admission candidates against the
//   main area's victim (the probation segment's LRU end), and the one with the lower
//   estimated frequency (frequency_sketch.h) leaves; ties keep the incumbent, and a warm
//   candidate (frequency >= 6) is admitted at random 1/128 of the time to blunt hash
//   flooding. The main area is a segmented LRU: a hit in probation promotes the entry to
//   protected (80% of main), whose overflow is demoted back to probation's MRU end. Every
//   hit and every add counts one access in the sketch.
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace sg::cache {

struct PolicyNode {
  PolicyNode* prev = nullptr;
  PolicyNode* next = nullptr;
  uint64_t hash = 0;    // identifies the key to the frequency sketch
  uint64_t weight = 0;  // bytes (or 1)
  uint8_t queue = 0;    // policy-private
};

// A circular intrusive list with a sentinel; front = least recently used.
class NodeList {
 public:
  NodeList() { sentinel_.prev = sentinel_.next = &sentinel_; }
  NodeList(const NodeList&) = delete;
  NodeList& operator=(const NodeList&) = delete;

  bool empty() const { return sentinel_.next == &sentinel_; }
  PolicyNode* front() { return empty() ? nullptr : sentinel_.next; }
  PolicyNode* back() { return empty() ? nullptr : sentinel_.prev; }
  // The node before `node`, or null at the front.
  PolicyNode* before(PolicyNode* node) { return node->prev == &sentinel_ ? nullptr : node->prev; }

  void pushBack(PolicyNode& node) {
    node.prev = sentinel_.prev;
    node.next = &sentinel_;
    sentinel_.prev->next = &node;
    sentinel_.prev = &node;
  }
  static void unlink(PolicyNode& node) {
    node.prev->next = node.next;
    node.next->prev = node.prev;
    node.prev = node.next = nullptr;
  }
  void moveToBack(PolicyNode& node) {
    unlink(node);
    pushBack(node);
  }
  // Front (least recently used) to back.
  void forEach(const std::function<void(const PolicyNode&)>& visit) const {
    for (const PolicyNode* node = sentinel_.next; node != &sentinel_; node = node->next) {
      visit(*node);
    }
  }

 private:
  PolicyNode sentinel_;
};

struct Eviction {
  PolicyNode* node = nullptr;
  bool rejected = false;  // a newcomer turned away (admission, or heavier than the capacity)
};

using PolicyKind = config::CacheConfig::Policy;

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;

  // Records an access to a resident node.
  virtual void onHit(PolicyNode& node) = 0;
  // Takes in `node` (hash and weight set) and appends to `evicted` every node that had to
  // leave so that weightedSize() <= capacity() again, possibly `node` itself. Evicted
  // nodes are already unlinked.
  virtual void add(PolicyNode& node, std::vector<Eviction>& evicted) = 0;
  // Unlinks a resident node (erase, replacement).
  virtual void remove(PolicyNode& node) = 0;
  // Every resident node, the one this policy would let go first first (its own notion of
  // coldest; the proxy's cache hand-over replays them in this order).
  virtual void forEachColdestFirst(const std::function<void(const PolicyNode&)>& visit) const = 0;

  uint64_t capacity() const { return capacity_; }
  uint64_t weightedSize() const { return weighted_size_; }
  uint64_t size() const { return size_; }

 protected:
  explicit EvictionPolicy(uint64_t capacity) : capacity_(capacity) {}

  uint64_t capacity_;
  uint64_t weighted_size_ = 0;
  uint64_t size_ = 0;  // resident nodes
};

// `expected_weight` (average entry weight) sizes TinyLFU's sketch: capacity /
// expected_weight entries at first; it grows when more entries are resident.
std::unique_ptr<EvictionPolicy> makePolicy(PolicyKind kind, uint64_t capacity,
                                           uint64_t expected_weight);

std::string_view policyName(PolicyKind kind);

}  // namespace sg::cache
