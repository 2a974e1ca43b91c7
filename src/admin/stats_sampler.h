#pragma once
// The live statistics behind GET /admin/stats, its event stream and the dashboard. Once a
// second the sampler reads the registry's counters and latency histograms (the ones /metrics
// exposes) and the shared state, and keeps the last 15 minutes per listener, route and
// upstream: requests/s, 5xx share and latency p50/p95/p99 (from the interval's bucket
// deltas, see stats_quantile.h). Memory is bounded: one ring of `capacity` points per series.
#include <array>
#include <boost/json.hpp>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "admin/stats_ring.h"
#include "proxy/shared_state.h"

namespace sg::pg {
class PgService;
}

namespace sg::admin {

// Where the sampler reads time: wall clock (series timestamps, unix ms) and monotonic clock
// (rates, server states, breakers). Tests pass their own.
struct StatsClock {
  std::function<int64_t()> wall_ms;
  std::function<int64_t()> monotonic_ms;
  static StatsClock system();
};

// One second of one listener, route or upstream. Latencies are NaN when nothing finished.
struct StatsPoint {
  int64_t time_ms = 0;
  double rps = 0;
  double error_rate = 0;  // share of responses that were 5xx
  double p50_ms = 0;
  double p95_ms = 0;
  double p99_ms = 0;
  double in_flight = 0;  // upstreams: requests in flight on its servers
};

class StatsSampler {
 public:
  static constexpr size_t kDefaultCapacity = 900;  // 15 minutes at 1 s
  static constexpr int64_t kIntervalMs = 1000;

  StatsSampler(proxy::SharedState& shared, pg::PgService* postgres,
               StatsClock clock = StatsClock::system(), size_t capacity = kDefaultCapacity);
  ~StatsSampler();
  StatsSampler(const StatsSampler&) = delete;
  StatsSampler& operator=(const StatsSampler&) = delete;

  // Samples every kIntervalMs on its own thread until stop().
  void start();
  void stop();
  // Takes one sample now (the thread calls it; tests call it with their clock).
  void sampleNow();
  // The autoscaler's section ("autoscale" in the document); absent until set.
  void setAutoscaleSource(std::function<boost::json::value()> source);

  // {"time_ms", "interval_ms", "current": {...}, "series": {...}} with the last `points`
  // points of every series (0 = none).
  boost::json::object document(size_t points) const;
  size_t capacity() const { return capacity_; }

  // Every series' points, for a successor process to show on from (stats_history.cpp).
  std::string exportHistory() const;
  // Before the first sample: fills the empty series of the same kind and name with the points
  // of `bytes` (exportHistory's), oldest dropped past the capacity; *series counts them. False
  // with *error when the bytes or a series are garbled (the others are still filled).
  bool importHistory(std::string_view bytes, size_t* series, std::string* error);

 private:
  // One route's counters as last read, and their increase over the last interval.
  struct RouteMemory {
    const proxy::Route* route = nullptr;
    std::string listener;
    std::array<uint64_t, 5> classes{};
    std::vector<uint64_t> cumulative;
    std::array<uint64_t, 5> class_delta{};
    std::vector<uint64_t> cumulative_delta;
  };
  // A listener, route or upstream: the routes whose counters it sums, and its series.
  struct Entity {
    std::string kind;  // "listeners", "routes", "upstreams"
    std::string name;
    std::vector<size_t> routes;  // indexes into routes_
    const proxy::SharedUpstream* upstream = nullptr;
    Ring<StatsPoint> ring;
  };
  struct ServerMemory {
    bool unhealthy = false;   // out of rotation on a health verdict at the last sample
    int64_t up_since_ms = 0;  // monotonic; when the sampler saw it come back
    uint64_t requests = 0;
  };

  void buildEntities();
  void sampleRoutes(double seconds);
  StatsPoint pointFor(const Entity& entity, double seconds, int64_t time_ms) const;
  boost::json::object upstreamsJson(double seconds, int64_t now_ms);
  boost::json::object serverJson(const proxy::SharedUpstream& upstream,
                                 const proxy::SharedServer& server, double seconds, int64_t now_ms);
  boost::json::object listenersJson(double seconds);
  boost::json::object routesJson() const;
  boost::json::object cacheJson(double seconds);
  boost::json::array queuesJson(double seconds);
  boost::json::value postgresJson(int64_t now_ms) const;
  void run();

  proxy::SharedState& shared_;
  pg::PgService* postgres_;
  StatsClock clock_;
  size_t capacity_;

  // Sampling state: touched by the sampling thread only (or the test calling sampleNow).
  std::vector<RouteMemory> routes_;
  std::vector<Entity> entities_;  // listeners, then routes, then upstreams
  std::map<const proxy::SharedServer*, ServerMemory> servers_;
  std::map<std::string, uint64_t> previous_counts_;  // named counters read as rates
  int64_t last_sample_ms_ = -1;                      // monotonic

  mutable std::mutex mutex_;  // guards what document() reads
  boost::json::object current_;
  int64_t current_time_ms_ = 0;
  std::function<boost::json::value()> autoscale_;

  std::mutex run_mutex_;
  std::condition_variable run_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sg::admin
