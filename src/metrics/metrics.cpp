#include "metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

namespace sg::metrics {
namespace {

constexpr uint32_t kUnsetShard = std::numeric_limits<uint32_t>::max();
constexpr size_t kCacheLine = 64;
constexpr size_t kCellsPerLine = kCacheLine / sizeof(std::atomic<uint64_t>);

// Unset (kUnsetShard) is clamped to each metric's last shard like any out-of-range index.
constinit thread_local uint32_t t_shard = kUnsetShard;
std::atomic<uint32_t> g_shard_count{1};

// The shard this thread writes for a metric with `shards` shards (clamped to the last).
inline uint32_t shardFor(uint32_t shards) noexcept {
  const uint32_t shard = t_shard;
  return shard < shards ? shard : shards - 1;
}

// Single-writer shards update with a plain load+store (no lock prefix). The last shard is
// shared by every thread that never called setCurrentShard, so it uses fetch_add.
template <class T>
inline void addToCell(std::atomic<T>& cell, T n, bool shared) noexcept {
  if (shared) {
    cell.fetch_add(n, std::memory_order_relaxed);
  } else {
    cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
}

// Largest whole number of microseconds that is <= `seconds` (so that an observation of
// v micros lands in the first bucket with v <= bound), tolerant of binary rounding
// (0.0025 * 1e6 may come out as 2499.9999999999995).
uint64_t boundMicros(double seconds) {
  const double micros = seconds * 1e6;
  if (micros >= 1.8e19) return std::numeric_limits<uint64_t>::max();
  const double nearest = std::round(micros);
  if (std::fabs(micros - nearest) < 1e-6 * std::max(1.0, micros)) {
    return static_cast<uint64_t>(nearest);
  }
  return static_cast<uint64_t>(std::floor(micros));
}

}  // namespace

void setCurrentShard(uint32_t shard) { t_shard = shard; }

uint32_t currentShard() { return shardFor(shardCount()); }

uint32_t shardCount() { return g_shard_count.load(std::memory_order_relaxed); }

namespace detail {
void setShardCount(uint32_t shards) {
  g_shard_count.store(shards == 0 ? 1 : shards, std::memory_order_relaxed);
}
}  // namespace detail

Counter::Counter(uint32_t shards)
    : cells_(std::make_unique<Cell[]>(shards == 0 ? 1 : shards)),
      shards_(shards == 0 ? 1 : shards) {}

void Counter::inc(uint64_t n) {
  const uint32_t shard = shardFor(shards_);
  addToCell(cells_[shard].v, n, shard == shards_ - 1);
}

void Counter::addShared(uint64_t n) {
  cells_[shards_ - 1].v.fetch_add(n, std::memory_order_relaxed);
}

uint64_t Counter::value() const {
  uint64_t total = 0;
  for (uint32_t i = 0; i < shards_; ++i) total += cells_[i].v.load(std::memory_order_relaxed);
  return total;
}

Gauge::Gauge(uint32_t shards)
    : cells_(std::make_unique<Cell[]>(shards == 0 ? 1 : shards)),
      shards_(shards == 0 ? 1 : shards) {}

void Gauge::add(int64_t delta) {
  const uint32_t shard = shardFor(shards_);
  addToCell(cells_[shard].v, delta, shard == shards_ - 1);
}

int64_t Gauge::value() const {
  int64_t total = 0;
  for (uint32_t i = 0; i < shards_; ++i) total += cells_[i].v.load(std::memory_order_relaxed);
  return total;
}

Histogram::Histogram(std::vector<double> bounds_seconds, uint32_t shards)
    : bounds_(std::move(bounds_seconds)), shards_(shards == 0 ? 1 : shards) {
  if (!bounds_.empty() && std::isinf(bounds_.back()) && bounds_.back() > 0) bounds_.pop_back();
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || bounds_[i] < 0 || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      throw std::invalid_argument("histogram bounds must be finite, >= 0 and ascending");
    }
    bounds_micros_.push_back(boundMicros(bounds_[i]));
  }
  const size_t used = bounds_.size() + 2;  // buckets (with +Inf), then the sum
  stride_ = static_cast<uint32_t>((used + kCellsPerLine - 1) / kCellsPerLine * kCellsPerLine);
  // One spare cache line so that every shard can start on a cache-line boundary.
  cells_ = std::make_unique<std::atomic<uint64_t>[]>(size_t{stride_} * shards_ + kCellsPerLine);
  const auto address = reinterpret_cast<uintptr_t>(cells_.get());
  const size_t misalignment = address % kCacheLine;
  shard0_ = cells_.get() + (misalignment == 0 ? 0 : (kCacheLine - misalignment) / sizeof(uint64_t));
}

void Histogram::observeMicros(uint64_t micros) {
  const uint32_t shard = shardFor(shards_);
  const bool shared = shard == shards_ - 1;
  std::atomic<uint64_t>* cells = shard0_ + size_t{stride_} * shard;
  // First bound >= micros; past the end means the +Inf bucket.
  const auto bucket =
      static_cast<size_t>(std::lower_bound(bounds_micros_.begin(), bounds_micros_.end(), micros) -
                          bounds_micros_.begin());
  addToCell(cells[bucket], uint64_t{1}, shared);
  addToCell(cells[bounds_micros_.size() + 1], micros, shared);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snap;
  const size_t buckets = bounds_.size() + 1;
  snap.cumulative.assign(buckets, 0);
  uint64_t sum_micros = 0;
  for (uint32_t shard = 0; shard < shards_; ++shard) {
    const std::atomic<uint64_t>* cells = shard0_ + size_t{stride_} * shard;
    for (size_t i = 0; i < buckets; ++i) {
      snap.cumulative[i] += cells[i].load(std::memory_order_relaxed);
    }
    sum_micros += cells[buckets].load(std::memory_order_relaxed);
  }
  for (size_t i = 1; i < buckets; ++i) snap.cumulative[i] += snap.cumulative[i - 1];
  snap.count = snap.cumulative.back();
  snap.sum_seconds = static_cast<double>(sum_micros) / 1e6;
  snap.sum_micros = sum_micros;
  return snap;
}

void Histogram::addCounts(const std::vector<uint64_t>& buckets, uint64_t sum_micros) {
  if (buckets.size() != bounds_.size() + 1) return;
  // The shared last shard, as any thread that is not a worker's writes it.
  std::atomic<uint64_t>* cells = shard0_ + size_t{stride_} * (shards_ - 1);
  for (size_t i = 0; i < buckets.size(); ++i)
    cells[i].fetch_add(buckets[i], std::memory_order_relaxed);
  cells[buckets.size()].fetch_add(sum_micros, std::memory_order_relaxed);
}

std::vector<double> defaultLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

}  // namespace sg::metrics
