#include "compress/negotiate.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace sg::compress {
namespace {

using Configured = config::CompressionConfig::Encoding;

const std::vector<Configured> kBrFirst = {Configured::kBrotli, Configured::kGzip};
const std::vector<Configured> kGzipFirst = {Configured::kGzip, Configured::kBrotli};
const std::vector<Configured> kGzipOnly = {Configured::kGzip};
const std::vector<Configured> kNone = {};

struct Case {
  std::vector<std::string_view> values;  // Accept-Encoding lines
  const std::vector<Configured>* enabled;
  Encoding expected;
};

std::string describe(const Case& c) {
  std::string text = "Accept-Encoding lines:";
  for (auto v : c.values) text += " [" + std::string(v) + "]";
  return text;
}

TEST(Negotiate, Table) {
  const Encoding id = Encoding::kIdentity;
  const Encoding gz = Encoding::kGzip;
  const Encoding br = Encoding::kBrotli;
  const std::vector<Case> cases = {
      {{}, &kBrFirst, id},    // header absent
      {{""}, &kBrFirst, id},  // empty = identity only
      {{"gzip"}, &kBrFirst, gz},
      {{"br"}, &kBrFirst, br},
      {{"gzip, br"}, &kBrFirst, br},  // equal q: config order
      {{"gzip, br"}, &kGzipFirst, gz},
      {{"br, gzip, deflate"}, &kGzipOnly, gz},
      {{"br;q=0.5, gzip;q=0.8"}, &kBrFirst, gz},  // highest q wins
      {{"br;q=0.8, gzip;q=0.5"}, &kGzipFirst, br},
      {{"gzip;q=0, *"}, &kBrFirst, br},  // * covers br, not gzip
      {{"gzip;q=0, *"}, &kGzipOnly, id},
      {{"identity"}, &kBrFirst, id},
      {{"*"}, &kBrFirst, br},
      {{"*"}, &kGzipOnly, gz},
      {{"*;q=0"}, &kBrFirst, id},  // nothing acceptable: sent as is
      {{"GZIP"}, &kBrFirst, gz},
      {{"Br;Q=1"}, &kGzipOnly, id},
      {{"BR, GZip"}, &kBrFirst, br},
      {{"x-gzip"}, &kBrFirst, gz},
      {{"X-GZIP;q=0.2, br;q=0.1"}, &kBrFirst, gz},
      {{"deflate, compress, zstd"}, &kBrFirst, id},
      {{"gzip;q=0.000"}, &kBrFirst, id},
      {{"gzip;q=0.001"}, &kBrFirst, gz},
      {{"gzip;q=0."}, &kBrFirst, id},
      {{"gzip;q=1.000, br;q=0.999"}, &kBrFirst, gz},
      {{"gzip;q=1.5"}, &kBrFirst, id},  // bad q: member ignored
      {{"gzip;q=abc, br;q=0.1"}, &kBrFirst, br},
      {{"gzip;q=", "br"}, &kGzipFirst, br},
      {{"gzip;q=0.1234"}, &kBrFirst, id},
      {{"gzip;q=.5"}, &kBrFirst, id},
      {{"gzip", "br"}, &kBrFirst, br},  // several header lines
      {{"br;q=0", "gzip"}, &kBrFirst, gz},
      {{"  gzip ;  q=0.5 ,\tbr ; q=0.4 "}, &kBrFirst, gz},  // whitespace
      {{",,, gzip ,,"}, &kBrFirst, gz},                     // empty list members
      {{"gzip;q=0.5, identity"}, &kBrFirst, id},            // identity preferred by q
      {{"gzip;q=0.3, identity;q=0.3"}, &kBrFirst, gz},      // tie with identity: compress
      {{"gzip, identity;q=0"}, &kBrFirst, gz},
      {{"identity;q=0"}, &kBrFirst, id},
      {{"br"}, &kGzipOnly, id},  // client wants only disabled
      {{"gzip, br"}, &kNone, id},
      {{"gzip;Q=0"}, &kBrFirst, id},  // parameter names any case
      {{"br;q=0, gzip;q=0, *;q=1"}, &kBrFirst, id},
      {{"*;q=0.5, gzip;q=0.4"}, &kBrFirst, br},      // br takes *'s 0.5
      {{"gzip;foo=\"a,br\";q=0.5"}, &kBrFirst, gz},  // comma inside a quoted string
      {{"gzip;level=9"}, &kBrFirst, gz},             // unknown parameter ignored
      {{"gzip;q=0.5, gzip;q=0"}, &kBrFirst, gz},     // duplicate: highest weight
      {{"gzip q=0.5"}, &kBrFirst, id},               // junk coding
      {{"gzi p, b r"}, &kBrFirst, id},
      {{";q=1, =, ;;;"}, &kBrFirst, id},
      {{"\xff\xfe, \x01gzip"}, &kBrFirst, id},
      {{"gzip;q=\"0.5\""}, &kBrFirst, id},  // qvalue is never quoted
      {{"; gzip"}, &kBrFirst, id},          // no coding before the ';'
      {{"gzip;q=0.5"}, &kBrFirst, gz},      // unlisted identity never wins
      {{"gzip;q=0.4, *"}, &kGzipOnly, id},  // identity gets *'s 1.0
      {{"gzip;q=0.4, *"}, &kBrFirst, br},
  };
  ASSERT_GE(cases.size(), 20u);
  for (const Case& c : cases) {
    EXPECT_EQ(negotiate(c.values, *c.enabled), c.expected) << describe(c);
  }
}

TEST(Negotiate, ParseQvalue) {
  EXPECT_EQ(parseQvalue("0"), 0);
  EXPECT_EQ(parseQvalue("1"), 1000);
  EXPECT_EQ(parseQvalue("0.5"), 500);
  EXPECT_EQ(parseQvalue("0.05"), 50);
  EXPECT_EQ(parseQvalue("0.123"), 123);
  EXPECT_EQ(parseQvalue("1.0"), 1000);
  EXPECT_EQ(parseQvalue("1.000"), 1000);
  EXPECT_EQ(parseQvalue("0."), 0);
  EXPECT_EQ(parseQvalue(""), -1);
  EXPECT_EQ(parseQvalue("1.001"), -1);
  EXPECT_EQ(parseQvalue("2"), -1);
  EXPECT_EQ(parseQvalue("0.1234"), -1);
  EXPECT_EQ(parseQvalue("0,5"), -1);
  EXPECT_EQ(parseQvalue("-0"), -1);
  EXPECT_EQ(parseQvalue("0.5x"), -1);
}

TEST(Negotiate, EncodingTokens) {
  EXPECT_EQ(encodingToken(Encoding::kGzip), "gzip");
  EXPECT_EQ(encodingToken(Encoding::kBrotli), "br");
  EXPECT_EQ(encodingToken(Encoding::kIdentity), "identity");
  EXPECT_EQ(fromConfig(Configured::kBrotli), Encoding::kBrotli);
  EXPECT_EQ(fromConfig(Configured::kGzip), Encoding::kGzip);
}

bool containsIgnoreCase(std::string_view haystack, std::string_view needle) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    size_t j = 0;
    while (j < needle.size() && lower(haystack[i + j]) == needle[j]) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

// Random bytes and random mixes of meaningful pieces: never crashes, and a coding is only
// chosen when the header named it or "*".
TEST(Negotiate, RandomInputIsSafe) {
  std::mt19937 rng(12345);
  const std::vector<std::string> pieces = {
      "gzip", "br", "x-gzip", "*", "identity", ";",    ",",
      "q=",   "0",  "1",      ".", "5",        " ",    "\t",
      "\"",   "\\", "Q",      "=", "deflate",  "\xff", std::string(1, '\0')};
  int chose_something = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string value;
    const int length = static_cast<int>(rng() % 24);
    for (int i = 0; i < length; ++i) {
      if (round % 2 == 0) {
        value += static_cast<char>(rng() & 0xff);
      } else {
        value += pieces[rng() % pieces.size()];
      }
    }
    const std::string_view lines[] = {value, std::string_view(value).substr(value.size() / 2)};
    const Encoding chosen = negotiate(lines, round % 3 == 0 ? kGzipOnly : kBrFirst);
    if (chosen == Encoding::kIdentity) continue;
    ++chose_something;
    const bool named = containsIgnoreCase(value, chosen == Encoding::kGzip ? "gzip" : "br") ||
                       value.find('*') != std::string::npos;
    ASSERT_TRUE(named) << "chose " << encodingToken(chosen) << " for [" << value << "]";
    if (round % 3 == 0) {
      ASSERT_EQ(chosen, Encoding::kGzip) << value;
    }
  }
  EXPECT_GT(chose_something, 100);  // the generator does reach the interesting paths
}

