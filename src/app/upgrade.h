#pragma once
// Replacing the running process without closing its listeners (binary upgrade, and reload:
// SIGUSR2 / SIGHUP), as nginx's binary upgrade and HAProxy's socket transfer do. The running
// process starts its successor from the executable file (the new binary, if it was replaced)
// with the same arguments and a Unix socket on fd 3; over it, it passes every listening
// socket and its running state (HandedState, in memory files), waits until the successor has
// started and says "ready", then drains: requests in flight finish here, and each idle HTTP/1.1
// keep-alive connection is passed to the successor instead of being closed, so clients see neither
// a refused connection nor a reset.
#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metrics/metrics.h"
#include "net/inherited_listeners.h"

namespace sg::proxy {
class Gateway;
}

namespace sg::app {

struct Successor {
  pid_t pid = -1;
  int link = -1;  // where idle connections are passed; closed when the handover ends
};

// What a process passes its successor in memory files, beside the listening sockets: the
// running state (proxy/running_state.h), the metric totals (metrics/totals.h) and the
// dashboard's history (admin/stats_sampler.h). An empty one is not sent. Also the locks of
// its SQLite queue files (queue/file_lock.h): the successor serves from the same files.
struct HandedState {
  std::string running_state;
  std::string metric_totals;
  std::string history;
  std::vector<int> queue_locks;  // not owned
};

// Starts `executable` with `argv` as this process's successor, passes it `sockets` and
// `state`, and waits up to `ready_timeout_ms` for it to say ready. False with *error when it
// could not start, exited, or did not get ready in time (it is then stopped); this process
// keeps running.
bool startSuccessor(const std::string& executable, const std::vector<std::string>& argv,
                    const std::vector<net::ListeningSocket>& sockets, const HandedState& state,
                    int64_t ready_timeout_ms, Successor* successor, std::string* error);
// What this process counted since it passed its totals (metrics/totals.h), for the successor
// to add: once it no longer answers the admin port, and once drained. False when the link
// failed (the successor has gone).
bool sendMetricTotals(int link, const std::string& totals);

// The successor's side: present when this process was started by startSuccessor.
class PredecessorLink {
 public:
  // Reads SCALEGATE_UPGRADE_FD (and removes it from the environment); null when not set.
  // Receives the listening sockets into `inherited`; null with *error when the link breaks.
  static std::unique_ptr<PredecessorLink> fromEnvironment(net::InheritedListeners* inherited,
                                                          std::string* error);
  ~PredecessorLink();
  PredecessorLink(const PredecessorLink&) = delete;
  PredecessorLink& operator=(const PredecessorLink&) = delete;

  // Once this process serves: tells the predecessor, then adopts the connections it passes
  // (on a thread, until the predecessor closes the link or stop()).
  // `counted_on` (may be empty) runs once what the predecessor counted up to handing its admin
  // port over has been added (or after a few seconds without it, or when the link closes):
  // the admin listener waits for it, so that a scrape never sees a counter go back.
  // `with_gateway` runs its argument on the serving Gateway (an in-process reload may replace
  // it meanwhile: generations.h), holding it for the call.
  using GatewayAccess = std::function<void(const std::function<void(proxy::Gateway&)>&)>;
  void ready(GatewayAccess with_gateway, std::function<void()> counted_on = nullptr);
  // Waits up to `limit_ms` for the predecessor to finish passing connections (it closes the
  // link when it exits), then stops taking them.
  void finish(int64_t limit_ms);
  void stop();
  // The predecessor's running state (proxy/running_state.h), "" when it sent none.
  const std::string& runningState() const { return running_state_; }
  // The predecessor's dashboard history (StatsSampler::exportHistory), "" when it sent none.
  const std::string& history() const { return history_; }
  // What the predecessor had counted when it started this process (metrics/totals.h); what
  // it counts while it drains is added to the gateway's registry later, in ready()'s thread.
  std::vector<metrics::SeriesTotal> takeMetricTotals() { return std::move(metric_totals_); }
  // Whether the predecessor passed its metric totals (it then passes what it counts since).
  bool passesMetricTotals() const { return passes_metric_totals_; }
  // The predecessor's SQLite queue file locks (queue/file_lock.h): the stores that use one
  // share it; closeQueueLocks() once the gateway has opened its queues.
  const std::vector<int>& queueLocks() const { return queue_locks_; }
  void closeQueueLocks();

 private:
  explicit PredecessorLink(int fd) : fd_(fd) {}
  void adoptConnections(const GatewayAccess& with_gateway, std::function<void()> counted_on);

  int fd_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;  // the predecessor closed the link
  std::string running_state_;
  std::string history_;
  std::vector<metrics::SeriesTotal> metric_totals_;
  bool passes_metric_totals_ = false;
  std::vector<int> queue_locks_;
};

}  // namespace sg::app
