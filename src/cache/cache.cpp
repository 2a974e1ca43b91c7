#include "cache/cache.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "cache/cache_key.h"
#include "cache/frequency_sketch.h"

namespace sg::cache {
namespace {

constexpr uint32_t kMaxShards = 64;
constexpr uint64_t kMinShardBytes = 16ull * 1024 * 1024;
// Average entry size assumed when sizing TinyLFU's sketch at first (it grows as needed).
constexpr uint64_t kExpectedEntryBytes = 4096;

uint64_t hashKey(std::string_view key) { return std::hash<std::string_view>{}(key); }

// A key with its hash computed once: the shard choice and the map lookup share it.
struct HashedKey {
  std::string_view text;
  size_t hash;
};

struct KeyHash {
  using is_transparent = void;  // NOLINT(readability-identifier-naming): standard name
  size_t operator()(const std::string& key) const { return hashKey(key); }
  size_t operator()(const HashedKey& key) const { return key.hash; }
};

struct KeyEqual {
  using is_transparent = void;  // NOLINT(readability-identifier-naming): standard name
  bool operator()(const std::string& a, const std::string& b) const { return a == b; }
  bool operator()(const HashedKey& a, const std::string& b) const { return a.text == b; }
  bool operator()(const std::string& a, const HashedKey& b) const { return a == b.text; }
};

struct Resident : PolicyNode {
  std::shared_ptr<const CachedResponse> entry;
};

// Variants of one primary key, oldest first.
struct Bucket {
  std::vector<std::unique_ptr<Resident>> variants;
};

bool sameNames(const std::vector<VaryField>& a, const std::vector<VaryField>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const VaryField& x, const VaryField& y) { return x.name == y.name; });
}

uint64_t variantHash(const CachedResponse& entry, uint64_t key_hash) {
  uint64_t hash = key_hash;
  for (const VaryField& field : entry.vary) {
    hash = mix64(hash ^ hashKey(field.value ? std::string_view(*field.value)
                                            : "\x01"
                                              "absent"));
  }
  return hash;
}

}  // namespace

// A cache line each: shards update different owners at the same time.
struct alignas(64) Cache::OwnerCounters {
  std::atomic<uint64_t> entries{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> evictions{0};
};

struct alignas(64) Cache::Shard {
  std::mutex mutex;
  std::unordered_map<std::string, Bucket, KeyHash, KeyEqual> map;
  std::unique_ptr<EvictionPolicy> policy;
  std::vector<Eviction> evicted;  // scratch, reused under the lock
  CacheStats stats;
  OwnerCounters* owners = nullptr;  // the Cache's, owner_count of them
  uint32_t owner_count = 1;

  OwnerCounters& ownerOf(const CachedResponse& entry) const {
    return owners[std::min(entry.owner, owner_count - 1)];
  }
  void joined(const CachedResponse& entry) const {
    OwnerCounters& owner = ownerOf(entry);
    owner.entries.fetch_add(1, std::memory_order_relaxed);
    owner.bytes.fetch_add(entry.charge, std::memory_order_relaxed);
  }
  // Every resident that leaves, for whatever reason, passes here once.
  void left(const CachedResponse& entry) const {
    OwnerCounters& owner = ownerOf(entry);
    owner.entries.fetch_sub(1, std::memory_order_relaxed);
    owner.bytes.fetch_sub(entry.charge, std::memory_order_relaxed);
  }
  void unlinkAll(const Bucket& bucket) {
    for (const auto& owned : bucket.variants) {
      policy->remove(*owned);
      left(*owned->entry);
    }
    stats.erased += bucket.variants.size();
  }

  // Before `entry` joins `bucket`: drops the variants it supersedes (other variant names,
  // or the same variant fields), then the oldest ones beyond max_variants - 1.
  void dropSuperseded(Bucket& bucket, const CachedResponse& entry, uint32_t max_variants) {
    auto& variants = bucket.variants;
    for (auto it = variants.begin(); it != variants.end();) {
      const std::vector<VaryField>& vary = (*it)->entry->vary;
      if (sameNames(vary, entry.vary) && vary != entry.vary) {
        ++it;
        continue;
      }
      policy->remove(**it);
      left(*(*it)->entry);
      ++stats.erased;
      it = variants.erase(it);
    }
    while (variants.size() >= max_variants) {
      policy->remove(*variants.front());
      left(*variants.front()->entry);
      ++stats.erased;
      variants.erase(variants.begin());
    }
  }

