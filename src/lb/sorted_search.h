#pragma once
// Internal to lb: searching the sorted arrays of the balancers (running weight totals, ring
// points).
#include <cstddef>
#include <cstdint>
#include <span>

namespace sg::lb {

// Index of the first element >= key in ascending `sorted` (sorted.size() when none).
// Branch-free, so that lookups with random keys do not pay for mispredictions.
inline size_t lowerBound(std::span<const uint64_t> sorted, uint64_t key) noexcept {
  if (sorted.empty()) return 0;
  const uint64_t* base = sorted.data();
  size_t length = sorted.size();
  while (length > 1) {
    const size_t half = length / 2;
    base = base[half - 1] < key ? base + half : base;
    length -= half;
  }
  return static_cast<size_t>(base - sorted.data()) + (*base < key ? 1 : 0);
}

}  // namespace sg::lb
