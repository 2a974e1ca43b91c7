#pragma once
// Shared by the config tests: the full and minimal example files, and the table-driven
// check that a bad file gives exactly one error at a given position.
#include <gtest/gtest.h>

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace sg::config::testutil {

inline constexpr const char* kFile = "test.yaml";

// Every key of the schema, with values that differ from the defaults.
inline constexpr const char* kFull = R"(workers: 4
shutdown_timeout: 45s
access_log: { enabled: true, path: /tmp/access.log }
listeners:
  - name: public
    address: 127.0.0.1:8080
    request_head_timeout: 5s
    idle_timeout: 2m
    request_body_timeout: 15s
    max_header_size: 32KiB
    max_headers: 50
    max_body_size: 8MiB
    routes:
      - name: users
        match: { prefix: /api/users, host: Example.COM, methods: [get, POST] }
        upstream: users
        strip_prefix: true
        retries:
          attempts: 3
          on: [5xx, reset, 409, "429", timeout]
          per_try_timeout: 1500ms
          backoff: 50ms
          budget_percent: 50
        retry_non_idempotent: true
        retry_buffer_limit: 1MiB
      - match: { prefix: /static, host: "*.cdn.example.com" }
        upstream: static
        retries: {}
  - name: internal
    address: "[::1]:9090"
    max_body_size: 0
    routes:
      - upstream: static
upstreams:
  users:
    balance: weighted_round_robin
    connect_timeout: 250ms
    response_timeout: 1h
    keepalive: 16
    keepalive_timeout: 90s
    max_fails: 3
    fail_timeout: 20s
    slow_start: 30s
    panic_threshold: 0
    health_check:
      type: http
      path: /healthz?deep=1
      host: health.example.com
      interval: 10s
      timeout: 10s
      rise: 1
      fall: 100
      expect: [200, 204]
    outlier_detection:
      consecutive_5xx: 0
      consecutive_gateway_failure: 1000
      interval: 1s
      base_ejection_time: 1m
      max_ejection_percent: 100
    servers:
      - { address: 127.0.0.1:3001, weight: 5, max_fails: 7, fail_timeout: 30s }
      - { address: 127.0.0.1:3002, backup: true }
  static:
    balance: ring_hash
    hash_on: header:X-User-ID
    ring_size: 10000
    hash_balance_factor: 125
    sticky_cookie: sg_route
    health_check: { type: tcp }
    outlier_detection: {}
    servers:
      - address: 10.0.0.1:80
admin:
  address: 127.0.0.1:9901
)";

// The smallest valid file. Positions used by the cases below (1-based line:column):
//   2:5 listener map, 2:11 name value, 3:14 address value, 4:5 routes key,
//   5:9 route map, 5:19 upstream value, 7:3 "users" key, 8:5 upstream map, 9:18 server address.
inline constexpr const char* kMinimal = R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    routes:
      - upstream: users
upstreams:
  users:
    servers:
      - address: 127.0.0.1:3001
)";

inline LoadResult load(const std::string& text) { return loadConfigString(text, kFile); }

inline std::string describe(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& error : errors) out += "\n  " + error.toString();
  return out.empty() ? " (no errors)" : out;
}

// kMinimal with one piece of text replaced; aborts the test binary if `from` is missing so
// a typo in a case cannot silently test the unmodified file.
inline std::string edit(std::string_view from, std::string_view to, std::string text = kMinimal) {
  auto pos = text.find(from);
  if (pos == std::string::npos)
    throw std::logic_error("edit: '" + std::string(from) + "' not found");
  text.replace(pos, from.size(), to);
  return text;
}

// kMinimal with `text` added to the listener; its first line starts at 4:5.
inline std::string listenerWith(const std::string& text) {
  return edit("    address: 127.0.0.1:8080\n", "    address: 127.0.0.1:8080\n    " + text + "\n");
}

// kMinimal with `text` added to the route; its first line starts at 6:9.
inline std::string routeWith(const std::string& text) {
  return edit("      - upstream: users\n", "      - upstream: users\n        " + text + "\n");
}

// kMinimal with `text` added to upstream "users"; its first line starts at 8:5.
inline std::string upstreamWith(const std::string& text) {
  return edit("    servers:\n", "    " + text + "\n    servers:\n");
}

// The config a valid text gives, or a test failure naming its errors.
inline std::shared_ptr<const Config> loadValid(const std::string& yaml) {
  LoadResult result = load(yaml);
  EXPECT_TRUE(result.errors.empty()) << describe(result.errors) << "\nfor:\n" << yaml;
  return result.config;
}

struct BadCase {
  std::string name;
  std::string yaml;
  int line;
  int column;
  std::string message;  // the only error's message must start with this
};

inline void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

inline void expectOneError(const BadCase& c) {
  LoadResult result = load(c.yaml);
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors) << "\nfor:\n" << c.yaml;
  const ConfigError& error = result.errors[0];
  EXPECT_EQ(error.file, kFile);
  EXPECT_EQ(error.line, c.line) << error.toString();
  EXPECT_EQ(error.column, c.column) << error.toString();
  EXPECT_EQ(error.message.rfind(c.message, 0), 0u)
      << "wanted: " << c.message << "...\ngot:    " << error.message;
}

}  // namespace sg::config::testutil
