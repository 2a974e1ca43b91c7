// A flood of a million distinct keys: the key table allocates exactly its advertised bytes
// once, at construction, and nothing afterwards; it never holds more than max_keys; both kinds
// of eviction happen; and keys being limited keep their state throughout. Allocations are
// counted by replacing the global operator new for this test binary.
#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include "ratelimit/rate_limiter.h"
#include "ratelimit/test_support.h"

namespace {
std::atomic<uint64_t> allocation_count{0};
std::atomic<uint64_t> allocated_bytes{0};

void* countedAllocation(std::size_t size, std::size_t alignment) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  allocated_bytes.fetch_add(size, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* memory = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    memory = std::malloc(size);
  } else if (posix_memalign(&memory, alignment, size) != 0) {
    memory = nullptr;
  }
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}
}  // namespace

void* operator new(std::size_t size) { return countedAllocation(size, 0); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return countedAllocation(size, static_cast<std::size_t>(alignment));
}
// The array forms too: under AddressSanitizer they would not reach the ones above.
void* operator new[](std::size_t size) { return countedAllocation(size, 0); }
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return countedAllocation(size, static_cast<std::size_t>(alignment));
}
void operator delete[](void* memory) noexcept { std::free(memory); }
void operator delete[](void* memory, std::size_t /*size*/) noexcept { std::free(memory); }
void operator delete[](void* memory, std::align_val_t /*alignment*/) noexcept { std::free(memory); }
void operator delete[](void* memory, std::size_t /*size*/,
                       std::align_val_t /*alignment*/) noexcept {
  std::free(memory);
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t /*size*/) noexcept { std::free(memory); }
void operator delete(void* memory, std::align_val_t /*alignment*/) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t /*size*/, std::align_val_t /*alignment*/) noexcept {
  std::free(memory);
}

namespace sg::ratelimit {
namespace {

using testing::limitConfig;

constexpr uint64_t kMaxKeys = 10'000;
constexpr int kHotKeys = 16;
constexpr uint64_t kFloodKeys = 1'000'000;

struct Allocations {
  uint64_t count = allocation_count.load();
  uint64_t bytes = allocated_bytes.load();
  Allocations since() const {
    return {allocation_count.load() - count, allocated_bytes.load() - bytes};
  }
};

std::string_view hotKey(int index, char (&buffer)[32]) {
  const std::string_view prefix = "hot-";
  prefix.copy(buffer, prefix.size());
  char* end = std::to_chars(buffer + prefix.size(), buffer + sizeof buffer, index).ptr;
  return {buffer, static_cast<size_t>(end - buffer)};
}

// "10.a.b.c" for a flood index, built without allocating.
std::string_view floodKey(uint64_t index, char (&buffer)[32]) {
  char* out = buffer;
  *out++ = '1';
  *out++ = '0';
  for (int shift = 16; shift >= 0; shift -= 8) {
    *out++ = '.';
    out = std::to_chars(out, buffer + sizeof buffer, (index >> shift) & 0xff).ptr;
  }
  return {buffer, static_cast<size_t>(out - buffer)};
}

TEST(Flood, ConstructionAllocatesExactlyTheAdvertisedBytes) {
  const Allocations before;
  const RateLimiter limiter(limitConfig(Algorithm::kGcra, 10, 1000, 0, 100'000));
  const Allocations used = before.since();
  EXPECT_EQ(used.bytes, limiter.stats().bytes);
  EXPECT_EQ(used.count, 2u);  // the shards and the sets
  EXPECT_LE(limiter.stats().bytes, 100'000u * 32 + 64 * 64);
}

class FloodTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(FloodTest, MillionDistinctKeysStayWithinBoundsAndHotKeysKeepTheirState) {
  config::RateLimitConfig config = limitConfig(GetParam(), 5, 1, 5, kMaxKeys);  // 5 per ms
  char buffer[32];
  for (int i = 0; i < kHotKeys; ++i) {
    config.tiers[std::string(hotKey(i, buffer))] = {testing::rate(1, 3'600'000), 1};
  }
  const Allocations before_construction;
  RateLimiter limiter(config);
  const uint64_t construction_bytes = before_construction.since().bytes;
  const TableStats initial = limiter.stats();
  EXPECT_GE(construction_bytes, initial.bytes);
  EXPECT_LE(construction_bytes, initial.bytes + kHotKeys * 256);  // plus the tier list
  EXPECT_LE(initial.bytes, kMaxKeys * 32 + 64 * 64);
  EXPECT_LE(initial.capacity, kMaxKeys);

  // Hot keys: one request each, then they are limited for an hour.
  for (int i = 0; i < kHotKeys; ++i) ASSERT_TRUE(limiter.check(hotKey(i, buffer), 0).allowed);

  const Allocations before_flood;
  uint64_t flood_allowed = 0;
  uint64_t hot_allowed = 0;
  int64_t now = 0;
  for (uint64_t i = 0; i < kFloodKeys; ++i) {
    // First half: 100 new keys per microsecond, faster than entries go idle (forced
    // evictions). Second half: one per microsecond, slower (idle evictions).
    now += i < kFloodKeys / 2 ? (i % 100 == 0) : 1;
    flood_allowed += limiter.check(floodKey(i, buffer), now).allowed;
    if (i % 1000 == 0) {
      for (int h = 0; h < kHotKeys; ++h)
        hot_allowed += limiter.check(hotKey(h, buffer), now).allowed;
    }
  }
  const Allocations flood = before_flood.since();
  EXPECT_EQ(flood.count, 0u) << "the table must not grow";
  EXPECT_EQ(flood.bytes, 0u);
  EXPECT_EQ(flood_allowed, kFloodKeys);  // every flood key is new
  EXPECT_EQ(hot_allowed, 0u) << "a limited key lost its state";

  const TableStats stats = limiter.stats();
  EXPECT_EQ(stats.bytes, initial.bytes);
  EXPECT_LE(stats.keys, stats.capacity);
  EXPECT_EQ(stats.keys + stats.idle_evictions + stats.forced_evictions, kFloodKeys + kHotKeys);
  EXPECT_GT(stats.idle_evictions, kFloodKeys / 4);
  EXPECT_GT(stats.forced_evictions, kFloodKeys / 4);
  // And the hot keys' limit does end: an hour later they pass again.
  for (int h = 0; h < kHotKeys; ++h) {
    EXPECT_TRUE(limiter.check(hotKey(h, buffer), 2LL * 3600 * testing::kSecond).allowed);
  }
}

INSTANTIATE_TEST_SUITE_P(Ratelimit, FloodTest, ::testing::ValuesIn(testing::kAllAlgorithms),
                         testing::paramName);

}  // namespace
}  // namespace sg::ratelimit
