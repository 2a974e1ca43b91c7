// DnsDiscovery: answers diffed into slot adds and removes, failures keep the last answer; and
// the system resolver on names that resolve locally.
#include "proxy/dns_discovery.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/shared_state.h"

namespace sg::proxy {
namespace {

net::Address address(const std::string& text) {
  std::string error;
  return *net::Address::parse(text, &error);
}

// Answers what the test sets; fails while `fail` is set.
class ScriptedResolver final : public DnsResolver {
 public:
  bool resolve(const config::DiscoveryConfig&, std::vector<DnsRecord>* out,
               std::string* error) override {
    if (*fail) {
      *error = "scripted failure";
      return false;
    }
    *out = *answer;
    return true;
  }
  std::shared_ptr<std::vector<DnsRecord>> answer = std::make_shared<std::vector<DnsRecord>>();
  std::shared_ptr<bool> fail = std::make_shared<bool>(false);
};

class DnsDiscoveryTest : public testing::Test {
 protected:
  DnsDiscoveryTest()
      : config_(config::loadConfigString(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    routes:
      - upstream: pool
upstreams:
  pool:
    discovery: {dns: 'backends.test:8080', max_servers: 4}
)",
                                         "test.yaml")
                    .config),
        state_(config_, 1) {
    auto resolver = std::make_unique<ScriptedResolver>();
    answer_ = resolver->answer;
    fail_ = resolver->fail;
    discovery_ = std::make_unique<DnsDiscovery>(std::vector<SharedUpstream*>{&upstream()},
                                                std::move(resolver), state_.registry());
  }
  SharedUpstream& upstream() { return state_.upstreams()[0]; }
  std::vector<std::string> present() {
    std::vector<std::string> out;
    for (const auto& entry : upstream().slots->list(0)) {
      out.push_back(entry.address + (entry.state == "removing" ? " removing" : ""));
    }
    return out;
  }

  std::shared_ptr<const config::Config> config_;
  SharedState state_;
  std::shared_ptr<std::vector<DnsRecord>> answer_;
  std::shared_ptr<bool> fail_;
  std::unique_ptr<DnsDiscovery> discovery_;
};

TEST_F(DnsDiscoveryTest, AnswerIsDiffedIntoAddsAndRemoves) {
  *answer_ = {{address("10.0.0.1:8080"), 1}, {address("10.0.0.2:8080"), 5}};
  discovery_->refresh(0);
  EXPECT_EQ(present(), (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080"}));
  EXPECT_EQ(upstream().slots->list(0)[1].weight, 5u);
  *answer_ = {{address("10.0.0.2:8080"), 5}, {address("10.0.0.3:8080"), 1}};
  discovery_->refresh(0);
  EXPECT_EQ(present(),
            (std::vector<std::string>{"10.0.0.1:8080 removing", "10.0.0.2:8080", "10.0.0.3:8080"}));
  EXPECT_EQ(discovery_->applied(0), (std::vector<std::string>{"10.0.0.2:8080", "10.0.0.3:8080"}));
}

TEST_F(DnsDiscoveryTest, FailureKeepsTheLastAnswerAndIsCounted) {
  *answer_ = {{address("10.0.0.1:8080"), 1}};
  discovery_->refresh(0);
  *fail_ = true;
  discovery_->refresh(0);
  discovery_->refresh(0);
  EXPECT_EQ(present(), std::vector<std::string>{"10.0.0.1:8080"});
  const std::string metrics = state_.registry().renderPrometheus();
  EXPECT_NE(metrics.find("scalegate_discovery_dns_failures_total{upstream=\"pool\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("scalegate_discovery_dns_resolutions_total{upstream=\"pool\"} 3"),
            std::string::npos);
}

TEST_F(DnsDiscoveryTest, ServersBeyondTheSlotsWaitForAFreeOne) {
  for (int i = 1; i <= 5; ++i)
    answer_->push_back({address("10.0.0." + std::to_string(i) + ":80"), 1});
  discovery_->refresh(0);
  EXPECT_EQ(present().size(), 4u);  // max_servers
  EXPECT_EQ(discovery_->applied(0).size(), 4u);
  discovery_->refresh(0);  // still no free slot: nothing changes, nothing duplicated
  EXPECT_EQ(present().size(), 4u);
}

TEST_F(DnsDiscoveryTest, ThreadResolvesAtStartAndStops) {
  *answer_ = {{address("10.0.0.9:8080"), 1}};
  discovery_->start();
  for (int i = 0; i < 500 && discovery_->applied(0).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  discovery_->stop();
  EXPECT_EQ(discovery_->applied(0), std::vector<std::string>{"10.0.0.9:8080"});
}

TEST(SystemResolver, ResolvesLocalhost) {
  config::DiscoveryConfig config;
  config.dns = "localhost";
  config.dns_port = 8080;
  config.type = config::DiscoveryConfig::DnsType::kA;
  std::vector<DnsRecord> records;
  std::string error;
  ASSERT_TRUE(makeSystemResolver()->resolve(config, &records, &error)) << error;
  ASSERT_FALSE(records.empty());
  for (const DnsRecord& record : records) {
    EXPECT_EQ(record.address.family(), AF_INET);
    EXPECT_EQ(record.address.port(), 8080);
  }
  EXPECT_EQ(records[0].address.toString(), "127.0.0.1:8080");
}

TEST(SystemResolver, FailsOnANameThatDoesNotExist) {
  config::DiscoveryConfig config;
  config.dns = "no-such-host.invalid";  // RFC 6761: never resolves
  config.dns_port = 80;
  std::vector<DnsRecord> records;
  std::string error;
  EXPECT_FALSE(makeSystemResolver()->resolve(config, &records, &error));
  EXPECT_NE(error.find("no-such-host.invalid"), std::string::npos) << error;
  config.type = config::DiscoveryConfig::DnsType::kSrv;
  config.dns = "_http._tcp.no-such-host.invalid";
  EXPECT_FALSE(makeSystemResolver()->resolve(config, &records, &error));
}

}  // namespace
}  // namespace sg::proxy
