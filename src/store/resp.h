#pragma once
// Command encoding (RESP arrays of bulk strings). Hand-written rather than hiredis's
// redisFormatCommandArgv: that one mallocs a fresh buffer per command, and commands here
// are appended straight into a connection's output buffer. Replies are parsed by hiredis.
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace sg::store {

void appendCommand(std::string* out, std::span<const std::string_view> argv);
inline void appendCommand(std::string* out, std::initializer_list<std::string_view> argv) {
  appendCommand(out, std::span<const std::string_view>(argv.begin(), argv.size()));
}

}  // namespace sg::store
