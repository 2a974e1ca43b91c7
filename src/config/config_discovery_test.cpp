// The upstream key `discovery`: registry or DNS source, slots, and what `servers` becomes.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using testutil::describe;
using testutil::edit;
using testutil::load;
using testutil::loadValid;
using testutil::upstreamWith;

// kMinimal's upstream with `discovery` and no `servers`.
std::string discoveryOnly(const std::string& discovery) {
  return edit("    servers:\n      - address: 127.0.0.1:3001\n",
              "    max_fails: 3\n    fail_timeout: 20s\n    discovery: " + discovery + "\n");
}

TEST(DiscoveryConfig, AbsentMeansStaticServers) {
  EXPECT_FALSE(loadValid(testutil::kMinimal)->upstreams[0].discovery);
}

TEST(DiscoveryConfig, RegistryWithoutServers) {
  const auto config = loadValid(discoveryOnly("{registry: web}"));
  const UpstreamConfig& upstream = config->upstreams[0];
  ASSERT_TRUE(upstream.discovery);
  EXPECT_TRUE(upstream.servers.empty());
  EXPECT_EQ(upstream.discovery->registry, "web");
  EXPECT_TRUE(upstream.discovery->dns.empty());
  EXPECT_EQ(upstream.discovery->max_servers, 64u);
  // discovered servers inherit the upstream's passive health settings
  EXPECT_EQ(upstream.discovery->max_fails, 3u);
  EXPECT_EQ(upstream.discovery->fail_timeout, std::chrono::seconds(20));
}

TEST(DiscoveryConfig, DnsWithEveryKeyAndStaticServers) {
  const auto config =
      loadValid(upstreamWith("discovery: {dns: _api._tcp.internal, type: SRV, interval: 30s, "
                             "max_servers: 8}"));
  const UpstreamConfig& upstream = config->upstreams[0];
  ASSERT_TRUE(upstream.discovery);
  EXPECT_EQ(upstream.servers.size(), 1u);  // static ones stay
  EXPECT_EQ(upstream.discovery->dns, "_api._tcp.internal");
  EXPECT_EQ(upstream.discovery->dns_port, 0);
  EXPECT_EQ(upstream.discovery->type, DiscoveryConfig::DnsType::kSrv);
  EXPECT_EQ(upstream.discovery->interval, std::chrono::seconds(30));
  EXPECT_EQ(upstream.discovery->max_servers, 8u);
  const auto a = loadValid(discoveryOnly("{dns: 'localhost:8080'}"));
  EXPECT_EQ(a->upstreams[0].discovery->type, DiscoveryConfig::DnsType::kA);
  EXPECT_EQ(a->upstreams[0].discovery->dns, "localhost");
  EXPECT_EQ(a->upstreams[0].discovery->dns_port, 8080);
  EXPECT_EQ(
      loadValid(discoveryOnly("{dns: 'localhost:1', type: AAAA}"))->upstreams[0].discovery->type,
      DiscoveryConfig::DnsType::kAAAA);
}

TEST(DiscoveryConfig, ServersStillRequiredWithoutDiscovery) {
  auto result = load(edit("    servers:\n      - address: 127.0.0.1:3001\n", "    max_fails: 2\n"));
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  EXPECT_NE(result.errors[0].toString().find("servers"), std::string::npos);
}

TEST(DiscoveryConfig, RejectsBadDiscovery) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case bad[] = {
      {"{}", "needs a source"},
      {"{registry: web, dns: 'localhost:80'}", "exclusive"},
      {"{dns: localhost}", "HOST:PORT"},
      {"{dns: 'localhost:0'}", "HOST:PORT"},
      {"{dns: 'localhost:65536'}", "HOST:PORT"},
      {"{dns: ':80'}", "HOST:PORT"},
      {"{dns: 'localhost:80', type: SRV}", "takes no port"},
      {"{registry: web, type: A}", "`dns` discovery only"},
      {"{registry: web, interval: 5s}", "`dns` discovery only"},
      {"{registry: 'a b'}", "without spaces"},
      {"{registry: 'a/b'}", "without spaces"},
      {"{registry: ''}", "without spaces"},
      {"{dns: 'localhost:80', type: MX}", "one of: A, AAAA, SRV"},
      {"{dns: 'localhost:80', interval: 0s}", "interval"},
      {"{dns: 'localhost:80', interval: 10ms}", "at least 100ms"},
      {"{registry: web, max_servers: 0}", "max_servers"},
      {"{registry: web, max_servers: 2000}", "max_servers"},
      {"{registry: web, ttl: 5s}", "ttl"},
      {"[web]", "discovery"},
  };
  for (const Case& c : bad) {
    SCOPED_TRACE(c.text);
    auto result = load(discoveryOnly(c.text));
    ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
    EXPECT_NE(result.errors[0].toString().find(c.message), std::string::npos)
        << result.errors[0].toString();
  }
}

}  // namespace
}  // namespace sg::config
