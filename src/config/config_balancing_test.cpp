// Balancing, health and retry keys: every algorithm, hash_on, health_check,
// outlier_detection, and a route's retries.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

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

using testutil::loadValid;
using testutil::routeWith;
using testutil::upstreamWith;

const UpstreamConfig& firstUpstream(const std::shared_ptr<const Config>& config) {
  return config->upstreams.at(0);
}

const RouteConfig& firstRoute(const std::shared_ptr<const Config>& config) {
  return config->listeners.at(0).routes.at(0);
}

std::vector<BadCase> balanceCases() {
  return {
      {"BalanceUnknownListsAll", upstreamWith("balance: fastest"), 8, 14,
       "upstreams.users.balance: unknown balance algorithm 'fastest' (one of: round_robin, "
       "weighted_round_robin, least_conn, least_request, random, ip_hash, hash, ring_hash, "
       "maglev)"},
      {"BalanceIsCaseSensitive", upstreamWith("balance: Maglev"), 8, 14,
       "upstreams.users.balance: unknown balance algorithm 'Maglev'"},
      {"BalanceList", upstreamWith("balance: [maglev]"), 8, 14,
       "upstreams.users.balance: expected a string, got a list"},
      {"HashOnUnknownSource", upstreamWith("hash_on: body"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'body' (use ip, header:NAME, cookie:NAME or "
       "query:NAME)"},
      {"HashOnUpperCaseIp", upstreamWith("hash_on: IP"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'IP'"},
      {"HashOnIpWithName", upstreamWith("hash_on: 'ip:x'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'ip:x' (use ip,"},
      {"HashOnHeaderWithoutName", upstreamWith("hash_on: header"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'header' (the header name must be letters, digits "
       "and "
       "!#$%&'*+-.^_`|~ only)"},
      {"HashOnEmptyHeader", upstreamWith("hash_on: 'header:'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'header:' (the header name must be"},
      {"HashOnHeaderWithSpace", upstreamWith("hash_on: 'header:X User'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'header:X User' (the header name must be"},
      {"HashOnHeaderWithColon", upstreamWith("hash_on: 'header:a:b'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'header:a:b' (the header name must be"},
      {"HashOnEmptyCookie", upstreamWith("hash_on: 'cookie:'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'cookie:' (the cookie name must not be empty or "
       "hold "
       "spaces, ';', '=' or '&')"},
      {"HashOnCookieWithSemicolon", upstreamWith("hash_on: 'cookie:a;b'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'cookie:a;b' (the cookie name"},
      {"HashOnCookieWithSpace", upstreamWith("hash_on: 'cookie:a b'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'cookie:a b' (the cookie name"},
      {"HashOnQueryWithAmpersand", upstreamWith("hash_on: 'query:a&b'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'query:a&b' (the query name must not be empty"},
      {"HashOnQueryWithEquals", upstreamWith("hash_on: 'query:a=b'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'query:a=b' (the query name"},
      {"HashOnEmptyQuery", upstreamWith("hash_on: 'query:'"), 8, 14,
       "upstreams.users.hash_on: invalid hash_on 'query:' (the query name"},
      {"RingSizeZero", upstreamWith("ring_size: 0"), 8, 16,
       "upstreams.users.ring_size: expected an integer from 1 to 10000, got '0'"},
      {"RingSizeTooBig", upstreamWith("ring_size: 10001"), 8, 16,
       "upstreams.users.ring_size: expected an integer from 1 to 10000, got '10001'"},
      {"HashBalanceFactorHundred", upstreamWith("hash_balance_factor: 100"), 8, 26,
       "upstreams.users.hash_balance_factor: must be 0 (off) or a percentage of the mean load "
       "above 100 "
       "(e.g. 125), got 100"},
      {"HashBalanceFactorOne", upstreamWith("hash_balance_factor: 1"), 8, 26,
       "upstreams.users.hash_balance_factor: must be 0 (off) or a percentage"},
      {"HashBalanceFactorTooBig", upstreamWith("hash_balance_factor: 10001"), 8, 26,
       "upstreams.users.hash_balance_factor: expected an integer from 0 to 10000, got '10001'"},
      {"StickyCookieEmpty", upstreamWith("sticky_cookie: ''"), 8, 20,
       "upstreams.users.sticky_cookie: invalid cookie name '' (letters, digits and !#$%&'*+-.^_`|~ "
       "only)"},
      {"StickyCookieWithSpace", upstreamWith("sticky_cookie: 'a b'"), 8, 20,
       "upstreams.users.sticky_cookie: invalid cookie name 'a b'"},
      {"StickyCookieWithEquals", upstreamWith("sticky_cookie: 'a=b'"), 8, 20,
       "upstreams.users.sticky_cookie: invalid cookie name 'a=b'"},
      {"SlowStartBad", upstreamWith("slow_start: soon"), 8, 17,
       "upstreams.users.slow_start: invalid duration 'soon'"},
      {"PanicThresholdTooBig", upstreamWith("panic_threshold: 101"), 8, 22,
       "upstreams.users.panic_threshold: expected an integer from 0 to 100, got '101'"},
      {"PanicThresholdNegative", upstreamWith("panic_threshold: -1"), 8, 22,
       "upstreams.users.panic_threshold: expected an integer from 0 to 100, got '-1'"},
  };
}

// Positions: "health_check: { " is 16 columns, so its first key is at 8:21.
std::vector<BadCase> healthCheckCases() {
  return {
      {"HealthCheckNotMap", upstreamWith("health_check: true"), 8, 19,
       "upstreams.users.health_check: expected a map, got 'true'"},
      {"HealthCheckEmptyValue", upstreamWith("health_check:"), 8, 5,
       "upstreams.users.health_check: expected a map, got an empty value"},
      {"HealthCheckUnknownKey", upstreamWith("health_check: { uri: /x }"), 8, 21,
       "upstreams.users.health_check.uri: unknown key 'uri' (valid keys: type, path, host, "
       "interval, "
       "timeout, rise, fall, expect)"},
      {"HealthCheckBadType", upstreamWith("health_check: { type: udp }"), 8, 27,
       "upstreams.users.health_check.type: unknown health check type 'udp' (one of: http, tcp)"},
      {"HealthCheckPathWithoutSlash", upstreamWith("health_check: { path: health }"), 8, 27,
       "upstreams.users.health_check.path: invalid path 'health' (must start with '/' and hold no "
       "spaces or "
       "'#')"},
      {"HealthCheckEmptyPath", upstreamWith("health_check: { path: '' }"), 8, 27,
       "upstreams.users.health_check.path: invalid path ''"},
      {"HealthCheckPathWithSpace", upstreamWith("health_check: { path: '/a b' }"), 8, 27,
       "upstreams.users.health_check.path: invalid path '/a b'"},
      {"HealthCheckPathWithFragment", upstreamWith("health_check: { path: '/a#b' }"), 8, 27,
       "upstreams.users.health_check.path: invalid path '/a#b'"},
      {"HealthCheckBadHost", upstreamWith("health_check: { host: 'a b' }"), 8, 27,
       "upstreams.users.health_check.host: invalid host 'a b' (use a name like example.com)"},
      {"HealthCheckWildcardHost", upstreamWith("health_check: { host: '*.example.com' }"), 8, 27,
       "upstreams.users.health_check.host: invalid host '*.example.com'"},
      {"HealthCheckEmptyHost", upstreamWith("health_check: { host: '' }"), 8, 27,
       "upstreams.users.health_check.host: invalid host ''"},
      {"HealthCheckZeroInterval", upstreamWith("health_check: { interval: 0 }"), 8, 31,
       "upstreams.users.health_check.interval: must be greater than zero"},
      {"HealthCheckZeroTimeout", upstreamWith("health_check: { timeout: 0s }"), 8, 30,
       "upstreams.users.health_check.timeout: must be greater than zero"},
      {"HealthCheckTimeoutOverInterval",
       upstreamWith("health_check: { interval: 2s, timeout: 2001ms }"), 8, 44,
       "upstreams.users.health_check.timeout: must not be longer than the interval (2s)"},
      {"HealthCheckTimeoutOverDefaultInterval", upstreamWith("health_check: { timeout: 6s }"), 8,
       30, "upstreams.users.health_check.timeout: must not be longer than the interval (5s)"},
      {"HealthCheckRiseZero", upstreamWith("health_check: { rise: 0 }"), 8, 27,
       "upstreams.users.health_check.rise: expected an integer from 1 to 100, got '0'"},
      {"HealthCheckFallTooBig", upstreamWith("health_check: { fall: 101 }"), 8, 27,
       "upstreams.users.health_check.fall: expected an integer from 1 to 100, got '101'"},
      {"HealthCheckExpectNotList", upstreamWith("health_check: { expect: 200 }"), 8, 29,
       "upstreams.users.health_check.expect: expected a list, got '200'"},
      {"HealthCheckExpectTooHigh", upstreamWith("health_check: { expect: [200, 600] }"), 8, 35,
       "upstreams.users.health_check.expect[1]: expected a status code from 100 to 599, got '600'"},
      {"HealthCheckExpectTooLow", upstreamWith("health_check: { expect: [99] }"), 8, 30,
       "upstreams.users.health_check.expect[0]: expected a status code from 100 to 599, got '99'"},
      {"HealthCheckExpectPattern", upstreamWith("health_check: { expect: [2xx] }"), 8, 30,
       "upstreams.users.health_check.expect[0]: expected a status code from 100 to 599, got '2xx'"},
      {"HealthCheckExpectNested", upstreamWith("health_check: { expect: [[200]] }"), 8, 30,
       "upstreams.users.health_check.expect[0]: expected a status code from 100 to 599, got a "
       "list"},
      {"HealthCheckExpectDuplicate", upstreamWith("health_check: { expect: [204, '204'] }"), 8, 35,
       "upstreams.users.health_check.expect[1]: duplicate status code 204"},
  };
}

// Positions: "outlier_detection: { " is 21 columns, so its first key is at 8:26.
std::vector<BadCase> outlierCases() {
  return {
      {"OutlierNotMap", upstreamWith("outlier_detection: true"), 8, 24,
       "upstreams.users.outlier_detection: expected a map, got 'true'"},
      {"OutlierUnknownKey", upstreamWith("outlier_detection: { consecutive_errors: 3 }"), 8, 26,
       "upstreams.users.outlier_detection.consecutive_errors: unknown key 'consecutive_errors'"},
      {"OutlierConsecutive5xxTooBig", upstreamWith("outlier_detection: { consecutive_5xx: 1001 }"),
       8, 43,
       "upstreams.users.outlier_detection.consecutive_5xx: expected an integer from 0 to 1000, got "
       "'1001'"},
      {"OutlierGatewayFailureNegative",
       upstreamWith("outlier_detection: { consecutive_gateway_failure: -1 }"), 8, 55,
       "upstreams.users.outlier_detection.consecutive_gateway_failure: expected an integer from 0 "
       "to 1000"},
      {"OutlierZeroInterval", upstreamWith("outlier_detection: { interval: 0 }"), 8, 36,
       "upstreams.users.outlier_detection.interval: must be greater than zero"},
      {"OutlierZeroEjectionTime", upstreamWith("outlier_detection: { base_ejection_time: 0ms }"), 8,
       46, "upstreams.users.outlier_detection.base_ejection_time: must be greater than zero"},
      {"OutlierEjectionPercentTooBig",
       upstreamWith("outlier_detection: { max_ejection_percent: 101 }"), 8, 48,
       "upstreams.users.outlier_detection.max_ejection_percent: expected an integer from 0 to 100, "
       "got "
       "'101'"},
      {"OutlierMaxEjectionTimeBelowBase",
       upstreamWith("outlier_detection: { base_ejection_time: 1m, max_ejection_time: 30s }"), 8, 69,
       "upstreams.users.outlier_detection.max_ejection_time: must not be shorter than "
       "base_ejection_time (1m)"},
      {"OutlierMaxEjectionTimeBelowDefaultBase",
       upstreamWith("outlier_detection: { max_ejection_time: 10s }"), 8, 45,
       "upstreams.users.outlier_detection.max_ejection_time: must not be shorter than "
       "base_ejection_time (30s)"},
      {"OutlierZeroMaxEjectionTime", upstreamWith("outlier_detection: { max_ejection_time: 0 }"), 8,
       45, "upstreams.users.outlier_detection.max_ejection_time: must be greater than zero"},
      {"OutlierAlwaysEjectNotBool",
       upstreamWith("outlier_detection: { always_eject_one_host: 1x }"), 8, 49,
       "upstreams.users.outlier_detection.always_eject_one_host: expected true or false, got '1x'"},
  };
}

// Positions: "retries: { " is 11 columns, so its first key is at 6:20.
std::vector<BadCase> retryCases() {
  return {
      {"RetriesNotMap", routeWith("retries: 3"), 6, 18,
       "listeners[0].routes[0].retries: expected a map, got '3'"},
      {"RetriesUnknownKey", routeWith("retries: { tries: 3 }"), 6, 20,
       "listeners[0].routes[0].retries.tries: unknown key 'tries'"},
      {"RetriesAttemptsTooMany", routeWith("retries: { attempts: 11 }"), 6, 30,
       "listeners[0].routes[0].retries.attempts: expected an integer from 0 to 10, got '11'"},
      {"RetriesUnknownCondition", routeWith("retries: { on: [5xx, 404s] }"), 6, 30,
       "listeners[0].routes[0].retries.on[1]: unknown retry condition '404s' (one of: "
       "connect-failure, "
       "refused, reset, timeout, 5xx, gateway-error, or a status code from 100 to 599)"},
      {"RetriesConditionWithUnderscore", routeWith("retries: { on: [connect_failure] }"), 6, 25,
       "listeners[0].routes[0].retries.on[0]: unknown retry condition 'connect_failure'"},
      {"RetriesStatusTooHigh", routeWith("retries: { on: [600] }"), 6, 25,
       "listeners[0].routes[0].retries.on[0]: expected a status code from 100 to 599, got '600'"},
      {"RetriesQuotedStatusTooLow", routeWith("retries: { on: [\"99\"] }"), 6, 25,
       "listeners[0].routes[0].retries.on[0]: expected a status code from 100 to 599, got '99'"},
      {"RetriesDuplicateCondition", routeWith("retries: { on: [reset, reset] }"), 6, 32,
       "listeners[0].routes[0].retries.on[1]: duplicate retry condition 'reset'"},
      {"RetriesDuplicateStatus", routeWith("retries: { on: [409, \"409\"] }"), 6, 30,
       "listeners[0].routes[0].retries.on[1]: duplicate status code 409"},
      {"RetriesEmptyConditions", routeWith("retries: { on: [] }"), 6, 24,
       "listeners[0].routes[0].retries.on: must list at least one condition (leave 'on' out for "
       "the "
       "default: connect-failure, refused, reset, gateway-error)"},
      {"RetriesConditionsNotList", routeWith("retries: { on: 5xx }"), 6, 24,
       "listeners[0].routes[0].retries.on: expected a list, got '5xx'"},
      {"RetriesConditionIsMap", routeWith("retries: { on: [{ a: b }] }"), 6, 25,
       "listeners[0].routes[0].retries.on[0]: expected a retry condition, got a map"},
      {"RetriesBadPerTryTimeout", routeWith("retries: { per_try_timeout: 1.5s }"), 6, 37,
       "listeners[0].routes[0].retries.per_try_timeout: invalid duration '1.5s'"},
      {"RetriesZeroBackoff", routeWith("retries: { backoff: 0 }"), 6, 29,
       "listeners[0].routes[0].retries.backoff: must be greater than zero"},
      {"RetriesBudgetZero", routeWith("retries: { budget_percent: 0 }"), 6, 36,
       "listeners[0].routes[0].retries.budget_percent: expected an integer from 1 to 100, got '0'"},
      {"RetriesBudgetTooBig", routeWith("retries: { budget_percent: 101 }"), 6, 36,
       "listeners[0].routes[0].retries.budget_percent: expected an integer from 1 to 100, got "
       "'101'"},
      {"RetryNonIdempotentYes", routeWith("retry_non_idempotent: yes"), 6, 31,
       "listeners[0].routes[0].retry_non_idempotent: expected true or false, got 'yes'"},
      {"RetryBufferLimitTooBig", routeWith("retry_buffer_limit: 17MiB"), 6, 29,
       "listeners[0].routes[0].retry_buffer_limit: size '17MiB' must be between 0B and 16MiB"},
      {"RetryBufferLimitBad", routeWith("retry_buffer_limit: lots"), 6, 29,
       "listeners[0].routes[0].retry_buffer_limit: invalid size 'lots'"},
  };
}

std::vector<BadCase> policyCases() {
  std::vector<BadCase> all;
  for (auto group : {balanceCases, healthCheckCases, outlierCases, retryCases}) {
    for (BadCase& c : group()) all.push_back(std::move(c));
  }
  return all;
}

class BadPolicyConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadPolicyConfig, ReportsOneErrorAtPosition) { expectOneError(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Cases, BadPolicyConfig, ::testing::ValuesIn(policyCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

TEST(LoadPolicies, FullConfigGivesTypedRoutePolicies) {
  auto config = loadValid(kFull);
  ASSERT_NE(config, nullptr);
  const RouteConfig& users = config->listeners.at(0).routes.at(0);
  ASSERT_TRUE(users.retries.has_value());
  EXPECT_EQ(users.retries->attempts, 3u);
  const RetryOn& on = users.retries->on;
  EXPECT_FALSE(on.connect_failure);
  EXPECT_FALSE(on.refused);
  EXPECT_TRUE(on.reset);
  EXPECT_TRUE(on.timeout);
  EXPECT_TRUE(on.server_error);
  EXPECT_FALSE(on.gateway_error);
  EXPECT_EQ(on.statuses, (std::vector<int>{409, 429}));
  EXPECT_EQ(users.retries->per_try_timeout, milliseconds(1500));
  EXPECT_EQ(users.retries->backoff, milliseconds(50));
  EXPECT_EQ(users.retries->budget_percent, 50u);
  EXPECT_TRUE(users.retry_non_idempotent);
  EXPECT_EQ(users.retry_buffer_limit, 1024u * 1024);

  // `retries: {}` turns retries on with every default.
  const RouteConfig& statics = config->listeners.at(0).routes.at(1);
  ASSERT_TRUE(statics.retries.has_value());
  EXPECT_EQ(statics.retries->attempts, 1u);
  EXPECT_TRUE(statics.retries->on.connect_failure);
  EXPECT_FALSE(config->listeners.at(1).routes.at(0).retries.has_value());
}

TEST(LoadPolicies, FullConfigGivesTypedUpstreamPolicies) {
  auto config = loadValid(kFull);
  ASSERT_NE(config, nullptr);
  const UpstreamConfig& users = config->upstreams.at(0);
  EXPECT_EQ(users.slow_start, seconds(30));
  EXPECT_EQ(users.panic_threshold, 0u);
  ASSERT_TRUE(users.health_check.has_value());
  const HealthCheckConfig& check = *users.health_check;
  EXPECT_EQ(check.type, HealthCheckConfig::Type::kHttp);
  EXPECT_EQ(check.path, "/healthz?deep=1");
  EXPECT_EQ(check.host, "health.example.com");
  EXPECT_EQ(check.interval, seconds(10));
  EXPECT_EQ(check.timeout, seconds(10));  // equal to the interval is allowed
  EXPECT_EQ(check.rise, 1u);
  EXPECT_EQ(check.fall, 100u);
  EXPECT_EQ(check.expect, (std::vector<int>{200, 204}));
  ASSERT_TRUE(users.outlier_detection.has_value());
  const OutlierDetectionConfig& outliers = *users.outlier_detection;
  EXPECT_EQ(outliers.consecutive_5xx, 0u);
  EXPECT_EQ(outliers.consecutive_gateway_failure, 1000u);
  EXPECT_EQ(outliers.interval, seconds(1));
  EXPECT_EQ(outliers.base_ejection_time, minutes(1));
  EXPECT_EQ(outliers.max_ejection_percent, 100u);

  const UpstreamConfig& statics = config->upstreams.at(1);
  EXPECT_EQ(statics.balance, BalanceAlgorithm::kRingHash);
  EXPECT_EQ(statics.hash_on.source, HashOn::Source::kHeader);
  EXPECT_EQ(statics.hash_on.name,
            "X-User-ID");  // kept as written; headers match case-insensitively
  EXPECT_EQ(statics.ring_size, 10000u);
  EXPECT_EQ(statics.hash_balance_factor, 125u);
  EXPECT_EQ(statics.sticky_cookie, "sg_route");
  ASSERT_TRUE(statics.health_check.has_value());
  EXPECT_EQ(statics.health_check->type, HealthCheckConfig::Type::kTcp);
  ASSERT_TRUE(statics.outlier_detection.has_value());
  EXPECT_EQ(statics.outlier_detection->consecutive_5xx, 5u);
}

TEST(LoadPolicies, OutlierEjectionCapAndAlwaysEjectOneHost) {
  // Envoy's default cap: max(300 s, base_ejection_time).
  auto config = loadValid(upstreamWith("outlier_detection: {}"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(firstUpstream(config).outlier_detection->max_ejection_time, minutes(5));
  EXPECT_FALSE(firstUpstream(config).outlier_detection->always_eject_one_host);
  config = loadValid(upstreamWith("outlier_detection: { base_ejection_time: 10m }"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(firstUpstream(config).outlier_detection->max_ejection_time, minutes(10));
  config =
      loadValid(upstreamWith("outlier_detection: { base_ejection_time: 1m, max_ejection_time: 1m, "
                             "always_eject_one_host: true }"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(firstUpstream(config).outlier_detection->max_ejection_time, minutes(1));
  EXPECT_TRUE(firstUpstream(config).outlier_detection->always_eject_one_host);
}

TEST(LoadPolicies, MinimalConfigHasNoPolicies) {
  auto config = loadValid(kMinimal);
  ASSERT_NE(config, nullptr);
  const RouteConfig& route = firstRoute(config);
  EXPECT_FALSE(route.retries.has_value());
  EXPECT_FALSE(route.retry_non_idempotent);
  EXPECT_EQ(route.retry_buffer_limit, 64u * 1024);
  const UpstreamConfig& upstream = firstUpstream(config);
  EXPECT_EQ(upstream.hash_on.source, HashOn::Source::kIp);
  EXPECT_EQ(upstream.hash_on.name, "");
  EXPECT_EQ(upstream.ring_size, 160u);
  EXPECT_EQ(upstream.hash_balance_factor, 0u);
  EXPECT_EQ(upstream.sticky_cookie, "");
  EXPECT_EQ(upstream.slow_start, Duration::zero());
  EXPECT_EQ(upstream.panic_threshold, 50u);
  EXPECT_FALSE(upstream.health_check.has_value());
  EXPECT_FALSE(upstream.outlier_detection.has_value());
}

TEST(LoadPolicies, EmptyMapsTurnPoliciesOnWithDefaults) {
  std::string yaml = upstreamWith("health_check: {}\n    outlier_detection: {}");
  yaml = edit("      - upstream: users\n", "      - upstream: users\n        retries: {}\n", yaml);
  auto config = loadValid(yaml);
  ASSERT_NE(config, nullptr);
  const RetryPolicy& retries = firstRoute(config).retries.value();
  EXPECT_EQ(retries.attempts, 1u);
  EXPECT_TRUE(retries.on.connect_failure);
  EXPECT_TRUE(retries.on.refused);
  EXPECT_TRUE(retries.on.reset);
  EXPECT_FALSE(retries.on.timeout);
  EXPECT_FALSE(retries.on.server_error);
  EXPECT_TRUE(retries.on.gateway_error);
  EXPECT_TRUE(retries.on.statuses.empty());
  EXPECT_EQ(retries.per_try_timeout, Duration::zero());
  EXPECT_EQ(retries.backoff, milliseconds(25));
  EXPECT_EQ(retries.budget_percent, 20u);

  const HealthCheckConfig& check = firstUpstream(config).health_check.value();
  EXPECT_EQ(check.type, HealthCheckConfig::Type::kHttp);
  EXPECT_EQ(check.path, "/");
  EXPECT_EQ(check.host, "");
  EXPECT_EQ(check.interval, seconds(5));
  EXPECT_EQ(check.timeout, seconds(2));
  EXPECT_EQ(check.rise, 2u);
  EXPECT_EQ(check.fall, 3u);
  EXPECT_TRUE(check.expect.empty());

  const OutlierDetectionConfig& outliers = firstUpstream(config).outlier_detection.value();
  EXPECT_EQ(outliers.consecutive_5xx, 5u);
  EXPECT_EQ(outliers.consecutive_gateway_failure, 5u);
  EXPECT_EQ(outliers.interval, seconds(10));
  EXPECT_EQ(outliers.base_ejection_time, seconds(30));
  EXPECT_EQ(outliers.max_ejection_percent, 10u);
}

TEST(LoadPolicies, EveryBalanceAlgorithm) {
  const std::vector<std::pair<std::string, BalanceAlgorithm>> algorithms{
      {"round_robin", BalanceAlgorithm::kRoundRobin},
      {"weighted_round_robin", BalanceAlgorithm::kWeightedRoundRobin},
      {"least_conn", BalanceAlgorithm::kLeastConn},
      {"least_request", BalanceAlgorithm::kLeastRequest},
      {"random", BalanceAlgorithm::kRandom},
      {"ip_hash", BalanceAlgorithm::kIpHash},
      {"hash", BalanceAlgorithm::kHash},
      {"ring_hash", BalanceAlgorithm::kRingHash},
      {"maglev", BalanceAlgorithm::kMaglev},
  };
  for (const auto& [name, algorithm] : algorithms) {
    auto config = loadValid(upstreamWith("balance: " + name));
    ASSERT_NE(config, nullptr) << name;
    EXPECT_EQ(firstUpstream(config).balance, algorithm) << name;
  }
}

TEST(LoadPolicies, EveryHashOnForm) {
  const std::vector<std::tuple<std::string, HashOn::Source, std::string>> forms{
      {"ip", HashOn::Source::kIp, ""},
      {"header:X-Session", HashOn::Source::kHeader, "X-Session"},
      {"cookie:session_id", HashOn::Source::kCookie, "session_id"},
      {"query:user", HashOn::Source::kQuery, "user"},
      {"'query:a:b'", HashOn::Source::kQuery, "a:b"},
  };
  for (const auto& [text, source, name] : forms) {
    // Allowed whatever the algorithm, though only hash, ring_hash and maglev use it.
    auto config = loadValid(upstreamWith("balance: least_conn\n    hash_on: " + text));
    ASSERT_NE(config, nullptr) << text;
    EXPECT_EQ(firstUpstream(config).hash_on.source, source) << text;
    EXPECT_EQ(firstUpstream(config).hash_on.name, name) << text;
  }
}

TEST(LoadPolicies, AcceptsEdgeValues) {
  std::string yaml = upstreamWith(
      "ring_size: 1\n    hash_balance_factor: 101\n    panic_threshold: 100\n    slow_start: 0\n"
      "    health_check: { rise: 100, fall: 1, expect: [100, 599], interval: 1ms, timeout: 1ms }\n"
      "    outlier_detection: { consecutive_5xx: 1000, max_ejection_percent: 0 }");
  yaml = edit("      - upstream: users\n",
              "      - upstream: users\n        retries: { attempts: 10, on: [100, '599'], "
              "budget_percent: 100 }\n"
              "        retry_buffer_limit: 16MiB\n",
              yaml);
  auto config = loadValid(yaml);
  ASSERT_NE(config, nullptr);
  const UpstreamConfig& upstream = firstUpstream(config);
  EXPECT_EQ(upstream.ring_size, 1u);
  EXPECT_EQ(upstream.hash_balance_factor, 101u);
  EXPECT_EQ(upstream.panic_threshold, 100u);
  EXPECT_EQ(upstream.health_check->expect, (std::vector<int>{100, 599}));
  EXPECT_EQ(upstream.health_check->timeout, milliseconds(1));
  EXPECT_EQ(upstream.outlier_detection->max_ejection_percent, 0u);
  const RouteConfig& route = firstRoute(config);
  EXPECT_EQ(route.retries->attempts, 10u);
  EXPECT_EQ(route.retries->on.statuses, (std::vector<int>{100, 599}));
  EXPECT_FALSE(route.retries->on.connect_failure);  // a listed `on` replaces the default
  EXPECT_EQ(route.retry_buffer_limit, 16u * 1024 * 1024);

  auto zero = loadValid(routeWith("retries: { attempts: 0 }\n        retry_buffer_limit: 0"));
  ASSERT_NE(zero, nullptr);
  EXPECT_EQ(firstRoute(zero).retries->attempts, 0u);
  EXPECT_EQ(firstRoute(zero).retry_buffer_limit, 0u);
  auto factor = loadValid(upstreamWith("hash_balance_factor: 10000"));
  ASSERT_NE(factor, nullptr);
  EXPECT_EQ(firstUpstream(factor).hash_balance_factor, 10000u);
}

TEST(LoadPolicies, ShortIntervalWithoutTimeoutShortensTheTimeout) {
  auto config = loadValid(upstreamWith("health_check: { interval: 500ms }"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(firstUpstream(config).health_check->interval, milliseconds(500));
  EXPECT_EQ(firstUpstream(config).health_check->timeout, milliseconds(500));
}

TEST(LoadPolicies, EveryRetryCondition) {
  auto config =
      loadValid(routeWith("retries:\n          on: [connect-failure, refused, reset, timeout, 5xx, "
                          "gateway-error, 429]"));
  ASSERT_NE(config, nullptr);
  const RetryOn& on = firstRoute(config).retries->on;
  EXPECT_TRUE(on.connect_failure && on.refused && on.reset && on.timeout && on.server_error &&
              on.gateway_error);
  EXPECT_EQ(on.statuses, (std::vector<int>{429}));
}

TEST(LoadPolicies, BadIntervalDoesNotAlsoBlameTheTimeout) {
  LoadResult result = load(upstreamWith("health_check: { interval: never, timeout: 3s }"));
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  EXPECT_EQ(
      result.errors[0].toString(),
      "test.yaml:8:31: upstreams.users.health_check.interval: invalid duration 'never' (use e.g. "
      "250ms, 2s, 1m)");
}

TEST(LoadPolicies, ReportsEveryPolicyErrorInFileOrder) {
  std::string yaml = upstreamWith(
      "hash_on: nope\n    health_check:\n      rise: 0\n      expect: [1]\n"
      "    outlier_detection: { interval: 0 }");
  yaml = edit("      - upstream: users\n",
              "      - upstream: users\n        retries:\n          on: [sometimes]\n          "
              "backoff: 0\n",
              yaml);
  LoadResult result = load(yaml);
  EXPECT_EQ(result.config, nullptr);
  const std::vector<std::string> wanted{
      "test.yaml:7:16: listeners[0].routes[0].retries.on[0]: unknown retry condition 'sometimes'",
      "test.yaml:8:20: listeners[0].routes[0].retries.backoff: must be greater than zero",
      "test.yaml:11:14: upstreams.users.hash_on: invalid hash_on 'nope'",
      "test.yaml:13:13: upstreams.users.health_check.rise: expected an integer from 1 to 100, got "
      "'0'",
      "test.yaml:14:16: upstreams.users.health_check.expect[0]: expected a status code from 100 to "
      "599",
      "test.yaml:15:36: upstreams.users.outlier_detection.interval: must be greater than zero",
  };
  ASSERT_EQ(result.errors.size(), wanted.size()) << describe(result.errors);
  for (size_t i = 0; i < wanted.size(); ++i) {
    EXPECT_EQ(result.errors[i].toString().rfind(wanted[i], 0), 0u) << result.errors[i].toString();
  }
}

}  // namespace
}  // namespace sg::config
