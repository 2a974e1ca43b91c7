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

}  // namespace
}  // namespace sg::config
