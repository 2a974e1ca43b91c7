// Decoding a key value as PostgreSQL 15's input functions do (int8in, boolin, uuid_in, date_in
// for ISO dates) and its binary receive functions (int8recv, uuid_recv, ...), so the value
// scalegate hashes or compares is the one the partitioned table would store.
#include "pg/shard/key_value.h"

#include <array>
#include <limits>
#include <utility>

#include "pg/civil_date.h"

namespace sg::pg::shard {

namespace {

constexpr std::pair<std::string_view, KeyType> kTypeNames[] = {
    {"smallint", KeyType::kSmallint},
    {"integer", KeyType::kInteger},
    {"bigint", KeyType::kBigint},
    {"text", KeyType::kText},
    {"character", KeyType::kCharacter},
    {"uuid", KeyType::kUuid},
    {"boolean", KeyType::kBoolean},
    {"date", KeyType::kDate},
    {"timestamp", KeyType::kTimestamp},
    // aliases, after the names keyTypeName prints
    {"int2", KeyType::kSmallint},
    {"int4", KeyType::kInteger},
    {"int", KeyType::kInteger},
    {"int8", KeyType::kBigint},
    {"varchar", KeyType::kText},
    {"character varying", KeyType::kText},
    {"bpchar", KeyType::kCharacter},
    {"char", KeyType::kCharacter},
    {"bool", KeyType::kBoolean},
    {"timestamp without time zone", KeyType::kTimestamp},
};

constexpr size_t kUuidBytes = 16;
constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kSecondsPerDay = 86'400;
// Days from 1970-01-01 to 2000-01-01, PostgreSQL's date and timestamp epoch.
constexpr int64_t kPostgresEpochDays = 10'957;

// Error messages quote the input as PostgreSQL does, cut short so a huge value stays readable.
std::string quote(std::string_view text) {
  constexpr size_t kLimit = 64;
  std::string out = "\"";
  out.append(text.substr(0, kLimit));
  if (text.size() > kLimit) out += "...";
  return out + "\"";
}

KeyError invalidSyntax(KeyType type, std::string_view text) {
  return {"22P02",
          "invalid input syntax for type " + std::string(keyTypeName(type)) + ": " + quote(text)};
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trimSpace(std::string_view text) {
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  return text;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

std::pair<int64_t, int64_t> integerLimits(KeyType type) {
  switch (type) {
    case KeyType::kSmallint:
      return {std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max()};
    case KeyType::kInteger:
      return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    default:
      return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
  }
}

// int2in/int4in/int8in of PostgreSQL 15: spaces around, an optional sign, decimal digits.
DecodeResult decodeIntegerText(KeyType type, std::string_view text) {
  std::string_view digits = trimSpace(text);
  bool negative = false;
  if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty()) return invalidSyntax(type, text);
  // Accumulated as a negative number: its range holds the minimum of every type.
  int64_t value = 0;
  bool overflow = false;
  for (char c : digits) {
    if (!isDigit(c)) return invalidSyntax(type, text);
    if (value < (std::numeric_limits<int64_t>::min() + (c - '0')) / 10) overflow = true;
    if (!overflow) value = value * 10 - (c - '0');
  }
  const auto [min, max] = integerLimits(type);
  if (!overflow && !negative && value < -max) overflow = true;
  if (!overflow && negative && value < min) overflow = true;
  if (overflow)
    return KeyError{"22003", "value " + quote(text) + " is out of range for type " +
                                 std::string(keyTypeName(type))};
  return KeyValue{negative ? value : -value, {}};
}

uint64_t readBigEndian(std::string_view bytes) {
  uint64_t value = 0;
  for (char c : bytes) value = (value << 8) | static_cast<unsigned char>(c);
  return value;
}

KeyError badBinary(KeyType type, size_t size) {
  return {"22P03", "incorrect binary data format for type " + std::string(keyTypeName(type)) +
                       " (" + std::to_string(size) + " bytes)"};
}

// int2recv/int4recv/int8recv. A parameter may be narrower than the column (an int4 parameter
// compared with a bigint key), so every width is read and then checked against the column.
DecodeResult decodeIntegerBinary(KeyType type, std::string_view bytes) {
  int64_t value = 0;
  if (bytes.size() == 2) {
    value = static_cast<int16_t>(readBigEndian(bytes));
  } else if (bytes.size() == 4) {
    value = static_cast<int32_t>(readBigEndian(bytes));
  } else if (bytes.size() == 8) {
    value = static_cast<int64_t>(readBigEndian(bytes));
  } else {
    return badBinary(type, bytes.size());
  }
  const auto [min, max] = integerLimits(type);
  if (value < min || value > max)
    return KeyError{"22003", "value " + std::to_string(value) + " is out of range for type " +
                                 std::string(keyTypeName(type))};
  return KeyValue{value, {}};
}

int hexDigit(char c) {
  if (isDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// uuid_in: 32 hex digits, optionally in braces, a hyphen allowed after any group of four digits.
DecodeResult decodeUuidText(std::string_view text) {
  std::string_view rest = text;
  const bool braces = !rest.empty() && rest.front() == '{';
  if (braces) rest.remove_prefix(1);
  std::string bytes;
  for (size_t i = 0; i < kUuidBytes; ++i) {
    if (rest.size() < 2) return invalidSyntax(KeyType::kUuid, text);
    const int high = hexDigit(rest[0]);
    const int low = hexDigit(rest[1]);
    if (high < 0 || low < 0) return invalidSyntax(KeyType::kUuid, text);
    bytes.push_back(static_cast<char>(high * 16 + low));
    rest.remove_prefix(2);
    if (!rest.empty() && rest.front() == '-' && i % 2 == 1 && i + 1 < kUuidBytes)
      rest.remove_prefix(1);
  }
  if (braces) {
    if (rest.empty() || rest.front() != '}') return invalidSyntax(KeyType::kUuid, text);
    rest.remove_prefix(1);
  }
  if (!rest.empty()) return invalidSyntax(KeyType::kUuid, text);
  return KeyValue{0, std::move(bytes)};
}

bool startsWithIgnoringCase(std::string_view word, std::string_view prefix) {
  if (prefix.empty() || prefix.size() > word.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = prefix[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != word[i]) return false;
  }
  return true;
}

// boolin: any unambiguous prefix of true/false/yes/no, on/off (two letters at least), 1/0.
DecodeResult decodeBooleanText(std::string_view text) {
  const std::string_view word = trimSpace(text);
  if (startsWithIgnoringCase("true", word) || startsWithIgnoringCase("yes", word) || word == "1" ||
      (word.size() >= 2 && startsWithIgnoringCase("on", word)))
    return KeyValue{1, {}};
  if (startsWithIgnoringCase("false", word) || startsWithIgnoringCase("no", word) || word == "0" ||
      (word.size() >= 2 && startsWithIgnoringCase("off", word)))
    return KeyValue{0, {}};
  return invalidSyntax(KeyType::kBoolean, text);
}

struct CivilDate {
  int64_t year;
  int64_t month;
  int64_t day;
};

CivilDate civilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t day_of_era = days - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t mp = (5 * day_of_year + 2) / 153;
  const int64_t day = day_of_year - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  return {year_of_era + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

bool isLeapYear(int64_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

// Reads exactly `width` digits from the front of *text.
bool takeDigits(std::string_view* text, size_t width, int64_t* out) {
  if (text->size() < width) return false;
  int64_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    if (!isDigit((*text)[i])) return false;
    value = value * 10 + ((*text)[i] - '0');
  }
  text->remove_prefix(width);
  *out = value;
  return true;
}

bool takeChar(std::string_view* text, char c) {
  if (text->empty() || text->front() != c) return false;
  text->remove_prefix(1);
  return true;
}

KeyError notReadable(KeyType type, std::string_view text) {
  const std::string form =
      type == KeyType::kDate ? "YYYY-MM-DD" : "YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]";
  return {"0A000", "scalegate reads a " + std::string(keyTypeName(type)) +
                       " sharding key only as " + form + ", infinity or -infinity, not " +
                       quote(text)};
}

KeyError fieldOutOfRange(std::string_view text) {
  return {"22008", "date/time field value out of range: " + quote(text)};
}

// YYYY-MM-DD (years 1 to 9999) into days since 2000-01-01; *rest is what follows.
std::optional<DecodeResult> takeIsoDate(KeyType type, std::string_view text, std::string_view* rest,
                                        int64_t* days) {
  int64_t year = 0, month = 0, day = 0;
  if (!takeDigits(rest, 4, &year) || !takeChar(rest, '-') || !takeDigits(rest, 2, &month) ||
      !takeChar(rest, '-') || !takeDigits(rest, 2, &day))
    return notReadable(type, text);
  constexpr std::array<int64_t, 12> kMonthDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year == 0 || month < 1 || month > 12 || day < 1) return fieldOutOfRange(text);
  const int64_t last = kMonthDays[month - 1] + (month == 2 && isLeapYear(year) ? 1 : 0);
  if (day > last) return fieldOutOfRange(text);
  *days = daysFromCivil(year, month, day) - kPostgresEpochDays;
  return std::nullopt;
}

std::optional<int64_t> infinity(std::string_view word, int64_t min, int64_t max) {
  if (word == "infinity" || word == "+infinity") return max;
  if (word == "-infinity") return min;
  return std::nullopt;
}

DecodeResult decodeDateText(std::string_view text) {
  const std::string_view word = trimSpace(text);
  if (auto special =
          infinity(word, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()))
    return KeyValue{*special, {}};
  std::string_view rest = word;
  int64_t days = 0;
  if (auto error = takeIsoDate(KeyType::kDate, text, &rest, &days)) return *error;
  if (!rest.empty()) return notReadable(KeyType::kDate, text);
  return KeyValue{days, {}};
}

// [ HH:MM[:SS[.ffffff]]] after a date, as microseconds into the day.
std::optional<DecodeResult> takeIsoTime(std::string_view text, std::string_view* rest,
                                        int64_t* micros) {
  *micros = 0;
  if (rest->empty()) return std::nullopt;
  if (!takeChar(rest, ' ') && !takeChar(rest, 'T')) return notReadable(KeyType::kTimestamp, text);
  int64_t hour = 0, minute = 0, second = 0, fraction = 0;
  if (!takeDigits(rest, 2, &hour) || !takeChar(rest, ':') || !takeDigits(rest, 2, &minute))
    return notReadable(KeyType::kTimestamp, text);
  if (takeChar(rest, ':') && !takeDigits(rest, 2, &second))
    return notReadable(KeyType::kTimestamp, text);
  if (takeChar(rest, '.')) {
    size_t digits = 0;
    while (!rest->empty() && isDigit(rest->front()) && digits < 6) {
      fraction = fraction * 10 + (rest->front() - '0');
      rest->remove_prefix(1);
      ++digits;
    }
    if (digits == 0) return notReadable(KeyType::kTimestamp, text);
    for (; digits < 6; ++digits) fraction *= 10;
  }
  if (!rest->empty()) return notReadable(KeyType::kTimestamp, text);
  // 24:00:00 is the end of the day, as PostgreSQL allows.
  const bool end_of_day = hour == 24 && minute == 0 && second == 0 && fraction == 0;
  if ((hour > 23 && !end_of_day) || minute > 59 || second > 59) return fieldOutOfRange(text);
  *micros = ((hour * 60 + minute) * 60 + second) * kMicrosPerSecond + fraction;
  return std::nullopt;
}

DecodeResult decodeTimestampText(std::string_view text) {
  const std::string_view word = trimSpace(text);
  if (auto special =
          infinity(word, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
    return KeyValue{*special, {}};
  std::string_view rest = word;
  int64_t days = 0, micros = 0;
  if (auto error = takeIsoDate(KeyType::kTimestamp, text, &rest, &days)) return *error;
  if (auto error = takeIsoTime(text, &rest, &micros)) return *error;
  return KeyValue{days * kSecondsPerDay * kMicrosPerSecond + micros, {}};
}

DecodeResult decodeText(KeyType type, std::string_view value) {
  switch (type) {
    case KeyType::kSmallint:
    case KeyType::kInteger:
    case KeyType::kBigint:
      return decodeIntegerText(type, value);
    case KeyType::kText:
    case KeyType::kCharacter:
      break;
    case KeyType::kUuid:
      return decodeUuidText(value);
    case KeyType::kBoolean:
      return decodeBooleanText(value);
    case KeyType::kDate:
      return decodeDateText(value);
    case KeyType::kTimestamp:
      return decodeTimestampText(value);
  }
  if (value.find('\0') != std::string_view::npos)
    return KeyError{"22021", "invalid byte sequence: text cannot contain 0x00"};
  // character's comparisons and hash (bcTruelen) leave out trailing spaces.
  if (type == KeyType::kCharacter) {
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  }
  return KeyValue{0, std::string(value)};
}

DecodeResult decodeBinary(KeyType type, std::string_view bytes) {
  switch (type) {
    case KeyType::kSmallint:
    case KeyType::kInteger:
    case KeyType::kBigint:
      return decodeIntegerBinary(type, bytes);
    case KeyType::kText:
    case KeyType::kCharacter:
      return decodeText(type, bytes);  // textrecv, bpcharrecv: the bytes themselves
    case KeyType::kUuid:
      if (bytes.size() != kUuidBytes) return badBinary(type, bytes.size());
      return KeyValue{0, std::string(bytes)};
    case KeyType::kBoolean:
      if (bytes.size() != 1) return badBinary(type, bytes.size());
      return KeyValue{bytes[0] != 0 ? 1 : 0, {}};
    case KeyType::kDate:
      if (bytes.size() != 4) return badBinary(type, bytes.size());
      return KeyValue{static_cast<int32_t>(readBigEndian(bytes)), {}};
    case KeyType::kTimestamp:
      if (bytes.size() != 8) return badBinary(type, bytes.size());
      return KeyValue{static_cast<int64_t>(readBigEndian(bytes)), {}};
  }
  return badBinary(type, bytes.size());
}

std::string twoDigits(int64_t value) {
  return std::string(1, static_cast<char>('0' + value / 10)) + static_cast<char>('0' + value % 10);
}

std::string formatDate(int64_t days) {
  const CivilDate date = civilFromDays(days + kPostgresEpochDays);
  std::string year = std::to_string(date.year);
  if (year.size() < 4) year.insert(0, 4 - year.size(), '0');
  return year + "-" + twoDigits(date.month) + "-" + twoDigits(date.day);
}

std::string formatTimestamp(int64_t micros) {
  const int64_t per_day = kSecondsPerDay * kMicrosPerSecond;
  int64_t days = micros / per_day;
  int64_t rest = micros % per_day;
  if (rest < 0) {
    rest += per_day;
    --days;
  }
  const int64_t seconds = rest / kMicrosPerSecond;
  std::string out = formatDate(days) + " " + twoDigits(seconds / 3600) + ":" +
                    twoDigits(seconds / 60 % 60) + ":" + twoDigits(seconds % 60);
  if (const int64_t fraction = rest % kMicrosPerSecond; fraction != 0) {
    std::string digits = std::to_string(fraction + kMicrosPerSecond).substr(1);
    while (digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out;
}

std::string formatUuid(std::string_view bytes) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    const auto byte = static_cast<unsigned char>(bytes[i]);
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  }
  return out;
}

}  // namespace

std::string_view keyTypeName(KeyType type) {
  for (const auto& [name, entry] : kTypeNames) {
    if (entry == type) return name;
  }
  return "bigint";
}

bool parseKeyType(std::string_view name, KeyType* out) {
  for (const auto& [entry_name, entry] : kTypeNames) {
    if (entry_name == name) {
      *out = entry;
      return true;
    }
  }
  return false;
}

bool isIntegral(KeyType type) {
  return type != KeyType::kText && type != KeyType::kCharacter && type != KeyType::kUuid;
}

DecodeResult decodeKey(KeyType type, std::string_view value, Format format) {
  return format == Format::kText ? decodeText(type, value) : decodeBinary(type, value);
}

int compareKeys(KeyType type, const KeyValue& a, const KeyValue& b) {
  if (isIntegral(type)) return a.integer < b.integer ? -1 : (a.integer > b.integer ? 1 : 0);
  // std::string compares bytes as unsigned char: memcmp order, PostgreSQL's "C" collation.
  const int order = a.bytes.compare(b.bytes);
  return order < 0 ? -1 : (order > 0 ? 1 : 0);
}

std::string formatKey(KeyType type, const KeyValue& value) {
  switch (type) {
    case KeyType::kText:
    case KeyType::kCharacter:
      return value.bytes;
    case KeyType::kUuid:
      return formatUuid(value.bytes);
    case KeyType::kBoolean:
      return value.integer != 0 ? "true" : "false";
    case KeyType::kDate:
      if (value.integer == std::numeric_limits<int32_t>::max()) return "infinity";
      if (value.integer == std::numeric_limits<int32_t>::min()) return "-infinity";
      return formatDate(value.integer);
    case KeyType::kTimestamp:
      if (value.integer == std::numeric_limits<int64_t>::max()) return "infinity";
      if (value.integer == std::numeric_limits<int64_t>::min()) return "-infinity";
      return formatTimestamp(value.integer);
    default:
      return std::to_string(value.integer);
  }
}

}  // namespace sg::pg::shard
