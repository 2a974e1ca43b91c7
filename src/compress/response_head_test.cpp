#include "compress/response_head.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sg::compress {
namespace {

TEST(AlreadyEncoded, IdentityAndEmptyAreNotEncodings) {
  EXPECT_FALSE(alreadyEncoded(""));
  EXPECT_FALSE(alreadyEncoded("   "));
  EXPECT_FALSE(alreadyEncoded("identity"));
  EXPECT_FALSE(alreadyEncoded(" Identity "));
  EXPECT_FALSE(alreadyEncoded("identity, IDENTITY"));
}

TEST(AlreadyEncoded, AnyOtherCodingIs) {
  EXPECT_TRUE(alreadyEncoded("gzip"));
  EXPECT_TRUE(alreadyEncoded("br"));
  EXPECT_TRUE(alreadyEncoded("deflate"));
  EXPECT_TRUE(alreadyEncoded("zstd"));
  EXPECT_TRUE(alreadyEncoded("identity, gzip"));
  EXPECT_TRUE(alreadyEncoded("x-custom-thing"));
  EXPECT_TRUE(alreadyEncoded("identityx"));
}

TEST(NoTransform, Detected) {
  EXPECT_TRUE(hasNoTransform("no-transform"));
  EXPECT_TRUE(hasNoTransform("public, max-age=60, no-transform"));
  EXPECT_TRUE(hasNoTransform("No-Transform"));
  EXPECT_TRUE(hasNoTransform("max-age=60 ,  no-transform  ,private"));
  EXPECT_TRUE(hasNoTransform("no-transform=1"));  // no argument defined; still the directive
}

TEST(NoTransform, NotConfusedBySimilarText) {
  EXPECT_FALSE(hasNoTransform(""));
  EXPECT_FALSE(hasNoTransform("public, max-age=60"));
  EXPECT_FALSE(hasNoTransform("no-transformation"));
  EXPECT_FALSE(hasNoTransform("x-no-transform"));
  EXPECT_FALSE(hasNoTransform("no-cache=\"no-transform\""));
  EXPECT_FALSE(hasNoTransform("private=\"set-cookie, no-transform\""));
}

std::string weak(std::string_view etag) {
  std::string out = "ETag: ";
  if (!appendWeakEtag(etag, &out)) return "<dropped:" + out + ">";
  return out;
}

TEST(WeakEtag, StrongBecomesWeak) {
  EXPECT_EQ(weak("\"abc\""), "ETag: W/\"abc\"");
  EXPECT_EQ(weak("  \"abc\"  "), "ETag: W/\"abc\"");
  EXPECT_EQ(weak("\"\""), "ETag: W/\"\"");
  EXPECT_EQ(weak("\"5e-1a2b/c\""), "ETag: W/\"5e-1a2b/c\"");
}

TEST(WeakEtag, WeakUnchanged) {
  EXPECT_EQ(weak("W/\"abc\""), "ETag: W/\"abc\"");
  EXPECT_EQ(weak(" W/\"\" "), "ETag: W/\"\"");
}

TEST(WeakEtag, MalformedDropped) {
  EXPECT_EQ(weak(""), "<dropped:ETag: >");
  EXPECT_EQ(weak("abc"), "<dropped:ETag: >");
  EXPECT_EQ(weak("\"abc"), "<dropped:ETag: >");
  EXPECT_EQ(weak("\""), "<dropped:ETag: >");
  EXPECT_EQ(weak("w/\"abc\""), "<dropped:ETag: >");  // the weak prefix is case-sensitive
  EXPECT_EQ(weak("W/abc"), "<dropped:ETag: >");
  EXPECT_EQ(weak("W/W/\"abc\""), "<dropped:ETag: >");
  EXPECT_EQ(weak("\"a\"b\""), "<dropped:ETag: >");
}

std::string vary(std::vector<std::string_view> lines) {
  std::string out;
  appendVaryAcceptEncoding(lines, &out);
  return out;
}

TEST(Vary, AddedWhenMissing) {
  EXPECT_EQ(vary({}), "Accept-Encoding");
  EXPECT_EQ(vary({""}), "Accept-Encoding");
  EXPECT_EQ(vary({"Origin"}), "Origin, Accept-Encoding");
  EXPECT_EQ(vary({"Origin, Cookie"}), "Origin, Cookie, Accept-Encoding");
  EXPECT_EQ(vary({"Origin", "Cookie"}), "Origin, Cookie, Accept-Encoding");
  EXPECT_EQ(vary({"Accept-Encodings"}), "Accept-Encodings, Accept-Encoding");
}

TEST(Vary, NoDuplicate) {
  EXPECT_EQ(vary({"Accept-Encoding"}), "Accept-Encoding");
  EXPECT_EQ(vary({"accept-encoding"}), "accept-encoding");
  EXPECT_EQ(vary({"Origin,ACCEPT-ENCODING"}), "Origin, ACCEPT-ENCODING");
  EXPECT_EQ(vary({"Origin", " accept-encoding "}), "Origin, accept-encoding");
}

TEST(Vary, StarStaysStar) {
  EXPECT_EQ(vary({"*"}), "*");
  EXPECT_EQ(vary({"Origin, *"}), "*");
  EXPECT_EQ(vary({"Origin", "*"}), "*");
}

TEST(Vary, AppendsAfterExistingOutput) {
  std::string out = "Vary: ";
  const std::string_view lines[] = {"Origin"};
  appendVaryAcceptEncoding(lines, &out);
  EXPECT_EQ(out, "Vary: Origin, Accept-Encoding");
}

}  // namespace
}  // namespace sg::compress
