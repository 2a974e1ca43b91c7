#include "pg/lag_monitor.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "pg/wire.h"

namespace sg::pg {
namespace {

// A DataRow's payload: the column count, then each value (nullopt: NULL).
std::string row(const std::vector<std::optional<std::string>>& values) {
  std::string out;
  appendInt16(&out, static_cast<int16_t>(values.size()));
  for (const auto& value : values) {
    appendInt32(&out, value ? static_cast<int32_t>(value->size()) : -1);
    if (value) out += *value;
  }
  return out;
}

TEST(LagMonitorReading, StandbyAndPrimaryRows) {
  LagMonitor::Reading reading;
  ASSERT_TRUE(LagMonitor::parseReading(row({"t", "0/3000148", "1520"}), &reading));
  EXPECT_TRUE(reading.in_recovery);
  EXPECT_EQ(reading.lsn, 0x3000148u);
  EXPECT_EQ(reading.replay_age_ms, 1520);

  ASSERT_TRUE(LagMonitor::parseReading(row({"f", "16/B374D848", std::nullopt}), &reading));
  EXPECT_FALSE(reading.in_recovery);
  EXPECT_EQ(reading.lsn, 0x16B374D848u);
  EXPECT_EQ(reading.replay_age_ms, -1);  // a primary replays nothing

  // A standby that has replayed nothing yet, and a clock a little behind the primary's.
  ASSERT_TRUE(LagMonitor::parseReading(row({"t", std::nullopt, "-3"}), &reading));
  EXPECT_EQ(reading.lsn, 0u);
  EXPECT_EQ(reading.replay_age_ms, 0);
}

TEST(LagMonitorReading, MalformedRowsAreRefused) {
  LagMonitor::Reading reading;
  EXPECT_FALSE(LagMonitor::parseReading(row({"t", "0/1"}), &reading));
  EXPECT_FALSE(LagMonitor::parseReading(row({"yes", "0/1", "1"}), &reading));
  EXPECT_FALSE(LagMonitor::parseReading(row({std::nullopt, "0/1", "1"}), &reading));
  EXPECT_FALSE(LagMonitor::parseReading(row({"t", "nowhere", "1"}), &reading));
  EXPECT_FALSE(LagMonitor::parseReading(row({"t", "0/1", "1.5"}), &reading));
  EXPECT_FALSE(LagMonitor::parseReading("", &reading));
  std::string truncated = row({"t", "0/1", "12"});
  truncated.pop_back();
  EXPECT_FALSE(LagMonitor::parseReading(truncated, &reading));
}

}  // namespace
}  // namespace sg::pg
