#include "proxy/request_id.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sg::proxy {
namespace {

bool isLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::string nextId(RequestIdGenerator* generator) {
  char buffer[RequestIdGenerator::kLength];
  std::string_view id = generator->next(buffer);
  EXPECT_EQ(id.data(), buffer);  // a view of the caller's buffer
  return std::string(id);
}

void expectUuidV4(const std::string& id) {
  ASSERT_EQ(id.size(), 36u) << id;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      EXPECT_EQ(id[i], '-') << id << " at " << i;
    } else {
      EXPECT_TRUE(isLowerHex(id[i])) << id << " at " << i;
    }
  }
  EXPECT_EQ(id[14], '4') << id;  // version nibble
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;  // RFC 4122 variant
}

TEST(RequestId, LengthConstant) { EXPECT_EQ(RequestIdGenerator::kLength, 36u); }

TEST(RequestId, UuidV4Layout) {
  RequestIdGenerator generator(12345);
  for (int i = 0; i < 1000; ++i) expectUuidV4(nextId(&generator));
}

TEST(RequestId, UuidV4LayoutForExtremeSeeds) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}, uint64_t{0x8000000000000000}}) {
    RequestIdGenerator generator(seed);
    for (int i = 0; i < 16; ++i) expectUuidV4(nextId(&generator));
  }
}

TEST(RequestId, ConsecutiveIdsDiffer) {
  RequestIdGenerator generator(42);
  std::string first = nextId(&generator);
  std::string second = nextId(&generator);
  EXPECT_NE(first, second);
}

TEST(RequestId, NoRepeatsInManyIds) {
  RequestIdGenerator generator(7);
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) seen.insert(nextId(&generator));
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(RequestId, SameSeedSameSequence) {
  RequestIdGenerator a(0xDEADBEEF);
  RequestIdGenerator b(0xDEADBEEF);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(nextId(&a), nextId(&b)) << i;
}

TEST(RequestId, DifferentSeedsDifferentSequences) {
  RequestIdGenerator a(1);
  RequestIdGenerator b(2);
  EXPECT_NE(nextId(&a), nextId(&b));
}

TEST(RequestId, RandomBitsAreUsed) {
  // Every hex position other than the fixed version nibble sees more than one value.
  RequestIdGenerator generator(99);
  std::set<char> seen[36];
  for (int i = 0; i < 200; ++i) {
    std::string id = nextId(&generator);
    for (size_t p = 0; p < id.size(); ++p) seen[p].insert(id[p]);
  }
  for (size_t p = 0; p < 36; ++p) {
    if (p == 8 || p == 13 || p == 18 || p == 23 || p == 14) {
      EXPECT_EQ(seen[p].size(), 1u) << p;
    } else if (p == 19) {
      EXPECT_EQ(seen[p].size(), 4u) << p;  // 8, 9, a, b
    } else {
      EXPECT_GT(seen[p].size(), 8u) << p;
    }
  }
}

TEST(RequestId, OsRandomSeedVaries) {
  // Two 64-bit draws from the OS colliding is astronomically unlikely.
  EXPECT_NE(osRandomSeed(), osRandomSeed());
}

}  // namespace
}  // namespace sg::proxy
