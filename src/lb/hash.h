#pragma once
// Internal to lb: the hash functions behind hashKey() and the hash-based algorithms.
#include <cstdint>
#include <string_view>

namespace sg::lb {

// MurmurHash64A (Austin Appleby), little-endian reading: fast on short keys such as
// addresses, and every input bit affects every output bit.
uint64_t hashBytes(std::string_view data, uint64_t seed) noexcept;

// A bijective 64-bit mixer (the MurmurHash3 finaliser): derives further well-spread values
// from one hash (rehashing, per-server salts).
constexpr uint64_t mix64(uint64_t value) noexcept {
  value ^= value >> 33;
  value *= 0xff51afd7ed558ccdULL;
  value ^= value >> 33;
  value *= 0xc4ceb9fe1a85ec53ULL;
  value ^= value >> 33;
  return value;
}

}  // namespace sg::lb
