#include "pg/scatter/binary_value.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "pg/scatter/column_value.h"

namespace sg::pg::scatter {
namespace {

std::string bigEndian(uint64_t value, size_t bytes) {
  std::string out;
  for (size_t i = bytes; i-- > 0;) out.push_back(static_cast<char>((value >> (i * 8)) & 0xFF));
  return out;
}

std::string int4(int32_t v) { return bigEndian(static_cast<uint32_t>(v), 4); }
std::string int8(int64_t v) { return bigEndian(static_cast<uint64_t>(v), 8); }
std::string float8(double v) { return bigEndian(std::bit_cast<uint64_t>(v), 8); }
std::string float4(float v) { return bigEndian(std::bit_cast<uint32_t>(v), 4); }

// numeric_send's layout: ndigits, weight, sign, dscale, then base-10000 digits.
std::string numeric(int16_t weight, uint16_t sign, int16_t dscale,
                    std::initializer_list<uint16_t> digits) {
  std::string out = bigEndian(digits.size(), 2) + bigEndian(static_cast<uint16_t>(weight), 2) +
                    bigEndian(sign, 2) + bigEndian(static_cast<uint16_t>(dscale), 2);
  for (const uint16_t d : digits) out += bigEndian(d, 2);
  return out;
}

TEST(BinaryValueTest, IntegersDatesAndTimesCompareAsSignedNumbers) {
  EXPECT_LT(compareBinaryValues(type_oid::kInt4, int4(-10), int4(9)), 0);
  EXPECT_GT(compareBinaryValues(type_oid::kInt8, int8(1), int8(INT64_MIN)), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kInt2, bigEndian(0xFFFF, 2), bigEndian(1, 2)), 0);
  EXPECT_GT(compareBinaryValues(type_oid::kOid, bigEndian(0xFFFFFFFF, 4), int4(1)), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kDate, int4(-1), int4(0)), 0);  // 1999-12-31
  EXPECT_LT(compareBinaryValues(type_oid::kTimestamptz, int8(INT64_MIN), int8(-5)), 0);
  EXPECT_EQ(compareBinaryValues(type_oid::kTime, int8(7), int8(7)), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kBool, std::string(1, '\0'), "\1"), 0);
}

TEST(BinaryValueTest, FloatsOrderNaNGreatestAndNegativeZeroAsZero) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(compareBinaryValues(type_oid::kFloat8, float8(-0.0), float8(0.0)), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kFloat8, float8(-2.5), float8(-1)), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kFloat8, float8(inf), float8(nan)), 0);
  EXPECT_EQ(compareBinaryValues(type_oid::kFloat8, float8(nan), float8(-nan)), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kFloat4, float4(-inf), float4(-1e30f)), 0);
  EXPECT_GT(compareBinaryValues(type_oid::kFloat4, float4(std::nanf("")), float4(1)), 0);
}

TEST(BinaryValueTest, TextAndUuidCompareBytewise) {
  EXPECT_LT(compareBinaryValues(type_oid::kText, "Zebra", "apple"), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kVarchar, "app", "apple"), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kName, "z", "\xc3\xa9"), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kUuid, std::string(16, '\x7f'), std::string(16, '\x80')),
            0);
}

TEST(BinaryValueTest, NumericsDecodeToTheirText) {
  EXPECT_EQ(binaryToText(type_oid::kNumeric, numeric(0, 0, 0, {})), "0");
  EXPECT_EQ(binaryToText(type_oid::kNumeric, numeric(0, 0, 3, {})), "0.000");
  EXPECT_EQ(binaryToText(type_oid::kNumeric, numeric(0, 0x4000, 2, {12, 3400})), "-12.34");
  EXPECT_EQ(binaryToText(type_oid::kNumeric, numeric(-1, 0, 3, {10})), "0.001");
  EXPECT_EQ(binaryToText(type_oid::kNumeric, numeric(-2, 0, 6, {1200})), "0.000012");
  EXPECT_EQ(binaryToText(type_oid::kNumeric, numeric(4, 0, 0, {12, 3456})), "123456000000000000");
  EXPECT_EQ(binaryToText(type_oid::kNumeric, numeric(0, 0xC000, 0, {})), "NaN");
  EXPECT_EQ(binaryToText(type_oid::kNumeric, numeric(0, 0xD000, 0, {})), "Infinity");
  EXPECT_EQ(binaryToText(type_oid::kNumeric, numeric(0, 0xF000, 0, {})), "-Infinity");
  EXPECT_FALSE(binaryToText(type_oid::kNumeric, "\0\1\0\0\0\0\0\0"));  // a digit missing
}

