#pragma once
// Pieces of the Prometheus text exposition format 0.0.4 (used by Registry, tested alone).
#include <cstdint>
#include <string>
#include <string_view>

namespace sg::metrics::text {

// Shortest round-trip form, in fixed notation for ordinary magnitudes (0.0005, not 5e-04;
// 30, not 3e+01), scientific only for very large/small values; NaN, +Inf, -Inf.
void appendDouble(std::string& out, double value);
void appendUnsigned(std::string& out, uint64_t value);
void appendSigned(std::string& out, int64_t value);

// Label values: backslash, double quote and newline become \\, \" and \n.
void appendEscapedLabelValue(std::string& out, std::string_view value);
// HELP text: backslash and newline become \\ and \n.
void appendEscapedHelp(std::string& out, std::string_view help);

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool isValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved).
bool isValidLabelName(std::string_view name);

}  // namespace sg::metrics::text
