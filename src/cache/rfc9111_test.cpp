// RFC 9111 rules: storability per directive combination, freshness lifetime, Age, serving
// decisions (fresh, stale, must-revalidate, swr / sie windows, request directives).
#include "cache/rfc9111.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cache/test_support.h"

namespace sg::cache {
namespace {

using namespace testing;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct RouteTweak {
  std::optional<seconds> default_ttl;
  std::optional<seconds> force_ttl;
  bool disabled = false;
};

config::RouteCacheConfig tweaked(const RouteTweak& tweak) {
  config::RouteCacheConfig r = route();
  if (tweak.default_ttl) r.default_ttl = *tweak.default_ttl;
  if (tweak.force_ttl) r.force_ttl = *tweak.force_ttl;
  r.enabled = !tweak.disabled;
  return r;
}

struct StorableCase {
  const char* name;
  const char* method;
  std::vector<http::Header> request_headers;
  int status;
  std::vector<http::Header> response_headers;
  RouteTweak route;
  StoreVerdict expected;
};

TEST(Storable, DirectiveCombinations) {
  const RouteTweak plain;
  const RouteTweak ttl{seconds{60}};
  const RouteTweak forced{std::nullopt, seconds{5}};
  using V = StoreVerdict;
  const auto cc = [](std::string_view value) { return headers({{"Cache-Control", value}}); };
  const StorableCase cases[] = {
      {"max-age", "GET", {}, 200, cc("max-age=60"), plain, V::kStore},
      {"disabled route", "GET", {}, 200, cc("max-age=60"), {.disabled = true}, V::kDisabled},
      {"POST", "POST", {}, 200, cc("max-age=60"), plain, V::kMethod},
      {"HEAD is served from GET, not stored", "HEAD", {}, 200, cc("max-age=60"), plain, V::kMethod},
      {"Range request", "GET", headers({{"Range", "bytes=0-9"}}), 200, cc("max-age=60"), plain,
       V::kRange},
      {"206", "GET", {}, 206, cc("max-age=60"), plain, V::kRange},
      {"304", "GET", {}, 304, cc("max-age=60"), plain, V::kStatus},
      {"interim", "GET", {}, 103, cc("max-age=60"), plain, V::kStatus},
      {"response no-store", "GET", {}, 200, cc("max-age=60, no-store"), plain, V::kNoStore},
      {"response NO-STORE", "GET", {}, 200, cc("NO-STORE, max-age=60"), plain, V::kNoStore},
      {"request no-store", "GET", cc("no-store"), 200, cc("max-age=60"), plain, V::kNoStore},
      {"private", "GET", {}, 200, cc("private, max-age=60"), plain, V::kPrivate},
      {"qualified private",
       "GET",
       {},
       200,
       cc("private=\"X-User\", max-age=60"),
       plain,
       V::kPrivate},
      {"Authorization", "GET", headers({{"Authorization", "Bearer x"}}), 200, cc("max-age=60"),
       plain, V::kAuthorization},
      {"Authorization + public", "GET", headers({{"Authorization", "Bearer x"}}), 200,
       cc("public, max-age=60"), plain, V::kStore},
      {"Authorization + s-maxage", "GET", headers({{"Authorization", "Bearer x"}}), 200,
       cc("s-maxage=60"), plain, V::kStore},
      {"Authorization + must-revalidate", "GET", headers({{"authorization", "Basic eA=="}}), 200,
       cc("must-revalidate, max-age=60"), plain, V::kStore},
      {"Set-Cookie",
       "GET",
       {},
       200,
       headers({{"Cache-Control", "max-age=60"}, {"Set-Cookie", "a=b"}}),
       plain,
       V::kSetCookie},
      {"Set-Cookie + public",
       "GET",
       {},
       200,
       headers({{"Cache-Control", "public, max-age=60"}, {"set-cookie", "a=b"}}),
       plain,
       V::kSetCookie},
      {"Vary: *",
       "GET",
       {},
       200,
       headers({{"Cache-Control", "max-age=60"}, {"Vary", "*"}}),
       plain,
       V::kVaryStar},
      {"Vary list with *",
       "GET",
       {},
       200,
       headers({{"Cache-Control", "max-age=60"}, {"Vary", "Accept-Encoding, *"}}),
       plain,
       V::kVaryStar},
      {"Vary names",
       "GET",
       {},
       200,
       headers({{"Cache-Control", "max-age=60"}, {"Vary", "Accept-Encoding"}}),
       plain,
       V::kStore},
      {"200 without freshness or validator", "GET", {}, 200, {}, plain, V::kNotReusable},
      {"200 with ETag only: revalidate each time",
       "GET",
       {},
       200,
       headers({{"ETag", "\"v1\""}}),
       plain,
       V::kStore},
      {"200 with Last-Modified only",
       "GET",
       {},
       200,
       headers({{"Last-Modified", "Sat, 01 Jun 2024 00:00:00 GMT"}}),
       plain,
       V::kStore},
      {"200 with invalid Last-Modified only",
       "GET",
       {},
       200,
       headers({{"Last-Modified", "yesterday"}}),
       plain,
       V::kNotReusable},
      {"200 heuristic with default_ttl", "GET", {}, 200, {}, ttl, V::kStore},
      {"404 heuristic", "GET", {}, 404, {}, ttl, V::kStore},
      {"410 heuristic", "GET", {}, 410, {}, ttl, V::kStore},
      {"500 is not heuristic", "GET", {}, 500, {}, ttl, V::kNotReusable},
      {"500 with max-age", "GET", {}, 500, cc("max-age=10"), plain, V::kStore},
      {"500 public uses default_ttl", "GET", {}, 500, cc("public"), ttl, V::kStore},
      {"302 without freshness", "GET", {}, 302, {}, ttl, V::kNotReusable},
      {"302 with Expires",
       "GET",
       {},
       302,
       headers({{"Expires", "Sat, 01 Jun 2024 01:00:00 GMT"}}),
       plain,
       V::kStore},
      {"max-age=0 without validator", "GET", {}, 200, cc("max-age=0"), plain, V::kNotReusable},
      {"max-age=0 + stale-while-revalidate",
       "GET",
       {},
       200,
       cc("max-age=0, stale-while-revalidate=30"),
       plain,
       V::kStore},
      {"max-age=0 + must-revalidate + swr: never reusable",
       "GET",
       {},
       200,
       cc("max-age=0, must-revalidate, stale-while-revalidate=30"),
       plain,
       V::kNotReusable},
      {"no-cache + ETag",
       "GET",
       {},
       200,
       headers({{"Cache-Control", "no-cache"}, {"ETag", "\"a\""}}),
       plain,
       V::kStore},
      {"must-understand overrides no-store for a known status",
       "GET",
       {},
       200,
       cc("must-understand, no-store, max-age=60"),
       plain,
       V::kStore},
      {"must-understand with an unknown status",
       "GET",
       {},
       299,
       cc("must-understand, no-store, max-age=60"),
       plain,
       V::kStatus},
      {"force_ttl on a plain 200", "GET", {}, 200, {}, forced, V::kStore},
      {"force_ttl does not cache a 500", "GET", {}, 500, {}, forced, V::kNotReusable},
      {"force_ttl does not override no-store", "GET", {}, 200, cc("no-store"), forced, V::kNoStore},
      {"force_ttl does not override private", "GET", {}, 200, cc("private"), forced, V::kPrivate},
  };
  for (const StorableCase& c : cases) {
    SCOPED_TRACE(c.name);
    http::RequestHead req = request({}, c.method);
    req.headers = c.request_headers;
    http::ResponseHead resp = response(c.status);
    resp.headers = c.response_headers;
    const config::RouteCacheConfig r = tweaked(c.route);
    EXPECT_EQ(storeVerdictName(checkStorable(req, resp, r, kNow)), storeVerdictName(c.expected));
    const StoreResult made = makeCachedResponse("k", req, resp, "body", kNow, kNow, r);
    EXPECT_EQ(storeVerdictName(made.verdict), storeVerdictName(c.expected));
    EXPECT_EQ(made.entry != nullptr, c.expected == StoreVerdict::kStore);
  }
}

TEST(Storable, SizeLimitFromContentLengthAndFromTheBody) {
  config::RouteCacheConfig r = route();
  r.max_object_size = 10;
  http::ResponseHead resp = response(200, {{"Cache-Control", "max-age=60"}});
  resp.body = http::BodyKind::kContentLength;
  resp.content_length = 11;
  EXPECT_EQ(checkStorable(request(), resp, r, kNow), StoreVerdict::kTooLarge);
  resp.content_length = 10;
  EXPECT_EQ(checkStorable(request(), resp, r, kNow), StoreVerdict::kStore);
  // Chunked: only the collected body tells.
  resp.body = http::BodyKind::kChunked;
  resp.content_length = 0;
  EXPECT_EQ(makeCachedResponse("k", request(), resp, std::string(11, 'x'), kNow, kNow, r).verdict,
            StoreVerdict::kTooLarge);
  EXPECT_EQ(makeCachedResponse("k", request(), resp, std::string(10, 'x'), kNow, kNow, r).verdict,
            StoreVerdict::kStore);
}

TEST(Storable, StoredHeadersDropHopByHopLengthAndAgeAndGainDate) {
  http::ResponseHead resp = response(200, {{"Cache-Control", "max-age=60"},
                                           {"Connection", "X-Hop"},
                                           {"X-Hop", "1"},
                                           {"Keep-Alive", "timeout=5"},
                                           {"Transfer-Encoding", "chunked"},
                                           {"Content-Length", "4"},
                                           {"Age", "3"},
                                           {"Content-Type", "text/plain"},
                                           {"ETag", "\"e\""}});
  resp.connection_tokens = {"X-Hop"};
  const auto entry = makeCachedResponse("k", request(), resp, "body", kNow, kNow, route()).entry;
  ASSERT_NE(entry, nullptr);
  std::string names;
  for (const StoredHeader& header : entry->headers) names += header.name + ";";
  EXPECT_EQ(names, "Cache-Control;Content-Type;ETag;Date;");
  EXPECT_EQ(entry->header("date"), kNowDate);
  EXPECT_EQ(entry->bodyBytes(), "body");
  EXPECT_EQ(entry->etag, "\"e\"");
  EXPECT_GT(entry->charge, 4u + sizeof(CachedResponse));
}

TEST(Storable, WithBodyMatchesStoringTheWholeResponse) {
  const http::ResponseHead resp = response(200, {{"Cache-Control", "max-age=60, stale-if-error=30"},
                                                 {"Content-Type", "text/plain"},
                                                 {"ETag", "\"e\""},
                                                 {"Last-Modified", kNowDate},
                                                 {"Vary", "Accept-Encoding"}});
  const http::RequestHead req = request({{"Accept-Encoding", "gzip"}});
  const std::string body(5000, 'b');
  const Time sent = kNow - 2s;
  const auto whole = makeCachedResponse("k", req, resp, body, sent, kNow, route()).entry;
  const auto head_only = makeCachedResponse("k", req, resp, "", sent, kNow, route()).entry;
  ASSERT_NE(whole, nullptr);
  ASSERT_NE(head_only, nullptr);
  const auto streamed = withBody(*head_only, body, route().max_object_size, 0);
  ASSERT_NE(streamed, nullptr);
  EXPECT_EQ(head_only->bodyBytes(), "");  // left as it was
  EXPECT_EQ(streamed->key, whole->key);
  EXPECT_EQ(streamed->vary, whole->vary);
  EXPECT_EQ(streamed->wire_headers, whole->wire_headers);
  EXPECT_EQ(whole->wire_headers.substr(0, 50),
            "Cache-Control: max-age=60, stale-if-error=30\r\nCont");
  EXPECT_EQ(streamed->status, whole->status);
  ASSERT_EQ(streamed->headers.size(), whole->headers.size());
  for (size_t i = 0; i < whole->headers.size(); ++i) {
    EXPECT_EQ(streamed->headers[i].name, whole->headers[i].name);
    EXPECT_EQ(streamed->headers[i].value, whole->headers[i].value);
  }
  EXPECT_EQ(streamed->bodyBytes(), body);
  EXPECT_EQ(streamed->request_time, whole->request_time);
  EXPECT_EQ(streamed->response_time, whole->response_time);
  EXPECT_EQ(streamed->corrected_initial_age, whole->corrected_initial_age);
  EXPECT_EQ(streamed->lifetime, whole->lifetime);
  EXPECT_EQ(streamed->stale_while_revalidate, whole->stale_while_revalidate);
  EXPECT_EQ(streamed->stale_if_error, whole->stale_if_error);
  EXPECT_EQ(streamed->no_cache, whole->no_cache);
  EXPECT_EQ(streamed->never_stale, whole->never_stale);
  EXPECT_EQ(streamed->etag, whole->etag);
  EXPECT_EQ(streamed->last_modified, whole->last_modified);
  EXPECT_EQ(streamed->owner, whole->owner);
  // The charge counts capacities: a copy (as withBody makes) has no growth slack in its
  // vectors and strings, so it matches a copy of `whole`, and never exceeds `whole`'s.
  EXPECT_EQ(streamed->charge, estimateCharge(CachedResponse(*whole)));
  EXPECT_LE(streamed->charge, whole->charge);
}

TEST(Storable, WithBodyRefusesBodiesOverTheLimit) {
  const auto head_only =
      makeCachedResponse("k", request(), response(200, {{"Cache-Control", "max-age=60"}}), "", kNow,
                         kNow, route())
          .entry;
  ASSERT_NE(head_only, nullptr);
  EXPECT_EQ(withBody(*head_only, std::string(11, 'x'), 10, 0), nullptr);
  const auto fits = withBody(*head_only, std::string(10, 'x'), 10, 0);
  ASSERT_NE(fits, nullptr);
  EXPECT_EQ(fits->bodyBytes(), std::string(10, 'x'));
  EXPECT_EQ(fits->owner, 0u);
  EXPECT_EQ(withBody(*head_only, "", 10, 3)->owner, 3u);  // the storing route
}

struct LifetimeCase {
  const char* name;
  int status;
  std::vector<http::Header> headers;
  RouteTweak route;
  int64_t expected_seconds;
};

TEST(Freshness, LifetimePrecedence) {
  const RouteTweak plain;
  const RouteTweak ttl{seconds{30}};
  const RouteTweak forced{std::nullopt, seconds{5}};
  const LifetimeCase cases[] = {
      {"s-maxage beats max-age", 200, headers({{"Cache-Control", "max-age=10, s-maxage=100"}}),
       plain, 100},
      {"max-age beats Expires", 200,
       headers({{"Cache-Control", "max-age=10"},
                {"Date", "Sat, 01 Jun 2024 00:00:00 GMT"},
                {"Expires", "Sat, 01 Jun 2024 01:00:00 GMT"}}),
       plain, 10},
      {"Expires - Date", 200,
       headers({{"Date", "Sat, 01 Jun 2024 00:00:00 GMT"},
                {"Expires", "Sat, 01 Jun 2024 01:00:00 GMT"}}),
       plain, 3600},
      {"Expires - Date with an old Date", 200,
       headers({{"Date", "Fri, 31 May 2024 23:00:00 GMT"},
                {"Expires", "Sat, 01 Jun 2024 01:00:00 GMT"}}),
       plain, 7200},
      {"Expires without Date uses the response time", 200,
       headers({{"Expires", "Sat, 01 Jun 2024 00:10:00 GMT"}}), plain, 600},
      {"Expires in rfc850 form", 200,
       headers({{"Date", "Sat, 01 Jun 2024 00:00:00 GMT"},
                {"Expires", "Saturday, 01-Jun-24 00:01:00 GMT"}}),
       plain, 60},
      {"Expires in asctime form", 200,
       headers(
           {{"Date", "Sat, 01 Jun 2024 00:00:00 GMT"}, {"Expires", "Sat Jun  1 00:02:00 2024"}}),
       plain, 120},
      {"Expires in the past", 200,
       headers({{"Date", "Sat, 01 Jun 2024 00:00:00 GMT"},
                {"Expires", "Fri, 31 May 2024 00:00:00 GMT"}}),
       plain, 0},
      {"invalid Expires is expired", 200, headers({{"Expires", "0"}}), ttl, 0},
      {"differing Expires are expired", 200,
       headers({{"Expires", "Sat, 01 Jun 2024 01:00:00 GMT"},
                {"Expires", "Sat, 01 Jun 2024 02:00:00 GMT"}}),
       ttl, 0},
      {"invalid Date falls back to the response time", 200,
       headers({{"Date", "garbage"}, {"Expires", "Sat, 01 Jun 2024 00:00:30 GMT"}}), plain, 30},
      {"malformed max-age is stale", 200, headers({{"Cache-Control", "max-age=ten"}}), ttl, 0},
      {"heuristic 200 uses default_ttl", 200, headers({}), ttl, 30},
      {"heuristic 301 uses default_ttl", 301, headers({}), ttl, 30},
      {"no heuristic without default_ttl", 200, headers({}), plain, 0},
      {"no heuristic for 500", 500, headers({}), ttl, 0},
      {"public allows the heuristic for 500", 500, headers({{"Cache-Control", "public"}}), ttl, 30},
      {"force_ttl overrides s-maxage", 200, headers({{"Cache-Control", "s-maxage=100"}}), forced,
       5},
      {"force_ttl overrides Expires", 200, headers({{"Expires", "0"}}), forced, 5},
      {"huge max-age is clamped", 200, headers({{"Cache-Control", "max-age=9999999999"}}), plain,
       int64_t{1} << 31},
  };
  for (const LifetimeCase& c : cases) {
    SCOPED_TRACE(c.name);
    const ResponseCacheControl cc = parseResponseCacheControl(c.headers);
    const Duration lifetime = freshnessLifetime(c.status, c.headers, cc, tweaked(c.route), kNow);
    EXPECT_EQ(std::chrono::duration_cast<seconds>(lifetime).count(), c.expected_seconds);
  }
}

struct AgeCase {
  const char* name;
  std::vector<http::Header> headers;
  milliseconds request_before;  // request_time = kNow - request_before
  milliseconds resident;        // now = kNow + resident
  int64_t expected_ms;          // current age
  int64_t expected_header;      // Age value to send
};

TEST(Age, Rfc9111Section423) {
  const AgeCase cases[] = {
      {"fresh from origin", headers({{"Date", "Sat, 01 Jun 2024 00:00:00 GMT"}}), 0ms, 0ms, 0, 0},
      {"no Date: received now", headers({}), 0ms, 0ms, 0, 0},
      {"apparent age from an old Date", headers({{"Date", "Fri, 31 May 2024 23:59:50 GMT"}}), 0ms,
       0ms, 10'000, 10},
      {"Age plus response delay",
       headers({{"Date", "Sat, 01 Jun 2024 00:00:00 GMT"}, {"Age", "30"}}), 2000ms, 0ms, 32'000,
       32},
      {"max of apparent and corrected",
       headers({{"Date", "Fri, 31 May 2024 23:59:50 GMT"}, {"Age", "5"}}), 1000ms, 0ms, 10'000, 10},
      {"Date in the future: apparent age 0", headers({{"Date", "Sat, 01 Jun 2024 00:05:00 GMT"}}),
       0ms, 0ms, 0, 0},
      {"invalid Age ignored", headers({{"Age", "abc"}}), 0ms, 0ms, 0, 0},
      {"negative Age ignored", headers({{"Age", "-7"}}), 0ms, 0ms, 0, 0},
      {"list Age: first member", headers({{"Age", "30, 0"}}), 0ms, 0ms, 30'000, 30},
      {"list Age: first member 0", headers({{"Age", "0, 30"}}), 0ms, 0ms, 0, 0},
      {"two Age lines: the first", headers({{"Age", "30"}, {"Age", "0"}}), 0ms, 0ms, 30'000, 30},
      {"invalid first member ignored", headers({{"Age", "old, 30"}}), 0ms, 0ms, 0, 0},
      {"float Age ignored", headers({{"Age", "7200.0"}}), 0ms, 0ms, 0, 0},
      {"resident time adds", headers({{"Age", "10"}}), 500ms, 100'000ms, 110'500, 110},
      {"Age header floors seconds", headers({}), 0ms, 1999ms, 1999, 1},
  };
  for (const AgeCase& c : cases) {
    SCOPED_TRACE(c.name);
    http::ResponseHead resp = response(200, {{"Cache-Control", "max-age=600"}});
    for (const http::Header& h : c.headers) resp.headers.push_back(h);
    const auto entry =
        makeCachedResponse("k", request(), resp, "", kNow - c.request_before, kNow, route()).entry;
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(currentAge(*entry, kNow + c.resident).count(), c.expected_ms);
    EXPECT_EQ(ageHeaderSeconds(*entry, kNow + c.resident), c.expected_header);
  }
}

std::shared_ptr<const CachedResponse> stored(std::vector<http::Header> response_headers,
                                             const config::RouteCacheConfig& r = route()) {
  http::ResponseHead resp = response(200);
  resp.headers = std::move(response_headers);
  const StoreResult result = makeCachedResponse("k", request(), resp, "x", kNow, kNow, r);
  EXPECT_EQ(result.verdict, StoreVerdict::kStore);
  return result.entry;
}

struct ServeCase {
  const char* name;
  std::vector<http::Header> response_headers;
  seconds route_swr;
  std::vector<http::Header> request_headers;
  seconds at;  // now = kNow + at
  bool honor;
  ServeAction expected;
  bool stale_on_error;  // mayServeStaleOnError at the same time (route sie = route_swr)
};

std::string_view actionName(ServeAction action) {
  switch (action) {
    case ServeAction::kHit:
      return "hit";
    case ServeAction::kStaleHit:
      return "stale_hit";
    case ServeAction::kStaleWhileRevalidate:
      return "stale_while_revalidate";
    case ServeAction::kRevalidate:
      return "revalidate";
    case ServeAction::kGatewayTimeout:
      return "gateway_timeout";
  }
  return "?";
}

TEST(Serve, DecisionTable) {
  using A = ServeAction;
  const auto cc = [](std::string_view value) { return headers({{"Cache-Control", value}}); };
  const std::vector<http::Header> none;
  const ServeCase cases[] = {
      {"fresh", cc("max-age=60"), 0s, none, 59s, false, A::kHit, true},
      {"stale at exactly the lifetime", cc("max-age=60"), 0s, none, 60s, false, A::kRevalidate,
       false},
      {"stale", cc("max-age=60"), 0s, none, 61s, false, A::kRevalidate, false},
      {"response swr window", cc("max-age=60, stale-while-revalidate=30"), 0s, none, 90s, false,
       A::kStaleWhileRevalidate, false},
      {"past the swr window", cc("max-age=60, stale-while-revalidate=30"), 0s, none, 91s, false,
       A::kRevalidate, false},
      {"route swr widens the response's", cc("max-age=60, stale-while-revalidate=30"), 100s, none,
       150s, false, A::kStaleWhileRevalidate, true},
      {"response swr wider than the route's", cc("max-age=60, stale-while-revalidate=300"), 10s,
       none, 200s, false, A::kStaleWhileRevalidate, false},
      {"response sie", cc("max-age=60, stale-if-error=100"), 0s, none, 150s, false, A::kRevalidate,
       true},
      {"past the sie window", cc("max-age=60, stale-if-error=100"), 0s, none, 161s, false,
       A::kRevalidate, false},
      {"must-revalidate forbids swr and sie",
       cc("max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=30"), 100s, none,
       61s, false, A::kRevalidate, false},
      {"proxy-revalidate forbids stale",
       cc("max-age=60, proxy-revalidate, stale-while-revalidate=30"), 100s, none, 61s, false,
       A::kRevalidate, false},
      {"s-maxage forbids stale", cc("s-maxage=60, stale-while-revalidate=30"), 100s, none, 61s,
       false, A::kRevalidate, false},
      {"must-revalidate while fresh", cc("max-age=60, must-revalidate"), 0s, none, 30s, false,
       A::kHit, true},
      {"response no-cache revalidates even fresh", cc("max-age=60, no-cache"), 100s, none, 1s,
       false, A::kRevalidate, false},
      {"request max-stale accepts", cc("max-age=60"), 0s, cc("max-stale=100"), 160s, false,
       A::kStaleHit, false},
      {"request max-stale too small", cc("max-age=60"), 0s, cc("max-stale=10"), 71s, false,
       A::kRevalidate, false},
      {"request max-stale any", cc("max-age=60"), 0s, cc("max-stale"), 9999s, false, A::kStaleHit,
       false},
      {"max-stale cannot pass must-revalidate", cc("max-age=60, must-revalidate"), 0s,
       cc("max-stale"), 61s, false, A::kRevalidate, false},
      {"request no-cache ignored by default", cc("max-age=60"), 0s, cc("no-cache"), 1s, false,
       A::kHit, true},
      {"request no-cache honoured", cc("max-age=60"), 0s, cc("no-cache"), 1s, true, A::kRevalidate,
       true},
      {"Pragma no-cache honoured", cc("max-age=60"), 0s, headers({{"Pragma", "no-cache"}}), 1s,
       true, A::kRevalidate, true},
      {"request max-age=0 honoured", cc("max-age=60"), 0s, cc("max-age=0"), 1s, true,
       A::kRevalidate, true},
      {"request max-age not exceeded", cc("max-age=60"), 0s, cc("max-age=30"), 20s, true, A::kHit,
       true},
      {"request max-age ignored by default", cc("max-age=60"), 0s, cc("max-age=0"), 1s, false,
       A::kHit, true},
      {"request min-fresh honoured", cc("max-age=60"), 0s, cc("min-fresh=50"), 20s, true,
       A::kRevalidate, true},
      {"request min-fresh satisfied", cc("max-age=60"), 0s, cc("min-fresh=30"), 20s, true, A::kHit,
       true},
      {"only-if-cached fresh", cc("max-age=60"), 0s, cc("only-if-cached"), 1s, false, A::kHit,
       true},
      {"only-if-cached stale: 504", cc("max-age=60"), 0s, cc("only-if-cached"), 61s, false,
       A::kGatewayTimeout, false},
      {"only-if-cached within swr", cc("max-age=60, stale-while-revalidate=30"), 0s,
       cc("only-if-cached"), 61s, false, A::kStaleWhileRevalidate, false},
      {"only-if-cached with no-cache: 504", cc("max-age=60, no-cache"), 0s, cc("only-if-cached"),
       1s, false, A::kGatewayTimeout, false},
  };
  for (const ServeCase& c : cases) {
    SCOPED_TRACE(c.name);
    config::RouteCacheConfig r = route();
    r.stale_while_revalidate = c.route_swr;
    r.stale_if_error = c.route_swr;
    const auto entry = stored(c.response_headers, r);
    ASSERT_NE(entry, nullptr);
    const RequestCacheControl request_cc = parseRequestCacheControl(c.request_headers);
    const Time now = kNow + c.at;
    EXPECT_EQ(actionName(decideServe(*entry, request_cc, now, ServeOptions{c.honor})),
              actionName(c.expected));
    EXPECT_EQ(mayServeStaleOnError(*entry, now), c.stale_on_error);
  }
}

TEST(Serve, StaleIfErrorStatuses) {
  for (int status : {500, 502, 503, 504}) EXPECT_TRUE(isStaleIfErrorStatus(status)) << status;
  for (int status : {200, 304, 404, 501, 505}) EXPECT_FALSE(isStaleIfErrorStatus(status)) << status;
}

TEST(Serve, HeuristicallyCacheableStatuses) {
  for (int status : {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501}) {
    EXPECT_TRUE(isHeuristicallyCacheable(status)) << status;
  }
  for (int status : {201, 202, 206, 302, 303, 307, 400, 403, 500, 502, 503}) {
    EXPECT_FALSE(isHeuristicallyCacheable(status)) << status;
  }
}

// RFC 9213: a valid targeted field replaces Cache-Control and Expires for this cache.
TEST(Targeted, ReplacesCacheControlAndExpires) {
  struct Case {
    const char* name;
    std::vector<http::Header> headers;
    StoreVerdict verdict;
    int64_t lifetime;
    bool no_cache;
  };
  using V = StoreVerdict;
  const std::string_view date = kNowDate;
  const Case cases[] = {
      {"private beats CC max-age",
       headers({{"CDN-Cache-Control", "private"}, {"Cache-Control", "max-age=10000"}}), V::kPrivate,
       0, false},
      {"no-store beats CC max-age",
       headers({{"Cache-Control", "max-age=10000"}, {"CDN-Cache-Control", "no-store"}}),
       V::kNoStore, 0, false},
      {"no-cache",
       headers({{"CDN-Cache-Control", "no-cache"},
                {"Cache-Control", "max-age=100"},
                {"ETag", "\"v\""}}),
       V::kStore, 0, true},
      {"max-age beats CC no-store",
       headers({{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=10000"}}), V::kStore,
       10000, false},
      {"short beats long CC",
       headers({{"Cache-Control", "max-age=3600"}, {"CDN-Cache-Control", "max-age=1"}}), V::kStore,
       1, false},
      {"past Expires ignored",
       headers({{"CDN-Cache-Control", "max-age=3600"},
                {"Date", date},
                {"Expires", "Fri, 31 May 2024 00:00:00 GMT"}}),
       V::kStore, 3600, false},
      {"invalid Expires ignored",
       headers({{"CDN-Cache-Control", "max-age=3600"}, {"Expires", "0"}, {"Date", date}}),
       V::kStore, 3600, false},
      {"invalid field: Cache-Control applies",
       headers({{"CDN-Cache-Control", "max-age=10000, &&&&&"}, {"Cache-Control", "no-store"}}),
       V::kNoStore, 0, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    http::ResponseHead resp = response(200);
    resp.headers = c.headers;
    const StoreResult result = makeCachedResponse("k", request(), resp, "x", kNow, kNow, route());
    EXPECT_EQ(result.verdict, c.verdict);
    EXPECT_EQ(checkStorable(request(), resp, route(), kNow), c.verdict);
    if (!result.entry) continue;
    EXPECT_EQ(std::chrono::duration_cast<seconds>(result.entry->lifetime).count(), c.lifetime);
    EXPECT_EQ(result.entry->no_cache, c.no_cache);
  }
}

TEST(Targeted, OwnFieldIsNotStoredCdnFieldIs) {
  const auto entry = stored(headers({{"Scalegate-Cache-Control", "max-age=60"},
                                     {"CDN-Cache-Control", "x"},
                                     {"Cache-Control", "no-cache"}}));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(std::chrono::duration_cast<seconds>(entry->lifetime).count(), 60);
  EXPECT_FALSE(entry->no_cache);
  bool own = false;
  bool cdn = false;
  for (const StoredHeader& h : entry->headers) {
    own = own || h.name == "Scalegate-Cache-Control";
    cdn = cdn || h.name == "CDN-Cache-Control";
  }
  EXPECT_FALSE(own);
  EXPECT_TRUE(cdn);
}

TEST(Targeted, EmptyListUsesCacheControl) {
  config::RouteCacheConfig r = route();
  r.targeted_cache_control.clear();
  const auto entry =
      stored(headers({{"CDN-Cache-Control", "max-age=5"}, {"Cache-Control", "max-age=50"}}), r);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(std::chrono::duration_cast<seconds>(entry->lifetime).count(), 50);
}

TEST(Freshness, LastModifiedHeuristic) {
  struct Case {
    const char* name;
    int status;
    std::vector<http::Header> headers;
    double heuristic;
    std::optional<seconds> default_ttl;
    int64_t expected_seconds;
  };
  const std::string_view date = kNowDate;
  const std::string_view day_ago = "Fri, 31 May 2024 00:00:00 GMT";
  const std::optional<seconds> no_ttl;
  const Case cases[] = {
      {"10% of a day", 200, headers({{"Date", date}, {"Last-Modified", day_ago}}), 0.1, no_ttl,
       8640},
      {"without Date: response time", 404, headers({{"Last-Modified", day_ago}}), 0.1, no_ttl,
       8640},
      {"25%", 410, headers({{"Date", date}, {"Last-Modified", day_ago}}), 0.25, no_ttl, 21600},
      {"0 disables", 200, headers({{"Date", date}, {"Last-Modified", day_ago}}), 0, no_ttl, 0},
      {"default_ttl wins", 200, headers({{"Date", date}, {"Last-Modified", day_ago}}), 0.1,
       seconds{30}, 30},
      {"explicit max-age wins", 200,
       headers({{"Date", date}, {"Last-Modified", day_ago}, {"Cache-Control", "max-age=5"}}), 0.1,
       no_ttl, 5},
      {"Expires wins", 200, headers({{"Date", date}, {"Last-Modified", day_ago}, {"Expires", "0"}}),
       0.1, no_ttl, 0},
      {"not for 500", 500, headers({{"Date", date}, {"Last-Modified", day_ago}}), 0.1, no_ttl, 0},
      {"public allows 599", 599,
       headers({{"Date", date}, {"Last-Modified", day_ago}, {"Cache-Control", "public"}}), 0.1,
       no_ttl, 8640},
      {"Last-Modified in the future", 200,
       headers({{"Date", date}, {"Last-Modified", "Sun, 02 Jun 2024 00:00:00 GMT"}}), 0.1, no_ttl,
       0},
      {"invalid Last-Modified", 200, headers({{"Date", date}, {"Last-Modified", "yesterday"}}), 0.1,
       no_ttl, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    config::RouteCacheConfig r = route();
    r.heuristic = c.heuristic;
    r.default_ttl = c.default_ttl;
    const ResponseCacheControl cc = parseResponseCacheControl(c.headers);
    const Duration lifetime = freshnessLifetime(c.status, c.headers, cc, r, kNow);
    EXPECT_EQ(std::chrono::duration_cast<seconds>(lifetime).count(), c.expected_seconds);
  }
}

TEST(Freshness, HeuristicEntryIsFreshThenStale) {
  const auto entry =
      stored(headers({{"Date", kNowDate}, {"Last-Modified", "Fri, 31 May 2024 00:00:00 GMT"}}));
  ASSERT_NE(entry, nullptr);
  EXPECT_TRUE(isFresh(*entry, kNow + seconds{8639}));
  EXPECT_FALSE(isFresh(*entry, kNow + seconds{8641}));
}

}  // namespace
}  // namespace sg::cache
