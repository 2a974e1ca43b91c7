#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string_view>

#include "config/config_test_util.h"

namespace sg::config {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

using testutil::BadCase;
using testutil::describe;
using testutil::edit;
using testutil::expectOneError;
using testutil::kFull;
using testutil::kMinimal;
using testutil::load;

const std::string kSecondListener =
    "  - name: other\n    address: 127.0.0.1:8081\n    routes:\n      - upstream: users\n";

// The examples from the design brief, and durations.
std::vector<BadCase> briefCases() {
  return {
      {"UnknownUpstream", edit("upstream: users", "upstream: userz"), 5, 19,
       "listeners[0].routes[0].upstream: unknown upstream 'userz' (defined: users)"},
      {"ServerAddressNotIp", edit("127.0.0.1:3001", "1.2.3:80"), 9, 18,
       "upstreams.users.servers[0].address: invalid address '1.2.3:80': '1.2.3' is not an IP "
       "address"},
      {"UnknownListenerKey", edit("    routes:\n", "    timeout: 5s\n    routes:\n"), 4, 5,
       "listeners[0].timeout: unknown key 'timeout' (valid keys: name, address, "
       "request_head_timeout"},
      {"BadDuration", edit("    servers:\n", "    connect_timeout: 5 seconds\n    servers:\n"), 8,
       22,
       "upstreams.users.connect_timeout: invalid duration '5 seconds' (use e.g. 250ms, 2s, 1m)"},
      {"DurationWithoutUnit", "shutdown_timeout: 30\n" + std::string(kMinimal), 1, 19,
       "shutdown_timeout: invalid duration '30'"},
      {"DurationTooLarge",
       edit("    servers:\n", "    connect_timeout: 99999999999h\n    servers:\n"), 8, 22,
       "upstreams.users.connect_timeout: duration '99999999999h' is too large"},
      {"DurationDigitsOverflow",
       "shutdown_timeout: 99999999999999999999999ms\n" + std::string(kMinimal), 1, 19,
       "shutdown_timeout: duration '99999999999999999999999ms' is too large"},
      {"ZeroConnectTimeout", edit("    servers:\n", "    connect_timeout: 0\n    servers:\n"), 8,
       22, "upstreams.users.connect_timeout: must be greater than zero"},
      {"UnknownTopLevelKeySuggests", std::string(kMinimal) + "upstream: x\n", 10, 1,
       "upstream: unknown key 'upstream'; did you mean 'upstreams'? (valid keys: workers,"},
  };
}

// Required keys, empty lists and wrong node types.
std::vector<BadCase> structureCases() {
  return {
      {"MissingListeners", "upstreams:\n  users:\n    servers:\n      - address: 127.0.0.1:3001\n",
       1, 1, "missing required key 'listeners'"},
      {"MissingListenerName", edit("  - name: public\n    address", "  - address"), 2, 5,
       "listeners[0]: missing required key 'name'"},
      {"MissingListenerAddress", edit("    address: 127.0.0.1:8080\n", ""), 2, 5,
       "listeners[0]: missing required key 'address'"},
      {"MissingRouteUpstream", edit("- upstream: users", "- strip_prefix: true"), 5, 9,
       "listeners[0].routes[0]: missing required key 'upstream'"},
      {"MissingServers",
       edit("    servers:\n      - address: 127.0.0.1:3001\n", "    keepalive: 4\n"), 8, 5,
       "upstreams.users: missing required key 'servers'"},
      {"EmptyListeners",
       "listeners: []\nupstreams: { users: { servers: [{ address: 127.0.0.1:1 }] } }\n", 1, 12,
       "listeners: must list at least one listener"},
      {"EmptyRoutes", edit("    routes:\n      - upstream: users\n", "    routes: []\n"), 4, 13,
       "listeners[0].routes: must list at least one route"},
      {"EmptyServers", edit("    servers:\n      - address: 127.0.0.1:3001\n", "    servers: []\n"),
       8, 14, "upstreams.users.servers: must list at least one server"},
      {"ListenersIsMap", edit("listeners:\n  - name", "listeners:\n    name"), 2, 5,
       "listeners: expected a list, got a map"},
      {"ListenerIsScalar", "listeners:\n  - foo\nupstreams: {}\n", 2, 5,
       "listeners[0]: expected a map, got 'foo'"},
      {"UpstreamsIsList",
       edit("upstreams:\n  users:\n    servers:\n      - address: 127.0.0.1:3001\n",
            "upstreams: [users]\n"),
       6, 12, "upstreams: expected a map of upstream name to upstream, got a list"},
  };
}

// Numbers, sizes and listener duplicates.
std::vector<BadCase> limitCases() {
  return {
      {"WorkersTooMany", "workers: 2000\n" + std::string(kMinimal), 1, 10,
       "workers: expected an integer from 0 to 1024, got '2000'"},
      {"WorkersNegative", "workers: -1\n" + std::string(kMinimal), 1, 10,
       "workers: expected an integer"},
      {"WorkersFraction", "workers: 1.5\n" + std::string(kMinimal), 1, 10,
       "workers: expected an integer"},
      {"WorkersHuge", "workers: 99999999999999999999999\n" + std::string(kMinimal), 1, 10,
       "workers: expected an integer"},
      {"WorkersList", "workers: [1]\n" + std::string(kMinimal), 1, 10,
       "workers: expected an integer from 0 to 1024, got a list"},
      {"CoalescingTooLong", "event_coalescing_us: 1001\n" + std::string(kMinimal), 1, 22,
       "event_coalescing_us: expected an integer from 0 to 1000, got '1001'"},
      {"CoalescingWithUnit", "event_coalescing_us: 50us\n" + std::string(kMinimal), 1, 22,
       "event_coalescing_us: expected an integer"},
      {"CoalescingNegative", "event_coalescing_us: -5\n" + std::string(kMinimal), 1, 22,
       "event_coalescing_us: expected an integer"},
      {"HeaderSizeTooSmall", edit("    routes:\n", "    max_header_size: 512\n    routes:\n"), 4,
       22, "listeners[0].max_header_size: size '512' must be between 1KiB and 1MiB"},
      {"HeaderSizeTooBig", edit("    routes:\n", "    max_header_size: 2MiB\n    routes:\n"), 4, 22,
       "listeners[0].max_header_size: size '2MiB' must be between 1KiB and 1MiB"},
      {"MaxHeadersZero", edit("    routes:\n", "    max_headers: 0\n    routes:\n"), 4, 18,
       "listeners[0].max_headers: expected an integer from 1 to 1000, got '0'"},
      {"MaxHeadersTooMany", edit("    routes:\n", "    max_headers: 1001\n    routes:\n"), 4, 18,
       "listeners[0].max_headers: expected an integer from 1 to 1000"},
      {"ZeroBodyTimeout", edit("    routes:\n", "    request_body_timeout: 0\n    routes:\n"), 4,
       27, "listeners[0].request_body_timeout: must be greater than zero"},
      {"NegativeBodyTimeout", edit("    routes:\n", "    request_body_timeout: -1s\n    routes:\n"),
       4, 27, "listeners[0].request_body_timeout: invalid duration '-1s'"},
      {"BadBodySize", edit("    routes:\n", "    max_body_size: 1TB\n    routes:\n"), 4, 20,
       "listeners[0].max_body_size: invalid size '1TB'"},
      {"SizeTooLarge", edit("    routes:\n", "    max_body_size: 99999999999GiB\n    routes:\n"), 4,
       20, "listeners[0].max_body_size: size '99999999999GiB' is too large"},
      {"DuplicateListenerName",
       edit("upstreams:", edit("name: other", "name: public", kSecondListener) + "upstreams:"), 6,
       11, "listeners[1].name: duplicate listener name 'public' (also listeners[0])"},
      {"DuplicateListenerAddress",
       edit("upstreams:", edit(":8081", ":8080", kSecondListener) + "upstreams:"), 7, 14,
       "listeners[1].address: address 127.0.0.1:8080 conflicts with listeners[0] (127.0.0.1:8080)"},
      {"WildcardListenerOverlaps",
       edit("upstreams:", edit("127.0.0.1:8081", "0.0.0.0:8080", kSecondListener) + "upstreams:"),
       7, 14, "listeners[1].address: address 0.0.0.0:8080 conflicts with listeners[0]"},
  };
}

// Upstreams and their servers.
std::vector<BadCase> upstreamCases() {
  return {
      {"DuplicateServer", std::string(kMinimal) + "      - address: 127.0.0.1:3001\n", 10, 18,
       "upstreams.users.servers[1].address: duplicate server 127.0.0.1:3001 (same as "
       "upstreams.users.servers[0])"},
      {"OnlyBackupServers",
       edit("      - address: 127.0.0.1:3001", "      - { address: 127.0.0.1:3001, backup: true }"),
       9, 7, "upstreams.users.servers: needs at least one server that is not a backup"},
      {"ServerPortZero", edit("127.0.0.1:3001", "127.0.0.1:0"), 9, 18,
       "upstreams.users.servers[0].address: port 0 is not a valid server port"},
      {"ServerAnyAddress", edit("127.0.0.1:3001", "0.0.0.0:80"), 9, 18,
       "upstreams.users.servers[0].address: '0.0.0.0:80' means 'any address'"},
      {"ServerWeightZero",
       edit("      - address: 127.0.0.1:3001", "      - { address: 127.0.0.1:3001, weight: 0 }"), 9,
       44, "upstreams.users.servers[0].weight: expected an integer from 1 to 1000, got '0'"},
      {"ServerWeightTooBig",
       edit("      - address: 127.0.0.1:3001", "      - { address: 127.0.0.1:3001, weight: 1001 }"),
       9, 44, "upstreams.users.servers[0].weight: expected an integer from 1 to 1000"},
      {"ServerUnknownKeySuggests",
       edit("      - address: 127.0.0.1:3001", "      - { address: 127.0.0.1:3001, wieght: 2 }"), 9,
       36, "upstreams.users.servers[0].wieght: unknown key 'wieght'; did you mean 'weight'?"},
      {"BalanceUnknown", edit("    servers:\n", "    balance: fastest\n    servers:\n"), 8, 14,
       "upstreams.users.balance: unknown balance algorithm 'fastest'"},
      {"KeepaliveTooBig", edit("    servers:\n", "    keepalive: 100001\n    servers:\n"), 8, 16,
       "upstreams.users.keepalive: expected an integer from 0 to 100000"},
      {"DuplicateUpstream",
       std::string(kMinimal) + "  users:\n    servers: [{ address: 127.0.0.1:1 }]\n", 10, 3,
       "upstreams.users: duplicate upstream 'users'"},
      {"EmptyUpstreamName",
       std::string(kMinimal) + "  '': { servers: [{ address: 127.0.0.1:1 }] }\n", 10, 3,
       "upstreams: upstream names must be non-empty words"},
  };
}

// Routes and their match.
std::vector<BadCase> routeCases() {
  return {
      {"PrefixWithoutSlash",
       edit("      - upstream: users", "      - match: { prefix: api }\n        upstream: users"),
       5, 26, "listeners[0].routes[0].match.prefix: invalid prefix 'api'"},
      {"PrefixWithQuery",
       edit("      - upstream: users",
            "      - match: { prefix: '/a?b' }\n        upstream: users"),
       5, 26, "listeners[0].routes[0].match.prefix: invalid prefix '/a?b'"},
      {"BadHost",
       edit("      - upstream: users",
            "      - match: { host: 'bad host' }\n        upstream: users"),
       5, 24, "listeners[0].routes[0].match.host: invalid host 'bad host'"},
      {"BareWildcardHost",
       edit("      - upstream: users", "      - match: { host: '*.' }\n        upstream: users"), 5,
       24, "listeners[0].routes[0].match.host: invalid host '*.'"},
      {"BadMethod",
       edit("      - upstream: users",
            "      - match: { methods: [GET, 'G T'] }\n        upstream: users"),
       5, 33, "listeners[0].routes[0].match.methods[1]: invalid method 'G T'"},
      {"DuplicateMethod",
       edit("      - upstream: users",
            "      - match: { methods: [GET, get] }\n        upstream: users"),
       5, 33, "listeners[0].routes[0].match.methods[1]: duplicate method 'GET'"},
      {"ConnectMethod",
       edit("      - upstream: users",
            "      - match: { methods: [GET, connect] }\n        upstream: users"),
       5, 33,
       "listeners[0].routes[0].match.methods[1]: CONNECT is not supported (the gateway does not "
       "tunnel CONNECT requests)"},
      {"MethodsNotList",
       edit("      - upstream: users", "      - match: { methods: GET }\n        upstream: users"),
       5, 27, "listeners[0].routes[0].match.methods: expected a list, got 'GET'"},
      {"UnknownMatchKey",
       edit("      - upstream: users", "      - match: { path: /x }\n        upstream: users"), 5,
       18,
       "listeners[0].routes[0].match.path: unknown key 'path' (valid keys: prefix, host, methods)"},
      {"EmptyRouteName",
       edit("      - upstream: users", "      - name: ''\n        upstream: users"), 5, 15,
       "listeners[0].routes[0].name: must not be empty"},
      {"StripPrefixYes",
       edit("      - upstream: users\n", "      - upstream: users\n        strip_prefix: yes\n"), 6,
       23, "listeners[0].routes[0].strip_prefix: expected true or false, got 'yes'"},
  };
}

// Keys, the small sections, and odd YAML shapes.
std::vector<BadCase> otherCases() {
  return {
      {"DuplicateKey", edit("  - name: public\n", "  - name: public\n    name: again\n"), 3, 5,
       "listeners[0].name: duplicate key 'name' (first set on line 2)"},
      {"AccessLogBadBool", "access_log: { enabled: maybe }\n" + std::string(kMinimal), 1, 24,
       "access_log.enabled: expected true or false, got 'maybe'"},
      {"AccessLogIsScalar", "access_log: /tmp/x\n" + std::string(kMinimal), 1, 13,
       "access_log: expected a map, got '/tmp/x'"},
      {"AdminBadAddress", std::string(kMinimal) + "admin:\n  address: nowhere\n", 11, 12,
       "admin.address: invalid address 'nowhere'"},
      {"AdminMissingAddress", std::string(kMinimal) + "admin: {}\n", 10, 8,
       "admin: missing required key 'address'"},
      {"AdminConflictsWithListener", std::string(kMinimal) + "admin:\n  address: 127.0.0.1:8080\n",
       11, 12, "admin.address: address 127.0.0.1:8080 conflicts with listeners[0]"},
      {"EmptyValuePointsAtKey", edit("address: 127.0.0.1:8080", "address:"), 3, 5,
       "listeners[0].address: expected an address (e.g. 127.0.0.1:8080), got an empty value"},
      {"AddressWithNul", edit("address: 127.0.0.1:8080", "address: \"127.0.0.1:8080\\0x\""), 3, 14,
       "listeners[0].address: invalid address '127.0.0.1:8080\\x00x': it contains control "
       "characters"},
      {"NonScalarKey", "[a]: 1\n" + std::string(kMinimal), 1, 1,
       "keys must be plain words, got a list"},
      {"MergeKey", edit("  - name: public\n", "  - <<: {}\n    name: public\n"), 2, 5,
       "listeners[0].<<: unknown key '<<' (YAML merge keys are not supported)"},
      {"CyclicAlias", "listeners: &a [*a]\nupstreams: {}\n", 1, 12,
       "listeners[0]: expected a map, got a list"},
  };
}

// Malformed YAML and whole-document problems.
std::vector<BadCase> documentCases() {
  return {
      {"InvalidYaml", "listeners: [a, b\n", 2, 1, "invalid YAML: end of sequence flow not found"},
      {"TabIndentation", "listeners:\n\t- name: x\n", 2, 2, "invalid YAML:"},
      {"UndefinedAlias", "workers: *nope\n", 1, 10,
       "invalid YAML: the referenced anchor is not defined"},
      {"StrayComma", ",a: 1\n", 1, 1, "invalid YAML: unexpected ',' outside any list or map"},
      {"StrayCommaAfterDocument", "a: 1\n...\n,\n", 3, 1, "invalid YAML: unexpected ','"},
      {"SecondDocumentMalformed", std::string(kMinimal) + "---\n[\n", 12, 1, "invalid YAML:"},
      {"EmptyFile", "", 1, 1, "the configuration is empty"},
      {"OnlyComments", "# nothing here\n", 1, 1, "the configuration is empty"},
      {"TopLevelList", "- a\n- b\n", 1, 1,
       "the top level must be a map with 'listeners' and 'upstreams', got a list"},
      {"TopLevelScalar", "hello\n", 1, 1, "the top level must be a map"},
      {"TwoDocuments", std::string(kMinimal) + "---\nworkers: 1\n", 10, 1,
       "only one YAML document is allowed, found 2"},
  };
}

std::vector<BadCase> badCases() {
  std::vector<BadCase> all;
  for (auto group : {briefCases, structureCases, limitCases, upstreamCases, routeCases, otherCases,
                     documentCases}) {
    for (BadCase& c : group()) all.push_back(std::move(c));
  }
  return all;
}

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, ReportsOneErrorAtPosition) { expectOneError(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Cases, BadConfig, ::testing::ValuesIn(badCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

TEST(LoadConfig, FullConfigGivesTypedValues) {
  LoadResult result = load(kFull);
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  ASSERT_NE(result.config, nullptr);
  const Config& config = *result.config;
  EXPECT_EQ(config.workers, 4u);
  EXPECT_EQ(config.shutdown_timeout, seconds(45));
  EXPECT_TRUE(config.access_log.enabled);
  EXPECT_EQ(config.access_log.path, "/tmp/access.log");
  ASSERT_TRUE(config.admin.address.has_value());
  EXPECT_EQ(config.admin.address->toString(), "127.0.0.1:9901");

  ASSERT_EQ(config.listeners.size(), 2u);
  const ListenerConfig& pub = config.listeners[0];
  EXPECT_EQ(pub.name, "public");
  EXPECT_EQ(pub.address.toString(), "127.0.0.1:8080");
  EXPECT_EQ(pub.request_head_timeout, seconds(5));
  EXPECT_EQ(pub.idle_timeout, minutes(2));
  EXPECT_EQ(pub.request_body_timeout, seconds(15));
  EXPECT_EQ(pub.max_header_size, 32u * 1024);
  EXPECT_EQ(pub.max_headers, 50u);
  EXPECT_EQ(pub.max_body_size, 8u * 1024 * 1024);
  ASSERT_EQ(pub.routes.size(), 2u);
  EXPECT_EQ(pub.routes[0].name, "users");
  EXPECT_EQ(pub.routes[0].match.prefix, "/api/users");
  EXPECT_EQ(pub.routes[0].match.host, "example.com");
  EXPECT_EQ(pub.routes[0].match.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(pub.routes[0].upstream, "users");
  EXPECT_TRUE(pub.routes[0].strip_prefix);
  EXPECT_EQ(pub.routes[1].name, "/static");  // defaults to the prefix
  EXPECT_EQ(pub.routes[1].match.host, "*.cdn.example.com");
  EXPECT_TRUE(pub.routes[1].match.methods.empty());
  EXPECT_FALSE(pub.routes[1].strip_prefix);

  const ListenerConfig& internal = config.listeners[1];
  EXPECT_EQ(internal.address.toString(), "[::1]:9090");
  EXPECT_EQ(internal.max_body_size, 0u);
  EXPECT_EQ(internal.routes[0].match.prefix, "/");

  ASSERT_EQ(config.upstreams.size(), 2u);
  const UpstreamConfig& users = config.upstreams[0];
  EXPECT_EQ(users.name, "users");
  EXPECT_EQ(users.balance, BalanceAlgorithm::kWeightedRoundRobin);
  EXPECT_EQ(users.connect_timeout, milliseconds(250));
  EXPECT_EQ(users.response_timeout, hours(1));
  EXPECT_EQ(users.keepalive, 16u);
  EXPECT_EQ(users.keepalive_timeout, seconds(90));
  ASSERT_EQ(users.servers.size(), 2u);
  EXPECT_EQ(users.servers[0].address.toString(), "127.0.0.1:3001");
  EXPECT_EQ(users.servers[0].weight, 5u);
  EXPECT_FALSE(users.servers[0].backup);
  EXPECT_EQ(users.servers[0].max_fails, 7u);
  EXPECT_EQ(users.servers[0].fail_timeout, seconds(30));
  // The upstream-level max_fails / fail_timeout are the defaults for servers that omit them.
  EXPECT_EQ(users.servers[1].address.toString(), "127.0.0.1:3002");
  EXPECT_EQ(users.servers[1].weight, 1u);
  EXPECT_TRUE(users.servers[1].backup);
  EXPECT_EQ(users.servers[1].max_fails, 3u);
  EXPECT_EQ(users.servers[1].fail_timeout, seconds(20));
  EXPECT_EQ(config.upstreams[1].name, "static");
}

TEST(LoadConfig, Http2KeysAreRead) {
  LoadResult result = load(edit("    routes:\n",
                                "    http2: { h2c: true, max_concurrent_streams: 7, "
                                "initial_window_size: 1MiB, max_header_list_size: 8KiB, "
                                "stream_reset_burst: 10, stream_reset_rate: 2 }\n    routes:\n"));
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const Http2Config& http2 = result.config->listeners.at(0).http2;
  EXPECT_TRUE(http2.h2c);
  EXPECT_EQ(http2.max_concurrent_streams, 7u);
  EXPECT_EQ(http2.initial_window_size, 1024u * 1024);
  EXPECT_EQ(http2.max_header_list_size, 8u * 1024);
  EXPECT_EQ(http2.stream_reset_burst, 10u);
  EXPECT_EQ(http2.stream_reset_rate, 2u);
}

TEST(LoadConfig, MinimalConfigGetsDefaults) {
  LoadResult result = load(kMinimal);
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  ASSERT_NE(result.config, nullptr);
  const Config& config = *result.config;
  EXPECT_EQ(config.workers, 0u);
  EXPECT_EQ(config.shutdown_timeout, seconds(30));
  EXPECT_EQ(config.event_coalescing_us, 50u);
  EXPECT_FALSE(config.access_log.enabled);
  EXPECT_FALSE(config.admin.address.has_value());
  const ListenerConfig& listener = config.listeners.at(0);
  EXPECT_EQ(listener.request_head_timeout, seconds(10));
  EXPECT_EQ(listener.idle_timeout, seconds(60));
  EXPECT_EQ(listener.request_body_timeout, seconds(60));
  EXPECT_EQ(listener.max_header_size, 16u * 1024);
  EXPECT_EQ(listener.max_headers, 100u);
  EXPECT_EQ(listener.max_body_size, 1024u * 1024);
  EXPECT_FALSE(listener.http2.h2c);
  EXPECT_EQ(listener.http2.max_concurrent_streams, 128u);
  EXPECT_EQ(listener.http2.initial_window_size, 65535u);
  EXPECT_EQ(listener.http2.max_header_list_size, 16u * 1024);  // the listener's max_header_size
  const RouteConfig& route = listener.routes.at(0);
  EXPECT_EQ(route.name, "/");
  EXPECT_EQ(route.match.prefix, "/");
  EXPECT_TRUE(route.match.host.empty());
  EXPECT_FALSE(route.strip_prefix);
  const UpstreamConfig& upstream = config.upstreams.at(0);
  EXPECT_EQ(upstream.balance, BalanceAlgorithm::kRoundRobin);
  EXPECT_EQ(upstream.connect_timeout, seconds(5));
  EXPECT_EQ(upstream.response_timeout, seconds(60));
  EXPECT_EQ(upstream.keepalive, 128u);
  EXPECT_EQ(upstream.keepalive_timeout, seconds(60));
  const ServerConfig& server = upstream.servers.at(0);
  EXPECT_EQ(server.weight, 1u);
  EXPECT_FALSE(server.backup);
  EXPECT_EQ(server.max_fails, 1u);
  EXPECT_EQ(server.fail_timeout, seconds(10));
}

TEST(LoadConfig, AcceptsEdgeValues) {
  std::string yaml = "workers: 1024\nshutdown_timeout: 0\nevent_coalescing_us: 1000\n" +
                     edit("    routes:\n",
                          "    max_header_size: 1KiB\n    max_headers: 1000\n    max_body_size: "
                          "18446744073709551615\n"
                          "    idle_timeout: 0\n    routes:\n");
  yaml = edit("      - address: 127.0.0.1:3001",
              "      - { address: 127.0.0.1:3001, weight: 1000, max_fails: 0, backup: false }\n"
              "      - { address: localhost:3002, backup: TRUE }",
              yaml);
  LoadResult result = load(yaml);
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  EXPECT_EQ(result.config->workers, 1024u);
  EXPECT_EQ(result.config->shutdown_timeout, Duration::zero());
  EXPECT_EQ(result.config->event_coalescing_us, 1000u);
  EXPECT_EQ(result.config->listeners[0].max_header_size, 1024u);
  EXPECT_EQ(result.config->listeners[0].max_body_size, UINT64_MAX);
  EXPECT_EQ(result.config->upstreams[0].servers[0].weight, 1000u);
  EXPECT_EQ(result.config->upstreams[0].servers[1].address.toString(), "127.0.0.1:3002");
}

TEST(LoadConfig, PortZeroListenersDoNotConflict) {
  // Tests bind port 0 and let the kernel choose; two such listeners are fine.
  std::string yaml = edit("upstreams:", edit(":8081", ":0", kSecondListener) + "upstreams:");
  yaml = edit("127.0.0.1:8080", "127.0.0.1:0", yaml) + "admin: { address: '127.0.0.1:0' }\n";
  LoadResult result = load(yaml);
  EXPECT_TRUE(result.errors.empty()) << describe(result.errors);
  EXPECT_NE(result.config, nullptr);
}

TEST(LoadConfig, ReportsEveryErrorInFileOrder) {
  // The walk reads upstreams before listeners; errors must still come out in file order.
  std::string yaml = "workers: lots\n" + std::string(kMinimal);
  yaml = edit("    routes:\n", "    timeout: 5s\n    routes:\n", yaml);
  yaml = edit("upstream: users", "upstream: userz", yaml);
  yaml = edit("      - address: 127.0.0.1:3001", "      - { address: 127.0.0.1:3001, weight: 0 }",
              yaml);
  yaml = edit("    servers:\n", "    balance: fastest\n    servers:\n", yaml);
  LoadResult result = load(yaml);
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 5u) << describe(result.errors);
  EXPECT_EQ(result.errors[0].toString(),
            "test.yaml:1:10: workers: expected an integer from 0 to 1024, got 'lots'");
  EXPECT_EQ(result.errors[1].line, 5);
  EXPECT_EQ(result.errors[1].column, 5);
  EXPECT_EQ(
      result.errors[2].toString(),
      "test.yaml:7:19: listeners[0].routes[0].upstream: unknown upstream 'userz' (defined: users)");
  EXPECT_EQ(result.errors[3].line, 10);
  EXPECT_EQ(result.errors[3].column, 14);
  EXPECT_EQ(result.errors[4].line, 12);
  EXPECT_EQ(result.errors[4].column, 44);
}

TEST(LoadConfig, BrokenUpstreamsSectionDoesNotBlameRoutes) {
  LoadResult result = load(edit(
      "upstreams:\n  users:\n    servers:\n      - address: 127.0.0.1:3001\n", "upstreams: 5\n"));
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  EXPECT_NE(result.errors[0].message.find("upstreams: expected a map"), std::string::npos);
}

TEST(LoadConfig, OneBadServerDoesNotAlsoTriggerBackupOnlyError) {
  std::string yaml = std::string(kMinimal) + "      - [not, a, map]\n";
  LoadResult result = load(yaml);
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  EXPECT_EQ(result.errors[0].toString(),
            "test.yaml:10:9: upstreams.users.servers[1]: expected a map, got a list");
}

TEST(LoadConfig, ErrorCountIsBounded) {
  // Aliases let a small file expand into a huge tree: 20 listeners x 20 routes x 21 errors.
  std::string yaml =
      "listeners:\n  - &L\n    name: a\n    address: 127.0.0.1:1\n    routes:\n"
      "      - &R\n        upstream: u\n        match: { methods: [";
  for (int i = 0; i < 20; ++i) yaml += "'a b', ";
  yaml += "] }\n";
  for (int i = 0; i < 19; ++i) yaml += "      - *R\n";
  for (int i = 0; i < 19; ++i) yaml += "  - *L\n";
  yaml += "upstreams: {}\n";
  LoadResult result = load(yaml);
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 1001u);
  EXPECT_EQ(result.errors.back().message, "too many errors; stopped after 1000");
  EXPECT_EQ(result.errors.front().line, 3);  // listeners[1]'s name, an alias of listeners[0]'s
}

TEST(ConfigError, ToStringIsFileLineColumnMessage) {
  ConfigError error{"conf/x.yaml", 12, 7, "listeners[0].name: must not be empty"};
  EXPECT_EQ(error.toString(), "conf/x.yaml:12:7: listeners[0].name: must not be empty");
}

TEST(Config, FindUpstream) {
  LoadResult result = load(kFull);
  ASSERT_NE(result.config, nullptr) << describe(result.errors);
  const UpstreamConfig* found = result.config->findUpstream("static");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->name, "static");
  EXPECT_EQ(found, &result.config->upstreams[1]);
  EXPECT_EQ(result.config->findUpstream("nope"), nullptr);
  EXPECT_EQ(result.config->findUpstream(""), nullptr);
}

TEST(ParseDuration, Valid) {
  EXPECT_EQ(parseDuration("0"), Duration::zero());
  EXPECT_EQ(parseDuration("0s"), Duration::zero());
  EXPECT_EQ(parseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(parseDuration("2s"), seconds(2));
  EXPECT_EQ(parseDuration("1m"), minutes(1));
  EXPECT_EQ(parseDuration("1h"), hours(1));
  EXPECT_EQ(parseDuration("90m"), minutes(90));
  EXPECT_EQ(parseDuration("007s"), seconds(7));
  EXPECT_EQ(parseDuration("100000h"), hours(100000));
}

TEST(ParseDuration, Invalid) {
  for (const char* text : {"",         "s",
                           "10",       "-1s",
                           "+1s",      "1.5s",
                           "1 s",      " 1s",
                           "1s ",      "1sec",
                           "1S",       "1us",
                           "1w",       "1ms1",
                           "1h30m",    "0x10s",
                           "ms",       "99999999999999999999s",
                           "3000000h", "184467440737095516h"}) {
    EXPECT_EQ(parseDuration(text), std::nullopt) << text;
  }
}

TEST(ParseSize, Valid) {
  EXPECT_EQ(parseSize("0"), 0u);
  EXPECT_EQ(parseSize("512"), 512u);
  EXPECT_EQ(parseSize("512B"), 512u);
  EXPECT_EQ(parseSize("16KiB"), 16u * 1024);
  EXPECT_EQ(parseSize("16KB"), 16u * 1024);
  EXPECT_EQ(parseSize("16K"), 16u * 1024);
  EXPECT_EQ(parseSize("64MiB"), 64u * 1024 * 1024);
  EXPECT_EQ(parseSize("64MB"), 64u * 1024 * 1024);
  EXPECT_EQ(parseSize("64M"), 64u * 1024 * 1024);
  EXPECT_EQ(parseSize("2GiB"), 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(parseSize("2G"), 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(parseSize("2GB"), 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(parseSize("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parseSize("17179869183GiB"), 17179869183ull << 30);  // the largest GiB count that fits
}

TEST(ParseSize, Invalid) {
  for (const char* text :
       {"", "KiB", "-1", "+1", "1.5KiB", "1 KiB", "1kib", "1TiB", "1Ki", "1KiBB", "0x10",
        "18446744073709551616", "17179869184GiB", "99999999999999999999KiB"}) {
    EXPECT_EQ(parseSize(text), std::nullopt) << text;
  }
}

TEST(LoadConfigFile, MissingFileGivesOneError) {
  LoadResult result = loadConfigFile("/nonexistent/scalegate.yaml");
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].file, "/nonexistent/scalegate.yaml");
  EXPECT_EQ(result.errors[0].line, 0);
  EXPECT_NE(result.errors[0].message.find("No such file or directory"), std::string::npos)
      << result.errors[0].message;
}

TEST(LoadConfigFile, DirectoryGivesOneError) {
  LoadResult result = loadConfigFile("/");
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].message.find("Is a directory"), std::string::npos)
      << result.errors[0].message;
}

TEST(LoadConfigFile, ReadsFileAndNamesItInErrors) {
  char path[] = "/tmp/config_test_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  { std::ofstream(path) << kFull; }
  LoadResult good = loadConfigFile(path);
  EXPECT_TRUE(good.errors.empty()) << describe(good.errors);
  EXPECT_NE(good.config, nullptr);
  { std::ofstream(path) << "workers: x\n" << kMinimal; }
  LoadResult bad = loadConfigFile(path);
  ASSERT_EQ(bad.errors.size(), 1u) << describe(bad.errors);
  EXPECT_EQ(bad.errors[0].toString().rfind(std::string(path) + ":1:10: workers:", 0), 0u)
      << bad.errors[0].toString();
  std::remove(path);
}

// Whatever the input: no exception, no crash, and a config exactly when there are no errors.
void expectWellBehaved(const std::string& yaml) {
  LoadResult result;
  ASSERT_NO_THROW(result = load(yaml)) << yaml;
  EXPECT_EQ(result.config == nullptr, !result.errors.empty()) << yaml;
  for (const ConfigError& error : result.errors) {
    EXPECT_GE(error.line, 0);
    EXPECT_GE(error.column, 0);
    EXPECT_FALSE(error.message.empty());
  }
}

TEST(Robustness, EveryTruncationOfAValidConfig) {
  const std::string full = kFull;
  size_t valid = 0;
  for (size_t length = 0; length <= full.size(); ++length) {
    expectWellBehaved(full.substr(0, length));
    if (load(full.substr(0, length)).config) ++valid;
  }
  // The whole file is valid and most prefixes are not (they lack upstreams).
  EXPECT_GE(valid, 1u);
  EXPECT_LT(valid, full.size() / 2);
}

TEST(Robustness, SingleByteMutationsOfAValidConfig) {
  const std::string full = kFull;
  for (char replacement :
       {'\0', '\t', '\n', ' ', ':', '-', '[', '{', '&', '*', '"', '|', ',', '\xff'}) {
    for (size_t i = 0; i < full.size(); ++i) {
      std::string mutated = full;
      mutated[i] = replacement;
      expectWellBehaved(mutated);
    }
  }
}

TEST(Robustness, RandomGarbage) {
  std::mt19937 random(12345);  // fixed seed: failures must be reproducible
  for (int round = 0; round < 2000; ++round) {
    std::string garbage(random() % 200, '\0');
    for (char& c : garbage) c = static_cast<char>(random() % 256);
    expectWellBehaved(garbage);
  }
}

TEST(Robustness, HostileShapes) {
  for (const std::string& yaml : std::vector<std::string>{
           std::string(100000, '['),
           std::string(100000, '{'),
           std::string(5000, '-') + " x",
           [] {
             std::string nested;
             for (int i = 0; i < 5000; ++i)
               nested += std::string(static_cast<size_t>(i) * 2, ' ') + "-\n";
             return nested;
           }(),
           [] {
             std::string nested;
             for (int i = 0; i < 5000; ++i)
               nested += std::string(static_cast<size_t>(i), ' ') + "k:\n";
             return nested;
           }(),
           "a: &a [*a, *a]\nlisteners: *a\nupstreams: *a\n",
           "listeners: &l [{name: a, address: '127.0.0.1:1', routes: &r [{upstream: u}, *r]}]\n",
           std::string("\0\0\0\0", 4),
           "\xef\xbb\xbf" + std::string(kMinimal),
           "\xff\xfe" + std::string(kMinimal),
           "workers: !!binary aGVsbG8=\n",
           "? - a\n  - b\n: c\n",
           "listeners:\n  - name: " + std::string(1 << 20, 'x') + "\n",
           "upstreams:\n  users:\n    servers: *missing\n",
           "%YAML 1.2\n---\nworkers: 1\n",
           "%TAG ! tag:x,2000:\n--- !foo\nworkers: 1\n",
           "workers: 1\n...\n",
           "---\n---\n---\n",
       }) {
    expectWellBehaved(yaml);
  }
}

}  // namespace
}  // namespace sg::config
