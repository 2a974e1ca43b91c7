// HTTP-date: the three formats of RFC 9110 5.6.7, the rfc850 century rule, rejects.
#include "cache/http_date.h"

#include <gtest/gtest.h>

namespace sg::cache {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

// 1994-11-06 08:49:37 UTC, the RFC's example.
constexpr sys_seconds kExample{seconds{784111777}};
constexpr sys_seconds kNow2024{seconds{1717200000}};

TEST(HttpDate, ParsesTheThreeFormats) {
  struct Case {
    const char* text;
    sys_seconds expected;
  };
  const Case cases[] = {
      {"Sun, 06 Nov 1994 08:49:37 GMT", kExample},
      {"Sunday, 06-Nov-94 08:49:37 GMT", kExample},
      {"Sun Nov  6 08:49:37 1994", kExample},
      {"Sun Nov 06 08:49:37 1994", kExample},
      {"  Sun, 06 Nov 1994 08:49:37 GMT \t", kExample},
      {"Sat, 01 Jun 2024 00:00:00 GMT", kNow2024},
      {"Thu, 29 Feb 2024 23:59:59 GMT", sys_seconds{seconds{1709251199}}},
      {"Thu, 01 Jan 1970 00:00:00 GMT", sys_seconds{seconds{0}}},
      {"Sun, 06 Nov 1994 08:49:60 GMT", kExample + seconds{23}},  // leap second
      // The day name is not checked against the date (recipients need not).
      {"Mon, 06 Nov 1994 08:49:37 GMT", kExample},
      // Names and GMT in any case (cache-tests freshness-expires-wrong-case-*).
      {"Sun, 06 Nov 1994 08:49:37 gmt", kExample},
      {"Sun, 06 Nov 1994 08:49:37 gMT", kExample},
      {"SUN, 06 Nov 1994 08:49:37 GMT", kExample},
      {"sun, 06 nov 1994 08:49:37 GMT", kExample},
      {"Sun, 06 NOV 1994 08:49:37 GMT", kExample},
      {"SUNDAY, 06-NOV-94 08:49:37 gmt", kExample},
      {"sun NOV  6 08:49:37 1994", kExample},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const auto parsed = parseHttpDate(c.text, kNow2024);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->time_since_epoch().count(), c.expected.time_since_epoch().count());
  }
}

TEST(HttpDate, RejectsMalformedAndImpossibleDates) {
  const char* const cases[] = {
      "",
      "0",
      "-1",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 06 Nov 1994 08:49:61 GMT",
      "Sun, 31 Feb 1994 08:49:37 GMT",
      "Thu, 29 Feb 2023 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT junk",
      "Sun, 06 Xyz 1994 08:49:37 GMT",
      "Sun, 06-Nov-94 08:49:37 GMT",  // rfc850 needs the long day name
      "Sunday, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 06-Nov-1994 08:49:37 GMT",
      "Sun Nov  6 08:49:37 94",
      "Sun Nov 6 08:49:37 1994",
      "Sun Nov  6 08:49:37 1994 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
  };
  for (const char* text : cases) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parseHttpDate(text, kNow2024).has_value());
  }
}

TEST(HttpDate, Rfc850TwoDigitYearIsNeverMoreThanFiftyYearsAhead) {
  struct Case {
    const char* text;
    int now_year;
    int expected_year;
  };
  const Case cases[] = {
      {"Monday, 01-Jan-24 00:00:00 GMT", 2024, 2024},
      {"Saturday, 01-Jan-70 00:00:00 GMT", 2024, 2070},  // 46 years ahead: kept
      {"Friday, 01-Jan-80 00:00:00 GMT", 2024, 1980},    // 56 years ahead: last century
      {"Friday, 01-Jan-99 00:00:00 GMT", 2024, 1999},
      {"Friday, 01-Jan-99 00:00:00 GMT", 2060, 2099},
  };
  using namespace std::chrono;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const sys_seconds now{sys_days{year{c.now_year} / June / 1}};
    const auto parsed = parseHttpDate(c.text, now);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(static_cast<int>(year_month_day{floor<days>(*parsed)}.year()), c.expected_year);
  }
}

TEST(HttpDate, FormatsImfFixdateAndRoundTrips) {
  EXPECT_EQ(formatHttpDate(kExample), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(formatHttpDate(kNow2024), "Sat, 01 Jun 2024 00:00:00 GMT");
  for (int64_t t : {int64_t{0}, int64_t{951782400}, int64_t{1709251199}, int64_t{4102444799}}) {
    const sys_seconds time{seconds{t}};
    EXPECT_EQ(parseHttpDate(formatHttpDate(time), kNow2024), time) << formatHttpDate(time);
  }
}

}  // namespace
}  // namespace sg::cache
