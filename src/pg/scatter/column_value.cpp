#include "pg/scatter/column_value.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "pg/civil_date.h"
#include "pg/scatter/numeric_text.h"

namespace sg::pg::scatter {

namespace {

int sign(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

int compareBytes(std::string_view a, std::string_view b) {
  const int order = a.compare(b);  // char_traits<char>::compare orders like memcmp
  return order < 0 ? -1 : (order > 0 ? 1 : 0);
}

// An instant from ISO DateStyle text: -infinity, finite, infinity, then microseconds.
struct Instant {
  int infinity = 0;
  Int128 micros = 0;
};

class IsoReader {
 public:
  explicit IsoReader(std::string_view text) : rest_(text) {}
  bool number(int64_t* out, size_t min_digits, size_t max_digits) {
    size_t n = 0;
    while (n < rest_.size() && n < max_digits && rest_[n] >= '0' && rest_[n] <= '9') ++n;
    if (n < min_digits) return false;
    std::from_chars(rest_.data(), rest_.data() + n, *out);
    rest_.remove_prefix(n);
    return true;
  }
  bool take(char c) {
    if (rest_.empty() || rest_.front() != c) return false;
    rest_.remove_prefix(1);
    return true;
  }
  bool takeSuffix(std::string_view suffix) {
    if (rest_.size() < suffix.size() || rest_.substr(rest_.size() - suffix.size()) != suffix) {
      return false;
    }
    rest_.remove_suffix(suffix.size());
    return true;
  }
  bool atEnd() const { return rest_.empty(); }
  char peek() const { return rest_.empty() ? '\0' : rest_.front(); }

 private:
  std::string_view rest_;
};

std::optional<int64_t> readTimeMicros(IsoReader& in) {
  int64_t hour = 0, minute = 0, second = 0, fraction = 0;
  if (!in.number(&hour, 2, 2) || !in.take(':') || !in.number(&minute, 2, 2) || !in.take(':') ||
      !in.number(&second, 2, 2)) {
    return std::nullopt;
  }
  int64_t micros = ((hour * 60 + minute) * 60 + second) * 1000000;
  if (in.take('.')) {
    int64_t scale = 100000;
    while (in.peek() >= '0' && in.peek() <= '9' && scale > 0) {
      in.number(&fraction, 1, 1);
      micros += fraction * scale;
      scale /= 10;
    }
  }
  return micros;
}

// "+01", "-05:30", "+00:53:28": seconds east of UTC.
std::optional<int64_t> readOffsetSeconds(IsoReader& in) {
  const int direction = in.take('+') ? 1 : (in.take('-') ? -1 : 0);
  if (direction == 0) return 0;
  int64_t hours = 0, minutes = 0, seconds = 0;
  if (!in.number(&hours, 2, 2)) return std::nullopt;
  if (in.take(':') && !in.number(&minutes, 2, 2)) return std::nullopt;
  if (in.take(':') && !in.number(&seconds, 2, 2)) return std::nullopt;
  return direction * (hours * 3600 + minutes * 60 + seconds);
}

std::optional<Instant> parseInstant(std::string_view text) {
  if (text == "infinity") return Instant{1, 0};
  if (text == "-infinity") return Instant{-1, 0};
  IsoReader in(text);
  const bool before_christ = in.takeSuffix(" BC");
  int64_t year = 0, month = 0, day = 0;
  if (!in.number(&year, 4, 9) || !in.take('-') || !in.number(&month, 2, 2) || !in.take('-') ||
      !in.number(&day, 2, 2)) {
    return std::nullopt;
  }
  if (before_christ) year = 1 - year;
  Int128 micros = static_cast<Int128>(daysFromCivil(year, month, day)) * 86400 * 1000000;
  if (in.take(' ')) {
    const std::optional<int64_t> time = readTimeMicros(in);
    const std::optional<int64_t> offset = time ? readOffsetSeconds(in) : std::nullopt;
    if (!offset) return std::nullopt;
    micros += *time - static_cast<Int128>(*offset) * 1000000;
  }
  if (!in.atEnd()) return std::nullopt;
  return Instant{0, micros};
}

int compareTimestamps(std::string_view a, std::string_view b) {
  const std::optional<Instant> x = parseInstant(a);
  const std::optional<Instant> y = parseInstant(b);
  if (!x || !y) return compareBytes(a, b);
  if (x->infinity != y->infinity) return x->infinity < y->infinity ? -1 : 1;
  return x->micros < y->micros ? -1 : (x->micros > y->micros ? 1 : 0);
}

int compareFloats(std::string_view a, std::string_view b) {
  const double x = parseFloat8(a).value_or(std::nan(""));
  const double y = parseFloat8(b).value_or(std::nan(""));
  if (std::isnan(x) || std::isnan(y))
    return std::isnan(x) == std::isnan(y) ? 0 : (std::isnan(x) ? 1 : -1);
  return x < y ? -1 : (x > y ? 1 : 0);
}

int compareNumerics(std::string_view a, std::string_view b) {
  const std::optional<NumericText> x = NumericText::parse(a);
  const std::optional<NumericText> y = NumericText::parse(b);
  if (!x || !y) return compareBytes(a, b);
  return NumericText::compare(*x, *y);
}

// Shortest round-trip digits in exponent form, then fixed form when the decimal exponent is
// within [-4, fixed_below): the thresholds of PostgreSQL's Ryu-based float output.
template <typename Float>
std::string formatShortest(Float value, int fixed_below) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string scientific(buffer, result.ptr);
  const int exponent = std::atoi(scientific.c_str() + scientific.find('e') + 1);
  if (exponent < -4 || exponent >= fixed_below) return scientific;
  result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
  return std::string(buffer, result.ptr);
}

}  // namespace

ValueOrder valueOrderOf(uint32_t oid) {
  switch (oid) {
    case type_oid::kInt2:
    case type_oid::kInt4:
    case type_oid::kInt8:
    case type_oid::kOid:
      return ValueOrder::kInteger;
    case type_oid::kFloat4:
    case type_oid::kFloat8:
      return ValueOrder::kFloat;
    case type_oid::kNumeric:
      return ValueOrder::kNumeric;
    case type_oid::kText:
    case type_oid::kVarchar:
    case type_oid::kBpchar:
    case type_oid::kName:
    case type_oid::kUuid:
    case type_oid::kTime:
      return ValueOrder::kBytes;
    case type_oid::kBool:
      return ValueOrder::kBool;
    case type_oid::kDate:
    case type_oid::kTimestamp:
    case type_oid::kTimestamptz:
      return ValueOrder::kTimestamp;
    default:
      return ValueOrder::kUnsupported;
  }
}

int compareValues(ValueOrder order, std::string_view a, std::string_view b) {
  switch (order) {
    case ValueOrder::kInteger: {
      const std::optional<int64_t> x = parseInt64(a), y = parseInt64(b);
      return x && y ? sign(*x, *y) : compareBytes(a, b);
    }
    case ValueOrder::kFloat:
      return compareFloats(a, b);
    case ValueOrder::kNumeric:
      return compareNumerics(a, b);
    case ValueOrder::kTimestamp:
      return compareTimestamps(a, b);
    case ValueOrder::kBool:
    case ValueOrder::kBytes:
    case ValueOrder::kUnsupported:
      return compareBytes(a, b);
  }
  return 0;
}

std::string formatFloat8(double value) { return formatShortest(value, 15); }
std::string formatFloat4(float value) { return formatShortest(value, 6); }

namespace {

template <typename Float>
std::optional<Float> parseFloat(std::string_view text) {
  if (text == "NaN") return std::numeric_limits<Float>::quiet_NaN();
  if (text == "Infinity") return std::numeric_limits<Float>::infinity();
  if (text == "-Infinity") return -std::numeric_limits<Float>::infinity();
  Float value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<double> parseFloat8(std::string_view text) { return parseFloat<double>(text); }
std::optional<float> parseFloat4(std::string_view text) { return parseFloat<float>(text); }

std::optional<int64_t> parseInt64(std::string_view text) {
  int64_t value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace sg::pg::scatter
