#pragma once
// The running data plane of one configuration generation: shared state plus one Worker per
// worker thread. The threads outlive a generation: an in-process reload starts the next
// Gateway on the same threads (worker_thread.h) and drains this one into it.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
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
#include "proxy/worker_thread.h"

namespace sg::proxy {

class Worker;
}  // namespace sg::proxy

namespace sg::pg {
class PgService;
}  // namespace sg::pg

namespace sg::proxy {

class Gateway {
 public:
  // `threads`: the worker threads of the generation this one replaces (an in-process reload;
  // the configuration must ask for as many workers), or null: the gateway starts its own.
  explicit Gateway(std::shared_ptr<const config::Config> config,
                   std::shared_ptr<WorkerThreads> threads = nullptr);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Opens every listener in every worker (taking `inherited` sockets where a predecessor
  // process passed some for the address), then starts the worker threads.
  bool start(std::string* error, net::InheritedListeners* inherited = nullptr);
  // Stop accepting and let in-flight requests finish (SIGTERM). With `handover_link` (a
  // successor process's, app/upgrade.h), idle connections are passed to it, not closed. With
  // `successor` (the next generation, started on this one's threads), every client connection
  // moves to it once idle.
  void drain(int handover_link = -1, Gateway* successor = nullptr);
  // Every listening socket of every worker (taken when start() opened them).
  const std::vector<net::ListeningSocket>& listeningSockets() const { return listening_; }
  // Thread-safe: an idle connection a predecessor passed on, served by the next worker.
  // False (fd closed) when the listener now has `tls`: the connection is plain HTTP (TLS
  // ones are never passed) and must not be served, nor forwarded, as HTTPS.
  bool adopt(int fd, std::string listener);
  // Waits until every worker has exited or `limit` passes; true when all exited.
  bool waitForWorkers(std::chrono::milliseconds limit);
  // Ends every worker now (and the health checker's thread): a generation drained into a
  // successor closes the connections it has left and leaves the threads to the successor;
  // otherwise the worker threads stop and are joined. Whatever reads the shared state from
  // another thread (the admin listener) must be stopped before the Gateway is destroyed.
  void stop();
  // The worker threads, for the next generation (an in-process reload).
  std::shared_ptr<WorkerThreads> threads() const { return threads_; }

  SharedState& shared() { return *shared_; }
  pg::PgService* postgres() { return postgres_.get(); }
  uint32_t workerCount() const { return worker_count_; }

 private:
  void startHealthChecks();
  void startDnsDiscovery();
  void startWorkers();
  void retireWorkers();
  // Runs `task` for each worker on its own thread; returns once all have run.
  static void onEachWorkerThread(const std::vector<Worker*>& workers,
                                 const std::function<void(Worker*)>& task);

  std::shared_ptr<const config::Config> config_;
  uint32_t worker_count_;
  std::unique_ptr<SharedState> shared_;
  std::unique_ptr<pg::PgService> postgres_;  // the PostgreSQL listener, when configured
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<health::ActiveChecker> checker_;
  std::unique_ptr<DnsDiscovery> dns_;  // upstreams with `discovery: {dns: ...}`
  std::shared_ptr<WorkerThreads> threads_;
  std::vector<std::unique_ptr<Worker>> workers_;  // workers_[i] runs on (*threads_)[i]
  bool started_ = false;                          // the workers run on their threads
  bool stopped_ = false;
  std::mutex mutex_;
  std::condition_variable exited_;
  uint32_t running_ = 0;
  std::vector<net::ListeningSocket> listening_;
  std::atomic<uint32_t> next_adopter_{0};
  std::atomic<int> handover_link_{-1};
  std::atomic<Gateway*> successor_{nullptr};
  std::atomic<bool> pass_failed_{false};  // warned once that adopt() could not pass on
};

uint32_t defaultWorkerCount();

}  // namespace sg::proxy
