#include "cache/rfc9111.h"

#include <algorithm>
#include <utility>

#include "cache/cache_key.h"
#include "cache/http_date.h"
#include "cache/revalidation.h"
#include "cache/text.h"

namespace sg::cache {
namespace {

using std::chrono::floor;
using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr Duration kZero{0};
// The gateway's own targeted field is for this cache only: never stored, so never replayed
// on hits (nor taken from a 304 into the entry).
constexpr std::string_view kOwnTargetedField = "scalegate-cache-control";

sys_seconds toSeconds(Time time) { return floor<seconds>(time); }

// Final statuses defined by RFC 9110 (what must-understand asks a cache to implement).
bool isUnderstoodStatus(int status) {
  if (status >= 200 && status <= 206) return true;
  if ((status >= 300 && status <= 305) || status == 307 || status == 308) return true;
  if ((status >= 400 && status <= 417) || status == 421 || status == 422 || status == 426) {
    return true;
  }
  return status >= 500 && status <= 505;
}

// First parseable HTTP-date of `name`; several differing values count as invalid.
struct DateField {
  bool present = false;
  std::optional<sys_seconds> value;  // nullopt when present but invalid or conflicting
};

DateField readDate(const std::vector<http::Header>& headers, std::string_view name,
                   sys_seconds now) {
  DateField field;
  bool conflict = false;
  detail::forEachHeader(headers, name, [&](std::string_view text) {
    const auto parsed = parseHttpDate(text, now);
    if (field.present && parsed != field.value) conflict = true;
    field.present = true;
    field.value = parsed;
  });
  if (conflict) field.value.reset();
  return field;
}

bool hasValidator(const std::vector<http::Header>& headers, sys_seconds now) {
  return detail::hasHeader(headers, "etag") || readDate(headers, "last-modified", now).value;
}

bool hasExplicitFreshness(const ResponseCacheControl& cc,
                          const std::vector<http::Header>& headers) {
  return cc.max_age || cc.s_maxage || (!cc.targeted && detail::hasHeader(headers, "expires"));
}

// The route's targeted field when one is valid (RFC 9213), else Cache-Control.
ResponseCacheControl effectiveCacheControl(const std::vector<http::Header>& headers,
                                           const config::RouteCacheConfig& route) {
  if (auto targeted = parseTargetedCacheControl(headers, route.targeted_cache_control)) {
    return *targeted;
  }
  return parseResponseCacheControl(headers);
}

// RFC 9111 5.1: a list-valued Age (one line "7200, 0" or several lines) counts as its
// first member; the rest is discarded.
std::optional<std::string_view> firstAgeMember(const std::vector<http::Header>& headers) {
  const auto line = detail::firstHeader(headers, "age");
  if (!line) return std::nullopt;
  std::optional<std::string_view> first;
  detail::forEachListElement(*line, [&](std::string_view element) {
    if (!first) first = element;
  });
  return first;
}

// Heuristic freshness (RFC 9111 4.2.2): a fraction of the time since Last-Modified, as of
// Date (or the response time). Zero without a valid Last-Modified in the past.
Duration lastModifiedHeuristic(const std::vector<http::Header>& headers, double fraction,
                               sys_seconds now) {
  if (fraction <= 0) return kZero;
  const DateField last_modified = readDate(headers, "last-modified", now);
  if (!last_modified.value) return kZero;
  const sys_seconds date = readDate(headers, "date", now).value.value_or(now);
  if (*last_modified.value >= date) return kZero;
  const double age = static_cast<double>((date - *last_modified.value).count());
  const double lifetime = std::min(age * fraction, static_cast<double>(detail::kMaxDeltaSeconds));
  return seconds{static_cast<int64_t>(lifetime)};
}

// Stale windows and flags derived from the directives.
void applyDirectives(CachedResponse& entry, const ResponseCacheControl& cc,
                     const config::RouteCacheConfig& route) {
  entry.no_cache = cc.no_cache;
  entry.never_stale = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.has_value();
  if (entry.no_cache || entry.never_stale) {
    entry.stale_while_revalidate = kZero;
    entry.stale_if_error = kZero;
    return;
  }
  entry.stale_while_revalidate = std::max<Duration>(route.stale_while_revalidate,
                                                    cc.stale_while_revalidate.value_or(seconds{0}));
  entry.stale_if_error =
      std::max<Duration>(route.stale_if_error, cc.stale_if_error.value_or(seconds{0}));
}

bool reusable(const CachedResponse& entry) {
  return entry.lifetime > kZero || !entry.etag.empty() || !entry.last_modified.empty() ||
         entry.stale_while_revalidate > kZero || entry.stale_if_error > kZero;
}

// RFC 9110 9.3.3: a POST response with explicit freshness whose Content-Location is the
// request's own URL may answer later GETs of that URL.
bool storablePost(const http::RequestHead& request, const http::ResponseHead& response,
                  const ResponseCacheControl& cc) {
  return request.method == "POST" && hasExplicitFreshness(cc, response.headers) &&
         contentLocationIsTarget(request, response);
}

StoreVerdict checkHeads(const http::RequestHead& request, const http::ResponseHead& response,
                        const ResponseCacheControl& cc, const config::RouteCacheConfig& route,
                        Time response_time) {
  if (!route.enabled) return StoreVerdict::kDisabled;
  if (request.method != "GET" && !storablePost(request, response, cc)) {
    return StoreVerdict::kMethod;
  }
  if (response.status == 206 || detail::hasHeader(request.headers, "range")) {
    return StoreVerdict::kRange;
  }
  if (response.status < 200 || response.status == 304 || response.status > 599) {
    return StoreVerdict::kStatus;
  }
  const bool understood = isUnderstoodStatus(response.status);
  if (cc.must_understand && !understood) return StoreVerdict::kStatus;
  if (parseRequestCacheControl(request.headers).no_store) return StoreVerdict::kNoStore;
  if (cc.no_store && !(cc.must_understand && understood)) return StoreVerdict::kNoStore;
  if (cc.is_private) return StoreVerdict::kPrivate;
  if (detail::hasHeader(request.headers, "authorization") &&
      !(cc.is_public || cc.s_maxage || cc.must_revalidate)) {
    return StoreVerdict::kAuthorization;
  }
  if (route.set_cookie == config::RouteCacheConfig::SetCookie::kBypass &&
      detail::hasHeader(response.headers, "set-cookie")) {
    return StoreVerdict::kSetCookie;
  }
  if (!variantNames(response, route.key)) return StoreVerdict::kVaryStar;
  if (response.body == http::BodyKind::kContentLength &&
      response.content_length > route.max_object_size) {
    return StoreVerdict::kTooLarge;
  }
  if (!hasExplicitFreshness(cc, response.headers) && !cc.is_public &&
      !isHeuristicallyCacheable(response.status)) {
    return StoreVerdict::kNotReusable;
  }
  CachedResponse probe;
  probe.lifetime = freshnessLifetime(response.status, response.headers, cc, route, response_time);
  applyDirectives(probe, cc, route);
  if (!reusable(probe) && !hasValidator(response.headers, toSeconds(response_time))) {
    return StoreVerdict::kNotReusable;
  }
  return StoreVerdict::kStore;
}

}  // namespace

namespace detail {

bool isExcludedFromStorage(std::string_view name, const std::vector<std::string_view>& tokens) {
  static constexpr std::string_view kExcluded[] = {"connection",
                                                   "keep-alive",
                                                   "proxy-connection",
                                                   "te",
                                                   "transfer-encoding",
                                                   "upgrade",
                                                   "trailer",
                                                   "proxy-authenticate",
                                                   "proxy-authentication-info",
                                                   "content-length",
                                                   "age",
                                                   kOwnTargetedField};
  for (std::string_view excluded : kExcluded) {
    if (equalsIgnoreCase(name, excluded)) return true;
  }
  for (std::string_view token : tokens) {
    if (equalsIgnoreCase(name, token)) return true;
  }
  return false;
}

void applyResponseRules(CachedResponse& entry, const std::vector<http::Header>& headers,
                        const ResponseCacheControl& parsed, const config::RouteCacheConfig& route) {
  // Callers pass Cache-Control; a valid targeted field (RFC 9213) replaces it.
  const std::optional<ResponseCacheControl> targeted =
      parsed.targeted ? std::nullopt
                      : parseTargetedCacheControl(headers, route.targeted_cache_control);
  const ResponseCacheControl& cc = targeted ? *targeted : parsed;
  entry.lifetime = freshnessLifetime(entry.status, headers, cc, route, entry.response_time);
  applyDirectives(entry, cc, route);
  entry.etag = std::string(firstHeader(headers, "etag").value_or(""));
  entry.last_modified.clear();
  if (readDate(headers, "last-modified", toSeconds(entry.response_time)).value) {
    entry.last_modified = *firstHeader(headers, "last-modified");
  }
}

bool isReusable(const CachedResponse& entry) { return reusable(entry); }

bool stripsSetCookie(const config::RouteCacheConfig& route, std::string_view name) {
  return route.set_cookie != config::RouteCacheConfig::SetCookie::kStore &&
         equalsIgnoreCase(name, "set-cookie");
}

}  // namespace detail

std::string_view storeVerdictName(StoreVerdict verdict) {
  switch (verdict) {
    case StoreVerdict::kStore:
      return "store";
    case StoreVerdict::kDisabled:
      return "disabled";
    case StoreVerdict::kMethod:
      return "method";
    case StoreVerdict::kRange:
      return "range";
    case StoreVerdict::kStatus:
      return "status";
    case StoreVerdict::kNoStore:
      return "no_store";
    case StoreVerdict::kPrivate:
      return "private";
    case StoreVerdict::kAuthorization:
      return "authorization";
    case StoreVerdict::kSetCookie:
      return "set_cookie";
    case StoreVerdict::kVaryStar:
      return "vary_star";
    case StoreVerdict::kTooLarge:
      return "too_large";
    case StoreVerdict::kNotReusable:
      return "not_reusable";
  }
  return "unknown";
}

bool isHeuristicallyCacheable(int status) {
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      return true;
    default:
      return false;
  }
}

