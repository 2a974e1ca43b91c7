// pick() must not allocate: counts global operator new calls around many picks of every
// algorithm, in every mode (slow start ramping, retries, bounded loads, panic, no key).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "lb/test_support.h"

namespace {
std::atomic<uint64_t> allocation_count{0};
}  // namespace

void* operator new(std::size_t size) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t /*size*/) noexcept { std::free(memory); }

namespace sg::lb {
namespace {

class NoAllocation : public ::testing::TestWithParam<Algorithm> {};

TEST_P(NoAllocation, PickNeverAllocates) {
  BalancerOptions options;
  options.slow_start_ms = 1000;
  options.hash_balance_factor = 125;
  std::vector<ServerSpec> servers = testing::weights({1, 2, 3, 4, 5, 6, 7});
  servers.push_back(ServerSpec{2, true, "backup:80"});
  auto balancer = testing::make(GetParam(), servers, options);
  const std::vector<std::vector<uint8_t>> healthy = {{1, 1, 1, 1, 1, 1, 1, 1},
                                                     {1, 0, 1, 1, 0, 1, 1, 1},
                                                     {0, 0, 0, 0, 0, 0, 1, 1},
                                                     {0, 0, 0, 0, 0, 0, 0, 0},
                                                     {0, 0, 0, 0, 0, 0, 0, 1}};
  const std::vector<std::vector<uint8_t>> excluded = {
      {}, {1, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 0}};
  std::vector<uint32_t> in_flight(servers.size(), 0);
  const uint64_t probe_before = allocation_count.load();
  auto probe = std::make_unique<int>(1);  // the counter does see allocations
  ASSERT_EQ(allocation_count.load(), probe_before + 1);
  const uint64_t before = allocation_count.load();
  int picked = 0;
  for (int i = 0; i < 20'000; ++i) {
    const size_t h = (static_cast<size_t>(i) / 1000) % healthy.size();
    const int index = balancer->pick({.healthy = healthy[h],
                                      .excluded = excluded[static_cast<size_t>(i) % 3],
                                      .in_flight = in_flight,
                                      .hash = static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL,
                                      .has_hash = i % 5 != 0,
                                      .now_ms = i / 10});
    if (index >= 0) {
      ++in_flight[static_cast<size_t>(index)];
      ++picked;
    }
  }
  const uint64_t after = allocation_count.load();
  EXPECT_EQ(after - before, 0u);
  EXPECT_GT(picked, 15'000);
}

INSTANTIATE_TEST_SUITE_P(Lb, NoAllocation, ::testing::ValuesIn(testing::kAllAlgorithms));

}  // namespace
}  // namespace sg::lb
