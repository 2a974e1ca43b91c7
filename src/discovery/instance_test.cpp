#include "discovery/instance.h"

#include <gtest/gtest.h>

namespace sg::discovery {
namespace {

std::string errorFor(std::string_view body) {
  std::string error;
  EXPECT_FALSE(parseInstanceSpec(body, &error)) << body;
  return error;
}

TEST(InstanceSpec, ParsesEveryField) {
  std::string error;
  auto spec = parseInstanceSpec(
      R"({"address": "127.0.0.1:3001", "weight": 7, "ttl": "1500ms", "metadata": {"zone": "a"}})",
      &error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->address_text, "127.0.0.1:3001");
  EXPECT_EQ(spec->address.port(), 3001);
  EXPECT_EQ(spec->weight, 7u);
  EXPECT_EQ(spec->ttl_ms, 1500);
  EXPECT_EQ(spec->metadata_json, R"({"zone":"a"})");
}

TEST(InstanceSpec, DefaultsWeightTtlAndMetadata) {
  std::string error;
  auto spec = parseInstanceSpec(R"({"address": "[::1]:80"})", &error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->weight, 1u);
  EXPECT_EQ(spec->ttl_ms, 30'000);
  EXPECT_EQ(spec->metadata_json, "{}");
}

TEST(InstanceSpec, RejectsBadBodies) {
  EXPECT_NE(errorFor("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(errorFor("[]").find("JSON object"), std::string::npos);
  EXPECT_NE(errorFor(R"({"weight": 2})").find("\"address\" is required"), std::string::npos);
  EXPECT_NE(errorFor(R"({"address": 5})").find("host:port"), std::string::npos);
  EXPECT_NE(errorFor(R"({"address": "nonsense"})").find("not a valid host:port"),
            std::string::npos);
  EXPECT_NE(errorFor(R"({"address": "127.0.0.1:0"})").find("needs a port"), std::string::npos);
  EXPECT_NE(errorFor(R"({"address": "127.0.0.1:1", "wieght": 2})").find("unknown field"),
            std::string::npos);
}

TEST(InstanceSpec, RejectsWeightsOutOfRange) {
  for (const char* weight : {"0", "1001", "-1", "2.5", "\"3\"", "18446744073709551615"}) {
    std::string body = std::string(R"({"address": "127.0.0.1:1", "weight": )") + weight + "}";
    EXPECT_NE(errorFor(body).find("from 1 to 1000"), std::string::npos) << weight;
  }
}

TEST(InstanceSpec, RejectsTtlsThatAreNotDurationsOrOutOfBounds) {
  for (const char* ttl : {"30", "\"30\"", "\"fast\"", "\"-1s\""}) {
    std::string body = std::string(R"({"address": "127.0.0.1:1", "ttl": )") + ttl + "}";
    EXPECT_NE(errorFor(body).find("duration string"), std::string::npos) << ttl;
  }
  EXPECT_NE(errorFor(R"({"address": "127.0.0.1:1", "ttl": "500ms"})").find("from 1s to 1h"),
            std::string::npos);
  EXPECT_NE(errorFor(R"({"address": "127.0.0.1:1", "ttl": "2h"})").find("from 1s to 1h"),
            std::string::npos);
}

TEST(InstanceSpec, RejectsMetadataThatIsNotASmallObject) {
  EXPECT_NE(errorFor(R"({"address": "127.0.0.1:1", "metadata": [1]})").find("JSON object"),
            std::string::npos);
  std::string big(kMaxMetadataBytes, 'x');
  EXPECT_NE(errorFor(R"({"address": "127.0.0.1:1", "metadata": {"k": ")" + big + "\"}}")
                .find("bytes serialized"),
            std::string::npos);
}

TEST(InstanceName, AllowsOnlyPathAndLabelSafeCharacters) {
  EXPECT_FALSE(checkName("service", "users-v2.eu_1"));
  EXPECT_TRUE(checkName("service", ""));
  EXPECT_TRUE(checkName("service", "a b"));
  EXPECT_TRUE(checkName("instance", "a/b"));
  EXPECT_TRUE(checkName("instance", "a{b}"));
  EXPECT_TRUE(checkName("instance", std::string(kMaxNameLength + 1, 'a')));
  EXPECT_NE(checkName("service", "a:b")->find("letters, digits"), std::string::npos);
}

}  // namespace
}  // namespace sg::discovery
