#include "pg/scatter/binary_value.h"

#include <bit>
#include <cmath>
#include <vector>

#include "pg/scatter/column_value.h"
#include "pg/scatter/numeric_text.h"

namespace sg::pg::scatter {

namespace {

// numeric_send's sign word (PostgreSQL 14+ adds the infinities).
constexpr uint16_t kNumericPositive = 0x0000;
constexpr uint16_t kNumericNegative = 0x4000;
constexpr uint16_t kNumericNaN = 0xC000;
constexpr uint16_t kNumericPositiveInfinity = 0xD000;
constexpr uint16_t kNumericNegativeInfinity = 0xF000;

uint64_t readUnsigned(std::string_view bytes) {
  uint64_t value = 0;
  for (const char c : bytes) value = (value << 8) | static_cast<unsigned char>(c);
  return value;
}

// A big-endian two's complement integer of 2, 4 or 8 bytes.
int64_t readSigned(std::string_view bytes) {
  const uint64_t raw = readUnsigned(bytes);
  const unsigned bits = static_cast<unsigned>(bytes.size()) * 8;
  if (bits == 64) return static_cast<int64_t>(raw);
  const uint64_t sign_bit = uint64_t{1} << (bits - 1);
  return static_cast<int64_t>(raw ^ sign_bit) - static_cast<int64_t>(sign_bit);
}

void appendUnsigned(std::string* out, uint64_t value, size_t bytes) {
  for (size_t i = bytes; i-- > 0;) out->push_back(static_cast<char>((value >> (i * 8)) & 0xFF));
}

int sign(auto a, auto b) { return a < b ? -1 : (a > b ? 1 : 0); }

int compareBytes(std::string_view a, std::string_view b) {
  const int order = a.compare(b);
  return order < 0 ? -1 : (order > 0 ? 1 : 0);
}

std::optional<double> readFloat(std::string_view bytes) {
  if (bytes.size() == 8) return std::bit_cast<double>(readUnsigned(bytes));
  if (bytes.size() == 4) {
    return static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(readUnsigned(bytes))));
  }
  return std::nullopt;
}

int compareFloats(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) {
    return std::isnan(x) == std::isnan(y) ? 0 : (std::isnan(x) ? 1 : -1);
  }
  return sign(x, y);  // -0 == 0
}

size_t fixedSize(uint32_t oid) {
  switch (oid) {
    case type_oid::kBool:
      return 1;
    case type_oid::kInt2:
      return 2;
    case type_oid::kInt4:
    case type_oid::kOid:
    case type_oid::kDate:
    case type_oid::kFloat4:
      return 4;
    case type_oid::kInt8:
    case type_oid::kTime:
    case type_oid::kTimestamp:
    case type_oid::kTimestamptz:
    case type_oid::kFloat8:
      return 8;
    default:
      return 0;
  }
}

// "[-]int[.frac]" with exactly dscale fraction digits, as numeric_out prints.
std::optional<std::string> numericToText(std::string_view value) {
  if (value.size() < 8) return std::nullopt;
  const int64_t ndigits = readSigned(value.substr(0, 2));
  const int64_t weight = readSigned(value.substr(2, 2));
  const uint64_t sign_word = readUnsigned(value.substr(4, 2));
  const int64_t dscale = readSigned(value.substr(6, 2));
  if (ndigits < 0 || dscale < 0 || value.size() != 8 + static_cast<size_t>(ndigits) * 2) {
    return std::nullopt;
  }
  if (sign_word == kNumericNaN) return "NaN";
  if (sign_word == kNumericPositiveInfinity) return "Infinity";
  if (sign_word == kNumericNegativeInfinity) return "-Infinity";
  if (sign_word != kNumericPositive && sign_word != kNumericNegative) return std::nullopt;
  auto digit = [&](int64_t index) -> int64_t {
    return index >= 0 && index < ndigits ? readSigned(value.substr(8 + index * 2, 2)) : 0;
  };
  std::string text = sign_word == kNumericNegative ? "-" : "";
  if (weight < 0) text += '0';
  for (int64_t i = 0; i <= weight; ++i) {
    const std::string group = std::to_string(digit(i));
    text += i == 0 ? group : std::string(4 - group.size(), '0') + group;
  }
  if (dscale == 0) return text;
  std::string fraction;
  for (int64_t i = weight + 1; static_cast<int64_t>(fraction.size()) < dscale; ++i) {
    const std::string group = std::to_string(digit(i));
    fraction += std::string(4 - group.size(), '0') + group;
  }
  return text + "." + fraction.substr(0, static_cast<size_t>(dscale));
}

void appendNumericHeader(std::string* out, size_t ndigits, int64_t weight, uint16_t sign_word,
                         size_t dscale) {
  appendUnsigned(out, ndigits, 2);
  appendUnsigned(out, static_cast<uint64_t>(weight) & 0xFFFF, 2);
  appendUnsigned(out, sign_word, 2);
  appendUnsigned(out, dscale, 2);
}

