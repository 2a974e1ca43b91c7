#include "ratelimit/key_table.h"

#include <algorithm>

namespace sg::ratelimit {

namespace {

constexpr uint64_t kMinSetsPerShard = 8;

// Maps 32 uniform bits onto [0, size) without a division (Lemire).
size_t fastRange(uint32_t bits, size_t size) {
  return static_cast<size_t>((static_cast<uint64_t>(bits) * size) >> 32);
}

}  // namespace

KeyTable::KeyTable(uint64_t max_keys) {
  while (shard_count_ < kMaxShards && shard_count_ * 2 * kWays * kMinSetsPerShard <= max_keys) {
    shard_count_ *= 2;
  }
  sets_per_shard_ = std::max<size_t>(1, max_keys / (shard_count_ * kWays));
  shards_ = std::make_unique<Shard[]>(shard_count_);
  sets_ = std::make_unique<Set[]>(shard_count_ * sets_per_shard_);  // zeroed: all empty
}

int KeyTable::setsOf(uint64_t tag, size_t shard, Set* sets[2]) const noexcept {
  // Two sets of the shard from bits the shard index (58..63) does not use.
  const size_t base = shard * sets_per_shard_;
  const size_t first = fastRange(static_cast<uint32_t>(tag), sets_per_shard_);
  size_t second = fastRange(static_cast<uint32_t>(tag >> 26), sets_per_shard_);
  if (second == first) second = (first + 1) % sets_per_shard_;
  sets[0] = &sets_[base + first];
  sets[1] = &sets_[base + second];
  return second == first ? 1 : 2;
}

State& KeyTable::findOrInsert(Shard& shard, uint64_t tag, int64_t now_us, bool* fresh) noexcept {
  const auto shard_index = static_cast<size_t>(&shard - shards_.get());
  Set* sets[2];
  const int set_count = setsOf(tag, shard_index, sets);
  int empties[2] = {0, 0};
  for (int s = 0; s < set_count; ++s) {
    for (size_t way = 0; way < kWays; ++way) {
      if (sets[s]->tags[way] == tag) return sets[s]->states[way];
      empties[s] += sets[s]->tags[way] == 0;
    }
  }
  *fresh = true;
  Slot slot;
  if (empties[0] + empties[1] > 0) {  // the emptier set takes it
    slot.set = sets[set_count == 2 && empties[1] > empties[0] ? 1 : 0];
    slot.way =
        static_cast<size_t>(std::find(slot.set->tags, slot.set->tags + kWays, 0) - slot.set->tags);
    bump(shard.keys);
  } else {
    slot = soonestIdle(sets, set_count);
    if (isIdle(slot.set->states[slot.way], now_us)) {
      bump(shard.idle_evictions);
    } else if (!relocate(shard, sets, set_count, &slot)) {
      bump(shard.forced_evictions);
    }
  }
  slot.set->tags[slot.way] = tag;
  return slot.set->states[slot.way];
}

KeyTable::Slot KeyTable::soonestIdle(Set* const* sets, int set_count) noexcept {
  Slot victim{sets[0], 0};
  for (int s = 0; s < set_count; ++s) {
    for (size_t way = 0; way < kWays; ++way) {
      if (sets[s]->states[way].idle_at < victim.set->states[victim.way].idle_at) {
        victim = {sets[s], way};
      }
    }
  }
  return victim;
}

// Both sets hold live keys: move one of them to its other set if that has an empty entry
// (one step of cuckoo hashing), freeing its place without losing any state. Only empty
// entries are sought: once the shard is full this costs nothing, which keeps a flood of new
// keys on the cheap path; idle entries are reused where the keys that hash there arrive.
bool KeyTable::relocate(Shard& shard, Set* const* sets, int set_count, Slot* freed) noexcept {
  if (shard.keys.load(std::memory_order_relaxed) >= sets_per_shard_ * kWays) return false;
  const auto shard_index = static_cast<size_t>(&shard - shards_.get());
  for (int s = 0; s < set_count; ++s) {
    for (size_t way = 0; way < kWays; ++way) {
      Set* its_sets[2];
      if (setsOf(sets[s]->tags[way], shard_index, its_sets) < 2) return false;
      Set* other = its_sets[0] == sets[s] ? its_sets[1] : its_sets[0];
      const auto empty =
          static_cast<size_t>(std::find(other->tags, other->tags + kWays, 0) - other->tags);
      if (empty == kWays) continue;
      bump(shard.keys);
      other->tags[empty] = sets[s]->tags[way];
      other->states[empty] = sets[s]->states[way];
      *freed = {sets[s], way};
      return true;
    }
  }
  return false;
}

void KeyTable::restore(uint64_t tag, const State& state, int64_t now_us) noexcept {
  if (tag == 0) return;  // never a stored tag
  Shard& shard = shards_[shardIndex(tag)];
  std::lock_guard<SpinLock> guard(shard.lock);
  bool fresh = false;
  findOrInsert(shard, tag, now_us, &fresh) = state;
}

uint64_t KeyTable::bytesAllocated() const noexcept {
  return shard_count_ * sizeof(Shard) + shard_count_ * sets_per_shard_ * sizeof(Set);
}

TableStats KeyTable::stats() const noexcept {
  TableStats stats;
  stats.capacity = capacity();
  stats.bytes = bytesAllocated();
  for (size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    stats.keys += shard.keys.load(std::memory_order_relaxed);
    stats.idle_evictions += shard.idle_evictions.load(std::memory_order_relaxed);
    stats.forced_evictions += shard.forced_evictions.load(std::memory_order_relaxed);
    stats.allowed += shard.allowed.load(std::memory_order_relaxed);
    stats.refused += shard.refused.load(std::memory_order_relaxed);
  }
  return stats;
}

}  // namespace sg::ratelimit
