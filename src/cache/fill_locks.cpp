#include "cache/fill_locks.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "cache/frequency_sketch.h"

namespace sg::cache {
namespace {

// Enough to make two threads rarely meet on one mutex; a shard costs a few hundred bytes.
constexpr size_t kShards = 16;

// Lookups by string_view without building a std::string. The key is hashed twice (shard,
// then map): this runs on cache misses only, next to an upstream fetch.
struct KeyHash {
  using is_transparent = void;  // NOLINT(readability-identifier-naming): standard name
  size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
};

struct Waiter {
  FillWaiter* waiter;
  uint64_t ticket;
};

// One key's state: a fill in flight (with its queue), or a pass marker until `pass_until_ms`.
struct Slot {
  bool filling = true;
  int64_t pass_until_ms = 0;
  uint64_t marker_id = 0;  // tells this marker from an older one of the same key in `markers`
  std::vector<Waiter> waiters;
};

// A pass marker in creation order. It is stale once its slot became a fill again or got a
// newer marker (marker_id differs); stale records are skipped when they reach the front.
struct MarkerRecord {
  std::string key;
  uint64_t marker_id;
};

}  // namespace

struct alignas(64) FillLocks::Shard {
  mutable std::mutex mutex;
  std::unordered_map<std::string, Slot, KeyHash, std::equal_to<>> slots;
  // Oldest first. Markers all last kPassWindow, so the front is also the first to expire;
  // bounded by kMaxPassMarkers records (stale ones included), so memory stays bounded.
  std::deque<MarkerRecord> markers;
  uint64_t next_marker_id = 0;
  size_t fills = 0;
  size_t waiting = 0;

  void addMarker(Slot& slot, std::string_view key, int64_t now_ms) {
    slot.filling = false;
    slot.pass_until_ms = now_ms + kPassWindow.count();
    slot.marker_id = ++next_marker_id;
    markers.push_back(MarkerRecord{std::string(key), slot.marker_id});
    dropOldMarkers(now_ms);
  }

  // Pops records from the front while they are stale or expired, then while there are too
  // many: each record is popped once, so this is O(1) amortised per marker added.
  void dropOldMarkers(int64_t now_ms) {
    while (!markers.empty()) {
      const MarkerRecord& oldest = markers.front();
      const auto it = slots.find(std::string_view(oldest.key));
      const bool live =
          it != slots.end() && !it->second.filling && it->second.marker_id == oldest.marker_id;
      const bool expired = live && it->second.pass_until_ms <= now_ms;
      if (live && !expired && markers.size() <= kMaxPassMarkers) return;
      if (live) slots.erase(it);
      markers.pop_front();
    }
  }
};

FillLocks::FillLocks() {
  shards_.reserve(kShards);
  for (size_t i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>());
}

FillLocks::~FillLocks() = default;

FillLocks::Shard& FillLocks::shardFor(std::string_view key) const {
  // Mixed so that the shard does not pick the same hash bits as the map's buckets.
  return *shards_[mix64(KeyHash{}(key)) % shards_.size()];
}

FillLocks::Claim FillLocks::claim(std::string_view key, int64_t now_ms, FillWaiter* waiter,
                                  uint64_t ticket) {
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.slots.find(key);
  if (it == shard.slots.end()) {
    it = shard.slots.emplace(std::string(key), Slot{}).first;
  } else if (it->second.filling) {
    if (waiter == nullptr) return Claim::kBusy;
    it->second.waiters.push_back(Waiter{waiter, ticket});
    ++shard.waiting;
    return Claim::kWait;
  } else if (now_ms < it->second.pass_until_ms) {
    return Claim::kPass;
  } else {
    it->second.filling = true;  // the expired marker's record in `markers` is stale now
  }
  ++shard.fills;
  return Claim::kOwner;
}

void FillLocks::release(std::string_view key, Outcome outcome, int64_t now_ms) {
  Shard& shard = shardFor(key);
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(shard.mutex);
    const auto it = shard.slots.find(key);
    if (it == shard.slots.end() || !it->second.filling) return;
    waiters = std::move(it->second.waiters);
    it->second.waiters.clear();
    shard.waiting -= waiters.size();
    --shard.fills;
    if (outcome == Outcome::kNotStored) {
      shard.addMarker(it->second, key, now_ms);
    } else {
      shard.slots.erase(it);
    }
  }
  // Outside the lock: a waiter may claim the key again from notify().
  for (const Waiter& queued : waiters) {
    queued.waiter->notify(queued.ticket, static_cast<uint8_t>(outcome));
  }
}

bool FillLocks::cancel(std::string_view key, FillWaiter* waiter, uint64_t ticket) {
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mutex);
  const auto it = shard.slots.find(key);
  if (it == shard.slots.end() || !it->second.filling) return false;
  auto& waiters = it->second.waiters;
  const auto queued = std::find_if(waiters.begin(), waiters.end(), [&](const Waiter& item) {
    return item.waiter == waiter && item.ticket == ticket;
  });
  if (queued == waiters.end()) return false;
  waiters.erase(queued);  // keeps the others in arrival order
  --shard.waiting;
  return true;
}

size_t FillLocks::sumOverShards(size_t Shard::*count) const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += (*shard).*count;
  }
  return total;
}

size_t FillLocks::fillsInFlight() const { return sumOverShards(&Shard::fills); }

size_t FillLocks::waiting() const { return sumOverShards(&Shard::waiting); }

}  // namespace sg::cache
