// The top-level `queues` and a route's `async` (async routes with durable queues).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testutil::describe;
using testutil::load;
using testutil::loadValid;
using testutil::routeWith;

std::string withQueues(const std::string& queues, const std::string& route_text) {
  return routeWith(route_text) + "queues:\n" + queues;
}

TEST(QueueConfig, EveryKey) {
  const auto config = loadValid(
      withQueues("  orders:\n"
                 "    store: sqlite\n"
                 "    path: /var/lib/scalegate/orders.db\n"
                 "    max_length: 5000\n"
                 "    overflow: drop_oldest\n"
                 "    message_ttl: 30m\n"
                 "    concurrency: 8\n"
                 "    rate: 200/s\n"
                 "    attempts: 5\n"
                 "    backoff: { type: fixed, delay: 500ms, max: 10s, jitter: none }\n"
                 "    retry_on: [5xx, connect-failure, 409]\n"
                 "    result_ttl: 2h\n"
                 "    max_result_size: 64KiB\n"
                 "    batch: { max_items: 50, max_wait: 200ms }\n"
                 "    visibility_timeout: 90s\n",
                 "async: { queue: orders, fanout: [users], callback: { allow: [Hooks.Example.com], "
                 "secret_file: /etc/scalegate/hook.key } }"));
  ASSERT_EQ(config->queues.size(), 1u);
  const QueueConfig& queue = config->queues[0];
  EXPECT_EQ(queue.name, "orders");
  EXPECT_EQ(queue.store, QueueConfig::Store::kSqlite);
  EXPECT_EQ(queue.path, "/var/lib/scalegate/orders.db");
  EXPECT_EQ(queue.max_length, 5000u);
  EXPECT_EQ(queue.overflow, QueueConfig::Overflow::kDropOldest);
  EXPECT_EQ(queue.message_ttl, minutes(30));
  EXPECT_EQ(queue.concurrency, 8u);
  ASSERT_TRUE(queue.rate.has_value());
  EXPECT_EQ(queue.rate->count, 200u);
  EXPECT_EQ(queue.rate->period, seconds(1));
  EXPECT_EQ(queue.attempts, 5u);
  EXPECT_EQ(queue.backoff.type, QueueConfig::Backoff::Type::kFixed);
  EXPECT_EQ(queue.backoff.delay, milliseconds(500));
  EXPECT_EQ(queue.backoff.max, seconds(10));
  EXPECT_EQ(queue.backoff.jitter, QueueConfig::Backoff::Jitter::kNone);
  EXPECT_TRUE(queue.retry_on.server_error && queue.retry_on.connect_failure);
  EXPECT_FALSE(queue.retry_on.timeout);
  EXPECT_EQ(queue.retry_on.statuses, std::vector<int>{409});
  EXPECT_EQ(queue.result_ttl, hours(2));
  EXPECT_EQ(queue.max_result_size, 64u * 1024);
  ASSERT_TRUE(queue.batch.has_value());
  EXPECT_EQ(queue.batch->max_items, 50u);
  EXPECT_EQ(queue.batch->max_wait, milliseconds(200));
  EXPECT_EQ(queue.visibility_timeout, seconds(90));
  const AsyncRouteConfig& async = *config->listeners[0].routes[0].async;
  EXPECT_EQ(async.queue, "orders");
  EXPECT_EQ(async.fanout, std::vector<std::string>{"users"});
  ASSERT_TRUE(async.callback.has_value());
  EXPECT_EQ(async.callback->allow, std::vector<std::string>{"hooks.example.com"});
  EXPECT_EQ(async.callback->secret_file, "/etc/scalegate/hook.key");
  EXPECT_EQ(config->findQueue("orders"), &queue);
  EXPECT_EQ(config->findQueue("other"), nullptr);
}

TEST(QueueConfig, Defaults) {
  const auto config = loadValid(withQueues("  jobs: {}\n", "async: { queue: jobs }"));
  const QueueConfig& queue = config->queues[0];
  EXPECT_EQ(queue.store, QueueConfig::Store::kSqlite);
  EXPECT_EQ(queue.path, "jobs.queue.db");
  EXPECT_EQ(queue.max_length, 100000u);
  EXPECT_EQ(queue.overflow, QueueConfig::Overflow::kReject);
  EXPECT_EQ(queue.message_ttl, hours(1));
  EXPECT_EQ(queue.concurrency, 16u);
  EXPECT_FALSE(queue.rate.has_value());
  EXPECT_EQ(queue.attempts, 3u);
  EXPECT_EQ(queue.backoff.type, QueueConfig::Backoff::Type::kExponential);
  EXPECT_EQ(queue.backoff.delay, seconds(2));
  EXPECT_EQ(queue.backoff.max, minutes(5));
  EXPECT_EQ(queue.backoff.jitter, QueueConfig::Backoff::Jitter::kFull);
  const RetryOn& on = queue.retry_on;
  EXPECT_TRUE(on.server_error && on.connect_failure && on.timeout);
  EXPECT_EQ(on.statuses, std::vector<int>{429});
  EXPECT_EQ(queue.result_ttl, hours(24));
  EXPECT_EQ(queue.max_result_size, 1024u * 1024);
  EXPECT_FALSE(queue.batch.has_value());
  EXPECT_FALSE(queue.visibility_timeout.has_value());
  const AsyncRouteConfig& async = *config->listeners[0].routes[0].async;
  EXPECT_TRUE(async.fanout.empty());
  EXPECT_FALSE(async.callback.has_value());
  EXPECT_FALSE(loadValid(testutil::kMinimal)->listeners[0].routes[0].async.has_value());
}

