#pragma once
// PostgreSQL's md5 password authentication
// (https://www.postgresql.org/docs/15/auth-password.html). The stored secret is
// "md5" + hex(md5(password + user)); the answer to AuthenticationMD5Password's 4-byte salt is
// "md5" + hex(md5(hex-part-of-the-secret + salt)). So the md5 secret alone is enough to answer a
// server's challenge, which is what lets a proxy log in holding only the secret.
#include <optional>
#include <string>
#include <string_view>

namespace sg::pg {

inline constexpr size_t kMd5SaltSize = 4;

// "md5" followed by exactly 32 lower-case hex digits: PostgreSQL's own test, so a plaintext
// password of that shape is an md5 secret here as there, and "md5" + upper-case hex is plaintext.
bool isMd5Secret(std::string_view secret);
// The secret PostgreSQL stores for `password` of `user`.
std::string md5Secret(std::string_view user, std::string_view password);

// The PasswordMessage text answering a server's md5 challenge, from the user's secret (plaintext
// or md5). nullopt for a SCRAM verifier (it cannot answer md5).
std::optional<std::string> md5Response(std::string_view user, std::string_view secret,
                                       const unsigned char salt[kMd5SaltSize]);

// Whether a client's md5 `response` (the PasswordMessage text, without its NUL) answers `salt`
// for the user's secret (plaintext or md5). False for a SCRAM verifier and for an empty password
// (PostgreSQL never authenticates an empty password). Constant-time comparison.
bool md5Verify(std::string_view user, std::string_view secret,
               const unsigned char salt[kMd5SaltSize], std::string_view response);

// PasswordMessage ('p'): the text and its NUL (the md5 response, or a cleartext password).
void appendPasswordMessage(std::string* out, std::string_view text);

}  // namespace sg::pg
