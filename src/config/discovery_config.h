#pragma once
// An upstream's `discovery`: its servers come and go at run time (from the service registry
// or from DNS) into a fixed number of server slots reserved at start-up.
#include <chrono>
#include <cstdint>
#include <string>

namespace sg::config {

struct DiscoveryConfig {
  enum class DnsType { kA, kAAAA, kSrv };
  std::string registry;   // service name in the registry; empty when `dns` is used
  std::string dns;        // name to resolve (host only); empty when `registry` is used
  uint16_t dns_port = 0;  // A / AAAA: the servers' port (`dns: HOST:PORT`); SRV records carry it
  DnsType type = DnsType::kA;
  std::chrono::milliseconds interval{std::chrono::seconds(5)};  // DNS re-resolution period
  uint32_t max_servers = 64;  // slots reserved for discovered servers
  // What a discovered server inherits from the upstream (`max_fails`, `fail_timeout`).
  uint32_t max_fails = 1;
  std::chrono::milliseconds fail_timeout{std::chrono::seconds(10)};
};

}  // namespace sg::config
