#include "http/path_normalizer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

namespace sg::http {
namespace {

// The normal form of `path`, "<unchanged>" when normalizePath left it alone, or the error.
std::string normal(std::string_view path, PathOptions options = {}) {
  std::string out = "<untouched>";
  switch (normalizePath(path, options, &out)) {
    case PathStatus::kUnchanged:
      EXPECT_EQ(out, "<untouched>") << "an unchanged path must not write";
      return std::string(path);
    case PathStatus::kNormalized:
      EXPECT_NE(out, path) << "kNormalized with the same bytes";
      return out;
    case PathStatus::kBadEncoding:
      return "<bad encoding>";
    case PathStatus::kEscapedSlash:
      return "<escaped slash>";
  }
  return "<?>";
}

bool unchanged(std::string_view path, PathOptions options = {}) {
  std::string out;
  return normalizePath(path, options, &out) == PathStatus::kUnchanged && out.empty();
}

TEST(PathNormalizer, NormalPathsAreLeftAloneWithoutWriting) {
  for (const char* path : {"/", "/login", "/a/b/c", "/a/b/", "/a.b/c..d/.e/..f/e.", "/~u/_x-y",
                           "/caf%C3%A9", "/100%25", "/a%20b", "/a;b=c/d,e"}) {
    EXPECT_TRUE(unchanged(path)) << path;
  }
}

TEST(PathNormalizer, RemovesDotSegmentsAsRfc3986) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/x/../login", "/login"},
      {"/a/./b", "/a/b"},
      {"/a/b/..", "/a/"},
      {"/a/b/.", "/a/b/"},
      {"/a/b/../../c", "/c"},
      {"/./", "/"},
      {"/.", "/"},
      {"/..", "/"},
      {"/a/..", "/"},
      {"/a/b/c/./../../g", "/a/g"},
      {"/mid/content=5/../6", "/mid/6"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(normal(in), want) << in;
}

TEST(PathNormalizer, ClimbingAboveTheRootStaysAtTheRoot) {
  EXPECT_EQ(normal("/../x"), "/x");
  EXPECT_EQ(normal("/../../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(normal("/a/../../x"), "/x");
}

TEST(PathNormalizer, DecodesUnreservedCharactersOnly) {
  EXPECT_EQ(normal("/%6cogin"), "/login");
  EXPECT_EQ(normal("/%6C%6F%67%69%6E"), "/login");
  EXPECT_EQ(normal("/%41%7a%30%2D%2e%5F%7E"), "/Az0-._~");
  // Reserved and non-ASCII bytes stay encoded, with upper-case hex.
  EXPECT_EQ(normal("/caf%c3%a9"), "/caf%C3%A9");
  EXPECT_EQ(normal("/a%3fb%23c%25"), "/a%3Fb%23c%25");
  EXPECT_EQ(normal("/%00"), "/%00");
  // No double decoding: %25 is '%' and stays encoded.
  EXPECT_EQ(normal("/%256c"), "/%256c");
}

TEST(PathNormalizer, EncodedDotsAreDotSegments) {
  EXPECT_EQ(normal("/x/%2e%2e/login"), "/login");
  EXPECT_EQ(normal("/x/%2E./login"), "/login");
  EXPECT_EQ(normal("/x/.%2e/login"), "/login");
  EXPECT_EQ(normal("/%2e/login"), "/login");
}

TEST(PathNormalizer, MergesSlashes) {
  EXPECT_EQ(normal("//login"), "/login");
  EXPECT_EQ(normal("/a///b//"), "/a/b/");
  EXPECT_EQ(normal("//"), "/");
  EXPECT_EQ(normal("/a//../b"), "/b");  // merged first, as nginx does
  PathOptions keep_slashes;
  keep_slashes.merge_slashes = false;
  EXPECT_TRUE(unchanged("//login", keep_slashes));
  EXPECT_EQ(normal("/a//../b", keep_slashes), "/a/b");  // RFC 3986: "" is a segment
  EXPECT_EQ(normal("//./login", keep_slashes), "//login");
}

TEST(PathNormalizer, RejectsInvalidPercentEncodings) {
  for (const char* path : {"/%", "/a%4", "/%zz", "/%g0", "/a%2", "/%%41"}) {
    EXPECT_EQ(normal(path), "<bad encoding>") << path;
  }
}

TEST(PathNormalizer, EscapedSlashesAreRejectedByDefault) {
  for (const char* path : {"/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb", "/a\\b", "/x/..%2flogin"}) {
    EXPECT_EQ(normal(path), "<escaped slash>") << path;
  }
}

TEST(PathNormalizer, KeptEscapedSlashesAreNeverSeparators) {
  PathOptions keep;
  keep.escaped_slashes = EscapedSlashes::kKeep;
  EXPECT_TRUE(unchanged("/a%2Fb", keep));
  EXPECT_TRUE(unchanged("/a\\b", keep));
  EXPECT_EQ(normal("/a%2fb%5c", keep), "/a%2Fb%5C");
  EXPECT_EQ(normal("/x/..%2F..%2Flogin", keep), "/x/..%2F..%2Flogin");
  EXPECT_EQ(normal("/x/%2e%2e%2flogin", keep), "/x/..%2Flogin");
  EXPECT_EQ(normal("/x/%2e%2e/login", keep), "/login");
}

TEST(PathNormalizer, DecodedEscapedSlashesAreSeparators) {
  PathOptions decode;
  decode.escaped_slashes = EscapedSlashes::kDecode;
  EXPECT_EQ(normal("/a%2Fb", decode), "/a/b");
  EXPECT_EQ(normal("/a%5cb", decode), "/a/b");
  EXPECT_EQ(normal("/a\\b", decode), "/a/b");
  EXPECT_EQ(normal("/x/..%2Flogin", decode), "/login");
  EXPECT_EQ(normal("/x%2F%2F..%5C..%5Clogin", decode), "/login");
}

TEST(PathNormalizer, NonOriginFormIsLeftAlone) {
  EXPECT_TRUE(unchanged("*"));
  EXPECT_TRUE(unchanged(""));
}

TEST(PathNormalizer, NormalisingTwiceChangesNothing) {
  for (const char* path : {"/x/../login", "//a/./b/%2e%2e/%6c", "/caf%c3%a9//", "/../a/b/.."}) {
    const std::string once = normal(path);
    EXPECT_TRUE(unchanged(once)) << path << " -> " << once;
  }
}

// Random paths over the bytes that matter: every result is normal (a second pass leaves it
// alone, without writing), holds no dot segment or "//", and keeps its leading '/'.
TEST(PathNormalizer, RandomPathsNormaliseToFixedPoints) {
  constexpr std::string_view kAlphabet = "/./.%2e%2E%2F%5c%41a\\~";
  std::mt19937 random(7);
  for (PathOptions options : {PathOptions{}, PathOptions{false, EscapedSlashes::kKeep},
                              PathOptions{true, EscapedSlashes::kDecode}}) {
    for (int i = 0; i < 20000; ++i) {
      std::string path = "/";
      const size_t length = random() % 12;
      for (size_t j = 0; j < length; ++j) path += kAlphabet[random() % kAlphabet.size()];
      std::string out;
      const PathStatus status = normalizePath(path, options, &out);
      if (status == PathStatus::kBadEncoding || status == PathStatus::kEscapedSlash) continue;
      const std::string result = status == PathStatus::kUnchanged ? path : out;
      ASSERT_TRUE(unchanged(result, options)) << path << " -> " << result;
      ASSERT_EQ(result.front(), '/') << path;
      ASSERT_EQ(result.find("/./"), std::string::npos) << path << " -> " << result;
      ASSERT_EQ(result.find("/../"), std::string::npos) << path << " -> " << result;
      if (options.merge_slashes) {
        ASSERT_EQ(result.find("//"), std::string::npos) << path;
      }
    }
  }
}

}  // namespace
}  // namespace sg::http
