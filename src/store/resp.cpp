#include "store/resp.h"

#include <charconv>

namespace sg::store {

namespace {

void appendLength(std::string* out, char kind, size_t length) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof(digits), length);
  out->push_back(kind);
  out->append(digits, result.ptr);
  out->append("\r\n");
}

}  // namespace

void appendCommand(std::string* out, std::span<const std::string_view> argv) {
  appendLength(out, '*', argv.size());
  for (std::string_view arg : argv) {
    appendLength(out, '$', arg.size());
    out->append(arg);
    out->append("\r\n");
  }
}

}  // namespace sg::store
