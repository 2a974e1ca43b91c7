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

struct RouteConfig {
  RouteMatch match;
  std::string upstream;       // key into Config::upstreams (validated to exist)
  bool strip_prefix = false;  // remove match.prefix from the path sent upstream
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

enum class BalanceAlgorithm { kRoundRobin, kWeightedRoundRobin };

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