// Base-10000 digits without leading or trailing zero groups; zero is no digits, weight 0,
// positive (numeric's stored form, which numeric_send writes).
std::optional<std::string> numericFromText(std::string_view text) {
  std::string out;
  if (text == "NaN" || text == "Infinity" || text == "-Infinity") {
    const uint16_t special = text == "NaN"        ? kNumericNaN
                             : text == "Infinity" ? kNumericPositiveInfinity
                                                  : kNumericNegativeInfinity;
    appendNumericHeader(&out, 0, 0, special, 0);
    return out;
  }
  const bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  const size_t point = text.find('.');
  std::string integer(text.substr(0, point));
  std::string fraction(point == std::string_view::npos ? "" : text.substr(point + 1));
  const std::string all = integer + fraction;
  if (integer.empty() || all.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const size_t dscale = fraction.size();
  integer.insert(0, (4 - integer.size() % 4) % 4, '0');
  fraction.append((4 - fraction.size() % 4) % 4, '0');
  const std::string padded = integer + fraction;
  std::vector<uint16_t> groups;
  for (size_t i = 0; i < padded.size(); i += 4) {
    groups.push_back(static_cast<uint16_t>(std::stoi(padded.substr(i, 4))));
  }
  int64_t weight = static_cast<int64_t>(integer.size() / 4) - 1;
  size_t first = 0;
  while (first < groups.size() && groups[first] == 0) ++first, --weight;
  size_t last = groups.size();
  while (last > first && groups[last - 1] == 0) --last;
  const bool zero = first == last;
  appendNumericHeader(&out, last - first, zero ? 0 : weight,
                      negative && !zero ? kNumericNegative : kNumericPositive, dscale);
  for (size_t i = first; i < last; ++i) appendUnsigned(&out, groups[i], 2);
  return out;
}

}  // namespace

int compareBinaryValues(uint32_t oid, std::string_view a, std::string_view b) {
  const size_t size = fixedSize(oid);
  if (size != 0 && (a.size() != size || b.size() != size)) return compareBytes(a, b);
  switch (oid) {
    case type_oid::kInt2:
    case type_oid::kInt4:
    case type_oid::kInt8:
    case type_oid::kDate:
    case type_oid::kTime:
    case type_oid::kTimestamp:
    case type_oid::kTimestamptz:
      return sign(readSigned(a), readSigned(b));
    case type_oid::kOid:
    case type_oid::kBool:
      return sign(readUnsigned(a), readUnsigned(b));
    case type_oid::kFloat4:
    case type_oid::kFloat8:
      return compareFloats(*readFloat(a), *readFloat(b));
    case type_oid::kNumeric: {
      const std::optional<std::string> x = numericToText(a), y = numericToText(b);
      const std::optional<NumericText> p = x ? NumericText::parse(*x) : std::nullopt;
      const std::optional<NumericText> q = y ? NumericText::parse(*y) : std::nullopt;
      return p && q ? NumericText::compare(*p, *q) : compareBytes(a, b);
    }
    default:  // text, varchar, bpchar, name (C collation), uuid (uuid_cmp is memcmp)
      return compareBytes(a, b);
  }
}

std::optional<std::string> binaryToText(uint32_t oid, std::string_view value) {
  const size_t size = fixedSize(oid);
  if (size != 0 && value.size() != size) return std::nullopt;
  switch (oid) {
    case type_oid::kInt2:
    case type_oid::kInt4:
    case type_oid::kInt8:
      return std::to_string(readSigned(value));
    case type_oid::kOid:
      return std::to_string(readUnsigned(value));
    case type_oid::kFloat4:
      return formatFloat4(static_cast<float>(*readFloat(value)));
    case type_oid::kFloat8:
      return formatFloat8(*readFloat(value));
    case type_oid::kNumeric:
      return numericToText(value);
    default:
      return std::nullopt;
  }
}

std::optional<std::string> textToBinary(uint32_t oid, std::string_view text) {
  std::string out;
  switch (oid) {
    case type_oid::kInt8: {
      const std::optional<int64_t> value = parseInt64(text);
      if (!value) return std::nullopt;
      appendUnsigned(&out, static_cast<uint64_t>(*value), 8);
      return out;
    }
    case type_oid::kFloat4: {
      const std::optional<float> value = parseFloat4(text);
      if (!value) return std::nullopt;
      appendUnsigned(&out, std::bit_cast<uint32_t>(*value), 4);
      return out;
    }
    case type_oid::kFloat8: {
      const std::optional<double> value = parseFloat8(text);
      if (!value) return std::nullopt;
      appendUnsigned(&out, std::bit_cast<uint64_t>(*value), 8);
      return out;
    }
    case type_oid::kNumeric:
      return numericFromText(text);
    default:
      return std::nullopt;
  }
}

}  // namespace sg::pg::scatter
