#include "store/script.h"

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

#include "base/hex.h"
#include "store/resp.h"

namespace sg::store {

namespace {

std::string hexDigest(std::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base::hexEncode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

// Where the numkeys element starts: after "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n".
size_t tailOffset(const std::string& command) {
  size_t at = command.find("\r\n") + 2;  // *N
  at = command.find("\r\n", at) + 2;     // $7
  at = command.find("\r\n", at) + 2;     // EVALSHA
  at = command.find("\r\n", at) + 2;     // $40
  return command.find("\r\n", at) + 2;   // the digest
}

}  // namespace

Script::Script(std::string source) : source_(std::move(source)), sha1_(hexDigest(source_)) {}

void appendScriptCall(std::string* out, const Script& script, std::string_view key,
                      const std::string_view* args, size_t count) {
  constexpr size_t kOnStack = 24;  // every script call of the gateway fits: no allocation
  std::array<std::string_view, kOnStack> stack;
  std::vector<std::string_view> heap;
  std::string_view* argv = stack.data();
  if (count + 4 > kOnStack) {
    heap.resize(count + 4);
    argv = heap.data();
  }
  argv[0] = "EVALSHA";
  argv[1] = script.sha1();
  argv[2] = "1";
  argv[3] = key;
  std::copy(args, args + count, argv + 4);
  appendCommand(out, std::span<const std::string_view>(argv, count + 4));
}

void appendScriptCall(std::string* out, const Script& script, std::string_view key,
                      std::initializer_list<std::string_view> args) {
  appendScriptCall(out, script, key, args.begin(), args.size());
}

std::string evalFormOf(const std::string& evalsha_command, const Script& script) {
  const size_t tail = tailOffset(evalsha_command);
  const size_t count_end = evalsha_command.find("\r\n");
  std::string command = evalsha_command.substr(0, count_end + 2);
  command.append("$4\r\nEVAL\r\n$");
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof(digits), script.source().size());
  command.append(digits, result.ptr);
  command.append("\r\n").append(script.source()).append("\r\n");
  command.append(evalsha_command, tail);
  return command;
}

}  // namespace sg::store
