#pragma once
// Active health checks, run once per server for the whole process (not once per worker):
// one thread with its own event loop probes every checked server every `interval`, applies
// rise/fall, and publishes the verdict through an atomic every worker reads.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "net/address.h"

namespace sg::health {

// What the checker writes for one server; owned by the caller, outlives the checker.
struct CheckStatus {
  std::atomic<bool> healthy{true};  // servers start in rotation until checks say otherwise
  std::atomic<uint64_t> checks_passed{0};
  std::atomic<uint64_t> checks_failed{0};
  std::atomic<uint64_t> transitions{0};  // up→down and down→up changes
};

struct CheckTarget {
  const config::HealthCheckConfig* config = nullptr;
  net::Address address;
  std::string label;  // "upstream server", for logs
  CheckStatus* status = nullptr;
  // Upstream `tls`: checks speak TLS with the same context, SNI and verification as requests
  // (a plain check would fail on every TLS server). Null: plain TCP.
  const config::UpstreamTlsConfig* tls = nullptr;
};

class ActiveChecker {
 public:
  explicit ActiveChecker(std::vector<CheckTarget> targets);
  ~ActiveChecker();
  ActiveChecker(const ActiveChecker&) = delete;
  ActiveChecker& operator=(const ActiveChecker&) = delete;

  // No-op when there are no targets, unless `for_added_targets` (servers added at run time).
  void start(bool for_added_targets = false);
  void stop();
  // Thread-safe, applied on the checker thread soon: run-time servers (ServerSlots) come and
  // go. A removed target's status is not written after the checker has applied removal.
  void add(CheckTarget target);
  void remove(const CheckStatus* status);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Rise/fall counting, separate so it is testable without sockets.
class RiseFall {
 public:
  RiseFall(uint32_t rise, uint32_t fall, bool initially_healthy = true);
  // Records one check; returns true when the verdict changed.
  bool record(bool passed);
  bool healthy() const { return healthy_; }

 private:
  uint32_t rise_;
  uint32_t fall_;
  bool healthy_;
  uint32_t streak_ = 0;  // consecutive results contradicting the current verdict
};

}  // namespace sg::health
