#include "pg/auth/md5_auth.h"

#include "pg/auth/crypto.h"
#include "pg/auth/scram.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

constexpr std::string_view kMd5Prefix = "md5";

// The stored secret for either kind of secret; nullopt when md5 cannot be derived from it.
std::optional<std::string> storedMd5(std::string_view user, std::string_view secret) {
  if (isMd5Secret(secret)) return std::string(secret);
  if (looksLikeScramVerifier(secret) || secret.empty()) return std::nullopt;
  return md5Secret(user, secret);
}

}  // namespace

bool isMd5Secret(std::string_view secret) {
  if (secret.size() != kMd5Prefix.size() + 32 || !secret.starts_with(kMd5Prefix)) return false;
  for (char c : secret.substr(kMd5Prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string md5Secret(std::string_view user, std::string_view password) {
  return std::string(kMd5Prefix) + md5Hex(std::string(password) + std::string(user));
}

std::optional<std::string> md5Response(std::string_view user, std::string_view secret,
                                       const unsigned char salt[kMd5SaltSize]) {
  std::optional<std::string> stored = storedMd5(user, secret);
  if (!stored) return std::nullopt;
  std::string input = stored->substr(kMd5Prefix.size());
  input.append(reinterpret_cast<const char*>(salt), kMd5SaltSize);
  return std::string(kMd5Prefix) + md5Hex(input);
}

bool md5Verify(std::string_view user, std::string_view secret,
               const unsigned char salt[kMd5SaltSize], std::string_view response) {
  std::optional<std::string> expected = md5Response(user, secret, salt);
  return expected && constantTimeEqual(*expected, response);
}

void appendPasswordMessage(std::string* out, std::string_view text) {
  out->push_back('p');
  appendInt32(out, static_cast<int32_t>(4 + text.size() + 1));
  out->append(text);
  out->push_back('\0');
}

}  // namespace sg::pg
