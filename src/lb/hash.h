#pragma once
// Internal to lb: the hash functions behind hashKey() and the hash-based algorithms.
#include <cstdint>
#include <string_view>

#include "base/mix64.h"

namespace sg::lb {

// MurmurHash64A (Austin Appleby), little-endian reading: fast on short keys such as
// addresses, and every input bit affects every output bit.
uint64_t hashBytes(std::string_view data, uint64_t seed) noexcept;

using base::mix64;

}  // namespace sg::lb
