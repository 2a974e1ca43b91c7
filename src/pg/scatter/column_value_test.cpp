#include "pg/scatter/column_value.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sg::pg::scatter {
namespace {

TEST(ColumnValueTest, OrdersByType) {
  EXPECT_EQ(valueOrderOf(type_oid::kInt4), ValueOrder::kInteger);
  EXPECT_EQ(valueOrderOf(type_oid::kFloat8), ValueOrder::kFloat);
  EXPECT_EQ(valueOrderOf(type_oid::kNumeric), ValueOrder::kNumeric);
  EXPECT_EQ(valueOrderOf(type_oid::kVarchar), ValueOrder::kBytes);
  EXPECT_EQ(valueOrderOf(type_oid::kTimestamptz), ValueOrder::kTimestamp);
  EXPECT_EQ(valueOrderOf(114), ValueOrder::kUnsupported);  // json
  EXPECT_LT(compareValues(ValueOrder::kInteger, "-10", "9"), 0);
  EXPECT_GT(compareValues(ValueOrder::kInteger, "4294967295", "2147483647"), 0);
  EXPECT_LT(compareValues(ValueOrder::kFloat, "-Infinity", "-1e+300"), 0);
  EXPECT_LT(compareValues(ValueOrder::kFloat, "Infinity", "NaN"), 0);  // NaN sorts last
  EXPECT_EQ(compareValues(ValueOrder::kFloat, "NaN", "NaN"), 0);
  EXPECT_EQ(compareValues(ValueOrder::kFloat, "-0", "0"), 0);
  EXPECT_LT(compareValues(ValueOrder::kNumeric, "9.99", "10"), 0);
  EXPECT_LT(compareValues(ValueOrder::kBytes, "Zebra", "apple"), 0);  // C collation
  EXPECT_LT(compareValues(ValueOrder::kBytes, "app", "apple"), 0);
  EXPECT_LT(compareValues(ValueOrder::kBytes, "z", "\xc3\xa9"), 0);  // bytes, unsigned
  EXPECT_LT(compareValues(ValueOrder::kBool, "f", "t"), 0);
}

TEST(ColumnValueTest, TimestampsCompareAsInstants) {
  const ValueOrder order = ValueOrder::kTimestamp;
  EXPECT_LT(compareValues(order, "2024-01-31", "2024-02-01"), 0);
  EXPECT_LT(compareValues(order, "9999-12-31", "10000-01-01"), 0);  // text order says otherwise
  EXPECT_LT(compareValues(order, "0044-03-15 BC", "0001-01-01"), 0);
  EXPECT_LT(compareValues(order, "0100-01-01 BC", "0044-03-15 BC"), 0);
  EXPECT_LT(compareValues(order, "-infinity", "0100-01-01 BC"), 0);
  EXPECT_GT(compareValues(order, "infinity", "294276-12-31 23:59:59.999999"), 0);
  EXPECT_LT(compareValues(order, "2024-03-01 10:00:00", "2024-03-01 10:00:00.5"), 0);
  // The fall-back hour: 01:15+01 is 00:15 UTC, after 01:30+02 (23:30 UTC the day before).
  EXPECT_GT(compareValues(order, "2024-10-27 01:15:00+01", "2024-10-27 01:30:00+02"), 0);
  EXPECT_EQ(compareValues(order, "2024-01-01 05:30:00+05:30", "2024-01-01 00:00:00+00"), 0);
  EXPECT_EQ(compareValues(order, "1883-11-18 12:00:00-04:56:02", "1883-11-18 16:56:02+00"), 0);
}

TEST(ColumnValueTest, FloatsPrintLikePostgres) {
  EXPECT_EQ(formatFloat8(0.1), "0.1");
  EXPECT_EQ(formatFloat8(16), "16");
  EXPECT_EQ(formatFloat8(-0.0), "-0");
  EXPECT_EQ(formatFloat8(123456789012345.0), "123456789012345");
  EXPECT_EQ(formatFloat8(1e15), "1e+15");
  EXPECT_EQ(formatFloat8(0.0001), "0.0001");
  EXPECT_EQ(formatFloat8(0.00001), "1e-05");
  EXPECT_EQ(formatFloat8(1.888946593147858e+22), "1.888946593147858e+22");
  EXPECT_EQ(formatFloat8(1.5e300), "1.5e+300");
  EXPECT_EQ(formatFloat8(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(formatFloat8(std::nan("")), "NaN");
  EXPECT_EQ(formatFloat8(-HUGE_VAL), "-Infinity");
  EXPECT_EQ(formatFloat4(0.1f), "0.1");
  EXPECT_EQ(formatFloat4(123456.0f), "123456");
  EXPECT_EQ(formatFloat4(1e6f), "1e+06");
  EXPECT_EQ(formatFloat4(241172480.0f), "2.4117248e+08");
  EXPECT_EQ(parseFloat8("1e-05"), 0.00001);
  EXPECT_TRUE(std::isnan(*parseFloat8("NaN")));
  EXPECT_FALSE(parseFloat8("1x"));
  EXPECT_EQ(parseInt64("-9223372036854775808"), INT64_MIN);
  EXPECT_FALSE(parseInt64("9223372036854775808"));
}

}  // namespace
}  // namespace sg::pg::scatter