  // Frees a resident the policy already unlinked (evicted or never admitted).
  void dropFromBucket(Resident* resident) {
    auto it = map.find(resident->entry->key);
    if (it == map.end()) return;
    auto& variants = it->second.variants;
    const auto owned = std::find_if(variants.begin(), variants.end(),
                                    [&](const auto& item) { return item.get() == resident; });
    if (owned != variants.end()) variants.erase(owned);
    if (variants.empty()) map.erase(it);
  }
};

uint32_t defaultShardCount(uint64_t memory) {
  uint32_t shards = 1;
  while (shards < kMaxShards && memory / (uint64_t{shards} * 2) >= kMinShardBytes) shards *= 2;
  return shards;
}

Cache::Cache(const config::CacheConfig& config, CacheOptions options)
    : max_variants_(std::max<uint32_t>(1, options.max_variants)),
      owners_(std::make_unique<OwnerCounters[]>(std::max<uint32_t>(1, options.owners))),
      owner_count_(std::max<uint32_t>(1, options.owners)) {
  uint32_t count = options.shards == 0 ? defaultShardCount(config.memory) : options.shards;
  count = std::bit_floor(std::clamp<uint32_t>(count, 1, 1024));
  shard_capacity_ = config.memory / count;
  for (uint32_t i = 0; i < count; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->policy = makePolicy(config.policy, shard_capacity_, kExpectedEntryBytes);
    shard->owners = owners_.get();
    shard->owner_count = owner_count_;
    shards_.push_back(std::move(shard));
  }
}

Cache::~Cache() = default;

Cache::Shard& Cache::shardFor(uint64_t hash) const { return *shards_[shardOfHash(hash)]; }

uint32_t Cache::shardOfHash(uint64_t hash) const {
  return static_cast<uint32_t>(mix64(hash) & (shards_.size() - 1));
}

uint32_t Cache::shardIndex(std::string_view key) const { return shardOfHash(hashKey(key)); }

uint64_t Cache::shardFreeBytes(uint32_t shard) const {
  Shard& chosen = *shards_.at(shard);
  std::lock_guard lock(chosen.mutex);
  return chosen.policy->capacity() - chosen.policy->weightedSize();
}

std::shared_ptr<const CachedResponse> Cache::lookup(
    std::string_view key, const std::vector<http::Header>& request_headers) {
  const HashedKey hashed{key, hashKey(key)};
  Shard& shard = shardFor(hashed.hash);
  std::lock_guard lock(shard.mutex);
  const auto it = shard.map.find(hashed);
  if (it == shard.map.end()) return nullptr;
  const auto& variants = it->second.variants;
  Resident* selected = nullptr;  // newest variant the request selects by Content-Language
  for (size_t i = variants.size(); i-- > 0;) {  // newest first
    Resident& resident = *variants[i];
    const VariantMatch match = matchVariant(*resident.entry, request_headers);
    if (match == VariantMatch::kExact) {
      selected = &resident;
      break;
    }
    if (match == VariantMatch::kSelected && selected == nullptr) selected = &resident;
  }
  if (selected == nullptr) return nullptr;
  shard.policy->onHit(*selected);
  return selected->entry;
}

bool Cache::insert(std::shared_ptr<const CachedResponse> entry) {
  if (!entry) return false;
  const HashedKey hashed{entry->key, hashKey(entry->key)};
  Shard& shard = shardFor(hashed.hash);
  std::lock_guard lock(shard.mutex);
  if (entry->charge > shard_capacity_) {
    ++shard.stats.too_large;
    return false;
  }
  Bucket& bucket = shard.map.try_emplace(entry->key).first->second;
  shard.dropSuperseded(bucket, *entry, max_variants_);
  auto resident = std::make_unique<Resident>();
  Resident* added = resident.get();
  added->entry = std::move(entry);
  added->hash = variantHash(*added->entry, hashed.hash);
  added->weight = added->entry->charge;
  bucket.variants.push_back(std::move(resident));
  shard.evicted.clear();
  shard.policy->add(*added, shard.evicted);
  bool resident_now = true;
  for (const Eviction& eviction : shard.evicted) {
    auto* gone = static_cast<Resident*>(eviction.node);
    if (gone == added) {
      resident_now = false;
    } else {
      // Resident before this call, even when `rejected` (a TinyLFU window leaver that
      // lost its admission duel): to its owner it was pushed out.
      shard.left(*gone->entry);
      shard.ownerOf(*gone->entry).evictions.fetch_add(1, std::memory_order_relaxed);
    }
    ++(eviction.rejected ? shard.stats.rejected : shard.stats.evictions);
    shard.dropFromBucket(gone);  // may free `bucket`
  }
  if (resident_now) {
    ++shard.stats.inserts;
    shard.joined(*added->entry);
  }
  return resident_now;
}

size_t Cache::erase(std::string_view key) {
  const HashedKey hashed{key, hashKey(key)};
  Shard& shard = shardFor(hashed.hash);
  std::lock_guard lock(shard.mutex);
  const auto it = shard.map.find(hashed);
  if (it == shard.map.end()) return 0;
  const size_t count = it->second.variants.size();
  shard.unlinkAll(it->second);
  shard.map.erase(it);
  return count;
}

size_t Cache::erasePrefix(std::string_view prefix) {
  size_t count = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    for (auto it = shard->map.begin(); it != shard->map.end();) {
      if (!std::string_view(it->first).starts_with(prefix)) {
        ++it;
        continue;
      }
      count += it->second.variants.size();
      shard->unlinkAll(it->second);
      it = shard->map.erase(it);
    }
  }
  return count;
}

