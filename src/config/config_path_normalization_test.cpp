// Listener key `path_normalization`.
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using testutil::expectOneError;
using testutil::kMinimal;
using testutil::listenerWith;
using testutil::loadValid;
using EscapedSlashes = PathNormalizationConfig::EscapedSlashes;

TEST(PathNormalizationConfig, OnByDefaultRejectingEscapedSlashes) {
  auto config = loadValid(kMinimal);
  ASSERT_NE(config, nullptr);
  const auto& paths = config->listeners[0].path_normalization;
  EXPECT_TRUE(paths.enabled);
  EXPECT_TRUE(paths.merge_slashes);
  EXPECT_EQ(paths.escaped_slashes, EscapedSlashes::kReject);
}

TEST(PathNormalizationConfig, ReadsEveryKey) {
  auto config = loadValid(listenerWith(
      "path_normalization: { enabled: false, merge_slashes: false, escaped_slashes: keep }"));
  ASSERT_NE(config, nullptr);
  const auto& paths = config->listeners[0].path_normalization;
  EXPECT_FALSE(paths.enabled);
  EXPECT_FALSE(paths.merge_slashes);
  EXPECT_EQ(paths.escaped_slashes, EscapedSlashes::kKeep);
  config = loadValid(listenerWith("path_normalization: { escaped_slashes: decode }"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listeners[0].path_normalization.escaped_slashes, EscapedSlashes::kDecode);
}

TEST(PathNormalizationConfig, ReportsBadValues) {
  expectOneError({"UnknownEscapedSlashes",
                  listenerWith("path_normalization: { escaped_slashes: redirect }"), 4, 44,
                  "listeners[0].path_normalization.escaped_slashes: unknown value 'redirect' "
                  "(one of: reject, keep, decode)"});
  expectOneError({"UnknownKey", listenerWith("path_normalization: { merge: true }"), 4, 27,
                  "listeners[0].path_normalization.merge: unknown key 'merge'"});
  expectOneError({"NotABool", listenerWith("path_normalization: { merge_slashes: 2 }"), 4, 42,
                  "listeners[0].path_normalization.merge_slashes: "});
}

// Routes see normalised paths, so a prefix that is not in normal form could never match.
TEST(PathNormalizationConfig, PrefixesMustBeInNormalForm) {
  using testutil::edit;
  auto route = [](const std::string& prefix, const std::string& listener_key = "") {
    std::string text = edit("      - upstream: users",
                            "      - match: { prefix: '" + prefix + "' }\n        upstream: users");
    if (!listener_key.empty()) {
      text = edit("    address: 127.0.0.1:8080\n",
                  "    address: 127.0.0.1:8080\n    " + listener_key + "\n", text);
    }
    return text;
  };
  expectOneError({"DotSegment", route("/x/../login"), 5, 26,
                  "listeners[0].routes[0].match.prefix: prefix '/x/../login' can never match: "
                  "paths are normalised before routing (path_normalization), write it '/login'"});
  expectOneError({"LowerCaseHex", route("/caf%c3%a9"), 5, 26,
                  "listeners[0].routes[0].match.prefix: prefix '/caf%c3%a9' can never match: "
                  "paths are normalised before routing (path_normalization), write it "
                  "'/caf%C3%A9'"});
  expectOneError({"DoubleSlash", route("/a//b"), 5, 26, "listeners[0].routes[0].match.prefix: "});
  expectOneError({"EscapedSlash", route("/a%2Fb"), 5, 26,
                  "listeners[0].routes[0].match.prefix: prefix '/a%2Fb' can never match: paths "
                  "with an escaped slash or backslash are refused (path_normalization)"});
  expectOneError({"BadEncoding", route("/a%zz"), 5, 26,
                  "listeners[0].routes[0].match.prefix: prefix '/a%zz' can never match: paths "
                  "with a bad percent-encoding are refused (path_normalization)"});
  EXPECT_NE(loadValid(route("/caf%C3%A9/")), nullptr);
  EXPECT_NE(loadValid(route("/a%2Fb", "path_normalization: { escaped_slashes: keep }")), nullptr);
  EXPECT_NE(loadValid(route("/a//b", "path_normalization: { merge_slashes: false }")), nullptr);
  EXPECT_NE(loadValid(route("/x/../y", "path_normalization: { enabled: false }")), nullptr);
}

}  // namespace
}  // namespace sg::config
