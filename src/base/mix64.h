#pragma once
// A bijective 64-bit mixer (the MurmurHash3 finaliser): derives further well-spread values
// from one hash (rehashing, shard choice, sketch rows, seed splitting). Shared by the
// balancers, the rate limiter's key table and the cache.
#include <cstdint>

namespace sg::base {

constexpr uint64_t mix64(uint64_t value) noexcept {
  value ^= value >> 33;
  value *= 0xff51afd7ed558ccdULL;
  value ^= value >> 33;
  value *= 0xc4ceb9fe1a85ec53ULL;
  value ^= value >> 33;
  return value;
}

}  // namespace sg::base
