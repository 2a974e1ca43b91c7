// Decoding key values as PostgreSQL 15's input and receive functions do, and each refusal with
// the SQLSTATE PostgreSQL gives for the same input.
#include "pg/shard/key_value.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sg::pg::shard {
namespace {

KeyValue decoded(KeyType type, std::string_view text, Format format = Format::kText) {
  auto result = decodeKey(type, text, format);
  if (auto* error = std::get_if<KeyError>(&result)) {
    ADD_FAILURE() << text << ": " << error->sqlstate << " " << error->message;
    return {};
  }
  return std::get<KeyValue>(result);
}

std::string sqlstateOf(KeyType type, std::string_view text, Format format = Format::kText) {
  auto result = decodeKey(type, text, format);
  if (auto* error = std::get_if<KeyError>(&result)) return error->sqlstate;
  return "ok";
}

TEST(KeyValue, TypeNamesAndAliases) {
  KeyType type{};
  ASSERT_TRUE(parseKeyType("int8", &type));
  EXPECT_EQ(type, KeyType::kBigint);
  ASSERT_TRUE(parseKeyType("character varying", &type));
  EXPECT_EQ(type, KeyType::kText);
  ASSERT_TRUE(parseKeyType("int", &type));
  EXPECT_EQ(keyTypeName(type), "integer");
  EXPECT_FALSE(parseKeyType("numeric", &type));
  EXPECT_FALSE(parseKeyType("BIGINT", &type));
}

TEST(KeyValue, IntegersInText) {
  EXPECT_EQ(decoded(KeyType::kBigint, "42").integer, 42);
  EXPECT_EQ(decoded(KeyType::kBigint, "  -17 \n").integer, -17);
  EXPECT_EQ(decoded(KeyType::kBigint, "+5").integer, 5);
  EXPECT_EQ(decoded(KeyType::kBigint, "-9223372036854775808").integer, INT64_MIN);
  EXPECT_EQ(decoded(KeyType::kBigint, "9223372036854775807").integer, INT64_MAX);
  EXPECT_EQ(decoded(KeyType::kInteger, "-2147483648").integer, INT32_MIN);
  EXPECT_EQ(decoded(KeyType::kSmallint, "32767").integer, 32767);
  EXPECT_EQ(decoded(KeyType::kBigint, "007").integer, 7);
}

TEST(KeyValue, IntegerRefusals) {
  EXPECT_EQ(sqlstateOf(KeyType::kBigint, "9223372036854775808"), "22003");
  EXPECT_EQ(sqlstateOf(KeyType::kBigint, "-9223372036854775809"), "22003");
  EXPECT_EQ(sqlstateOf(KeyType::kBigint, "99999999999999999999999"), "22003");
  EXPECT_EQ(sqlstateOf(KeyType::kInteger, "2147483648"), "22003");
  EXPECT_EQ(sqlstateOf(KeyType::kSmallint, "-32769"), "22003");
  for (const char* bad : {"", " ", "-", "1.5", "1e3", "0x10", "12abc", "1 2", "1_000", "ä"})
    EXPECT_EQ(sqlstateOf(KeyType::kBigint, bad), "22P02") << bad;
  auto result = decodeKey(KeyType::kBigint, "abc", Format::kText);
  EXPECT_EQ(std::get<KeyError>(result).message, "invalid input syntax for type bigint: \"abc\"");
  result = decodeKey(KeyType::kInteger, "3000000000", Format::kText);
  EXPECT_EQ(std::get<KeyError>(result).message,
            "value \"3000000000\" is out of range for type integer");
}

TEST(KeyValue, IntegersInBinaryOfEveryWidth) {
  EXPECT_EQ(decoded(KeyType::kBigint, std::string("\xff\xfe", 2), Format::kBinary).integer, -2);
  EXPECT_EQ(decoded(KeyType::kBigint, std::string("\x00\x01\x00\x00", 4), Format::kBinary).integer,
            65536);
  EXPECT_EQ(
      decoded(KeyType::kBigint, std::string("\x80\0\0\0\0\0\0\0", 8), Format::kBinary).integer,
      INT64_MIN);
  EXPECT_EQ(decoded(KeyType::kSmallint, std::string("\0\0\0\x05", 4), Format::kBinary).integer, 5);
  EXPECT_EQ(sqlstateOf(KeyType::kSmallint, std::string("\0\1\0\0", 4), Format::kBinary), "22003");
  EXPECT_EQ(sqlstateOf(KeyType::kBigint, std::string("\0\0\1", 3), Format::kBinary), "22P03");
  EXPECT_EQ(sqlstateOf(KeyType::kBigint, "", Format::kBinary), "22P03");
}

TEST(KeyValue, TextIsItsBytes) {
  EXPECT_EQ(decoded(KeyType::kText, " eu ").bytes, " eu ");
  EXPECT_EQ(decoded(KeyType::kText, "").bytes, "");
  EXPECT_EQ(decoded(KeyType::kText, "\xe2\x9c\x93", Format::kBinary).bytes, "\xe2\x9c\x93");
  EXPECT_EQ(sqlstateOf(KeyType::kText, std::string("a\0b", 3), Format::kBinary), "22021");
}

TEST(KeyValue, UuidSpellings) {
  const std::string expected("\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11",
                             16);
  for (const char* text :
       {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}"})
    EXPECT_EQ(decoded(KeyType::kUuid, text).bytes, expected) << text;
  EXPECT_EQ(decoded(KeyType::kUuid, expected, Format::kBinary).bytes, expected);
  for (const char* bad :
       {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11",
        " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"})
    EXPECT_EQ(sqlstateOf(KeyType::kUuid, bad), "22P02") << bad;
  EXPECT_EQ(sqlstateOf(KeyType::kUuid, "0123456789abcdef0", Format::kBinary), "22P03");
  EXPECT_EQ(formatKey(KeyType::kUuid, KeyValue{0, expected}),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
}

TEST(KeyValue, Booleans) {
  for (const char* yes : {"t", "TRUE", "tr", " yes ", "y", "on", "1"})
    EXPECT_EQ(decoded(KeyType::kBoolean, yes).integer, 1) << yes;
  for (const char* no : {"f", "False", "n", "NO", "off", "of", "0"})
    EXPECT_EQ(decoded(KeyType::kBoolean, no).integer, 0) << no;
  for (const char* bad : {"o", "", "2", "yess", "truth"})
    EXPECT_EQ(sqlstateOf(KeyType::kBoolean, bad), "22P02") << bad;
  EXPECT_EQ(decoded(KeyType::kBoolean, "\x01", Format::kBinary).integer, 1);
  EXPECT_EQ(decoded(KeyType::kBoolean, std::string("\0", 1), Format::kBinary).integer, 0);
}

TEST(KeyValue, DatesAsDaysSince2000) {
  EXPECT_EQ(decoded(KeyType::kDate, "2000-01-01").integer, 0);
  EXPECT_EQ(decoded(KeyType::kDate, "2024-03-01").integer, 8826);
  EXPECT_EQ(decoded(KeyType::kDate, "1999-12-31").integer, -1);
  EXPECT_EQ(decoded(KeyType::kDate, "2024-02-29").integer, 8825);
  EXPECT_EQ(decoded(KeyType::kDate, "infinity").integer, INT32_MAX);
  EXPECT_EQ(decoded(KeyType::kDate, "-infinity").integer, INT32_MIN);
  EXPECT_EQ(sqlstateOf(KeyType::kDate, "2023-02-29"), "22008");
  EXPECT_EQ(sqlstateOf(KeyType::kDate, "2023-13-01"), "22008");
  EXPECT_EQ(sqlstateOf(KeyType::kDate, "March 1, 2024"), "0A000");
  EXPECT_EQ(sqlstateOf(KeyType::kDate, "2024-03-01 10:00"), "0A000");
  EXPECT_EQ(decoded(KeyType::kDate, std::string("\0\0\x22\x7a", 4), Format::kBinary).integer, 8826);
  EXPECT_EQ(formatKey(KeyType::kDate, KeyValue{8826, {}}), "2024-03-01");
  EXPECT_EQ(formatKey(KeyType::kDate, KeyValue{-730119, {}}), "0001-01-01");
}

TEST(KeyValue, TimestampsAsMicrosecondsSince2000) {
  const int64_t day = 86400LL * 1000000;
  EXPECT_EQ(decoded(KeyType::kTimestamp, "2000-01-01").integer, 0);
  EXPECT_EQ(decoded(KeyType::kTimestamp, "2000-01-02 00:00:01.5").integer, day + 1500000);
  EXPECT_EQ(decoded(KeyType::kTimestamp, "1999-12-31T23:59").integer, -60 * 1000000LL);
  EXPECT_EQ(decoded(KeyType::kTimestamp, "2000-01-01 24:00:00").integer, day);
  EXPECT_EQ(decoded(KeyType::kTimestamp, "infinity").integer, INT64_MAX);
  EXPECT_EQ(sqlstateOf(KeyType::kTimestamp, "2000-01-01 25:00"), "22008");
  EXPECT_EQ(sqlstateOf(KeyType::kTimestamp, "2000-01-01 10:00:00+02"), "0A000");
  EXPECT_EQ(sqlstateOf(KeyType::kTimestamp, "2000-01-01 10:00:00.1234567"), "0A000");
  EXPECT_EQ(formatKey(KeyType::kTimestamp, KeyValue{day + 1500000, {}}), "2000-01-02 00:00:01.5");
  EXPECT_EQ(formatKey(KeyType::kTimestamp, KeyValue{-1, {}}), "1999-12-31 23:59:59.999999");
}

TEST(KeyValue, CompareLikeBtree) {
  EXPECT_LT(compareKeys(KeyType::kBigint, KeyValue{-5, {}}, KeyValue{3, {}}), 0);
  EXPECT_EQ(compareKeys(KeyType::kBigint, KeyValue{3, {}}, KeyValue{3, {}}), 0);
  // Bytewise: "Z" < "a" < "é" (0xc3 above every ASCII byte), the "C" collation's order.
  EXPECT_LT(compareKeys(KeyType::kText, KeyValue{0, "Z"}, KeyValue{0, "a"}), 0);
  EXPECT_LT(compareKeys(KeyType::kText, KeyValue{0, "z"}, KeyValue{0, "\xc3\xa9"}), 0);
  EXPECT_LT(compareKeys(KeyType::kText, KeyValue{0, "ab"}, KeyValue{0, "abc"}), 0);
}

TEST(KeyValue, ArbitraryInputIsAValueOrAnError) {
  // Random bytes, digits and separators in both formats for every type: each gives a value or
  // an error with a SQLSTATE, never a crash (this test runs under ASan/UBSan in CI).
  std::mt19937 random(17);
  static constexpr char kByteList[] = "0123456789-+ :.T{}abcdefxyz\xff\x00";
  constexpr std::string_view kBytes(kByteList, sizeof kByteList - 1);  // with the NUL byte
  for (KeyType type : {KeyType::kSmallint, KeyType::kInteger, KeyType::kBigint, KeyType::kText,
                       KeyType::kCharacter, KeyType::kUuid, KeyType::kBoolean, KeyType::kDate,
                       KeyType::kTimestamp}) {
    for (int i = 0; i < 3000; ++i) {
      std::string input(random() % 40, '\0');
      for (char& c : input) c = kBytes[random() % kBytes.size()];
      for (Format format : {Format::kText, Format::kBinary}) {
        auto result = decodeKey(type, input, format);
        if (auto* error = std::get_if<KeyError>(&result)) {
          EXPECT_EQ(error->sqlstate.size(), 5u);
          EXPECT_FALSE(error->message.empty());
        } else {
          formatKey(type, std::get<KeyValue>(result));
        }
      }
    }
  }
}

}  // namespace
}  // namespace sg::pg::shard
