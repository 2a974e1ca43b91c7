#include "cache/revalidation.h"

#include <algorithm>
#include <utility>

#include "cache/cache_control.h"
#include "cache/cache_key.h"
#include "cache/http_date.h"
#include "cache/rfc9111.h"
#include "cache/text.h"

namespace sg::cache {
namespace {

using std::chrono::floor;
using std::chrono::seconds;

bool isWeak(std::string_view etag) { return etag.substr(0, 2) == "W/"; }
std::string_view opaqueTag(std::string_view etag) { return isWeak(etag) ? etag.substr(2) : etag; }

// RFC 9110 8.8.3.2.
bool weakEqual(std::string_view a, std::string_view b) {
  return !a.empty() && !b.empty() && opaqueTag(a) == opaqueTag(b);
}
bool isSetCookie(std::string_view name) { return detail::equalsIgnoreCase(name, "set-cookie"); }

bool isExcludedFromUpdate(std::string_view name, const std::vector<std::string_view>& tokens) {
  return detail::isExcludedFromStorage(name, tokens) ||
         detail::equalsIgnoreCase(name, "content-range") ||
         detail::equalsIgnoreCase(name, "content-encoding") ||
         detail::equalsIgnoreCase(name, "vary");
}

// Without `with_set_cookie`, Set-Cookie lines (stored or in the 304) are left out.
std::vector<StoredHeader> mergeHeaders(const std::vector<StoredHeader>& stored,
                                       const http::ResponseHead& not_modified,
                                       std::chrono::sys_seconds response_time,
                                       bool with_set_cookie) {
  std::vector<http::Header> updates;
  for (const http::Header& header : not_modified.headers) {
    if (!isExcludedFromUpdate(header.name, not_modified.connection_tokens) &&
        (with_set_cookie || !isSetCookie(header.name))) {
      updates.push_back(header);
    }
  }
  const bool has_date = detail::hasHeader(updates, "date");
  std::vector<StoredHeader> merged;
  for (const StoredHeader& header : stored) {
    const bool replaced = detail::hasHeader(updates, header.name) ||
                          (!has_date && detail::equalsIgnoreCase(header.name, "date")) ||
                          (!with_set_cookie && isSetCookie(header.name));
    if (!replaced) merged.push_back(header);
  }
  for (const http::Header& header : updates) {
    merged.push_back(StoredHeader{std::string(header.name), std::string(header.value)});
  }
  // RFC 9110 6.6.1: the 304 was received now; a stale Date would age the entry wrongly.
  if (!has_date) merged.push_back(StoredHeader{"Date", formatHttpDate(response_time)});
  return merged;
}

std::vector<http::Header> viewsOf(const std::vector<StoredHeader>& headers) {
  std::vector<http::Header> views;
  views.reserve(headers.size());
  for (const StoredHeader& header : headers)
    views.push_back(http::Header{header.name, header.value});
  return views;
}

// RFC 9111 4.3.2: the date an If-Modified-Since is compared with: Last-Modified, else
// Date, else when the response was received. A later date than the client's means the
// stored response may differ from the client's copy, so no 304 then.
std::chrono::sys_seconds modificationDate(const CachedResponse& entry) {
  const std::chrono::sys_seconds received = floor<seconds>(entry.response_time);
  for (const auto& text :
       {std::optional<std::string_view>(entry.last_modified), entry.header("date")}) {
    if (!text || text->empty()) continue;
    if (const auto date = parseHttpDate(*text, received)) return *date;
  }
  return received;
}

}  // namespace

ConditionalHeaders conditionalHeaders(const CachedResponse& entry) {
  return ConditionalHeaders{entry.etag, entry.last_modified};
}

FreshenResult freshenWith304(const CachedResponse& stored, const http::ResponseHead& not_modified,
                             Time request_time, Time response_time,
                             const config::RouteCacheConfig& route) {
  FreshenResult result;
  if (not_modified.status != 304) return result;
  const bool store_cookies = route.set_cookie == config::RouteCacheConfig::SetCookie::kStore;
  const std::chrono::sys_seconds received = floor<seconds>(response_time);
  auto entry = std::make_shared<CachedResponse>(stored);  // the body is shared, not copied
  entry->headers = mergeHeaders(stored.headers, not_modified, received, store_cookies);
  entry->request_time = request_time;
  entry->response_time = response_time;
  entry->corrected_initial_age =
      correctedInitialAge(not_modified.headers, request_time, response_time);
  const std::vector<http::Header> views = viewsOf(entry->headers);
  const ResponseCacheControl cc = parseResponseCacheControl(views);
  detail::applyResponseRules(*entry, views, cc, route);
  renderWireHeaders(*entry);
  entry->charge = estimateCharge(*entry);
  result.storable = !cc.no_store && !cc.is_private && detail::isReusable(*entry);
  result.served = entry;
  if (!store_cookies && detail::hasHeader(not_modified.headers, "set-cookie")) {
    // The 304's cookies are for the client that revalidated, not for the stored entry.
    auto served = std::make_shared<CachedResponse>(*entry);
    served->headers = mergeHeaders(stored.headers, not_modified, received, true);
    renderWireHeaders(*served);
    result.served = std::move(served);
  }
  result.entry = std::move(entry);
  return result;
}

bool clientNotModified(const http::RequestHead& request, const CachedResponse& entry) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  bool has_if_none_match = false;
  bool matched = false;
  detail::forEachHeader(request.headers, "if-none-match", [&](std::string_view value) {
    has_if_none_match = true;
    detail::forEachListElement(value, [&](std::string_view tag) {
      if (tag == "*" || weakEqual(tag, entry.etag)) matched = true;
    });
  });
  if (has_if_none_match) return matched;
  const auto since_text = detail::firstHeader(request.headers, "if-modified-since");
  if (!since_text) return false;
  const auto since = parseHttpDate(*since_text, floor<seconds>(entry.response_time));
  return since && modificationDate(entry) <= *since;
}

