#pragma once
// Generates X-Request-Id values: random UUID v4 text from a per-worker generator
// (splitmix64 seeded from the OS), so generating one costs a few nanoseconds.
#include <cstdint>
#include <string_view>

#include "proxy/split_mix.h"

namespace sg::proxy {

class RequestIdGenerator {
 public:
  static constexpr size_t kLength = 36;
  explicit RequestIdGenerator(uint64_t seed);
  // Writes a new id into `out` (kLength bytes) and returns a view of it.
  std::string_view next(char (&out)[kLength]);

 private:
  SplitMix64 random_;
};

uint64_t osRandomSeed();

}  // namespace sg::proxy
