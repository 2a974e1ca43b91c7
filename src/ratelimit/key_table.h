#pragma once
// The bounded key → state table behind RateLimiter, shared by all worker threads.
//
// Memory is fixed at construction: capacity entries of 32 bytes (an 8-byte key hash and a
// 24-byte State), nothing allocated afterwards, so a flood of distinct keys cannot grow it.
// Keys are not stored, only a 64-bit keyed hash of them: two keys share a bucket only if
// their hashes collide, with odds about n^2 / 2^65 among n live keys (below 1e-7 for a
// million keys).
//
// Layout: 1..64 shards (a power of two, one lock each), each holding sets of 8 entries. A
// key may live in either of two sets of its shard (two-choice hashing keeps the sets evenly
// filled). When both sets are full, in order:
//   1. the entry that becomes idle soonest is replaced if it is idle already (its state
//      equals an absent key's, so nothing is lost);
//   2. else one entry moves to its own other set if that has an empty entry (one cuckoo
//      step, lossless);
//   3. else the soonest-idle entry is replaced anyway: a forced eviction, counted.
// Soonest-idle rather than least recently used bounds what a forced eviction gives away: at
// most what that key would have regained by idle_at anyway. Keys being limited right now
// have the latest idle_at, so a flood of new keys evicts them last.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "ratelimit/algorithms.h"
#include "ratelimit/spin_lock.h"

namespace sg::ratelimit {

struct TableStats {
  uint64_t capacity = 0;          // entries the table can hold
  uint64_t keys = 0;              // entries in use (idle ones stay until reused)
  uint64_t idle_evictions = 0;    // replaced an idle entry: nothing lost
  uint64_t forced_evictions = 0;  // replaced a live entry: that key starts afresh
  uint64_t allowed = 0;           // requests admitted
  uint64_t refused = 0;           // requests refused (shadow or not)
  uint64_t bytes = 0;             // bytes allocated for the table, exactly
};

class KeyTable {
 public:
  static constexpr size_t kWays = 8;
  static constexpr size_t kMaxShards = 64;

  // capacity = max_keys rounded down to a multiple of 8 x shards (at least 8); shards grow
  // with max_keys so that each has at least 8 sets.
  explicit KeyTable(uint64_t max_keys);
  KeyTable(const KeyTable&) = delete;
  KeyTable& operator=(const KeyTable&) = delete;

  // Runs fn(State& state, bool fresh) on hash's entry under its shard lock and returns what
  // fn returns (anything with a bool `allowed`, counted in stats). A key not in the table is
  // inserted first, evicting if needed; fresh then says fn must initialise the state.
  template <typename Fn>
  auto update(uint64_t hash, int64_t now_us, Fn&& fn) noexcept {
    const uint64_t tag = hash == 0 ? 1 : hash;  // 0 marks an empty entry
    Shard& shard = shards_[shardIndex(tag)];
    std::lock_guard<SpinLock> guard(shard.lock);
    bool fresh = false;
    State& state = findOrInsert(shard, tag, now_us, &fresh);
    auto result = fn(state, fresh);
    bump(result.allowed ? shard.allowed : shard.refused);
    return result;
  }

  // Every entry still live at now_us (not idle: its state differs from an absent key's) as
  // fn(tag, state), one shard lock at a time: what a reload's successor takes over.
  template <typename Fn>
  void forEachLive(int64_t now_us, Fn&& fn) {
    for (size_t shard = 0; shard < shard_count_; ++shard) {
      std::lock_guard<SpinLock> guard(shards_[shard].lock);
      for (size_t set = shard * sets_per_shard_; set < (shard + 1) * sets_per_shard_; ++set) {
        for (size_t way = 0; way < kWays; ++way) {
          const uint64_t tag = sets_[set].tags[way];
          if (tag != 0 && !isIdle(sets_[set].states[way], now_us)) fn(tag, sets_[set].states[way]);
        }
      }
    }
  }
  // Puts back a tag's state that forEachLive gave (inserted as update() inserts).
  void restore(uint64_t tag, const State& state, int64_t now_us) noexcept;

  uint64_t capacity() const noexcept { return shard_count_ * sets_per_shard_ * kWays; }
  size_t shardCount() const noexcept { return shard_count_; }
  uint64_t bytesAllocated() const noexcept;
  TableStats stats() const noexcept;

 private:
  struct alignas(64) Set {
    uint64_t tags[kWays];
    State states[kWays];
  };
  // Counters are written under the lock (so plain load + store) but read by stats() at any
  // time, hence atomics; they share the lock's cache line, already owned by the writer.
  struct alignas(64) Shard {
    SpinLock lock;
    std::atomic<uint64_t> keys{0};
    std::atomic<uint64_t> idle_evictions{0};
    std::atomic<uint64_t> forced_evictions{0};
    std::atomic<uint64_t> allowed{0};
    std::atomic<uint64_t> refused{0};
  };

  static void bump(std::atomic<uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  struct Slot {
    Set* set = nullptr;
    size_t way = 0;
  };

  size_t shardIndex(uint64_t tag) const noexcept { return (tag >> 58) & (shard_count_ - 1); }
  // The (one or two) sets a tag may live in; returns how many.
  int setsOf(uint64_t tag, size_t shard, Set* sets[2]) const noexcept;
  State& findOrInsert(Shard& shard, uint64_t tag, int64_t now_us, bool* fresh) noexcept;
  static Slot soonestIdle(Set* const* sets, int set_count) noexcept;
  bool relocate(Shard& shard, Set* const* sets, int set_count, Slot* freed) noexcept;

  size_t shard_count_ = 1;
  size_t sets_per_shard_ = 1;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<Set[]> sets_;
};

}  // namespace sg::ratelimit