TEST(ContentType, ExactAndWildcard) {
  const std::vector<std::string> allow = {"text/*", "application/json", "image/svg+xml"};
  EXPECT_TRUE(contentTypeAllowed("text/html", allow));
  EXPECT_TRUE(contentTypeAllowed("text/plain; charset=utf-8", allow));
  EXPECT_TRUE(contentTypeAllowed("  TEXT/CSS  ", allow));
  EXPECT_TRUE(contentTypeAllowed("Application/JSON;charset=UTF-8", allow));
  EXPECT_TRUE(contentTypeAllowed("application/json ; charset=utf-8", allow));
  EXPECT_TRUE(contentTypeAllowed("image/svg+xml", allow));
  EXPECT_FALSE(contentTypeAllowed("application/jsonx", allow));
  EXPECT_FALSE(contentTypeAllowed("application/jso", allow));
  EXPECT_FALSE(contentTypeAllowed("image/png", allow));
  EXPECT_FALSE(contentTypeAllowed("texts/html", allow));
  EXPECT_FALSE(contentTypeAllowed("text", allow));
  EXPECT_FALSE(contentTypeAllowed("text/", allow));
  EXPECT_FALSE(contentTypeAllowed("/html", allow));
  EXPECT_FALSE(contentTypeAllowed("", allow));
  EXPECT_FALSE(contentTypeAllowed(";charset=utf-8", allow));
  EXPECT_FALSE(contentTypeAllowed("text/html", {}));
}

