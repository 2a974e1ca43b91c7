#include "metrics/text_format.h"

#include <charconv>
#include <cmath>

namespace sg::metrics::text {
namespace {

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

void appendDouble(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (value == 0) {
    out += '0';  // also for -0
    return;
  }
  char buffer[64];
  const double magnitude = std::fabs(value);
  // Fixed notation stays short in this range (at most ~35 characters); outside it the
  // shortest general form (e.g. 1e+20) is what Prometheus parsers accept as well.
  const auto format =
      magnitude >= 1e-9 && magnitude < 1e16 ? std::chars_format::fixed : std::chars_format::general;
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, format);
  out.append(buffer, result.ptr);
}

void appendUnsigned(std::string& out, uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void appendSigned(std::string& out, int64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void appendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void appendEscapedHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

bool isValidMetricName(std::string_view name) {
  if (name.empty() || isDigit(name[0])) return false;
  for (char c : name) {
    if (!isAlpha(c) && !isDigit(c) && c != '_' && c != ':') return false;
  }
  return true;
}

bool isValidLabelName(std::string_view name) {
  if (name.empty() || isDigit(name[0]) || name.starts_with("__")) return false;
  for (char c : name) {
    if (!isAlpha(c) && !isDigit(c) && c != '_') return false;
  }
  return true;
}

}  // namespace sg::metrics::text