TEST(BinaryValueTest, NumericTextEncodesAsNumericSendWould) {
  EXPECT_EQ(textToBinary(type_oid::kNumeric, "0"), numeric(0, 0, 0, {}));
  EXPECT_EQ(textToBinary(type_oid::kNumeric, "0.00"), numeric(0, 0, 2, {}));
  EXPECT_EQ(textToBinary(type_oid::kNumeric, "-12.34"), numeric(0, 0x4000, 2, {12, 3400}));
  EXPECT_EQ(textToBinary(type_oid::kNumeric, "10000"), numeric(1, 0, 0, {1}));
  EXPECT_EQ(textToBinary(type_oid::kNumeric, "0.0010"), numeric(-1, 0, 4, {10}));
  EXPECT_EQ(textToBinary(type_oid::kNumeric, "NaN"), numeric(0, 0xC000, 0, {}));
  EXPECT_EQ(textToBinary(type_oid::kNumeric, "-Infinity"), numeric(0, 0xF000, 0, {}));
  EXPECT_FALSE(textToBinary(type_oid::kNumeric, "1e5"));
  for (const char* text : {"12345678901234567890.123456789", "-0.5", "100.10", "7", "-3",
                           "0.00000000000000001", "99999999.9999"}) {
    const std::optional<std::string> binary = textToBinary(type_oid::kNumeric, text);
    ASSERT_TRUE(binary) << text;
    EXPECT_EQ(binaryToText(type_oid::kNumeric, *binary), text);
  }
}

TEST(BinaryValueTest, NumericsCompareByValue) {
  const auto n = [](const char* text) { return *textToBinary(type_oid::kNumeric, text); };
  EXPECT_EQ(compareBinaryValues(type_oid::kNumeric, n("1.0"), n("1.00")), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kNumeric, n("9.99"), n("10")), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kNumeric, n("-100"), n("-0.5")), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kNumeric, n("Infinity"), n("NaN")), 0);
  EXPECT_LT(compareBinaryValues(type_oid::kNumeric, n("-Infinity"), n("-99")), 0);
}

TEST(BinaryValueTest, IntegersAndFloatsRoundTripThroughText) {
  EXPECT_EQ(binaryToText(type_oid::kInt2, bigEndian(0xFFFE, 2)), "-2");
  EXPECT_EQ(binaryToText(type_oid::kInt4, int4(INT32_MIN)), "-2147483648");
  EXPECT_EQ(binaryToText(type_oid::kInt8, int8(INT64_MAX)), "9223372036854775807");
  EXPECT_EQ(binaryToText(type_oid::kOid, bigEndian(4000000000u, 4)), "4000000000");
  EXPECT_EQ(binaryToText(type_oid::kFloat8, float8(0.1)), "0.1");
  EXPECT_EQ(binaryToText(type_oid::kFloat4, float4(1.5f)), "1.5");
  EXPECT_FALSE(binaryToText(type_oid::kInt4, "\0\0\1"));
  EXPECT_EQ(textToBinary(type_oid::kInt8, "-1"), int8(-1));
  EXPECT_EQ(textToBinary(type_oid::kFloat8, "-0"), float8(-0.0));
  EXPECT_EQ(textToBinary(type_oid::kFloat4, "0.1"), float4(0.1f));
  EXPECT_EQ(textToBinary(type_oid::kFloat8, *binaryToText(type_oid::kFloat8, float8(1e300 / 7))),
            float8(1e300 / 7));
  EXPECT_FALSE(textToBinary(type_oid::kText, "x"));
}

}  // namespace
}  // namespace sg::pg::scatter
