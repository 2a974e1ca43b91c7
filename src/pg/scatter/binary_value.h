#pragma once
// One result column's values in binary format (the types' send functions, as a Bind asks
// for them): compared in PostgreSQL's order, and converted to and from the text forms the
// merger's arithmetic reads (column_value.h, numeric_text.h), so a binary sum or avg is the
// text path's result, sent back in binary.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::pg::scatter {

// Three-way comparison of two non-null binary values of a type valueOrderOf knows:
// integers, dates and times as signed big-endian numbers (oid unsigned), floats with NaN
// greatest and -0 = 0, numeric by value, bool, text types and uuid bytewise. Values of an
// unexpected length compare bytewise.
int compareBinaryValues(uint32_t type_oid, std::string_view a, std::string_view b);

// The text a shard would have sent in text format, for int2, int4, int8, oid, float4,
// float8 and numeric (floats in their shortest round-trip form). nullopt for a malformed
// value or another type.
std::optional<std::string> binaryToText(uint32_t type_oid, std::string_view value);

// The binary value of int8, float4, float8 or numeric text (numeric's display scale is
// the text's count of digits after the point, as numeric_send gives it).
std::optional<std::string> textToBinary(uint32_t type_oid, std::string_view text);

}  // namespace sg::pg::scatter
