#pragma once
// The user list file, in PgBouncer's userlist.txt format
// (https://www.pgbouncer.org/config.html#authentication-file-format): one user per line,
//   "user" "secret"
// both fields in double quotes, a doubled quote ("") inside quotes being a literal quote, and
// anything after the second field ignored. Blank lines and lines starting with ';' or '#' are
// skipped. A secret is a plaintext password, an md5 secret (md5 + 32 hex digits) or a SCRAM
// verifier (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>), as in pg_authid.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sg::pg {

enum class SecretKind : uint8_t { kPlain, kMd5, kScram };
SecretKind classifySecret(std::string_view secret);

// An immutable map user -> secret. Reloading means loading a new one and swapping it in.
class UserList {
 public:
  UserList() = default;

  // Reads `path`. On a malformed line (or an unreadable file) false, and *error names
  // "path:line: what". A user listed twice keeps the later secret, as in PgBouncer.
  static bool load(const std::string& path, UserList* out, std::string* error);
  // The same from text; `source` names it in errors.
  static bool parse(std::string_view text, std::string_view source, UserList* out,
                    std::string* error);

  // The user's secret, or nullptr when the user is not listed.
  const std::string* find(std::string_view user) const;
  size_t size() const { return secrets_.size(); }

 private:
  std::unordered_map<std::string, std::string> secrets_;
};

}  // namespace sg::pg
