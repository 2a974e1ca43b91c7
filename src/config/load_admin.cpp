// admin.token, admin.token_file and admin.public_read. The token file is read here, at load
// time, so a missing or empty file fails `scalegate check` instead of leaving the admin API
// open or locked. Error messages never contain the token, only its length or a byte position.
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "config/load.h"

namespace sg::config::detail {

namespace {

// Shorter tokens can be guessed; 16 bytes is the length of a 128-bit secret written raw, and
// `openssl rand -hex 32` gives 64.
constexpr size_t kMinTokenBytes = 16;
constexpr size_t kMaxTokenBytes = 4096;

// RFC 6750 b64token: the characters a Bearer credential may use in an Authorization header.
bool isTokenByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("-._~+/=").find(c) != std::string_view::npos;
}

// An error message about the token's shape, or empty when it is usable. `what` names where the
// token came from ("token", "the file 'x'").
std::string tokenProblem(std::string_view token, const std::string& what) {
  if (token.empty()) return what + " is empty";
  if (token.size() < kMinTokenBytes) {
    return what + " is " + std::to_string(token.size()) + " bytes; an admin token needs at least " +
           std::to_string(kMinTokenBytes) +
           " so it cannot be guessed (make one with: openssl rand -hex 32)";
  }
  if (token.size() > kMaxTokenBytes)
    return what + " is longer than " + std::to_string(kMaxTokenBytes) + " bytes";
  for (size_t i = 0; i < token.size(); ++i) {
    if (!isTokenByte(token[i])) {
      return what + ": byte " + std::to_string(i + 1) +
             " is not allowed in a Bearer token (use letters, digits and -._~+/=)";
    }
  }
  return "";
}

// The file's contents without trailing line ends; false (reported at the key) when it cannot
// be read or is empty.
bool readTokenFile(ErrorSink& errors, const Field& field, const std::string& config_file,
                   std::string* out) {
  std::string path;
  if (!readString(errors, &field, &path)) return false;
  if (path.empty()) {
    errors.add(field.mark(), field.path, "the file path is empty");
    return false;
  }
  path = resolvePath(config_file, path);
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    errors.add(field.mark(), field.path,
               "cannot read " + detail::quoted(path) + ": it is a directory");
    return false;
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    errors.add(field.mark(), field.path,
               "cannot read " + detail::quoted(path) + ": " + std::strerror(errno));
    return false;
  }
  std::string text;
  char buffer[1024];
  while (file.read(buffer, sizeof(buffer)) || file.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(file.gcount()));
    if (text.size() > kMaxTokenBytes + 2) break;  // bounded: `token_file: /dev/zero`
  }
  if (file.bad()) {
    errors.add(field.mark(), field.path, "cannot read " + detail::quoted(path));
    return false;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::string problem = tokenProblem(text, "the token in " + detail::quoted(path));
  if (!problem.empty()) {
    errors.add(field.mark(), field.path, problem);
    return false;
  }
  *out = std::move(text);
  return true;
}

bool isLoopback(const net::Address& address) {
  if (address.family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address.sockaddrPtr());
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (address.family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address.sockaddrPtr());
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) != 0;
  }
  return false;
}

}  // namespace

void loadAdminAuth(ErrorSink& errors, const MapReader& map, const Field* address,
                   const std::string& config_file, AdminConfig* out) {
  readBool(errors, map.find("public_read"), &out->public_read);
  const Field* token = map.find("token");
  const Field* token_file = map.find("token_file");
  if (token != nullptr && token_file != nullptr) {
    errors.add(token_file->mark(), token_file->path, "set either token or token_file, not both");
    return;
  }
  if (token != nullptr) {
    std::string text;
    if (!readString(errors, token, &text)) return;
    std::string problem = tokenProblem(text, "the token");
    if (!problem.empty()) {
      errors.add(token->mark(), token->path, problem);
      return;
    }
    out->token = std::move(text);
    return;
  }
  if (token_file != nullptr) {
    readTokenFile(errors, *token_file, config_file, &out->token);
    return;
  }
  if (out->address && !isLoopback(*out->address)) {
    errors.add(address->mark(), address->path,
               out->address->toString() +
                   " is not a loopback address: without admin.token (or admin.token_file) the "
                   "admin API may only listen on 127.0.0.0/8 or [::1]; set a token or bind "
                   "to 127.0.0.1");
  }
}

}  // namespace sg::config::detail
