#pragma once
// The shared in-memory HTTP cache: one object for all worker threads.
//
// Keys are split over N shards by hash; each shard has its own mutex, hash map, eviction
// policy (config.policy) and byte budget memory / N, so lookups on different keys rarely
// meet and there is no global lock. A lookup hit costs one hash, one short critical
// section (map find, variant match, policy touch) and a shared_ptr copy; entries are
// immutable and shared, so a worker keeps writing one after it was evicted.
//
// The bound: the sum of the charges (CachedResponse::charge: headers, body, keys,
// bookkeeping estimate) of resident entries never exceeds `memory`, after every call. An
// entry whose charge exceeds one shard's budget is refused.
//
// Variants (RFC 9111 4.1): a primary key holds up to CacheOptions::max_variants stored
// responses with the same variant names; a newly stored response with other variant names
// (the resource's Vary changed) replaces them all, one with the same variant fields
// replaces that one, and beyond max_variants the oldest variant leaves.
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "cache/cached_response.h"
#include "cache/policy.h"
#include "config/config.h"
#include "http/message.h"

namespace sg::cache {

struct CacheStats {
  uint64_t entries = 0;    // resident variants
  uint64_t bytes = 0;      // sum of their charges
  uint64_t capacity = 0;   // bytes usable (memory rounded down to a multiple of the shards)
  uint64_t inserts = 0;    // insert() calls whose entry became resident
  uint64_t evictions = 0;  // residents pushed out to make room
  uint64_t rejected = 0;   // newcomers the admission policy turned away
  uint64_t too_large = 0;  // insert() calls refused: charge above one shard's budget
  uint64_t erased = 0;     // removed by erase(), erasePrefix() or replacement
};

struct CacheOptions {
  uint32_t shards = 0;  // power of two; 0 = automatic (one per 16 MiB of memory, 1..64)
  uint32_t max_variants = 16;
  // Owners (CachedResponse::owner) tracked apart: 0..owners-1; larger values count as
  // owners-1.
  uint32_t owners = 1;
};

// One owner's share of the cache (the proxy: one route's).
struct OwnerStats {
  uint64_t entries = 0;    // resident variants it stored
  uint64_t bytes = 0;      // their charges
  uint64_t evictions = 0;  // its residents pushed out to make room (not erased ones)
};

class Cache {
 public:
  explicit Cache(const config::CacheConfig& config, CacheOptions options = {});
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // The stored variant of `key` that `request_headers` select, or null: the newest exact
  // match, else the newest one chosen by Accept-Language (cache_key.h matchVariant).
  // Counts as an access for the eviction policy. Thread-safe.
  std::shared_ptr<const CachedResponse> lookup(std::string_view key,
                                               const std::vector<http::Header>& request_headers);
  std::shared_ptr<const CachedResponse> lookup(std::string_view key,
                                               const http::RequestHead& request) {
    return lookup(key, request.headers);
  }

  // Stores `entry` under entry->key (see the file comment for variants). False when it
  // did not become resident (null, too large, or refused by admission). Thread-safe.
  bool insert(std::shared_ptr<const CachedResponse> entry);

  // Removes every variant of `key`; returns how many. Thread-safe.
  size_t erase(std::string_view key);
  // Removes every entry whose primary key starts with `prefix` (O(entries), shard by
  // shard: for purges, not the data path). Returns how many. Thread-safe.
  size_t erasePrefix(std::string_view prefix);

  // Calls `visit` on every resident entry, coldest first: each shard's entries in the order
  // its eviction policy would let them go (policy.h forEachColdestFirst), the shards
  // interleaved by rank (the k-th of n comes about k/n of the way through), so a prefix of
  // the sequence is the coldest part of the whole cache. Each shard's lock is held only to
  // copy its pointers; `visit` runs with no lock held (it may use the cache). Entries stored
  // or dropped meanwhile may or may not be visited. Thread-safe.
  void forEachEntry(
      const std::function<void(const std::shared_ptr<const CachedResponse>&)>& visit) const;

  CacheStats stats() const;
  // Thread-safe, lock-free (relaxed counters updated under the shard locks).
  OwnerStats ownerStats(uint32_t owner) const;
  uint32_t shardCount() const { return static_cast<uint32_t>(shards_.size()); }
  uint64_t shardCapacity() const { return shard_capacity_; }
  // The shard (0..shardCount()-1) that holds `key`'s variants, and the bytes a shard has
  // left before insert() must evict: for filling the cache in bulk with what fits (the
  // proxy's cache hand-over). Thread-safe.
  uint32_t shardIndex(std::string_view key) const;
  uint64_t shardFreeBytes(uint32_t shard) const;

 private:
  struct Shard;
  struct OwnerCounters;
  Shard& shardFor(uint64_t hash) const;
  uint32_t shardOfHash(uint64_t hash) const;

  std::vector<std::unique_ptr<Shard>> shards_;
  uint64_t shard_capacity_ = 0;
  uint32_t max_variants_ = 16;
  // Shared by the shards (each updates them under its own lock), hence atomics.
  std::unique_ptr<OwnerCounters[]> owners_;
  uint32_t owner_count_ = 1;
};

// Automatic shard count for a memory budget: a power of two, at most 64, each shard
// getting at least 16 MiB (so large objects still fit in one).
uint32_t defaultShardCount(uint64_t memory);

}  // namespace sg::cache