TEST(ContentType, WildcardOnlyMatchesItsType) {
  const std::vector<std::string> allow = {"text/*"};
  EXPECT_TRUE(contentTypeAllowed("text/csv", allow));
  EXPECT_FALSE(contentTypeAllowed("application/text", allow));
  EXPECT_FALSE(contentTypeAllowed("textual/html", allow));
}

// A stream of events is compressed only when the configuration names it.
TEST(ContentType, EventStreamOnlyWhenListedByName) {
  EXPECT_FALSE(contentTypeAllowed("text/event-stream", {"text/*"}));
  EXPECT_FALSE(contentTypeAllowed("Text/Event-Stream; charset=utf-8", {"text/*", "text/html"}));
  EXPECT_TRUE(contentTypeAllowed("text/event-stream", {"text/*", "text/event-stream"}));
  EXPECT_TRUE(contentTypeAllowed("text/event-stream;charset=utf-8", {"text/event-stream"}));
}

TEST(ContentType, Defaults) {
  const std::vector<std::string> defaults = config::defaultCompressibleTypes();
  for (const std::string& type : defaults) {
    EXPECT_EQ(type.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ ;"), std::string::npos) << type;
    EXPECT_TRUE(contentTypeAllowed(type, defaults)) << type;
  }
  EXPECT_TRUE(contentTypeAllowed("text/html; charset=utf-8", defaults));
  EXPECT_TRUE(contentTypeAllowed("application/json", defaults));
  EXPECT_TRUE(contentTypeAllowed("application/problem+json", defaults));
  EXPECT_TRUE(contentTypeAllowed("image/svg+xml", defaults));
  EXPECT_TRUE(contentTypeAllowed("application/wasm", defaults));
  EXPECT_FALSE(contentTypeAllowed("text/event-stream", defaults));
  EXPECT_FALSE(contentTypeAllowed("image/png", defaults));
  EXPECT_FALSE(contentTypeAllowed("image/jpeg", defaults));
  EXPECT_FALSE(contentTypeAllowed("font/woff2", defaults));
  EXPECT_FALSE(contentTypeAllowed("application/zip", defaults));
  EXPECT_FALSE(contentTypeAllowed("application/octet-stream", defaults));
  EXPECT_FALSE(contentTypeAllowed("video/mp4", defaults));
}

}  // namespace
}  // namespace sg::compress
