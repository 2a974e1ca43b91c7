// Decoding a bound array parameter as PostgreSQL 15's array_in (text) and array_recv (binary)
// read it, for one dimension: the elements are the sharding key's values of `key = ANY($n)`.
#include "pg/shard/array_value.h"

#include <limits>
#include <utility>

namespace sg::pg::shard {

namespace {

// Element type OIDs (pg_type.dat) of the arrays a driver binds for a key.
enum Oid : uint32_t {
  kBoolOid = 16,
  kNameOid = 19,
  kInt8Oid = 20,
  kInt2Oid = 21,
  kInt4Oid = 23,
  kTextOid = 25,
  kUnknownOid = 705,
  kBpcharOid = 1042,
  kVarcharOid = 1043,
  kDateOid = 1082,
  kTimestampOid = 1114,
  kNumericOid = 1700,
  kUuidOid = 2950,
};

// PostgreSQL's MAXDIM: a binary array claiming more is malformed, not just multi-dimensional.
constexpr int32_t kMaxDimensions = 6;

KeyError malformed(std::string_view literal, std::string_view detail) {
  constexpr size_t kShown = 64;
  std::string shown(literal.substr(0, kShown));
  if (literal.size() > kShown) shown += "...";
  return {"22P02", "malformed array literal: \"" + shown + "\" (" + std::string(detail) + ")"};
}

KeyError badBinary(std::string_view detail) {
  return {"22P03", "incorrect binary data format in array: " + std::string(detail)};
}

KeyError multiDimensional() {
  return {"0A000",
          "scalegate: a sharding key array must have one dimension; a key column holds scalars"};
}

KeyError tooLong(uint64_t elements) {
  return {"54000", "scalegate: an array of " + std::to_string(elements) +
                       " sharding key values; at most " + std::to_string(kMaxArrayElements)};
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool equalsIgnoringCase(std::string_view text, std::string_view upper) {
  if (text.size() != upper.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != upper[i]) return false;
  }
  return true;
}

// A text array literal, read left to right.
class LiteralReader {
 public:
  explicit LiteralReader(std::string_view literal) : literal_(literal), rest_(literal) {}

  ArrayResult read() {
    skipSpace();
    std::optional<uint64_t> declared;
    if (!rest_.empty() && rest_.front() == '[') {
      auto error = readDimensions(&declared);
      if (error) return std::move(*error);
    }
    if (rest_.empty() || rest_.front() != '{')
      return malformed(literal_, "an array value must start with \"{\" or dimension information");
    rest_.remove_prefix(1);
    std::vector<ArrayElement> elements;
    if (auto error = readElements(&elements)) return std::move(*error);
    skipSpace();
    if (!rest_.empty()) return malformed(literal_, "junk after closing right brace");
    if (declared && *declared != elements.size())
      return malformed(literal_, "specified array dimensions do not match array contents");
    return elements;
  }

 private:
  void skipSpace() {
    while (!rest_.empty() && isSpace(rest_.front())) rest_.remove_prefix(1);
  }

  // A bound of '[lower:upper]' or '[upper]': an optionally signed integer.
  bool readBound(int64_t* out) {
    constexpr size_t kMaxDigits = 10;  // int4 bounds, as array_in reads them
    skipSpace();
    bool negative = false;
    if (!rest_.empty() && (rest_.front() == '-' || rest_.front() == '+')) {
      negative = rest_.front() == '-';
      rest_.remove_prefix(1);
    }
    size_t digits = 0;
    int64_t value = 0;
    while (!rest_.empty() && rest_.front() >= '0' && rest_.front() <= '9') {
      if (++digits > kMaxDigits) return false;
      value = value * 10 + (rest_.front() - '0');
      rest_.remove_prefix(1);
    }
    skipSpace();
    *out = negative ? -value : value;
    return digits > 0;
  }