// Each problem is reported with its path (one error per case).
TEST(QueueConfig, RejectsBadQueues) {
  const struct {
    const char* queue;
    const char* message;
  } cases[] = {
      {"  jobs: { store: kafka }\n", "unknown value 'kafka' (one of: sqlite, redis)"},
      {"  jobs: { path: '' }\n", "the file path is empty"},
      {"  jobs: { max_length: 0 }\n", "queues.jobs.max_length"},
      {"  jobs: { overflow: block }\n", "(one of: reject, drop_oldest)"},
      {"  jobs: { concurrency: 0 }\n", "queues.jobs.concurrency"},
      {"  jobs: { rate: fast }\n", "invalid rate 'fast'"},
      {"  jobs: { attempts: 0 }\n", "queues.jobs.attempts"},
      {"  jobs: { backoff: { type: linear } }\n", "(one of: exponential, fixed)"},
      {"  jobs: { backoff: { delay: 10s, max: 1s } }\n", "max must be at least delay"},
      {"  jobs: { retry_on: [] }\n", "must list at least one condition"},
      {"  jobs: { retry_on: [sometimes] }\n", "unknown retry condition 'sometimes'"},
      {"  jobs: { batch: { max_items: 0 } }\n", "queues.jobs.batch.max_items"},
      {"  jobs: { visibility_timeout: 0s }\n", "queues.jobs.visibility_timeout"},
      {"  jobs: { store: redis }\n", "store: redis needs the top-level `store`"},
      {"  jobs: { priority: high }\n", "priority"},
      {"  jobs: {}\n  'bad name': {}\n", "a queue name is 1 to 64 letters"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.queue);
    const auto result = load(withQueues(c.queue, "async: { queue: jobs }"));
    ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
    EXPECT_NE(result.errors[0].message.find(c.message), std::string::npos)
        << result.errors[0].message;
  }
}

// IPv6 literals, bracketed or not, in any spelling, become the form a callback URL's host has.
TEST(QueueConfig, CallbackAllowListTakesIpv6Literals) {
  const auto config = loadValid(withQueues(
      "  jobs: {}\n",
      "async: { queue: jobs, callback: { allow: ['[::1]', '0:0::1', '[FE80::A]', 127.0.0.1], "
      "secret_file: k } }"));
  const AsyncRouteConfig& async = *config->listeners[0].routes[0].async;
  const std::vector<std::string> expected{"[::1]", "[::1]", "[fe80::a]", "127.0.0.1"};
  EXPECT_EQ(async.callback->allow, expected);
}

TEST(QueueConfig, RejectsBadAsyncRoutes) {
  const struct {
    const char* route;
    const char* message;
  } cases[] = {
      {"async: { queue: missing }", "routes[0].async.queue: unknown queue 'missing'"},
      {"async: {}", "queue"},
      {"async: { queue: jobs, fanout: [nowhere] }", "async.fanout: unknown upstream 'nowhere'"},
      {"async: { queue: jobs, fanout: [users, users] }", "listed twice"},
      {"async: { queue: jobs, fanout: [] }", "must list at least one upstream"},
      {"async: { queue: jobs, callback: { allow: [hooks.example.com] } }", "secret_file"},
      {"async: { queue: jobs, callback: { allow: ['http://x'], secret_file: k } }",
       "expected a host name"},
      {"async: { queue: jobs, callback: { allow: ['[::g]'], secret_file: k } }",
       "expected a host name or an IP address"},
      {"async: { queue: jobs }\n        cache: {}", "an async route cannot also have `cache`"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.route);
    const auto result = load(withQueues("  jobs: {}\n", c.route));
    ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
    EXPECT_NE(result.errors[0].message.find(c.message), std::string::npos)
        << result.errors[0].message;
  }
}

TEST(QueueConfig, RedisQueueWithAStore) {
  const auto config = loadValid(withQueues("  jobs: { store: redis }\n", "async: { queue: jobs }") +
                                "store: { type: redis, address: 127.0.0.1:6379 }\n");
  EXPECT_EQ(config->queues[0].store, QueueConfig::Store::kRedis);
}

}  // namespace
}  // namespace sg::config
