#pragma once
// Small helpers for reading comma- and semicolon-separated header field values (RFC 9110
// 5.6.1) without allocating. Internal to sg_compress.
#include <cstddef>
#include <string_view>

namespace sg::compress::detail {

inline bool isOws(char c) { return c == ' ' || c == '\t'; }

inline std::string_view trimOws(std::string_view text) {
  while (!text.empty() && isOws(text.front())) text.remove_prefix(1);
  while (!text.empty() && isOws(text.back())) text.remove_suffix(1);
  return text;
}

inline char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLower(a[i]) != toLower(b[i])) return false;
  }
  return true;
}

// Calls fn(member) for each `delimiter`-separated member of `list`, trimmed of OWS; empty
// members are skipped (the list grammar allows them). A delimiter inside a quoted string
// does not split, so `private="a, no-transform"` stays one member.
template <typename Fn>
void forEachMember(std::string_view list, char delimiter, Fn&& fn) {
  auto emit = [&](size_t from, size_t to) {
    std::string_view member = trimOws(list.substr(from, to - from));
    if (!member.empty()) fn(member);
  };
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i < list.size(); ++i) {
    const char c = list[i];
    if (quoted) {
      if (c == '\\' && i + 1 < list.size()) {
        ++i;  // quoted-pair: the escaped byte cannot end the string
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == delimiter) {
      emit(start, i);
      start = i + 1;
    }
  }
  emit(start, list.size());
}

}  // namespace sg::compress::detail