StoreVerdict checkStorable(const http::RequestHead& request, const http::ResponseHead& response,
                           const config::RouteCacheConfig& route, Time response_time) {
  return checkHeads(request, response, effectiveCacheControl(response.headers, route), route,
                    response_time);
}

Duration freshnessLifetime(int status, const std::vector<http::Header>& headers,
                           const ResponseCacheControl& cc, const config::RouteCacheConfig& route,
                           Time response_time) {
  if (route.force_ttl) return *route.force_ttl;
  if (cc.s_maxage) return *cc.s_maxage;
  if (cc.max_age) return *cc.max_age;
  const sys_seconds now = toSeconds(response_time);
  const DateField expires =
      cc.targeted ? DateField{} : readDate(headers, "expires", now);  // RFC 9213 2.2
  if (expires.present) {
    if (!expires.value) return kZero;  // invalid Expires: already expired (RFC 9111 5.3)
    const DateField date = readDate(headers, "date", now);
    const sys_seconds date_value = date.value.value_or(now);
    return std::max<Duration>(kZero, *expires.value - date_value);
  }
  if (!isHeuristicallyCacheable(status) && !cc.is_public) return kZero;
  // default_ttl is the operator's own heuristic: when set it replaces the Last-Modified one.
  if (route.default_ttl) return *route.default_ttl;
  return lastModifiedHeuristic(headers, route.heuristic, now);
}

