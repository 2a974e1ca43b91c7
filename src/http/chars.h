#pragma once
// Byte classes and small scanning helpers shared by the head parser and the chunked decoder
// (internal to sg_http). Tables are built at compile time; lookups are one load per byte.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sg::http::detail {

enum CharClass : uint8_t {
  kClassTchar = 1,       // token characters (RFC 9110 5.6.2)
  kClassVisible = 2,     // VCHAR 0x21-0x7E
  kClassFieldValue = 4,  // HTAB, SP, VCHAR, obs-text 0x80-0xFF
  kClassHost = 8,        // uri-host / port bytes: unreserved, sub-delims, ':', '[', ']', '%'
};

constexpr std::array<uint8_t, 256> makeCharClasses() {
  std::array<uint8_t, 256> table{};
  constexpr std::string_view kTcharPunct = "!#$%&'*+-.^_`|~";
  constexpr std::string_view kHostPunct = "-._~!$&'()*+,;=:[]%";
  for (int c = 0; c < 256; ++c) {
    uint8_t bits = 0;
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || kTcharPunct.find(static_cast<char>(c)) != std::string_view::npos) {
      bits |= kClassTchar;
    }
    if (c >= 0x21 && c <= 0x7E) bits |= kClassVisible | kClassFieldValue;
    if (c == '\t' || c == ' ' || c >= 0x80) bits |= kClassFieldValue;
    if (alnum || kHostPunct.find(static_cast<char>(c)) != std::string_view::npos) {
      bits |= kClassHost;
    }
    table[static_cast<size_t>(c)] = bits;
  }
  return table;
}

inline constexpr std::array<uint8_t, 256> kCharClasses = makeCharClasses();

constexpr bool hasClass(char c, uint8_t cls) {
  return (kCharClasses[static_cast<unsigned char>(c)] & cls) != 0;
}
constexpr bool isTchar(char c) { return hasClass(c, kClassTchar); }
constexpr bool isVisible(char c) { return hasClass(c, kClassVisible); }
constexpr bool isFieldValue(char c) { return hasClass(c, kClassFieldValue); }
constexpr bool isOws(char c) { return c == ' ' || c == '\t'; }
constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Case-insensitive equality against a lower-case literal made of letters, digits and '-'.
// Exact for inputs that passed tchar or field-value validation: (c | 0x20) only maps a
// control byte onto a digit or '-', and controls never reach this point.
constexpr bool equalsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) | 0x20) != static_cast<unsigned char>(lower[i])) {
      return false;
    }
  }
  return true;
}

constexpr std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each comma-separated element of a list value, OWS trimmed; empty
// elements are passed too (callers decide whether they are allowed).
template <class Fn>
void forEachListElement(std::string_view value, Fn&& fn) {
  for (;;) {
    const size_t comma = value.find(',');
    fn(trimOws(value.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

// SWAR helpers over 8 bytes (Bit Twiddling Hacks): exact "any byte < n" / "any byte > n".
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;
constexpr uint64_t anyByteLess(uint64_t x, uint8_t n) { return (x - kOnes * n) & ~x & kHighs; }
constexpr uint64_t anyByteGreater(uint64_t x, uint8_t n) {
  return ((x + kOnes * (127 - n)) | x) & kHighs;
}
constexpr uint64_t anyByteEqual(uint64_t x, uint8_t n) { return anyByteLess(x ^ (kOnes * n), 1); }

inline uint64_t load64(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, sizeof(x));
  return x;
}

// Advances over field-value bytes (HTAB, SP, VCHAR, obs-text); returns the first other byte.
// Needs a non-field-value byte (the head's CR) at or before `end`.
inline const char* scanFieldValue(const char* p, const char* end) {
  while (end - p >= 8) {
    const uint64_t x = load64(p);
    if ((anyByteLess(x, 0x20) | anyByteEqual(x, 0x7F)) != 0) break;
    p += 8;
  }
  while (isFieldValue(*p)) ++p;
  return p;
}

// Advances over VCHAR bytes (0x21-0x7E); same sentinel requirement as scanFieldValue.
inline const char* scanVisible(const char* p, const char* end) {
  while (end - p >= 8) {
    const uint64_t x = load64(p);
    if ((anyByteLess(x, 0x21) | anyByteGreater(x, 0x7E)) != 0) break;
    p += 8;
  }
  while (isVisible(*p)) ++p;
  return p;
}

}  // namespace sg::http::detail
