#include "admin/registry_admin.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace sg::admin {
namespace {

namespace json = boost::json;

class FakeClock final : public discovery::Clock {
 public:
  int64_t nowMs() const override { return now; }
  int64_t now = 1'700'000'000'000;
};

class RegistryAdminTest : public ::testing::Test {
 protected:
  RegistryAdminTest() : service_(config::StoreConfig{}, metrics_, nullptr, makeClock()) {}

  std::unique_ptr<discovery::Clock> makeClock() {
    auto owned = std::make_unique<FakeClock>();
    clock_ = owned.get();
    return owned;
  }

  ServiceResponse call(std::string_view method, std::string_view path, std::string_view body = {}) {
    http::RequestHead head;
    head.method = method;
    head.path = path;
    auto reply = handleRegistryAdmin(&service_, head, body);
    EXPECT_TRUE(reply) << path;
    return reply ? *reply : ServiceResponse{};
  }

  metrics::Registry metrics_{1};
  FakeClock* clock_ = nullptr;
  discovery::RegistryService service_;
};

TEST_F(RegistryAdminTest, LeavesOtherPathsAlone) {
  http::RequestHead head;
  head.method = "GET";
  for (std::string_view path : {"/admin/registryx", "/admin/regist", "/metrics"}) {
    head.path = path;
    EXPECT_FALSE(handleRegistryAdmin(&service_, head, {})) << path;
  }
  head.path = "/admin/registry";
  auto reply = handleRegistryAdmin(nullptr, head, {});
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 404);
}

TEST_F(RegistryAdminTest, ReportsSecondsSinceTheLastHeartbeatOnTheInjectedClock) {
  EXPECT_EQ(call("PUT", "/admin/registry/users/u1", R"({"address": "127.0.0.1:3001"})").status,
            201);
  clock_->now += 2'500;
  ServiceResponse listed = call("GET", "/admin/registry/users");
  ASSERT_EQ(listed.status, 200);
  json::value document = json::parse(listed.body);
  const json::object& instance = document.at("instances").as_array().at(0).as_object();
  EXPECT_EQ(instance.at("seconds_since_heartbeat").as_double(), 2.5);
  EXPECT_EQ(instance.at("ttl").as_string(), "30s");
  EXPECT_EQ(call("PUT", "/admin/registry/users/u1/heartbeat").status, 200);
  document = json::parse(call("GET", "/admin/registry/users/u1").body);
  EXPECT_EQ(document.at("seconds_since_heartbeat").as_double(), 0.0);
}

TEST_F(RegistryAdminTest, HealthNamesTheRegistryAndKeepsTheStatusWhenLocal) {
  ServiceResponse health;
  health.body = R"({"status":"ok","upstreams":{}})";
  addRegistryHealth(&service_, &health);
  json::value document = json::parse(health.body);
  EXPECT_EQ(document.at("status").as_string(), "ok");
  EXPECT_EQ(document.at("registry").at("shared").as_bool(), false);
  ServiceResponse untouched;
  untouched.body = "{}";
  addRegistryHealth(nullptr, &untouched);
  EXPECT_EQ(untouched.body, "{}");
}

}  // namespace
}  // namespace sg::admin
