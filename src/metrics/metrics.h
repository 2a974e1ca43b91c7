#pragma once
// Counters, gauges and histograms sharded per worker: each worker writes only its own
// cache line (single writer, relaxed atomics, no locked instructions); readers sum the
// shards when /metrics is scraped. Metrics are registered at start-up, never per request.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sg::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// The calling thread's shard. Workers call setCurrentShard(worker_index) once at start;
// other threads use the last shard (index shardCount()-1, set by Registry construction).
// Writers on shards other than the last must be alone on their shard (one worker each):
// they update with a plain load+store, no locked instruction. The last shard is shared by
// every thread that never called setCurrentShard (admin, health, tests...) and is updated
// with fetch_add. A shard index past a metric's own shard count is clamped to its last shard.
void setCurrentShard(uint32_t shard);
uint32_t currentShard();
// Shard count of the most recently constructed Registry (1 before any).
uint32_t shardCount();
namespace detail {
void setShardCount(uint32_t shards);  // called by Registry's constructor
}  // namespace detail

class Counter {
 public:
  explicit Counter(uint32_t shards);
  void inc(uint64_t n = 1);
  // Adds on the shared last shard, from any thread (what a predecessor process counted).
  void addShared(uint64_t n);
  uint64_t value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<uint64_t> v{0};
  };
  std::unique_ptr<Cell[]> cells_;
  uint32_t shards_;
};

class Gauge {
 public:
  explicit Gauge(uint32_t shards);
  void add(int64_t delta);
  int64_t value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<int64_t> v{0};
  };
  std::unique_ptr<Cell[]> cells_;
  uint32_t shards_;
};

class Histogram {
 public:
  // Upper bounds in seconds, ascending; +Inf is implicit.
  Histogram(std::vector<double> bounds_seconds, uint32_t shards);
  void observeMicros(uint64_t micros);
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    uint64_t count = 0;
    double sum_seconds = 0;
    uint64_t sum_micros = 0;
  };
  Snapshot snapshot() const;
  // Adds observations counted elsewhere (a predecessor process): `buckets` per bucket (not
  // cumulative), one per bound then +Inf; ignored unless it has that many.
  void addCounts(const std::vector<uint64_t>& buckets, uint64_t sum_micros);
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> bounds_micros_;
  uint32_t shards_;
  // per shard: buckets (bounds+1), then sum in micros, padded to whole cache lines; the
  // count is the sum of the buckets (so _count always equals the +Inf bucket).
  std::unique_ptr<std::atomic<uint64_t>[]> cells_;
  std::atomic<uint64_t>* shard0_ = nullptr;  // first cache-line aligned cell inside cells_
  uint32_t stride_;
};

// Default latency buckets (seconds): 0.5ms .. 30s.
std::vector<double> defaultLatencyBuckets();

// A counter's or histogram's total, as a process passes it to its successor (reload, binary
// upgrade) for it to count on from: see metrics/totals.h.
struct SeriesTotal {
  std::string name;
  std::string labels;  // the registry's canonical form of the label set
  bool histogram = false;
  double value = 0;               // counters
  std::vector<double> bounds;     // histograms: upper bounds (seconds), +Inf implicit
  std::vector<uint64_t> buckets;  // histograms: per bucket (not cumulative), then +Inf
  uint64_t sum_micros = 0;        // histograms
};

class Registry {
 public:
  explicit Registry(uint32_t shards);

  // Returned references stay valid for the registry's lifetime. Registering the same
  // name+labels twice returns the same metric.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels);
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels);
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels,
                       std::vector<double> bounds_seconds = defaultLatencyBuckets());
  // A gauge whose value is computed at scrape time (e.g. a server's up/down state).
  void gaugeCallback(const std::string& name, const std::string& help, const Labels& labels,
                     std::function<double()> read);

  // One gauge per name in `states` (label `state_label`), 1 for the state `read` returns (an
  // index into `states`) and 0 for the others. `read` runs once per scrape for the whole set,
  // so a scrape never shows two states at 1 while the component changes state.
  void stateSetCallback(const std::string& name, const std::string& help, const Labels& labels,
                        const std::string& state_label, const std::vector<std::string>& states,
                        std::function<size_t()> read);

  // A counter whose value is read at scrape time from a component that keeps its own
  // monotonic count (e.g. circuit breaker transitions).
  void counterCallback(const std::string& name, const std::string& help, const Labels& labels,
                       std::function<double()> read);

  // Every counter (callback ones too) and histogram as it stands; gauges are the present and
  // are left out.
  std::vector<SeriesTotal> totals() const;
  // Adds `totals` to the counters and histograms of the same name and labels (and, for a
  // histogram, bounds) this registry has. Returns the others (not registered, or not alike).
  std::vector<SeriesTotal> addTotals(std::vector<SeriesTotal> totals);

  // Prometheus text exposition format 0.0.4: # HELP / # TYPE once per family, then samples.
  std::string renderPrometheus() const;
  uint32_t shards() const { return shards_; }

 private:
  void addCallback(const std::string& name, const std::string& help, const Labels& labels,
                   std::function<double()> read, bool gauge);
  struct Impl;
  std::shared_ptr<Impl> impl_;
  uint32_t shards_;
};

}  // namespace sg::metrics
