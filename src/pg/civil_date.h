#pragma once
// Calendar arithmetic shared by the sharding key decoder and the scatter merger (both read
// PostgreSQL's ISO dates and timestamps as text).
#include <cstdint>

namespace sg::pg {

// Days since 1970-01-01 of a proleptic Gregorian date, astronomical year numbering (the
// civil-days algorithm: years start in March so the leap day is last).
constexpr int64_t daysFromCivil(int64_t year, int64_t month, int64_t day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

}  // namespace sg::pg
