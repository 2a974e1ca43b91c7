#include "cache/http_date.h"

#include <array>
#include <cstdio>

#include "cache/text.h"

namespace sg::cache {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A cursor over the text; every reader consumes exactly what it matched or fails.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  // Letters match in any case: origins send "THU", "AUG" or "gmt" and every browser and
  // CDN accepts them (cache-tests freshness-expires-wrong-case-*).
  bool literal(std::string_view expected) {
    if (!detail::equalsIgnoreCase(text_.substr(0, expected.size()), expected)) return false;
    text_.remove_prefix(expected.size());
    return true;
  }
  // Exactly `count` digits.
  bool digits(size_t count, int& out) {
    if (text_.size() < count) return false;
    int value = 0;
    for (size_t i = 0; i < count; ++i) {
      const char c = text_[i];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    text_.remove_prefix(count);
    out = value;
    return true;
  }
  template <size_t N>
  bool oneOf(const std::array<std::string_view, N>& names, int& index) {
    for (size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  bool atEnd() const { return text_.empty(); }

 private:
  std::string_view text_;
};

struct Parts {
  int year = 0;
  int month = 0;  // 0-based
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
};

bool readTimeOfDay(Reader& reader, Parts& parts) {
  return reader.digits(2, parts.hour) && reader.literal(":") && reader.digits(2, parts.minute) &&
         reader.literal(":") && reader.digits(2, parts.second);
}

std::optional<sys_seconds> toTime(const Parts& parts) {
  // RFC 9110 allows a leap second (60); it is folded into the next minute.
  if (parts.hour > 23 || parts.minute > 59 || parts.second > 60) return std::nullopt;
  const year_month_day date{year{parts.year}, month{static_cast<unsigned>(parts.month + 1)},
                            day{static_cast<unsigned>(parts.day)}};
  if (!date.ok()) return std::nullopt;
  return sys_days{date} + hours{parts.hour} + minutes{parts.minute} + seconds{parts.second};
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<sys_seconds> parseImfFixdate(std::string_view text) {
  Reader reader(text);
  Parts parts;
  int ignored = 0;
  if (!reader.oneOf(kDays, ignored) || !reader.literal(", ") || !reader.digits(2, parts.day) ||
      !reader.literal(" ") || !reader.oneOf(kMonths, parts.month) || !reader.literal(" ") ||
      !reader.digits(4, parts.year) || !reader.literal(" ") || !readTimeOfDay(reader, parts) ||
      !reader.literal(" GMT") || !reader.atEnd()) {
    return std::nullopt;
  }
  return toTime(parts);
}

// "Sunday, 06-Nov-94 08:49:37 GMT"
std::optional<sys_seconds> parseRfc850(std::string_view text, sys_seconds now) {
  Reader reader(text);
  Parts parts;
  int ignored = 0;
  int two_digit_year = 0;
  if (!reader.oneOf(kLongDays, ignored) || !reader.literal(", ") || !reader.digits(2, parts.day) ||
      !reader.literal("-") || !reader.oneOf(kMonths, parts.month) || !reader.literal("-") ||
      !reader.digits(2, two_digit_year) || !reader.literal(" ") || !readTimeOfDay(reader, parts) ||
      !reader.literal(" GMT") || !reader.atEnd()) {
    return std::nullopt;
  }
  const int current_year = static_cast<int>(year_month_day{floor<days>(now)}.year());
  parts.year = current_year / 100 * 100 + two_digit_year;
  if (parts.year > current_year + 50) parts.year -= 100;
  return toTime(parts);
}

// "Sun Nov  6 08:49:37 1994" (day as two digits or space + digit)
std::optional<sys_seconds> parseAsctime(std::string_view text) {
  Reader reader(text);
  Parts parts;
  int ignored = 0;
  if (!reader.oneOf(kDays, ignored) || !reader.literal(" ") ||
      !reader.oneOf(kMonths, parts.month) || !reader.literal(" ")) {
    return std::nullopt;
  }
  const bool day_ok =
      reader.literal(" ") ? reader.digits(1, parts.day) : reader.digits(2, parts.day);
  if (!day_ok || !reader.literal(" ") || !readTimeOfDay(reader, parts) || !reader.literal(" ") ||
      !reader.digits(4, parts.year) || !reader.atEnd()) {
    return std::nullopt;
  }
  return toTime(parts);
}

}  // namespace

std::optional<sys_seconds> parseHttpDate(std::string_view text, sys_seconds now) {
  text = detail::trimOws(text);
  if (text.size() < 4) return std::nullopt;
  // The obsolete forms differ early: rfc850 has a long day name, asctime no comma.
  if (text[3] == ',') return parseImfFixdate(text);
  if (text[3] == ' ') return parseAsctime(text);
  return parseRfc850(text, now);
}

std::string formatHttpDate(sys_seconds time) {
  const sys_days day_point = floor<days>(time);
  const year_month_day date{day_point};
  const hh_mm_ss<seconds> clock{time - day_point};
  const weekday week_day{day_point};
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.3s, %02u %.3s %04d %02d:%02d:%02d GMT",
                kDays[week_day.c_encoding()].data(), static_cast<unsigned>(date.day()),
                kMonths[static_cast<unsigned>(date.month()) - 1].data(),
                static_cast<int>(date.year()), static_cast<int>(clock.hours().count()),
                static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return buffer;
}

}  // namespace sg::cache
