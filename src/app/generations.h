#pragma once
// In-process reload (SIGHUP, POST /admin/reload): the new configuration starts as a new
// generation (data plane and control plane) on the same worker threads, then the old one
// drains into it: its idle client connections (plain, TLS and HTTP/2) move to the new one at
// once, the others once their requests in flight are done, and its listening and admin
// sockets are the new generation's too, so nothing is refused, reset or closed. What the old
// generation knew (upstream health, breakers, balancer state, the cache, rate limits, metric
// totals, the dashboard's history) is carried over. The old generation is then retired on a
// thread of its own.
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/control_plane.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "metrics/totals.h"
#include "proxy/gateway.h"

namespace sg::app {

struct ReloadCounters {
  explicit ReloadCounters(metrics::Registry& registry);
  metrics::Counter* reloaded;  // in this process, by a new generation
  metrics::Counter* invalid;
  metrics::Counter* failed;
};

// One configuration's data plane and what runs beside it.
struct Generation {
  Generation(std::shared_ptr<const config::Config> config,
             std::shared_ptr<proxy::WorkerThreads> threads, admin::ReloadHandler reload);
  std::shared_ptr<const config::Config> config;
  proxy::Gateway gateway;
  ControlPlane control;  // after the gateway: stopped and destroyed first
  ReloadCounters counters;
};

class Generations {
 public:
  Generations(std::shared_ptr<const config::Config> config, admin::ReloadHandler reload);
  ~Generations();  // finishRetiring()

  // The serving generation (main thread).
  Generation& current() { return *current_; }
  // The serving generation for another thread, held for the call (a predecessor process's
  // link adopts connections and adds metric totals through it).
  void withCurrent(const std::function<void(Generation&)>& use);
  // Main thread: starts `config` as the new generation and drains the current one into it.
  // False with *error when the new one could not start (the current one serves on).
  bool reload(std::shared_ptr<const config::Config> config, std::string* error);
  // Waits until every older generation has drained (each within its shutdown_timeout) and
  // is gone. Call before the current generation stops.
  void finishRetiring();

 private:
  struct Retiring {
    std::unique_ptr<Generation> generation;
    std::vector<metrics::SeriesTotal> handed;  // its totals when the next one took over
    std::thread thread;
    bool done = false;  // guarded by Generations::mutex_
  };
  // On the retiring generation's thread: waits for its drain, then for the older generation
  // (which drains into this one) to be gone, then stops it and counts on what it counted.
  void retire(Retiring& retiring, std::shared_ptr<Retiring> older);
  void joinRetired(bool all);
  void handOverAdmin(Generation& old, Generation& next, std::vector<metrics::SeriesTotal>* handed);

  admin::ReloadHandler reload_;
  std::mutex mutex_;  // guards current_ (the main thread alone changes it) and Retiring::done
  std::condition_variable retired_;
  std::unique_ptr<Generation> current_;
  std::list<std::shared_ptr<Retiring>> retiring_;  // oldest first
};

}  // namespace sg::app