bool isUnsafeMethod(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS" && method != "TRACE";
}

namespace {

struct UriParts {
  std::string_view authority;  // empty for relative references
  std::string path;
  std::string_view query;
};

// RFC 3986 5.2.4, enough for the paths origins put in Location. The result always
// begins with '/'.
std::string removeDotSegments(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = !path.empty() && path.front() == '/' ? 1 : 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (segment != ".") {
      segments.push_back(segment);
    }
    if (end == path.size() && (segment == "." || segment == "..")) segments.emplace_back();
    start = end + 1;
  }
  std::string out;
  for (std::string_view segment : segments) {
    out += '/';
    out += segment;
  }
  return out.empty() ? "/" : out;
}

std::optional<UriParts> parseReference(std::string_view reference, std::string_view base_path) {
  reference = detail::trimOws(reference.substr(0, reference.find('#')));
  UriParts parts;
  const size_t colon = reference.find(':');
  const size_t slash = reference.find('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon < slash)) {
    const std::string_view scheme = reference.substr(0, colon);
    if (!detail::equalsIgnoreCase(scheme, "http") && !detail::equalsIgnoreCase(scheme, "https")) {
      return std::nullopt;
    }
    reference.remove_prefix(colon + 1);
    if (reference.substr(0, 2) != "//") return std::nullopt;
  }
  if (reference.substr(0, 2) == "//") {
    reference.remove_prefix(2);
    const size_t end = std::min(reference.find('/'), reference.find('?'));
    parts.authority = reference.substr(0, end);
    const size_t at = parts.authority.rfind('@');
    if (at != std::string_view::npos) parts.authority.remove_prefix(at + 1);
    reference = end == std::string_view::npos ? std::string_view() : reference.substr(end);
  }
  const size_t question = reference.find('?');
  std::string_view path = reference.substr(0, question);
  if (question != std::string_view::npos) parts.query = reference.substr(question + 1);
  std::string merged;
  if (path.empty()) {
    if (!parts.authority.empty()) {
      merged.push_back('/');  // (not = "/": GCC 12 -Wrestrict false positive)
    } else if (question != std::string_view::npos) {
      merged = std::string(base_path);  // "?q": same path, new query
    } else {
      return std::nullopt;  // empty reference: the request itself
    }
  } else if (path.front() != '/') {
    const size_t last_slash = base_path.rfind('/');
    merged =
        std::string(last_slash == std::string_view::npos ? std::string_view("/")
                                                         : base_path.substr(0, last_slash + 1));
  }
  merged += path;
  parts.path = removeDotSegments(merged);
  return parts;
}

}  // namespace

std::vector<std::string> invalidatedKeys(const http::RequestHead& request,
                                         const http::ResponseHead& response,
                                         const config::RouteCacheConfig::Key& key,
                                         const http::PathOptions* paths) {
  std::vector<std::string> keys;
  if (!isUnsafeMethod(request.method) || response.status < 200 || response.status >= 400) {
    return keys;
  }
  keys.push_back(buildPrimaryKey(request, key));
  for (std::string_view name :
       {std::string_view("location"), std::string_view("content-location")}) {
    const auto value = detail::firstHeader(response.headers, name);
    if (!value) continue;
    const auto parts = parseReference(*value, request.path);
    if (!parts) continue;
    if (!parts->authority.empty() && !detail::equalsIgnoreCase(keyHostWithoutPort(parts->authority),
                                                               keyHostWithoutPort(request.host))) {
      continue;  // another host: RFC 9111 4.4 forbids invalidating it (denial of service)
    }
    std::string normal;
    const http::PathStatus status = paths != nullptr
                                        ? http::normalizePath(parts->path, *paths, &normal)
                                        : http::PathStatus::kUnchanged;
    if (status == http::PathStatus::kBadEncoding || status == http::PathStatus::kEscapedSlash) {
      continue;  // no request with this path is ever served, so nothing is stored under it
    }
    const std::string_view path =
        status == http::PathStatus::kNormalized ? std::string_view(normal) : parts->path;
    std::string target = buildPrimaryKey(request.host, path, parts->query, key);
    if (std::find(keys.begin(), keys.end(), target) == keys.end())
      keys.push_back(std::move(target));
  }
  return keys;
}

bool contentLocationIsTarget(const http::RequestHead& request, const http::ResponseHead& response) {
  std::optional<std::string_view> value;
  size_t lines = 0;
  detail::forEachHeader(response.headers, "content-location", [&](std::string_view text) {
    ++lines;
    value = text;
  });
  if (lines != 1) return false;  // none, or several that may disagree
  const auto parts = parseReference(*value, request.path);
  if (!parts) return false;
  if (!parts->authority.empty() && !detail::equalsIgnoreCase(parts->authority, request.host)) {
    return false;
  }
  return parts->path == request.path && parts->query == request.query;
}

}  // namespace sg::cache
