// Primary keys (host, path, query rules) and variants (Vary + configured key headers).
#include "cache/cache_key.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cache/test_support.h"

namespace sg::cache {
namespace {

using namespace testing;
using Key = config::RouteCacheConfig::Key;
using Query = Key::Query;

Key keyOf(Query query, std::vector<std::string> names = {}, std::vector<std::string> hdrs = {}) {
  Key key;
  key.query = query;
  key.query_names = std::move(names);
  key.headers = std::move(hdrs);
  return key;
}

struct PrimaryCase {
  const char* name;
  const char* host;
  const char* path;
  const char* query;
  Key key;
  const char* expected;
};

// Routing ignores the Host port, so the cache must too: one resource, one entry.
TEST(PrimaryKey, HostSpellingsRoutedAlikeShareAKey) {
  for (const char* host : {"t", "t:1", "T:0001", "T", "t:"}) {
    EXPECT_EQ(buildPrimaryKey(host, "/a", "", keyOf(Query::kAll)), "t/a") << host;
  }
}

TEST(PrimaryKey, PurgeKeysAndPrefixesAreNormalisedLikeKeys) {
  EXPECT_EQ(normalizeKeyHost("T:0001/A?x=1", false), "t/A?x=1");
  EXPECT_EQ(normalizeKeyHost("Example.COM/P/Q", true), "example.com/P/Q");
  EXPECT_EQ(normalizeKeyHost("[::1]:80/a", false), "[::1]/a");
  EXPECT_EQ(normalizeKeyHost("T:1", true), "t/");  // a port ends the host
  EXPECT_EQ(normalizeKeyHost("Api.Ex", true), "api.ex");
  EXPECT_EQ(normalizeKeyHost("h?q", false), "h?q");
}

TEST(PrimaryKey, HostPathAndQueryRules) {
  const PrimaryCase cases[] = {
      {"plain", "example.com", "/a/b", "", keyOf(Query::kAll), "example.com/a/b"},
      {"host lower-cased, port dropped", "API.Example.COM:8080", "/A", "", keyOf(Query::kAll),
       "api.example.com/A"},
      {"IPv6 host keeps its brackets", "[::1]:80", "/a", "", keyOf(Query::kAll), "[::1]/a"},
      {"path byte-exact", "h", "/a%2Fb/C", "", keyOf(Query::kAll), "h/a%2Fb/C"},
      {"query as sent", "h", "/p", "b=2&a=1", keyOf(Query::kAll), "h/p?b=2&a=1"},
      {"query dropped", "h", "/p", "b=2&a=1", keyOf(Query::kNone), "h/p"},
      {"named params sorted", "h", "/p", "z=9&b=2&utm=x&a=1", keyOf(Query::kNames, {"a", "b", "z"}),
       "h/p?a=1&b=2&z=9"},
      {"named params: duplicates keep order", "h", "/p", "a=2&b=1&a=1",
       keyOf(Query::kNames, {"a", "b"}), "h/p?a=2&a=1&b=1"},
      {"named params: none present", "h", "/p", "utm=1", keyOf(Query::kNames, {"a"}), "h/p"},
      {"named params: valueless and empty", "h", "/p", "a&&b=", keyOf(Query::kNames, {"a", "b"}),
       "h/p?a&b="},
      {"named params: prefix is not a match", "h", "/p", "ab=1&a=2", keyOf(Query::kNames, {"a"}),
       "h/p?a=2"},
  };
  for (const PrimaryCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(buildPrimaryKey(c.host, c.path, c.query, c.key), c.expected);
  }
  http::RequestHead head = request({}, "HEAD", "/x", "q=1");
  EXPECT_EQ(buildPrimaryKey(head, keyOf(Query::kAll)), "example.com/x?q=1");
  head.method = "GET";
  EXPECT_EQ(buildPrimaryKey(head, keyOf(Query::kAll)), "example.com/x?q=1");  // HEAD == GET
}

TEST(VariantNames, VaryAndKeyHeadersLowerSortedUnique) {
  const auto names = variantNames(
      response(200, {{"Vary", "Accept-Encoding, User-Agent"}, {"vary", "accept-encoding,Origin"}}),
      keyOf(Query::kAll, {}, {"X-Tenant", "origin"}));
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names,
            (std::vector<std::string>{"accept-encoding", "origin", "user-agent", "x-tenant"}));
  EXPECT_EQ(variantNames(response(200), keyOf(Query::kAll)), std::vector<std::string>{});
  EXPECT_FALSE(variantNames(response(200, {{"Vary", "*"}}), keyOf(Query::kAll)).has_value());
  EXPECT_FALSE(
      variantNames(response(200, {{"Vary", "Origin"}, {"Vary", " * "}}), keyOf(Query::kAll))
          .has_value());
}

// Fields without semantic normalisation (any but Accept-Language and Accept-Encoding).
TEST(VariantFields, NormalisedValues) {
  struct Case {
    const char* name;
    std::vector<http::Header> request_headers;
    std::optional<std::string> expected;
  };
  const Case cases[] = {
      {"absent", headers({{"Other", "x"}}), std::nullopt},
      {"present but empty", headers({{"X-Codes", ""}}), ""},
      {"trimmed elements", headers({{"x-codes", " gzip ,  br "}}), "gzip,br"},
      {"lines joined", headers({{"X-Codes", "gzip"}, {"X-CODES", "br"}}), "gzip,br"},
      {"empty elements dropped", headers({{"X-Codes", "gzip,,br,"}}), "gzip,br"},
      {"value case kept", headers({{"X-Codes", "GZip"}}), "GZip"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(normalizedFieldValue(c.request_headers, "x-codes"), c.expected);
  }
}

TEST(VariantMatch, SameNormalisedValuesMatch) {
  const std::vector<std::string> names = {"x-codes", "x-tenant"};
  const auto stored = variantFields(headers({{"X-Codes", "gzip, br"}, {"X-Tenant", "a"}}), names);
  struct Case {
    const char* name;
    std::vector<http::Header> request_headers;
    bool matches;
  };
  const Case cases[] = {
      {"identical", headers({{"X-Codes", "gzip, br"}, {"X-Tenant", "a"}}), true},
      {"whitespace and lines differ",
       headers({{"x-tenant", " a "}, {"x-codes", "gzip"}, {"X-Codes", "br"}}), true},
      {"extra unrelated header",
       headers({{"X-Codes", "gzip,br"}, {"X-Tenant", "a"}, {"Cookie", "c"}}), true},
      {"order of elements matters", headers({{"X-Codes", "br, gzip"}, {"X-Tenant", "a"}}), false},
      {"prefix of the stored value", headers({{"X-Codes", "gzip"}, {"X-Tenant", "a"}}), false},
      {"longer than the stored value", headers({{"X-Codes", "gzip, br, zstd"}, {"X-Tenant", "a"}}),
       false},
      {"other tenant", headers({{"X-Codes", "gzip, br"}, {"X-Tenant", "b"}}), false},
      {"missing header", headers({{"X-Codes", "gzip, br"}}), false},
      {"value case differs", headers({{"X-Codes", "GZIP, br"}, {"X-Tenant", "a"}}), false},
      {"comma inside an element differs", headers({{"X-Codes", "gzipbr"}, {"X-Tenant", "a"}}),
       false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(variantMatches(stored, c.request_headers), c.matches);
  }
}

// Stored and compared values go through the same normalisation, so a request equivalent
// by meaning finds the variant another one stored.
TEST(VariantFields, AcceptFieldsNormalisedByMeaning) {
  const std::vector<std::string> names = {"accept-encoding", "accept-language"};
  const auto stored = variantFields(
      headers({{"Accept-Encoding", "gzip, br"}, {"Accept-Language", "en, de;q=0.5"}}), names);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].value, "br,gzip");
  EXPECT_EQ(stored[1].value, "en,de;q=0.5");
  EXPECT_EQ(normalizedFieldValue(headers({{"accept-language", "EN"}, {"Accept-Language", ""}}),
                                 "accept-language"),
            "en");
  struct Case {
    const char* name;
    std::vector<http::Header> request_headers;
    bool matches;
  };
  const Case cases[] = {
      {"same", headers({{"Accept-Encoding", "gzip, br"}, {"Accept-Language", "en, de;q=0.5"}}),
       true},
      {"codings reordered, cased, q=1",
       headers({{"Accept-Encoding", "BR;q=1.0 ,gzip"}, {"Accept-Language", "en,de;q=0.50"}}), true},
      {"languages cased, lines split",
       headers({{"Accept-Encoding", "br,gzip"},
                {"Accept-Language", "EN"},
                {"accept-language", "De;Q=0.5, fr;q=0"}}),
       true},
      {"other weight", headers({{"Accept-Encoding", "gzip, br"}, {"Accept-Language", "en, de"}}),
       false},
      {"coding missing",
       headers({{"Accept-Encoding", "gzip"}, {"Accept-Language", "en, de;q=0.5"}}), false},
      {"no accept-language", headers({{"Accept-Encoding", "gzip, br"}}), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(variantMatches(stored, c.request_headers), c.matches);
  }
}

CachedResponse inLanguage(std::string_view accept_language, const char* content_language) {
  CachedResponse entry;
  entry.vary = variantFields(headers({{"Accept-Language", accept_language}}),
                             {"accept-language", "x-tenant"});
  if (content_language != nullptr) entry.headers.push_back({"Content-Language", content_language});
  return entry;
}

TEST(VariantMatch, AcceptLanguageSelectsContentLanguage) {
  const CachedResponse de = inLanguage("en, de", "de");
  EXPECT_EQ(matchVariant(de, headers({{"Accept-Language", "de ,en"}})), VariantMatch::kExact);
  EXPECT_EQ(matchVariant(de, headers({{"Accept-Language", "fr;q=0.5, de;q=1.0"}})),
            VariantMatch::kSelected);
  EXPECT_EQ(matchVariant(de, headers({{"Accept-Language", "DE"}})), VariantMatch::kSelected);
  // The most preferred language is another, or shares the top q-value: the origin may
  // have it.
  EXPECT_EQ(matchVariant(de, headers({{"Accept-Language", "fr, de;q=0.9"}})), VariantMatch::kNone);
  EXPECT_EQ(matchVariant(de, headers({{"Accept-Language", "de, fr"}})), VariantMatch::kNone);
  EXPECT_EQ(matchVariant(de, headers({})), VariantMatch::kNone);
  // Other Vary fields must still match exactly.
  EXPECT_EQ(matchVariant(de, headers({{"Accept-Language", "de"}, {"X-Tenant", "a"}})),
            VariantMatch::kNone);
  EXPECT_EQ(matchVariant(inLanguage("en, de", nullptr), headers({{"Accept-Language", "de"}})),
            VariantMatch::kNone);
  EXPECT_EQ(matchVariant(inLanguage("en, de", "de, en"), headers({{"Accept-Language", "de"}})),
            VariantMatch::kNone);
}

TEST(VariantMatch, AbsentOnlyMatchesAbsent) {
  const std::vector<std::string> names = {"origin"};
  const auto absent = variantFields(headers({}), names);
  ASSERT_EQ(absent.size(), 1u);
  EXPECT_FALSE(absent[0].value.has_value());
  EXPECT_TRUE(variantMatches(absent, headers({{"Other", "1"}})));
  EXPECT_FALSE(variantMatches(absent, headers({{"Origin", ""}})));
  const auto empty = variantFields(headers({{"Origin", ""}}), names);
  EXPECT_TRUE(variantMatches(empty, headers({{"Origin", " "}})));
  EXPECT_FALSE(variantMatches(empty, headers({})));
  EXPECT_TRUE(variantMatches({}, headers({{"Anything", "x"}})));  // no Vary: always
}

}  // namespace
}  // namespace sg::cache