  // '[1:3]=' before the braces: one dimension's bounds (more dimensions are refused).
  std::optional<KeyError> readDimensions(std::optional<uint64_t>* count) {
    rest_.remove_prefix(1);
    int64_t lower = 1, upper = 0;
    if (!readBound(&upper)) return malformed(literal_, "missing dimension value");
    if (!rest_.empty() && rest_.front() == ':') {
      rest_.remove_prefix(1);
      lower = upper;
      if (!readBound(&upper)) return malformed(literal_, "missing dimension value");
    }
    if (rest_.empty() || rest_.front() != ']') return malformed(literal_, "missing \"]\"");
    rest_.remove_prefix(1);
    if (upper < lower) return malformed(literal_, "upper bound cannot be less than lower bound");
    skipSpace();
    if (!rest_.empty() && rest_.front() == '[') return multiDimensional();
    if (rest_.empty() || rest_.front() != '=')
      return malformed(literal_, "missing assignment operator");
    rest_.remove_prefix(1);
    skipSpace();
    *count = static_cast<uint64_t>(upper - lower) + 1;
    if (**count > kMaxArrayElements) return tooLong(**count);
    return std::nullopt;
  }

  // The elements after '{', up to and including the matching '}'.
  std::optional<KeyError> readElements(std::vector<ArrayElement>* out) {
    skipSpace();
    if (!rest_.empty() && rest_.front() == '}') {
      rest_.remove_prefix(1);
      return std::nullopt;
    }
    while (true) {
      skipSpace();
      if (!rest_.empty() && rest_.front() == '{') return multiDimensional();
      if (out->size() == kMaxArrayElements) return tooLong(kMaxArrayElements + 1);
      ArrayElement element;
      auto error =
          !rest_.empty() && rest_.front() == '"' ? readQuoted(&element) : readUnquoted(&element);
      if (error) return error;
      out->push_back(std::move(element));
      skipSpace();
      if (rest_.empty()) return malformed(literal_, "unexpected end of input");
      const char delimiter = rest_.front();
      rest_.remove_prefix(1);
      if (delimiter == '}') return std::nullopt;
      if (delimiter != ',') return malformed(literal_, "unexpected character after an element");
    }
  }

  std::optional<KeyError> readQuoted(ArrayElement* out) {
    rest_.remove_prefix(1);
    std::string value;
    while (!rest_.empty() && rest_.front() != '"') {
      if (rest_.front() == '\\') {
        rest_.remove_prefix(1);
        if (rest_.empty()) break;
      }
      value += rest_.front();
      rest_.remove_prefix(1);
    }
    if (rest_.empty()) return malformed(literal_, "unexpected end of input");
    rest_.remove_prefix(1);
    out->value = std::move(value);
    return std::nullopt;
  }

  // Up to ',' or '}'; backslash escapes a character; trailing unescaped spaces do not count;
  // the bare word NULL (no quotes, no escapes) is SQL NULL.
  std::optional<KeyError> readUnquoted(ArrayElement* out) {
    std::string value;
    size_t kept = 0;  // value's length up to its last escaped or non-space character
    bool escaped = false;
    while (!rest_.empty() && rest_.front() != ',' && rest_.front() != '}') {
      char c = rest_.front();
      if (c == '"' || c == '{') return malformed(literal_, "unexpected character in an element");
      rest_.remove_prefix(1);
      if (c == '\\') {
        if (rest_.empty()) break;
        c = rest_.front();
        rest_.remove_prefix(1);
        escaped = true;
        value += c;
        kept = value.size();
        continue;
      }
      value += c;
      if (!isSpace(c)) kept = value.size();
    }
    value.resize(kept);
    if (value.empty() && !escaped) return malformed(literal_, "unexpected delimiter");
    if (!escaped && equalsIgnoringCase(value, "NULL")) return std::nullopt;
    out->value = std::move(value);
    return std::nullopt;
  }

