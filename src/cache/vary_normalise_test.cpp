// Semantic normalisation of Accept-Language / Accept-Encoding and language selection.
#include "cache/vary_normalise.h"

#include <gtest/gtest.h>

#include <string>

namespace sg::cache {
namespace {

struct Case {
  const char* input;
  const char* expected;
};

TEST(VaryNormalise, AcceptLanguage) {
  const Case cases[] = {
      {"en, de", "de,en"},  // equal q-values: order carries no preference
      {"de, en", "de,en"},
      {"eN, De", "de,en"},
      {" en ,   de", "de,en"},
      {"fr;q=0.5, de;q=1.0", "de,fr;q=0.5"},
      {"en-GB;q=0.80, en;q=0.9, de", "de,en;q=0.9,en-gb;q=0.8"},
      {"de;q=0.125, fr;q=0.12", "de;q=0.125,fr;q=0.12"},
      {"en, de;q=0", "en"},                   // q=0 without "*": as if not listed
      {"*;q=0.1, de;q=0", "*;q=0.1,de;q=0"},  // with "*" it excludes de
      {"de;Q=0.5, DE;q=0.500", "de;q=0.5"},   // repeats collapse
      {"de;q=0", ""},
      {"en;q=2, de;q=.5", "de;q=.5,en;q=2"},  // invalid q-values: kept verbatim, after
      {"en;level=1", "en;level=1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(normaliseVaryValue("accept-language", c.input), c.expected);
    // Idempotent: a stored value normalises to itself.
    EXPECT_EQ(normaliseVaryValue("Accept-Language", c.expected), c.expected);
  }
}

TEST(VaryNormalise, AcceptEncoding) {
  const Case cases[] = {
      {"gzip, br", "br,gzip"},
      {"GZIP, Br;q=1.000", "br,gzip"},
      {"gzip;q=0.5, br, zstd;q=0.50", "br,gzip;q=0.5,zstd;q=0.5"},
      {"gzip, br;q=0", "gzip"},
      {"gzip, identity;q=0", "gzip,identity;q=0"},  // identity is acceptable unless excluded
      {"gzip, identity", "gzip,identity"},
      {"*, gzip;q=0", "*,gzip;q=0"},
      {"", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(normaliseVaryValue("accept-encoding", c.input), c.expected);
    EXPECT_EQ(normaliseVaryValue("accept-encoding", c.expected), c.expected);
  }
}

TEST(VaryNormalise, OtherFieldsUnchanged) {
  EXPECT_FALSE(hasSemanticNormalisation("accept"));
  EXPECT_TRUE(hasSemanticNormalisation("Accept-Encoding"));
  EXPECT_EQ(normaliseVaryValue("x-codes", "B,a;q=1.0"), "B,a;q=1.0");
}

TEST(VaryNormalise, AcceptLanguageSelects) {
  EXPECT_TRUE(acceptLanguageSelects("fr;q=0.5, de;q=1.0", "de"));
  EXPECT_TRUE(acceptLanguageSelects("de", " DE "));
  EXPECT_TRUE(acceptLanguageSelects("de-AT, de;q=0.9", "de-at"));
  EXPECT_FALSE(acceptLanguageSelects("de-AT", "de"));   // a prefix is not the tag
  EXPECT_FALSE(acceptLanguageSelects("en, de", "de"));  // tie at the top
  EXPECT_FALSE(acceptLanguageSelects("fr, de;q=0.5", "de"));
  EXPECT_FALSE(acceptLanguageSelects("*", "de"));
  EXPECT_FALSE(acceptLanguageSelects("de;q=0", "de"));
  EXPECT_FALSE(acceptLanguageSelects("", "de"));
  EXPECT_FALSE(acceptLanguageSelects("de", "de, en"));
  EXPECT_FALSE(acceptLanguageSelects("de", ""));
}

}  // namespace
}  // namespace sg::cache