Duration correctedInitialAge(const std::vector<http::Header>& headers, Time request_time,
                             Time response_time) {
  const DateField date = readDate(headers, "date", toSeconds(response_time));
  const Time date_value = date.value ? Time{*date.value} : response_time;
  Duration age_value = kZero;
  if (const auto age = firstAgeMember(headers)) {
    if (const auto parsed = detail::parseDeltaSeconds(*age)) age_value = seconds{*parsed};
  }
  const Duration apparent_age = std::max(kZero, response_time - date_value);
  const Duration response_delay = std::max(kZero, response_time - request_time);
  return std::max(apparent_age, age_value + response_delay);
}

StoreResult makeCachedResponse(std::string key, const http::RequestHead& request,
                               const http::ResponseHead& response, std::string body,
                               Time request_time, Time response_time,
                               const config::RouteCacheConfig& route) {
  const ResponseCacheControl cc = effectiveCacheControl(response.headers, route);
  StoreResult result;
  result.verdict = checkHeads(request, response, cc, route, response_time);
  if (result.verdict == StoreVerdict::kStore && body.size() > route.max_object_size) {
    result.verdict = StoreVerdict::kTooLarge;
  }
  if (result.verdict != StoreVerdict::kStore) return result;

  auto entry = std::make_shared<CachedResponse>();
  entry->key = std::move(key);
  entry->vary = variantFields(request.headers, *variantNames(response, route.key));
  entry->status = response.status;
  for (const http::Header& header : response.headers) {
    if (detail::isExcludedFromStorage(header.name, response.connection_tokens)) continue;
    if (detail::stripsSetCookie(route, header.name)) continue;
    entry->headers.push_back(StoredHeader{std::string(header.name), std::string(header.value)});
  }
  if (!detail::hasHeader(entry->headers, "date")) {
    // RFC 9110 6.6.1: a cache records when a response without Date was received.
    entry->headers.push_back(StoredHeader{"Date", formatHttpDate(toSeconds(response_time))});
  }
  entry->body = std::make_shared<const std::string>(std::move(body));
  entry->request_time = request_time;
  entry->response_time = response_time;
  entry->corrected_initial_age = correctedInitialAge(response.headers, request_time, response_time);
  detail::applyResponseRules(*entry, response.headers, cc, route);
  renderWireHeaders(*entry);
  entry->charge = estimateCharge(*entry);
  result.entry = std::move(entry);
  return result;
}