void Cache::forEachEntry(
    const std::function<void(const std::shared_ptr<const CachedResponse>&)>& visit) const {
  std::vector<std::vector<std::shared_ptr<const CachedResponse>>> lists(shards_.size());
  for (size_t s = 0; s < shards_.size(); ++s) {
    std::lock_guard lock(shards_[s]->mutex);
    lists[s].reserve(shards_[s]->policy->size());
    shards_[s]->policy->forEachColdestFirst([&](const PolicyNode& node) {
      lists[s].push_back(static_cast<const Resident&>(node).entry);
    });
  }
  // Merge by rank: next is the shard whose next entry has the smallest (i + 1/2) / n.
  std::vector<size_t> next(lists.size(), 0);
  while (true) {
    size_t best = lists.size();
    for (size_t s = 0; s < lists.size(); ++s) {
      if (next[s] == lists[s].size()) continue;
      if (best == lists.size() ||
          (2 * next[s] + 1) * lists[best].size() < (2 * next[best] + 1) * lists[s].size()) {
        best = s;
      }
    }
    if (best == lists.size()) return;
    visit(lists[best][next[best]]);
    lists[best][next[best]++].reset();  // an entry evicted meanwhile is freed as we go
  }
}

CacheStats Cache::stats() const {
  CacheStats total;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total.entries += shard->policy->size();
    total.bytes += shard->policy->weightedSize();
    total.capacity += shard->policy->capacity();
    total.inserts += shard->stats.inserts;
    total.evictions += shard->stats.evictions;
    total.rejected += shard->stats.rejected;
    total.too_large += shard->stats.too_large;
    total.erased += shard->stats.erased;
  }
  return total;
}

OwnerStats Cache::ownerStats(uint32_t owner) const {
  const OwnerCounters& counters = owners_[std::min(owner, owner_count_ - 1)];
  return OwnerStats{counters.entries.load(std::memory_order_relaxed),
                    counters.bytes.load(std::memory_order_relaxed),
                    counters.evictions.load(std::memory_order_relaxed)};
}

}  // namespace sg::cache
