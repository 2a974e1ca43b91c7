#pragma once
// Small text helpers internal to sg_cache: header lookup by case-insensitive name, OWS
// trimming, delta-seconds and comma lists that respect quoted strings.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::cache::detail {

constexpr char toLowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

constexpr bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLowerAscii(a[i]) != toLowerAscii(b[i])) return false;
  }
  return true;
}

inline std::string toLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = toLowerAscii(c);
  return out;
}

constexpr bool isOws(char c) { return c == ' ' || c == '\t'; }

constexpr std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9111 1.2.2: delta-seconds is 1*DIGIT; values too large for the cache are taken as
// 2^31 seconds. Anything else (empty, sign, fraction, letters) is nullopt.
inline constexpr int64_t kMaxDeltaSeconds = int64_t{1} << 31;
constexpr std::optional<int64_t> parseDeltaSeconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
    if (value > kMaxDeltaSeconds) value = kMaxDeltaSeconds;
  }
  return value;
}

// Calls fn(element) for each comma-separated element of `value`, OWS-trimmed, with commas
// inside quoted strings (and their backslash escapes) not splitting. Empty elements are
// skipped (RFC 9110 5.6.1 lets recipients ignore them).
template <class Fn>
void forEachListElement(std::string_view value, Fn&& fn) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (i < value.size()) {
      const char c = value[i];
      if (quoted && c == '\\') {
        ++i;  // skip the escaped byte
        continue;
      }
      if (c == '"') quoted = !quoted;
      if (quoted || c != ',') continue;
    }
    const std::string_view element = trimOws(value.substr(start, i - start));
    if (!element.empty()) fn(element);
    start = i + 1;
  }
}

// Calls fn(value) for every header named `name` (case-insensitive) in order. Works for
// http::Header and for the cache's stored headers (both have .name and .value).
template <class Headers, class Fn>
void forEachHeader(const Headers& headers, std::string_view name, Fn&& fn) {
  for (const auto& header : headers) {
    if (equalsIgnoreCase(header.name, name)) fn(std::string_view(header.value));
  }
}

template <class Headers>
bool hasHeader(const Headers& headers, std::string_view name) {
  for (const auto& header : headers) {
    if (equalsIgnoreCase(header.name, name)) return true;
  }
  return false;
}

// First value of `name`, or nullopt.
template <class Headers>
std::optional<std::string_view> firstHeader(const Headers& headers, std::string_view name) {
  for (const auto& header : headers) {
    if (equalsIgnoreCase(header.name, name)) return std::string_view(header.value);
  }
  return std::nullopt;
}

}  // namespace sg::cache::detail
