#include "pg/auth/user_list.h"

#include <fstream>
#include <sstream>

#include "pg/auth/md5_auth.h"
#include "pg/auth/scram.h"

namespace sg::pg {

namespace {

// A double-quoted field at the front of `*rest` (after spaces): its text with "" unescaped.
bool readQuoted(std::string_view* rest, std::string* out, std::string* error) {
  size_t start = rest->find_first_not_of(" \t");
  if (start == std::string_view::npos || (*rest)[start] != '"') {
    *error = "expected a double-quoted field";
    return false;
  }
  out->clear();
  for (size_t i = start + 1; i < rest->size(); ++i) {
    char c = (*rest)[i];
    if (c != '"') {
      out->push_back(c);
      continue;
    }
    if (i + 1 < rest->size() && (*rest)[i + 1] == '"') {
      out->push_back('"');
      ++i;
      continue;
    }
    rest->remove_prefix(i + 1);
    return true;
  }
  *error = "unterminated double-quoted field";
  return false;
}

// One non-comment line into (user, secret).
bool parseLine(std::string_view line, std::string* user, std::string* secret, std::string* error) {
  if (!readQuoted(&line, user, error)) return false;
  if (user->empty()) {
    *error = "empty user name";
    return false;
  }
  if (!readQuoted(&line, secret, error)) return false;
  if (looksLikeScramVerifier(*secret)) {
    ScramVerifier verifier;
    std::string why;
    if (!parseScramVerifier(*secret, &verifier, &why)) {
      *error = "user \"" + *user + "\": " + why;
      return false;
    }
  }
  return true;
}

}  // namespace

SecretKind classifySecret(std::string_view secret) {
  if (isMd5Secret(secret)) return SecretKind::kMd5;
  if (looksLikeScramVerifier(secret)) return SecretKind::kScram;
  return SecretKind::kPlain;
}

bool UserList::parse(std::string_view text, std::string_view source, UserList* out,
                     std::string* error) {
  UserList list;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == ';' || line[first] == '#') continue;
    std::string user;
    std::string secret;
    std::string why;
    if (!parseLine(line, &user, &secret, &why)) {
      *error = std::string(source) + ":" + std::to_string(line_number) + ": " + why;
      return false;
    }
    list.secrets_[std::move(user)] = std::move(secret);
  }
  *out = std::move(list);
  return true;
}

bool UserList::load(const std::string& path, UserList* out, std::string* error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    *error = path + ": cannot open the user list";
    return false;
  }
  std::ostringstream content;
  content << file.rdbuf();
  if (file.bad()) {
    *error = path + ": cannot read the user list";
    return false;
  }
  return parse(content.str(), path, out, error);
}

const std::string* UserList::find(std::string_view user) const {
  auto it = secrets_.find(std::string(user));
  return it == secrets_.end() ? nullptr : &it->second;
}

}  // namespace sg::pg
