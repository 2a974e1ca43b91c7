#include "http/path_normalizer.h"

#include <cstring>

namespace sg::http {

namespace {

constexpr char kUpperHex[] = "0123456789ABCDEF";

// -1 unless c is a hex digit; lower-case digits only when `any_case`.
int hexValue(char c, bool any_case) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (any_case && c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 3986 2.3: ALPHA DIGIT - . _ ~
bool isUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool isSlashLike(unsigned char c) { return c == '/' || c == '\\'; }

// "/." or "/.." at i, followed by the end or another '/'.
bool isDotSegmentAt(std::string_view path, size_t i) {
  size_t j = i + 1;
  if (j >= path.size() || path[j] != '.') return false;
  ++j;
  if (j < path.size() && path[j] == '.') ++j;
  return j == path.size() || path[j] == '/';
}

// The fast check: true when normalizePath would leave `path` as it is.
bool isNormal(std::string_view path, const PathOptions& options) {
  const bool keep_slashes = options.escaped_slashes == EscapedSlashes::kKeep;
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '/') {
      if (i + 1 < path.size() && path[i + 1] == '/' && options.merge_slashes) return false;
      if (isDotSegmentAt(path, i)) return false;
    } else if (c == '%') {
      if (i + 2 >= path.size()) return false;
      const int high = hexValue(path[i + 1], false);
      const int low = hexValue(path[i + 2], false);
      if (high < 0 || low < 0) return false;
      const auto value = static_cast<unsigned char>(high * 16 + low);
      if (isUnreserved(value) || (isSlashLike(value) && !keep_slashes)) return false;
      i += 2;
    } else if (c == '\\' && !keep_slashes) {
      return false;
    }
  }
  return true;
}

// Steps 1 and 2: percent-encodings and escaped slashes, from `path` into *out.
PathStatus decodePath(std::string_view path, EscapedSlashes escaped, std::string* out) {
  out->clear();
  out->reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '\\') {
      if (escaped == EscapedSlashes::kReject) return PathStatus::kEscapedSlash;
      out->push_back(escaped == EscapedSlashes::kDecode ? '/' : c);
      continue;
    }
    if (c != '%') {
      out->push_back(c);
      continue;
    }
    if (i + 2 >= path.size()) return PathStatus::kBadEncoding;
    const int high = hexValue(path[i + 1], true);
    const int low = hexValue(path[i + 2], true);
    if (high < 0 || low < 0) return PathStatus::kBadEncoding;
    i += 2;
    const auto value = static_cast<unsigned char>(high * 16 + low);
    if (isUnreserved(value)) {
      out->push_back(static_cast<char>(value));
      continue;
    }
    if (isSlashLike(value) && escaped != EscapedSlashes::kKeep) {
      if (escaped == EscapedSlashes::kReject) return PathStatus::kEscapedSlash;
      out->push_back('/');
      continue;
    }
    out->push_back('%');
    out->push_back(kUpperHex[high]);
    out->push_back(kUpperHex[low]);
  }
  return PathStatus::kNormalized;
}

// Steps 3 and 4 in place, segment by segment. The write position never passes the read
// position, so segments only ever move left.
void removeDotSegments(bool merge_slashes, std::string* path) {
  std::string& s = *path;
  const size_t n = s.size();
  size_t w = 0;
  size_t i = 0;
  while (i < n) {  // s[i] == '/'
    size_t j = i + 1;
    while (j < n && s[j] != '/') ++j;
    const size_t length = j - i - 1;
    const bool last = j == n;
    const bool dot = length == 1 && s[i + 1] == '.';
    const bool dot_dot = length == 2 && s[i + 1] == '.' && s[i + 2] == '.';
    if (dot_dot) {
      while (w > 0 && s[w - 1] != '/') --w;  // drop the last segment...
      if (w > 0) --w;                        // ...and its '/'; never above the root
    }
    if (dot || dot_dot) {
      if (last) s[w++] = '/';
    } else if (length > 0 || last || !merge_slashes) {
      s[w++] = '/';
      std::memmove(&s[w], &s[i + 1], length);
      w += length;
    }
    i = j;
  }
  s.resize(w);
}

}  // namespace

PathStatus normalizePath(std::string_view path, const PathOptions& options, std::string* out) {
  if (path.empty() || path.front() != '/' || isNormal(path, options)) return PathStatus::kUnchanged;
  const PathStatus status = decodePath(path, options.escaped_slashes, out);
  if (status != PathStatus::kNormalized) return status;
  removeDotSegments(options.merge_slashes, out);
  return *out == path ? PathStatus::kUnchanged : PathStatus::kNormalized;
}

}  // namespace sg::http
