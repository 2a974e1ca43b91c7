#include "cache/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace sg::cache {
namespace {

constexpr uint64_t kResetMask = 0x7777777777777777ULL;  // clears each nibble's top bit after >> 1
constexpr uint64_t kOneMask = 0x1111111111111111ULL;
constexpr int kDepth = 4;
constexpr uint64_t kBlockWords = 8;  // one 64-byte cache line

// Where an item's four counters live (Caffeine 3's layout): one 64-byte block chosen by
// the low bits of the hash; row i uses word 2i or 2i+1 of the block and one of its 16
// nibbles, both from byte i of the hash's upper half. One cache line per access.
struct Slots {
  uint64_t word[kDepth];
  int shift[kDepth];
};

Slots slotsOf(uint64_t hash, uint64_t block_mask) {
  Slots slots;
  const uint64_t block = (hash & block_mask) * kBlockWords;
  const uint64_t counter_hash = hash >> 32;
  for (int row = 0; row < kDepth; ++row) {
    const uint64_t h = counter_hash >> (row * 8);
    slots.word[row] = block + static_cast<uint64_t>(row) * 2 + (h & 1);
    slots.shift[row] = static_cast<int>((h >> 1) & 15) * 4;
  }
  return slots;
}

// The doorkeeper is a blocked Bloom filter: both bits of a key in one 64-bit word.
uint64_t doorkeeperHash(uint64_t hash) { return hash * 0x9e3779b97f4a7c15ULL; }

}  // namespace

FrequencySketch::FrequencySketch(uint64_t expected_entries) { ensureCapacity(expected_entries); }

void FrequencySketch::ensureCapacity(uint64_t expected_entries) {
  expected_entries = std::max<uint64_t>(expected_entries, 16);
  if (expected_entries <= capacity_) return;
  capacity_ = expected_entries;
  table_.assign(std::max(kBlockWords, std::bit_ceil(expected_entries)), 0);
  block_mask_ = table_.size() / kBlockWords - 1;
  sample_size_ = 10 * expected_entries;
  doorkeeper_.assign(std::bit_ceil(8 * sample_size_) / 64, 0);
  doorkeeper_mask_ = doorkeeper_.size() - 1;
  additions_ = 0;
}

uint64_t FrequencySketch::doorkeeperBits(uint64_t hash) {
  const uint64_t h = doorkeeperHash(hash);
  return (uint64_t{1} << (h >> 58)) | (uint64_t{1} << ((h >> 52) & 63));
}

void FrequencySketch::increment(uint64_t hash) {
  hash = mix64(hash);
  uint64_t& door = doorkeeper_[(doorkeeperHash(hash) >> 20) & doorkeeper_mask_];
  const uint64_t bits = doorkeeperBits(hash);
  if ((door & bits) != bits) {
    door |= bits;
  } else {
    const Slots slots = slotsOf(hash, block_mask_);
    for (int row = 0; row < kDepth; ++row) {
      uint64_t& word = table_[slots.word[row]];
      if (((word >> slots.shift[row]) & 0xF) != 0xF) word += uint64_t{1} << slots.shift[row];
    }
  }
  if (++additions_ >= sample_size_) reset();
}

uint32_t FrequencySketch::frequency(uint64_t hash) const {
  hash = mix64(hash);
  const Slots slots = slotsOf(hash, block_mask_);
  uint32_t count = 15;
  for (int row = 0; row < kDepth; ++row) {
    const uint64_t word = table_[slots.word[row]];
    count = std::min(count, static_cast<uint32_t>((word >> slots.shift[row]) & 0xF));
  }
  const uint64_t door = doorkeeper_[(doorkeeperHash(hash) >> 20) & doorkeeper_mask_];
  const uint64_t bits = doorkeeperBits(hash);
  return count + ((door & bits) == bits ? 1 : 0);
}

void FrequencySketch::reset() {
  uint64_t odd = 0;
  for (uint64_t& word : table_) {
    odd += static_cast<uint64_t>(std::popcount(word & kOneMask));
    word = (word >> 1) & kResetMask;
  }
  std::fill(doorkeeper_.begin(), doorkeeper_.end(), 0);
  // Halving truncates odd counters; as Caffeine, subtract a quarter of them as the error.
  additions_ = (additions_ >> 1) - std::min(additions_ >> 1, odd >> 2);
  ++resets_;
}

}  // namespace sg::cache
