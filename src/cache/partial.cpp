#include "cache/partial.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "cache/http_date.h"
#include "cache/text.h"

namespace sg::cache {
namespace {

std::optional<uint64_t> parseNumber(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;  // fits in 64 bits
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

// The request without Range and If-Range: storability is decided as for the plain GET.
http::RequestHead withoutRange(const http::RequestHead& request) {
  http::RequestHead plain = request;
  std::erase_if(plain.headers, [](const http::Header& header) {
    return detail::equalsIgnoreCase(header.name, "range") ||
           detail::equalsIgnoreCase(header.name, "if-range");
  });
  return plain;
}

// The one Content-Range of a 206 that can be stored, framed by a matching Content-Length.
std::optional<ContentRange> storableRange(const http::ResponseHead& response) {
  std::optional<ContentRange> range;
  size_t fields = 0;
  for (const http::Header& header : response.headers) {
    if (!detail::equalsIgnoreCase(header.name, "content-range")) continue;
    ++fields;
    range = parseContentRange(header.value);
  }
  if (fields != 1 || !range) return std::nullopt;
  if (response.body != http::BodyKind::kContentLength ||
      response.content_length != range->last - range->first + 1) {
    return std::nullopt;
  }
  return range;
}

bool strongLastModified(const CachedResponse& entry) {
  if (entry.last_modified.empty()) return false;
  const auto now = std::chrono::floor<std::chrono::seconds>(entry.response_time);
  const auto modified = parseHttpDate(entry.last_modified, now);
  if (!modified) return false;
  std::optional<std::chrono::sys_seconds> sent;
  if (const auto date = entry.header("date")) sent = parseHttpDate(*date, now);
  return sent.value_or(now) - *modified >= std::chrono::seconds{1};
}

bool strongEtag(const CachedResponse& entry) {
  return !entry.etag.empty() && !entry.etag.starts_with("W/");
}

}  // namespace

std::optional<ContentRange> parseContentRange(std::string_view value) {
  value = detail::trimOws(value);
  const size_t space = value.find(' ');
  if (space == std::string_view::npos || !detail::equalsIgnoreCase(value.substr(0, space), "bytes"))
    return std::nullopt;
  const std::string_view rest = detail::trimOws(value.substr(space + 1));
  const size_t dash = rest.find('-');
  const size_t slash = rest.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash)
    return std::nullopt;
  const auto first = parseNumber(rest.substr(0, dash));
  const auto last = parseNumber(rest.substr(dash + 1, slash - dash - 1));
  const auto length = parseNumber(rest.substr(slash + 1));  // "*" (unknown) fails here
  if (!first || !last || !length || *last < *first || *last >= *length) return std::nullopt;
  return ContentRange{*first, *last, *length};
}

StoreResult makeStoredResponse(std::string key, const http::RequestHead& request,
                               const http::ResponseHead& response, Time request_time,
                               Time response_time, const config::RouteCacheConfig& route) {
  const bool ranged = detail::hasHeader(request.headers, "range");
  if (response.status != 206 && !ranged) {
    return makeCachedResponse(std::move(key), request, response, {}, request_time, response_time,
                              route);
  }
  const http::RequestHead plain = withoutRange(request);
  if (response.status != 206) {
    return makeCachedResponse(std::move(key), plain, response, {}, request_time, response_time,
                              route);
  }
  const std::optional<ContentRange> range = storableRange(response);
  if (!range) return StoreResult{StoreVerdict::kRange, nullptr};
  http::ResponseHead whole = response;  // judged as the 200 it is part of
  whole.status = 200;
  std::erase_if(whole.headers, [](const http::Header& header) {
    return detail::equalsIgnoreCase(header.name, "content-range");
  });
  StoreResult result =
      makeCachedResponse(std::move(key), plain, whole, {}, request_time, response_time, route);
  const bool complete = range->first == 0 && range->last + 1 == range->length;
  if (!result.entry || complete) return result;
  auto entry = std::make_shared<CachedResponse>(*result.entry);
  entry->status = 206;
  entry->partial_first = range->first;
  entry->complete_length = range->length;
  result.entry = std::move(entry);
  return result;
}

uint64_t partialLast(const CachedResponse& entry) {
  const uint64_t size = entry.bodyBytes().size();
  return size == 0 ? entry.partial_first : entry.partial_first + size - 1;
}

bool strongValidatorsMatch(const CachedResponse& a, const CachedResponse& b) {
  if (!a.etag.empty() || !b.etag.empty()) return strongEtag(a) && a.etag == b.etag;
  return strongLastModified(a) && strongLastModified(b) && a.last_modified == b.last_modified;
}

std::string ifRangeValidator(const CachedResponse& stored) {
  if (strongEtag(stored)) return stored.etag;
  if (stored.etag.empty() && strongLastModified(stored)) return stored.last_modified;
  return {};
}

bool continuesPartial(const CachedResponse& stored, const http::ResponseHead& response) {
  if (!stored.partial() || response.status != 206) return false;
  const std::optional<ContentRange> range = storableRange(response);
  if (!range || range->length != stored.complete_length || range->last + 1 != range->length ||
      range->first != partialLast(stored) + 1) {
    return false;
  }
  CachedResponse probe;  // the new part's validators, as an entry would hold them
  probe.response_time = stored.response_time;
  probe.etag = std::string(detail::firstHeader(response.headers, "etag").value_or(""));
  if (const auto modified = detail::firstHeader(response.headers, "last-modified"))
    probe.last_modified = std::string(*modified);
  if (const auto date = detail::firstHeader(response.headers, "date"))
    probe.headers.push_back({"Date", std::string(*date)});
  return strongValidatorsMatch(stored, probe);
}

std::shared_ptr<const CachedResponse> extendPartial(const CachedResponse& older,
                                                    std::shared_ptr<const CachedResponse> newer,
                                                    uint64_t max_object_size) {
  if (!older.partial() || !newer || !newer->partial() ||
      older.complete_length != newer->complete_length || !strongValidatorsMatch(older, *newer)) {
    return newer;
  }
  const uint64_t first = std::min(older.partial_first, newer->partial_first);
  const uint64_t last = std::max(partialLast(older), partialLast(*newer));
  const uint64_t held = older.bodyBytes().size() + newer->bodyBytes().size();
  if (last - first + 1 > held || last - first + 1 > max_object_size) return newer;  // a gap
  // Older's bytes at their place, then newer's over them.
  std::string body(static_cast<size_t>(last - first + 1), '\0');
  body.replace(older.partial_first - first, older.bodyBytes().size(), older.bodyBytes());
  body.replace(newer->partial_first - first, newer->bodyBytes().size(), newer->bodyBytes());
  auto merged = std::make_shared<CachedResponse>(*newer);
  merged->partial_first = first;
  if (first == 0 && last + 1 == merged->complete_length) {
    merged->status = 200;
    merged->partial_first = 0;
    merged->complete_length = 0;
  }
  merged->body = std::make_shared<const std::string>(std::move(body));
  merged->charge = estimateCharge(*merged);
  return merged;
}

}  // namespace sg::cache
