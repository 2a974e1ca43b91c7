#pragma once
// The running data plane: shared state plus one Worker thread per configured worker.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "health/active_checker.h"
#include "net/inherited_listeners.h"
#include "proxy/access_log.h"
#include "proxy/dns_discovery.h"
#include "proxy/shared_state.h"

namespace sg::proxy {

class Worker;
}  // namespace sg::proxy

namespace sg::pg {
class PgService;
}  // namespace sg::pg

namespace sg::proxy {

class Gateway {
 public:
  explicit Gateway(std::shared_ptr<const config::Config> config);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Opens every listener in every worker (taking `inherited` sockets where a predecessor
  // process passed some for the address), then starts the worker threads.
  bool start(std::string* error, net::InheritedListeners* inherited = nullptr);
  // Stop accepting and let in-flight requests finish (SIGTERM). With `handover_link` (a
  // successor's, app/upgrade.h), idle connections are passed to the successor, not closed.
  void drain(int handover_link = -1);
  // Every listening socket of every worker (taken when start() opened them).
  const std::vector<net::ListeningSocket>& listeningSockets() const { return listening_; }
  // Thread-safe: an idle connection a predecessor passed on, served by the next worker.
  // False (fd closed) when the listener now has `tls`: the connection is plain HTTP (TLS
  // ones are never passed) and must not be served, nor forwarded, as HTTPS.
  bool adopt(int fd, std::string listener);
  // Waits until every worker has exited or `limit` passes; true when all exited.
  bool waitForWorkers(std::chrono::milliseconds limit);
  // Ends every worker loop now and joins the threads (and the health checker's). Whatever
  // reads the shared state from another thread (the admin listener) must be stopped before
  // the Gateway is destroyed.
  void stop();

  SharedState& shared() { return *shared_; }
  pg::PgService* postgres() { return postgres_.get(); }
  uint32_t workerCount() const { return worker_count_; }

 private:
  void startHealthChecks();
  void startDnsDiscovery();

  std::shared_ptr<const config::Config> config_;
  uint32_t worker_count_;
  std::unique_ptr<SharedState> shared_;
  std::unique_ptr<pg::PgService> postgres_;  // the PostgreSQL listener, when configured
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<health::ActiveChecker> checker_;
  std::unique_ptr<DnsDiscovery> dns_;  // upstreams with `discovery: {dns: ...}`
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable exited_;
  uint32_t running_ = 0;
  std::vector<net::ListeningSocket> listening_;
  std::atomic<uint32_t> next_adopter_{0};
  std::atomic<int> handover_link_{-1};
  std::atomic<bool> pass_failed_{false};  // warned once that adopt() could not pass on
};

uint32_t defaultWorkerCount();

}  // namespace sg::proxy