std::shared_ptr<const CachedResponse> withBody(const CachedResponse& head_only, std::string body,
                                               uint64_t max_object_size, uint32_t owner) {
  if (body.size() > max_object_size) return nullptr;
  auto entry = std::make_shared<CachedResponse>(head_only);
  entry->owner = owner;
  entry->body = std::make_shared<const std::string>(std::move(body));
  entry->charge = estimateCharge(*entry);
  return entry;
}

Duration currentAge(const CachedResponse& entry, Time now) {
  return entry.corrected_initial_age + std::max(kZero, now - entry.response_time);
}

int64_t ageHeaderSeconds(const CachedResponse& entry, Time now) {
  const int64_t age = floor<seconds>(currentAge(entry, now)).count();
  return std::min(age, detail::kMaxDeltaSeconds);
}

bool isFresh(const CachedResponse& entry, Time now) {
  return entry.lifetime > currentAge(entry, now);
}

namespace {

// Whether the client's own directives (when honoured) demand contacting the origin even
// though the stored response is fresh.
bool clientDemandsRevalidation(const RequestCacheControl& request, Duration age,
                               Duration lifetime) {
  if (request.no_cache) return true;
  if (request.max_age && age > *request.max_age) return true;
  return request.min_fresh && lifetime - age < *request.min_fresh;
}

bool clientAcceptsStale(const RequestCacheControl& request, Duration staleness) {
  return request.max_stale_any || (request.max_stale && staleness <= *request.max_stale);
}

}  // namespace

ServeAction decideServe(const CachedResponse& entry, const RequestCacheControl& request, Time now,
                        ServeOptions options) {
  const Duration age = currentAge(entry, now);
  const bool fresh = entry.lifetime > age;
  const bool client_revalidates =
      options.honor_request_no_cache && clientDemandsRevalidation(request, age, entry.lifetime);
  const ServeAction contact_origin =
      request.only_if_cached ? ServeAction::kGatewayTimeout : ServeAction::kRevalidate;
  if (entry.no_cache || client_revalidates) return contact_origin;
  if (fresh) return ServeAction::kHit;
  if (entry.never_stale) return contact_origin;
  const Duration staleness = age - entry.lifetime;
  if (clientAcceptsStale(request, staleness)) return ServeAction::kStaleHit;
  if (staleness <= entry.stale_while_revalidate && entry.stale_while_revalidate > kZero) {
    return ServeAction::kStaleWhileRevalidate;
  }
  return contact_origin;
}

bool isStaleIfErrorStatus(int status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

bool mayServeStaleOnError(const CachedResponse& entry, Time now) {
  if (entry.no_cache) return false;
  const Duration age = currentAge(entry, now);
  if (entry.lifetime > age) return true;
  if (entry.never_stale || entry.stale_if_error <= kZero) return false;
  return age - entry.lifetime <= entry.stale_if_error;
}

}  // namespace sg::cache
