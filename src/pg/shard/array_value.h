#pragma once
// The elements of a one-dimensional array bound as a parameter, e.g. the $1 of
// `customer_id = ANY($1)` (asyncpg and psycopg send a Python list this way), so the caller can
// find the shard of each element. Text format is PostgreSQL's array literal (array_in: braces,
// double quotes, backslash escapes, NULL, an optional '[1:3]=' dimension decoration); binary
// format is array_send's (ndim, flags, element type OID, dimensions, lower bounds, elements).
// Arrays of two or more dimensions are refused: a key column holds scalars.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pg/shard/key_value.h"

namespace sg::pg::shard {

// One element, ready for ShardFunction::shardOf: its bytes (nullopt: NULL) in text or binary
// format (binary only when the element's type is the key's type or another integer type).
struct ArrayElement {
  std::optional<std::string> value;
  Format format = Format::kText;
  friend bool operator==(const ArrayElement&, const ArrayElement&) = default;
};

using ArrayResult = std::variant<std::vector<ArrayElement>, KeyError>;

// Most elements scalegate reads from one array (each needs a shard lookup): a longer array is
// refused (54000) rather than allocated.
inline constexpr size_t kMaxArrayElements = 65536;

// Decodes the bound array for a key of `key_type`. A binary array's element type must be the
// key's type, text-like (text, varchar, char, name, unknown: read as text input), or for an
// integer key another integer type or numeric; a numeric element that no integer equals (a
// fraction, NaN, infinity, beyond 64 bits) matches no row and is left out. Errors: 22P02
// (malformed literal), 22P03 (malformed binary), 0A000 (several dimensions, an element type
// that cannot be compared with the key), 54000 (too many elements). Never throws.
ArrayResult decodeArray(std::string_view bytes, Format format, KeyType key_type);

}  // namespace sg::pg::shard
