#include "lb/hash.h"

#include <cstring>

#include "lb/balancer.h"

namespace sg::lb {

namespace {
constexpr uint64_t kKeySeed = 0x5ca1e6a7e0b1a5edULL;  // hashKey's seed; changing it remaps keys
}  // namespace

uint64_t hashBytes(std::string_view data, uint64_t seed) noexcept {
  constexpr uint64_t kMul = 0xc6a4a7935bd1e995ULL;
  constexpr int kShift = 47;
  const size_t size = data.size();
  const char* bytes = data.data();
  uint64_t hash = seed ^ (size * kMul);
  const size_t blocks = size / 8;
  for (size_t i = 0; i < blocks; ++i) {
    uint64_t block = 0;
    std::memcpy(&block, bytes + i * 8, sizeof block);
    block *= kMul;
    block ^= block >> kShift;
    block *= kMul;
    hash ^= block;
    hash *= kMul;
  }
  const size_t rest = size & 7;
  if (rest != 0) {
    const auto* tail = reinterpret_cast<const unsigned char*>(bytes + blocks * 8);
    for (size_t i = rest; i-- > 0;) hash ^= static_cast<uint64_t>(tail[i]) << (8 * i);
    hash *= kMul;
  }
  hash ^= hash >> kShift;
  hash *= kMul;
  hash ^= hash >> kShift;
  return hash;
}

uint64_t hashKey(std::string_view key) noexcept { return hashBytes(key, kKeySeed); }

}  // namespace sg::lb
