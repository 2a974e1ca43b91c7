#pragma once
// A sharding key's value as PostgreSQL stores it, decoded from what a client sends: a literal's
// text or a bound parameter in text or binary format. The key column's type must be known (it
// comes from config): text "5" hashes as an integer for a bigint key and as bytes for a text key.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace sg::pg::shard {

// The key column types scalegate can hash and compare as PostgreSQL does. varchar hashes and
// compares like text, character (char(n), bpchar) like text without its trailing spaces;
// int2/int4/int8 hash alike for equal values (PostgreSQL's integer_ops).
enum class KeyType {
  kSmallint,
  kInteger,
  kBigint,
  kText,
  kCharacter,
  kUuid,
  kBoolean,
  kDate,
  kTimestamp
};

// PostgreSQL's parameter format codes (0 text, 1 binary).
enum class Format { kText, kBinary };

// Why a value has no shard, with the SQLSTATE the caller sends to the client.
struct KeyError {
  std::string sqlstate;  // 22P02, 22003, 22P03, 22008, 0A000 or 23514
  std::string message;
};

// A decoded value: integer for the integer types, boolean (0/1), date (days since 2000-01-01)
// and timestamp (microseconds since 2000-01-01); bytes for text, character (trailing spaces
// removed: they do not count in its comparisons and hash) and uuid (16 raw bytes).
struct KeyValue {
  int64_t integer = 0;
  std::string bytes;

  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

// PostgreSQL's name for the type ("bigint", "text"); parseKeyType also takes the aliases
// (int8, int4, int, int2, varchar, character varying, bpchar, char, bool, timestamp without
// time zone).
std::string_view keyTypeName(KeyType type);
bool parseKeyType(std::string_view name, KeyType* out);
// Held in KeyValue::integer (every type but text, character and uuid).
bool isIntegral(KeyType type);

using DecodeResult = std::variant<KeyValue, KeyError>;

// The value as the column would store it; an error for input PostgreSQL refuses (with its
// SQLSTATE) or input scalegate does not read (0A000: a date in another style than ISO).
DecodeResult decodeKey(KeyType type, std::string_view value, Format format);

// Order and equality as PostgreSQL's btree operators for the type (text: bytewise, which is
// the "C" collation), -1, 0 or 1.
int compareKeys(KeyType type, const KeyValue& a, const KeyValue& b);

// The value in PostgreSQL's output format (for messages and reshard plans).
std::string formatKey(KeyType type, const KeyValue& value);

}  // namespace sg::pg::shard
