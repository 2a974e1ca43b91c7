#pragma once
// TinyLFU's popularity estimate (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient
// Cache Admission Policy", 2017), laid out as in Caffeine 3's FrequencySketch: a count-min
// sketch of 4-bit counters, depth 4, sixteen counters per 64-bit word, an item's four
// counters in four different words of one 64-byte block (one cache line per access). A
// doorkeeper (a blocked Bloom filter, two bits in one word) absorbs the first occurrence
// of each key so that one-hit wonders never reach the counters. After
// sample_size increments every counter is halved and the doorkeeper cleared ("reset"),
// which ages old popularity away.
#include <cstdint>
#include <vector>

#include "base/mix64.h"

namespace sg::cache {

class FrequencySketch {
 public:
  // Sized for `expected_entries` resident entries: table words = next power of two (at
  // least one block), sample size = 10x, doorkeeper bits = 8x the sample size.
  explicit FrequencySketch(uint64_t expected_entries);

  // Grows (and clears) the sketch when `expected_entries` exceeds its current size.
  void ensureCapacity(uint64_t expected_entries);
  uint64_t capacity() const { return capacity_; }

  void increment(uint64_t hash);
  // Estimated count in [0, 16]: the smallest of the four counters, plus one when the
  // doorkeeper holds the key.
  uint32_t frequency(uint64_t hash) const;

  uint64_t sampleSize() const { return sample_size_; }
  uint64_t resets() const { return resets_; }

 private:
  void reset();
  static uint64_t doorkeeperBits(uint64_t hash);

  uint64_t capacity_ = 0;
  std::vector<uint64_t> table_;
  uint64_t block_mask_ = 0;  // 64-byte blocks of 8 words
  std::vector<uint64_t> doorkeeper_;
  uint64_t doorkeeper_mask_ = 0;  // word index mask
  uint64_t sample_size_ = 0;
  uint64_t additions_ = 0;
  uint64_t resets_ = 0;
};

using base::mix64;

}  // namespace sg::cache
