#include "ratelimit/headers.h"

#include <algorithm>
#include <charconv>

namespace sg::ratelimit {

namespace {

void appendParameter(std::string* out, std::string_view key, uint64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, std::min(value, kMaxSfInteger));
  out->push_back(';');
  out->append(key);
  out->push_back('=');
  out->append(digits, result.ptr);
}

void appendMember(std::string* out, std::string_view name, std::string_view first_key,
                  uint64_t first, std::string_view second_key, uint64_t second) {
  if (!out->empty()) out->append(", ");
  appendSfString(out, name);
  appendParameter(out, first_key, first);
  appendParameter(out, second_key, second);
}

}  // namespace

void appendSfString(std::string* out, std::string_view text) {
  out->push_back('"');
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c < 0x20 || c > 0x7e) {  // char may be signed: bytes >= 0x80 are negative
      out->push_back('?');
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void appendPolicy(std::string* out, std::string_view name, const Decision& decision) {
  appendMember(out, name, "q", decision.limit, "w", decision.window_seconds);
}

void appendState(std::string* out, std::string_view name, const Decision& decision) {
  appendMember(out, name, "r", decision.remaining, "t", decision.reset_seconds);
}

}  // namespace sg::ratelimit
