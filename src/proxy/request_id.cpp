#include "proxy/request_id.h"

#include <sys/random.h>

#include <chrono>

namespace sg::proxy {

RequestIdGenerator::RequestIdGenerator(uint64_t seed) : random_(seed) {}

std::string_view RequestIdGenerator::next(char (&out)[kLength]) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t high = random_.next();
  uint64_t low = random_.next();
  high = (high & ~0xF000ULL) | 0x4000ULL;              // version 4
  low = (low & ~(0x3ULL << 62)) | (0x2ULL << 62);     // RFC 4122 variant
  size_t pos = 0;
  auto emit = [&](uint64_t value, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) out[pos++] = kHex[(value >> (i * 4)) & 0xF];
  };
  emit(high >> 32, 8);
  out[pos++] = '-';
  emit((high >> 16) & 0xFFFF, 4);
  out[pos++] = '-';
  emit(high & 0xFFFF, 4);
  out[pos++] = '-';
  emit(low >> 48, 4);
  out[pos++] = '-';
  emit(low & 0xFFFFFFFFFFFFULL, 12);
  return {out, kLength};
}

uint64_t osRandomSeed() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
    seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return seed;
}

}  // namespace sg::proxy
