#pragma once
// Typed, validated configuration. Built once by loadConfig() and shared read-only as
// std::shared_ptr<const Config>; nothing here changes after loading.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/address.h"

namespace sg::config {

using Duration = std::chrono::milliseconds;

struct RouteMatch {
  std::string host;                  // empty = any host; "*.example.com" = any subdomain
  std::string prefix = "/";          // plain path prefix, as nginx and Envoy match it
  std::vector<std::string> methods;  // empty = any method; stored upper-case
};

// Which failures a route retries (retries.on). Connect failures to other servers are always
// tried when nothing was sent; these widen that.
struct RetryOn {
  bool connect_failure = false;  // connect refused or timed out
  bool refused = false;          // connect refused (ECONNREFUSED) only
  bool reset = false;            // connection reset/closed before a response head
  bool timeout = false;          // per_try_timeout or response_timeout before a response head
  bool server_error = false;     // any 5xx response ("5xx")
  bool gateway_error = false;    // 502, 503, 504 ("gateway-error")
  std::vector<int> statuses;     // listed status codes, e.g. [409, 429]
};

struct RetryPolicy {
  uint32_t attempts = 0;          // retries after the first try (0 = no retries)
  RetryOn on;
  Duration per_try_timeout{0};    // 0 = only response_timeout applies
  Duration backoff{25};           // base of exponential backoff with full jitter (cap 10x)
  uint32_t budget_percent = 20;   // concurrent retries <= this % of active requests (floor 3)
};

struct RouteConfig {
  RouteMatch match;
  std::string upstream;       // key into Config::upstreams (validated to exist)
  bool strip_prefix = false;  // remove match.prefix from the path sent upstream
  std::optional<RetryPolicy> retries;  // route key `retries`
  bool retry_non_idempotent = false;   // retry POST/PATCH too (also any request with Idempotency-Key)
  uint64_t retry_buffer_limit = 64 * 1024;  // request bodies up to this size are kept for replay
  std::string name;           // for logs and metrics; defaults to match.prefix
};

struct ListenerConfig {
  std::string name;
  net::Address address;
  std::vector<RouteConfig> routes;
  Duration request_head_timeout{std::chrono::seconds(10)};  // whole request head must arrive in this
  Duration idle_timeout{std::chrono::seconds(60)};          // keep-alive idle between requests
  uint32_t max_header_size = 16 * 1024;                     // request line + headers; over → 431
  uint32_t max_headers = 100;                               // header count; over → 431
  uint64_t max_body_size = 1024 * 1024;                     // request body; over → 413 (0 = unlimited)
};

enum class BalanceAlgorithm {
  kRoundRobin,
  kWeightedRoundRobin,
  kLeastConn,
  kLeastRequest,
  kRandom,
  kIpHash,
  kHash,
  kRingHash,
  kMaglev,
};

// What the hash balancers hash (upstream key `hash_on`): "ip", "header:NAME",
// "cookie:NAME" or "query:NAME".
struct HashOn {
  enum class Source { kIp, kHeader, kCookie, kQuery };
  Source source = Source::kIp;
  std::string name;  // header, cookie or query parameter name (empty for kIp)
};

struct HealthCheckConfig {
  enum class Type { kHttp, kTcp };
  Type type = Type::kHttp;
  std::string path = "/";
  std::string host;  // Host header for HTTP checks; empty = the server address
  Duration interval{std::chrono::seconds(5)};
  Duration timeout{std::chrono::seconds(2)};
  uint32_t rise = 2;  // consecutive successes to mark a server up
  uint32_t fall = 3;  // consecutive failures to mark a server down
  std::vector<int> expect;  // accepted status codes; empty = any 2xx
};

// Envoy's outlier detection defaults.
struct OutlierDetectionConfig {
  uint32_t consecutive_5xx = 5;
  uint32_t consecutive_gateway_failure = 5;  // 502/503/504 and connect failures
  Duration interval{std::chrono::seconds(10)};
  Duration base_ejection_time{std::chrono::seconds(30)};
  uint32_t max_ejection_percent = 10;
};

struct ServerConfig {
  net::Address address;
  uint32_t weight = 1;
  bool backup = false;
  uint32_t max_fails = 1;                           // failed connects before marking down (0 = never)
  Duration fail_timeout{std::chrono::seconds(10)};  // window for max_fails, and time spent down
};

struct UpstreamConfig {
  std::string name;
  BalanceAlgorithm balance = BalanceAlgorithm::kRoundRobin;
  std::vector<ServerConfig> servers;
  Duration connect_timeout{std::chrono::seconds(5)};
  Duration response_timeout{std::chrono::seconds(60)};  // waiting for response head, and between body reads
  uint32_t keepalive = 128;                              // idle pooled connections kept per worker
  HashOn hash_on;                       // hash, ring_hash, maglev, (ip_hash always uses the IP)
  uint32_t ring_size = 160;             // ring_hash points per weight unit
  uint32_t hash_balance_factor = 0;     // percent > 100: bounded-load consistent hashing; 0 = off
  std::string sticky_cookie;            // cookie name the gateway sets to pin a client; empty = off
  Duration slow_start{0};               // ramp a recovering server's weight over this; 0 = off
  uint32_t panic_threshold = 50;        // percent healthy below which all servers are used
  std::optional<HealthCheckConfig> health_check;
  std::optional<OutlierDetectionConfig> outlier_detection;
  Duration keepalive_timeout{std::chrono::seconds(60)};  // an idle pooled connection is closed after this
};

struct AdminConfig {
  std::optional<net::Address> address;  // nullopt = no admin listener
};

struct AccessLogConfig {
  bool enabled = false;
  std::string path;  // "-" or empty = stdout
};

struct Config {
  uint32_t workers = 0;  // 0 = one per core
  std::vector<ListenerConfig> listeners;
  std::vector<UpstreamConfig> upstreams;  // in file order
  AdminConfig admin;
  AccessLogConfig access_log;
  Duration shutdown_timeout{std::chrono::seconds(30)};  // SIGTERM drain limit

  const UpstreamConfig* findUpstream(const std::string& name) const;
};

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string message;

  // "FILE:LINE:COL: message"
  std::string toString() const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is not empty
  std::vector<ConfigError> errors;       // every error found, in file order
};

// Parse and validate. Never throws; never crashes on any input.
LoadResult loadConfigFile(const std::string& path);
LoadResult loadConfigString(const std::string& yaml_text, const std::string& file_name);

// "250ms", "2s", "1m", "1h", "1500us"? no: units are ms, s, m, h. Returns nullopt if invalid.
std::optional<Duration> parseDuration(const std::string& text);
// "512", "16KiB", "64MiB", "1GiB", also "16KB"/"16K" (= KiB). Returns nullopt if invalid.
std::optional<uint64_t> parseSize(const std::string& text);

}  // namespace sg::config
