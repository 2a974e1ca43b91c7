#pragma once
// One result column's values as the merger reads them: text-format values compared by the
// column's type OID (from RowDescription), and the float formatting PostgreSQL prints.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::pg::scatter {

// Type OIDs (pg_type.dat) the merger knows.
namespace type_oid {
inline constexpr uint32_t kBool = 16;
inline constexpr uint32_t kName = 19;
inline constexpr uint32_t kInt8 = 20;
inline constexpr uint32_t kInt2 = 21;
inline constexpr uint32_t kInt4 = 23;
inline constexpr uint32_t kText = 25;
inline constexpr uint32_t kOid = 26;
inline constexpr uint32_t kFloat4 = 700;
inline constexpr uint32_t kFloat8 = 701;
inline constexpr uint32_t kBpchar = 1042;
inline constexpr uint32_t kVarchar = 1043;
inline constexpr uint32_t kDate = 1082;
inline constexpr uint32_t kTime = 1083;
inline constexpr uint32_t kTimestamp = 1114;
inline constexpr uint32_t kTimestamptz = 1184;
inline constexpr uint32_t kNumeric = 1700;
inline constexpr uint32_t kUuid = 2950;
}  // namespace type_oid

enum class ValueOrder : uint8_t {
  kInteger,    // int2, int4, int8, oid
  kFloat,      // float4, float8: NaN above everything, as in PostgreSQL
  kNumeric,    // arbitrary precision decimal text
  kBytes,      // text, varchar, bpchar, name, uuid, time: byte order (C collation)
  kBool,       // f < t
  kTimestamp,  // date, timestamp, timestamptz in ISO DateStyle
  kUnsupported,
};

ValueOrder valueOrderOf(uint32_t type_oid);

// Three-way comparison of two non-null text values of one column. For kTimestamp, values
// in ISO form ("2024-01-31 10:00:00.5+01", "infinity", "... BC") are compared as instants;
// any other form falls back to byte order.
int compareValues(ValueOrder order, std::string_view a, std::string_view b);

// float8out / float4out with extra_float_digits = 1 (PostgreSQL 12+'s default): the
// shortest text that reads back as the same value, in exponent form outside [1e-4, 1e15)
// (float4: [1e-4, 1e6)); "NaN", "Infinity", "-Infinity".
std::string formatFloat8(double value);
std::string formatFloat4(float value);
std::optional<double> parseFloat8(std::string_view text);
std::optional<float> parseFloat4(std::string_view text);
std::optional<int64_t> parseInt64(std::string_view text);

}  // namespace sg::pg::scatter
