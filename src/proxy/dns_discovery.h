#pragma once
// `discovery: {dns: NAME, type: A | AAAA | SRV, interval}`: one thread resolves each such
// upstream's name every interval (never a worker: resolution blocks) and diffs the answer into
// ServerSlots adds and removes. A failed resolution keeps the last answer (logged, counted).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/discovery_config.h"
#include "metrics/metrics.h"
#include "net/address.h"

namespace sg::proxy {

struct SharedUpstream;

struct DnsRecord {
  net::Address address;
  uint32_t weight = 1;
};

class DnsResolver {
 public:
  virtual ~DnsResolver() = default;
  // The servers `config` names now; false with *error when the name could not be resolved
  // (an answer without any record counts as a failure: the last answer is kept).
  virtual bool resolve(const config::DiscoveryConfig& config, std::vector<DnsRecord>* out,
                       std::string* error) = 0;
};

// getaddrinfo for A / AAAA; res_nquery (libresolv) for SRV, whose targets are then resolved
// (A, else AAAA). Only the SRV records of the lowest priority are used (RFC 2782: the others
// are fallbacks); an SRV weight of 0 counts as 1.
std::unique_ptr<DnsResolver> makeSystemResolver();

class DnsDiscovery {
 public:
  // `upstreams`: those whose discovery uses `dns` (each has slots).
  DnsDiscovery(std::vector<SharedUpstream*> upstreams, std::unique_ptr<DnsResolver> resolver,
               metrics::Registry& registry);
  ~DnsDiscovery();
  DnsDiscovery(const DnsDiscovery&) = delete;
  DnsDiscovery& operator=(const DnsDiscovery&) = delete;

  void start();  // no-op without upstreams
  void stop();
  // One resolution of upstream `i`, diffed into its slots (the thread's step; tests call it).
  void refresh(size_t i);
  // The addresses last applied to upstream `i` (tests).
  std::vector<std::string> applied(size_t i);

 private:
  struct Entry {
    SharedUpstream* upstream;
    std::map<std::string, net::Address> applied;  // address text -> address
    metrics::Counter* failures = nullptr;
    metrics::Counter* resolutions = nullptr;
    std::chrono::steady_clock::time_point due;
  };
  void run();

  std::vector<Entry> entries_;
  std::unique_ptr<DnsResolver> resolver_;
  std::mutex mutex_;  // stop_ and the entries' applied sets
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sg::proxy
