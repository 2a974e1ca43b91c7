#pragma once
// Internal to lb: a small, fast, seedable random number generator (SplitMix64, Steele et
// al.), so that each worker has its own stream and tests are repeatable.
#include <cstdint>

namespace sg::lb {

class Rng {
 public:
  explicit Rng(uint64_t seed) noexcept : state_(seed) {}

  uint64_t next() noexcept {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound) for bound > 0, by multiply-shift (Lemire) instead of a division;
  // the bias is below bound / 2^64.
  uint64_t below(uint64_t bound) noexcept {
    return static_cast<uint64_t>((static_cast<Uint128>(next()) * bound) >> 64);
  }

 private:
  __extension__ typedef unsigned __int128 Uint128;  // NOLINT(modernize-use-using)
  uint64_t state_;
};

}  // namespace sg::lb
