#include "pg/scatter/numeric_text.h"

#include <gtest/gtest.h>

namespace sg::pg::scatter {
namespace {

NumericText n(const char* text) {
  const std::optional<NumericText> value = NumericText::parse(text);
  EXPECT_TRUE(value) << text;
  return value.value_or(NumericText());
}

std::string sum(const char* a, const char* b) { return NumericText::add(n(a), n(b)).toString(); }
std::string quotient(const char* a, const char* b) {
  const std::optional<NumericText> q = NumericText::divide(n(a), n(b));
  return q ? q->toString() : "error";
}

TEST(NumericTextTest, ParsesAndPrintsNumericOutForms) {
  for (const char* text : {"0", "1", "-1", "0.5", "-0.001", "123.4500", "NaN", "Infinity",
                           "-Infinity", "12345678901234567890.123456789"}) {
    EXPECT_EQ(n(text).toString(), text);
  }
  EXPECT_EQ(n("-0.00").toString(), "0.00");
  EXPECT_EQ(n("007.10").toString(), "7.10");
  for (const char* bad : {"", "-", ".", "1e5", "abc", "1.2.3", "+1", " 1"}) {
    EXPECT_FALSE(NumericText::parse(bad)) << bad;
  }
  EXPECT_EQ(NumericText::fromInt(-9223372036854775807LL - 1).toString(), "-9223372036854775808");
}

TEST(NumericTextTest, AddsWithTheLargerScale) {
  EXPECT_EQ(sum("1.5", "2.25"), "3.75");
  EXPECT_EQ(sum("1.50", "2"), "3.50");
  EXPECT_EQ(sum("-3", "0.001"), "-2.999");
  EXPECT_EQ(sum("100.10", "-100.1"), "0.00");
  EXPECT_EQ(sum("-0.5", "-0.25"), "-0.75");
  EXPECT_EQ(sum("99999999999999999999", "1"), "100000000000000000000");
  EXPECT_EQ(sum("NaN", "1"), "NaN");
  EXPECT_EQ(sum("Infinity", "1"), "Infinity");
  EXPECT_EQ(sum("Infinity", "-Infinity"), "NaN");
  EXPECT_EQ(sum("-Infinity", "-Infinity"), "-Infinity");
}

TEST(NumericTextTest, ComparesLikeNumericCmp) {
  EXPECT_LT(NumericText::compare(n("-2"), n("-1.5")), 0);
  EXPECT_EQ(NumericText::compare(n("1.0"), n("1.000")), 0);
  EXPECT_GT(NumericText::compare(n("10"), n("9.99")), 0);
  EXPECT_LT(NumericText::compare(n("-0.001"), n("0")), 0);
  EXPECT_GT(NumericText::compare(n("NaN"), n("Infinity")), 0);
  EXPECT_EQ(NumericText::compare(n("NaN"), n("NaN")), 0);
  EXPECT_LT(NumericText::compare(n("-Infinity"), n("-99999999999999999999")), 0);
}

// Expected values are PostgreSQL 15's numeric_div output (select a::numeric / b).
TEST(NumericTextTest, DividesWithSelectDivScale) {
  EXPECT_EQ(quotient("10", "3"), "3.3333333333333333");
  EXPECT_EQ(quotient("1", "3"), "0.33333333333333333333");
  EXPECT_EQ(quotient("2", "3"), "0.66666666666666666667");
  EXPECT_EQ(quotient("-2", "3"), "-0.66666666666666666667");
  EXPECT_EQ(quotient("-7", "2"), "-3.5000000000000000");
  EXPECT_EQ(quotient("98.85", "4"), "24.7125000000000000");
  EXPECT_EQ(quotient("0.001", "3"), "0.00033333333333333333");
  EXPECT_EQ(quotient("230", "56"), "4.1071428571428571");
  EXPECT_EQ(quotient("10000", "3"), "3333.3333333333333333");
  EXPECT_EQ(quotient("9999", "3"), "3333.0000000000000000");
  EXPECT_EQ(quotient("1.123456789012345678901", "1"), "1.123456789012345678901");
  EXPECT_EQ(quotient("0", "7"), "0.00000000000000000000");
  EXPECT_EQ(quotient("1", "0"), "error");
  EXPECT_EQ(quotient("NaN", "2"), "NaN");
  EXPECT_EQ(quotient("Infinity", "-2"), "-Infinity");
}

TEST(NumericTextTest, DivisionScaleFollowsTheBaseTenThousandWeights) {
  EXPECT_EQ(NumericText::divisionScale(n("1"), n("3")), 20);
  EXPECT_EQ(NumericText::divisionScale(n("10"), n("3")), 16);
  EXPECT_EQ(NumericText::divisionScale(n("12345"), n("3")), 16);  // leading groups 1 and 3
  EXPECT_EQ(NumericText::divisionScale(n("1.5"), n("100000")), 24);
  EXPECT_EQ(NumericText::divisionScale(n("1.12345678901234567890123"), n("1")), 23);
}

}  // namespace
}  // namespace sg::pg::scatter
