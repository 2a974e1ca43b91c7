#pragma once
// Key hashing for the key table. SipHash is a keyed hash: with a secret seed, a client who
// picks its own keys (a header value) cannot aim them at one table set or at someone
// else's bucket, which fixed-seed hashes such as MurmurHash cannot promise.
#include <cstdint>
#include <string_view>

namespace sg::ratelimit {

struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

// SipHash-c-d (Aumasson and Bernstein) over `data`, little-endian reading.
uint64_t sipHash(const SipKey& key, std::string_view data, int compression_rounds,
                 int finalization_rounds) noexcept;

// What the limiter uses: SipHash-1-3 (as Rust's HashMap) keyed from `seed`.
SipKey sipKeyFromSeed(uint64_t seed) noexcept;
inline uint64_t hashKey(const SipKey& key, std::string_view data) noexcept {
  return sipHash(key, data, 1, 3);
}

}  // namespace sg::ratelimit
