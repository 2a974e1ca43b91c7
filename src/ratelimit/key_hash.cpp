#include "ratelimit/key_hash.h"

#include <cstring>

#include "base/mix64.h"

namespace sg::ratelimit {

namespace {

constexpr uint64_t rotl(uint64_t value, int bits) {
  return (value << bits) | (value >> (64 - bits));
}

struct SipState {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }

  void absorb(uint64_t word, int rounds) {
    v3 ^= word;
    for (int i = 0; i < rounds; ++i) round();
    v0 ^= word;
  }
};

using base::mix64;

}  // namespace

uint64_t sipHash(const SipKey& key, std::string_view data, int compression_rounds,
                 int finalization_rounds) noexcept {
  SipState state{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
                 key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};
  const size_t size = data.size();
  const size_t whole = size & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, data.data() + i, sizeof word);
    state.absorb(word, compression_rounds);
  }
  uint64_t last = static_cast<uint64_t>(size & 0xff) << 56;
  for (size_t i = whole; i < size; ++i) {
    last |= static_cast<uint64_t>(static_cast<unsigned char>(data[i])) << (8 * (i - whole));
  }
  state.absorb(last, compression_rounds);
  state.v2 ^= 0xff;
  for (int i = 0; i < finalization_rounds; ++i) state.round();
  return state.v0 ^ state.v1 ^ state.v2 ^ state.v3;
}

SipKey sipKeyFromSeed(uint64_t seed) noexcept {
  return {mix64(seed ^ 0x9e3779b97f4a7c15ULL), mix64(seed + 0x632be59bd9b4e019ULL)};
}

}  // namespace sg::ratelimit
