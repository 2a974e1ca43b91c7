#pragma once
// The autoscaler at run time: one engine per upstream with `autoscale`, evaluated once a
// second on a thread of its own from the upstream's live metrics (upstream_metrics.h), its
// decisions handed to the actuator (none: advice only; exec: exec_actuator.h), and what it
// sees published as metrics and as JSON for the dashboard and KEDA.
#include <boost/json.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "autoscale/clock.h"
#include "autoscale/engine.h"
#include "autoscale/exec_actuator.h"
#include "autoscale/upstream_metrics.h"
#include "proxy/shared_state.h"

namespace sg::discovery {
class Registry;
}

namespace sg::autoscale {

class Autoscaler {
 public:
  // Registers the scalegate_autoscale_* metrics of every upstream with `autoscale`. The
  // `process` actuator registers the copies it runs in `registry` (null: advice only).
  Autoscaler(proxy::SharedState& shared, std::unique_ptr<Clock> clock,
             discovery::Registry* registry = nullptr);
  ~Autoscaler();
  Autoscaler(const Autoscaler&) = delete;
  Autoscaler& operator=(const Autoscaler&) = delete;

  // Starts the evaluation thread (nothing when no upstream autoscales); stop() joins it and
  // kills an exec command still running. Copies run by `process` actuators keep serving
  // (the data plane drains through them) until the autoscaler is destroyed.
  void start();
  void stop();
  // One evaluation of every upstream (the thread's step; tests call it directly).
  void evaluate();

  // Per upstream: {"current","desired","min","max","metric","value","target","predicted",
  // "actuator","decisions":[{"time_ms","from","to","reason"}]} (and "last_run" for exec).
  boost::json::object dashboardJson() const;
  // KEDA's metrics-api scaler document for one upstream; nullopt when it has no autoscale.
  std::optional<boost::json::object> kedaJson(std::string_view upstream) const;

 private:
  struct Entry;
  void registerMetrics(Entry& entry);
  // Feeds the engine one reading (under mutex_) and starts exec runs; the desired count.
  uint32_t decide(Entry& entry, const UpstreamReading& reading, int64_t now_ms, int64_t wall_ms);
  void collectRun(Entry& entry);
  boost::json::object entryJson(const Entry& entry) const;

  proxy::SharedState& shared_;
  std::unique_ptr<Clock> clock_;
  std::vector<std::unique_ptr<Entry>> entries_;
  mutable std::mutex mutex_;  // guards the entries' state between evaluations and readers
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sg::autoscale
