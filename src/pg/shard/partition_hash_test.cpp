// The hash functions against values a PostgreSQL 15 server computed (x86-64), e.g.
//   select hashint8extended(5, 8816678312871386365)   -- the seed is HASH_PARTITION_SEED
// PostgreSQL prints the uint64 as a signed bigint, so the expectations are written that way.
#include "pg/shard/partition_hash.h"

#include <gtest/gtest.h>

#include <string>

namespace sg::pg::shard {
namespace {

int64_t asBigint(uint64_t hash) { return static_cast<int64_t>(hash); }

KeyValue integer(int64_t value) { return KeyValue{value, {}}; }
KeyValue bytes(std::string value) { return KeyValue{0, std::move(value)}; }

TEST(PartitionHash, Int8MatchesPostgres) {
  const struct {
    int64_t value;
    int64_t hash;
  } cases[] = {
      {0, -4403592609991167795},         {1, 5968994663651403477},
      {5, -2840406021921404358},         {-5, 5466844944386338076},
      {2147483648, 4938542303000433043}, {-2147483649, -6050265599104649060},
      {INT64_MAX, 4938542303000433043},  // folds to the same word as 2^31
      {INT64_MIN, -6050265599104649060},
  };
  for (const auto& c : cases)
    EXPECT_EQ(asBigint(hashInt8Extended(c.value, kHashPartitionSeed)), c.hash) << c.value;
}

TEST(PartitionHash, SmallerIntegersHashLikeInt8) {
  // hashint4extended(5) and hashint2extended(-3) of PostgreSQL
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kInteger, integer(5), kHashPartitionSeed)),
            -2840406021921404358);
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kSmallint, integer(-3), kHashPartitionSeed)),
            656044135061257817);
}

TEST(PartitionHash, TextMatchesPostgresForEveryTailLength) {
  const struct {
    std::string text;
    int64_t hash;
  } cases[] = {
      {"", -5700645584453517373},
      {"a", -6705225459120232837},
      {"eu", -9087934104018961455},
      {"hello", -2635279551741001039},
      {"abcdefghijk", -2046435308545367432},
      {"abcdefghijkl", -7876791541613377658},
      {"abcdefghijklm", -6785754114725280077},
      {"abcdefghijklmnopqrstuvwx", -10959101940276370},
      {"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93", -3958577835331020376},  // 17 UTF-8 bytes
  };
  for (const auto& c : cases) {
    EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kText, bytes(c.text), kHashPartitionSeed)), c.hash)
        << c.text;
  }
}

TEST(PartitionHash, CharacterLeavesOutTrailingSpaces) {
  // hashbpcharextended('ab  '::bpchar) = hashtextextended('ab'); ''::bpchar hashes as ''
  auto decoded = decodeKey(KeyType::kCharacter, "ab  ", Format::kText);
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kCharacter, std::get<KeyValue>(decoded),
                                     kHashPartitionSeed)),
            596009030900183869);
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kText, bytes("ab"), kHashPartitionSeed)),
            596009030900183869);
  decoded = decodeKey(KeyType::kCharacter, "   ", Format::kBinary);
  EXPECT_EQ(std::get<KeyValue>(decoded).bytes, "");
}

TEST(PartitionHash, WithoutSeed) {
  // hashtextextended('hello', 0) and hashint8extended(5, 0)
  EXPECT_EQ(asBigint(hashBytesExtended("hello", 0)), 3449563369152288809);
  EXPECT_EQ(asBigint(hashInt8Extended(5, 0)), -9138765687874534020);
}

TEST(PartitionHash, UuidBooleanDateTimestamp) {
  const std::string uuid("\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11", 16);
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kUuid, bytes(uuid), kHashPartitionSeed)),
            424513190990560493);
  EXPECT_EQ(
      asBigint(hashKeyExtended(KeyType::kUuid, bytes(std::string(16, '\0')), kHashPartitionSeed)),
      -5281082146396728638);
  // hashcharextended(1::"char") and (0::"char"): boolean's hash support function
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kBoolean, integer(1), kHashPartitionSeed)),
            5968994663651403477);
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kBoolean, integer(0), kHashPartitionSeed)),
            -4403592609991167795);
  // date '2024-03-01' is day 8826 after 2000-01-01; date '1999-12-31' is day -1
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kDate, integer(8826), kHashPartitionSeed)),
            -5654871005905645476);
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kDate, integer(-1), kHashPartitionSeed)),
            -5017072347659237694);
  // timestamp_hash_extended('2024-03-01 12:34:56.789'), ('1970-01-01'), ('infinity')
  const int64_t micros = (8826LL * 86400 + 12 * 3600 + 34 * 60 + 56) * 1000000 + 789000;
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kTimestamp, integer(micros), kHashPartitionSeed)),
            -270433128185895296);
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kTimestamp, integer(-10957LL * 86400 * 1000000),
                                     kHashPartitionSeed)),
            -3440498327794531266);
  EXPECT_EQ(asBigint(hashKeyExtended(KeyType::kTimestamp, integer(INT64_MAX), kHashPartitionSeed)),
            4938542303000433043);
}

TEST(PartitionHash, CombineStartsFromZero) {
  // One column: the row hash is the column's hash plus the combine constant.
  const uint64_t hash = hashInt8Extended(5, kHashPartitionSeed);
  EXPECT_EQ(addColumn(kEmptyRowHash, KeyType::kBigint, integer(5)), hash + 0x49a0f4dd15e5a8e3ull);
  EXPECT_EQ(hashCombine64(1, 0), 1 ^ (0x49a0f4dd15e5a8e3ull + (1ull << 54)));
}

}  // namespace
}  // namespace sg::pg::shard