  std::string_view literal_;
  std::string_view rest_;
};

// Big-endian integers from the front of a binary payload.
class BinaryReader {
 public:
  explicit BinaryReader(std::string_view bytes) : rest_(bytes) {}
  bool read32(uint32_t* out) { return readN(4, out); }
  bool read16(uint16_t* out) {
    uint32_t value = 0;
    if (!readN(2, &value)) return false;
    *out = static_cast<uint16_t>(value);
    return true;
  }
  bool readBytes(size_t size, std::string_view* out) {
    if (rest_.size() < size) return false;
    *out = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return true;
  }
  size_t remaining() const { return rest_.size(); }

 private:
  bool readN(size_t size, uint32_t* out) {
    if (rest_.size() < size) return false;
    uint32_t value = 0;
    for (size_t i = 0; i < size; ++i) value = (value << 8) | static_cast<unsigned char>(rest_[i]);
    rest_.remove_prefix(size);
    *out = value;
    return true;
  }
  std::string_view rest_;
};

uint32_t oidOf(KeyType type) {
  switch (type) {
    case KeyType::kSmallint:
      return kInt2Oid;
    case KeyType::kInteger:
      return kInt4Oid;
    case KeyType::kBigint:
      return kInt8Oid;
    case KeyType::kText:
      return kTextOid;
    case KeyType::kCharacter:
      return kBpcharOid;
    case KeyType::kUuid:
      return kUuidOid;
    case KeyType::kBoolean:
      return kBoolOid;
    case KeyType::kDate:
      return kDateOid;
    case KeyType::kTimestamp:
      return kTimestampOid;
  }
  return 0;
}

bool isIntegerType(KeyType type) {
  return type == KeyType::kSmallint || type == KeyType::kInteger || type == KeyType::kBigint;
}

bool isTextLike(uint32_t oid) {
  return oid == kTextOid || oid == kVarcharOid || oid == kBpcharOid || oid == kNameOid ||
         oid == kUnknownOid;
}

// numeric_send's bytes as the decimal integer they equal; nullopt when no 64-bit integer equals
// them (a fraction, NaN, infinity, too large); an error when they are malformed.
std::variant<std::optional<std::string>, KeyError> numericAsInteger(std::string_view bytes) {
  constexpr uint16_t kPositive = 0x0000, kNegative = 0x4000;
  constexpr uint16_t kNaN = 0xC000, kPlusInfinity = 0xD000, kMinusInfinity = 0xF000;
  constexpr uint16_t kBase = 10000;
  BinaryReader reader(bytes);
  uint16_t count = 0, weight_bits = 0, sign = 0, scale = 0;
  if (!reader.read16(&count) || !reader.read16(&weight_bits) || !reader.read16(&sign) ||
      !reader.read16(&scale) || reader.remaining() != size_t{count} * 2)
    return badBinary("numeric element of " + std::to_string(bytes.size()) + " bytes");
  if (sign == kNaN || sign == kPlusInfinity || sign == kMinusInfinity) return std::nullopt;
  if (sign != kPositive && sign != kNegative) return badBinary("numeric sign");
  const int32_t weight = static_cast<int16_t>(weight_bits);
  uint64_t magnitude = 0;
  bool fits = true;
  for (int32_t i = 0; i < count; ++i) {
    uint16_t digit = 0;
    reader.read16(&digit);
    if (digit >= kBase) return badBinary("numeric digit " + std::to_string(digit));
    if (i > weight) {
      if (digit != 0) return std::nullopt;  // a fraction: no integer equals it
      continue;
    }
    if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / kBase) fits = false;
    if (fits) magnitude = magnitude * kBase + digit;
  }
  // Groups the payload leaves out before the decimal point are zeros.
  for (int32_t i = count; i <= weight && fits; ++i) {
    if (magnitude > std::numeric_limits<uint64_t>::max() / kBase) fits = false;
    if (fits) magnitude *= kBase;
  }
  const uint64_t limit = uint64_t{std::numeric_limits<int64_t>::max()} + (sign == kNegative);
  if (!fits || magnitude > limit) return std::nullopt;
  std::string text = std::to_string(magnitude);
  if (sign == kNegative && magnitude != 0) text.insert(0, 1, '-');
  return std::optional<std::string>(std::move(text));
}

// One non-NULL element of a binary array of `oid` elements, for a key of `key_type`; nullopt
// with no error: the element equals no key (left out).
std::variant<std::optional<ArrayElement>, KeyError> binaryElement(std::string_view bytes,
                                                                  uint32_t oid, KeyType key_type) {
  const bool integers = isIntegerType(key_type);
  if (oid == oidOf(key_type) ||
      (integers && (oid == kInt2Oid || oid == kInt4Oid || oid == kInt8Oid)))
    return std::optional<ArrayElement>(ArrayElement{std::string(bytes), Format::kBinary});
  if (isTextLike(oid))  // textrecv and its kin: the bytes are the text
    return std::optional<ArrayElement>(ArrayElement{std::string(bytes), Format::kText});
  if (integers && oid == kNumericOid) {
    auto integer = numericAsInteger(bytes);
    if (auto* error = std::get_if<KeyError>(&integer)) return std::move(*error);
    auto& text = std::get<std::optional<std::string>>(integer);
    if (!text) return std::optional<ArrayElement>();
    return std::optional<ArrayElement>(ArrayElement{std::move(*text), Format::kText});
  }
  return KeyError{"0A000", "scalegate: an array of elements of type OID " + std::to_string(oid) +
                               " is not compared with the sharding key (" +
                               std::string(keyTypeName(key_type)) + ")"};
}

ArrayResult decodeBinaryArray(std::string_view bytes, KeyType key_type) {
  BinaryReader reader(bytes);
  uint32_t dimensions = 0, flags = 0, oid = 0;
  if (!reader.read32(&dimensions) || !reader.read32(&flags) || !reader.read32(&oid))
    return badBinary("header of " + std::to_string(bytes.size()) + " bytes");
  const auto ndim = static_cast<int32_t>(dimensions);
  if (ndim < 0 || ndim > kMaxDimensions)
    return badBinary("invalid number of dimensions: " + std::to_string(ndim));
  if (flags != 0 && flags != 1) return badBinary("invalid array flags");
  if (ndim > 1) return multiDimensional();
  std::vector<ArrayElement> elements;
  if (ndim == 0) {
    if (reader.remaining() != 0) return badBinary("bytes after an empty array");
    return elements;
  }
  uint32_t size_bits = 0, lower_bound = 0;
  if (!reader.read32(&size_bits) || !reader.read32(&lower_bound))
    return badBinary("missing dimension");
  const auto size = static_cast<int32_t>(size_bits);
  if (size < 0) return badBinary("negative dimension");
  if (static_cast<uint64_t>(size) > kMaxArrayElements) return tooLong(static_cast<uint64_t>(size));
  // Every element takes 4 bytes at least (its length): a count the bytes cannot hold is a lie.
  if (static_cast<uint64_t>(size) * 4 > reader.remaining())
    return badBinary(std::to_string(size) + " elements in " + std::to_string(reader.remaining()) +
                     " bytes");
  for (int32_t i = 0; i < size; ++i) {
    uint32_t length_bits = 0;
    std::string_view element;
    if (!reader.read32(&length_bits)) return badBinary("missing element");
    const auto length = static_cast<int32_t>(length_bits);
    if (length == -1) {
      elements.push_back(ArrayElement{std::nullopt, Format::kBinary});
      continue;
    }
    if (length < 0 || !reader.readBytes(static_cast<size_t>(length), &element))
      return badBinary("element " + std::to_string(i + 1) + " longer than the array");
    auto made = binaryElement(element, oid, key_type);
    if (auto* error = std::get_if<KeyError>(&made)) return std::move(*error);
    if (auto& kept = std::get<std::optional<ArrayElement>>(made)) elements.push_back(*kept);
  }
  if (reader.remaining() != 0) return badBinary("bytes after the last element");
  return elements;
}

}  // namespace

ArrayResult decodeArray(std::string_view bytes, Format format, KeyType key_type) {
  if (format == Format::kBinary) return decodeBinaryArray(bytes, key_type);
  return LiteralReader(bytes).read();
}

}  // namespace sg::pg::shard
