#pragma once
// Circuit breaker for one upstream, shared by every worker (Hystrix/resilience4j rolling
// window, Envoy-style concurrency caps). Closed: outcomes are counted in a rolling window of
// `buckets` buckets; enough volume at a high enough failure rate opens it. Open: requests
// are refused (the caller answers 503 with Retry-After) until reset_timeout has elapsed.
// Half-open: up to half_open_requests trial requests go through; one failing re-opens it,
// all succeeding closes it with an empty window.
// Closed-state requests touch only atomics: allow() is one load; record() is one fetch_add
// plus three loads from a read-mostly cache line (four more when the window holds a
// failure). A mutex serialises the rare changes: state transitions and the first outcome of
// each bucket.
// Times are monotonic milliseconds passed in by the caller (injected clock).
#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "config/config.h"
#include "resilience/concurrency_limit.h"

namespace sg::resilience {

enum class BreakerState : uint8_t { kClosed = 0, kOpen = 1, kHalfOpen = 2 };
inline constexpr size_t kBreakerStates = 3;
const char* breakerStateName(BreakerState state);  // "closed", "open", "half_open"

enum class Outcome : uint8_t { kSuccess, kFailure };

// What allow() decided, plus the ticket that attributes the outcome: `generation` names the
// state period the request was admitted in, so an outcome that arrives after the breaker
// has changed state (a pre-open request ending during half-open, a trial from an earlier
// half-open period) is ignored instead of being counted in the wrong period.
struct Permit {
  enum class Kind : uint8_t { kRefused, kAllowed, kTrial };
  Kind kind = Kind::kRefused;
  uint32_t generation = 0;

  bool admitted() const { return kind != Kind::kRefused; }
};

struct BreakerSnapshot {
  BreakerState state = BreakerState::kClosed;
  // The rolling window at the time of the snapshot (it is only fed while closed).
  uint64_t successes = 0;
  uint64_t failures = 0;
  uint64_t requests = 0;
  uint32_t trials_in_flight = 0;  // half-open only
  uint64_t refusals = 0;          // allow() refusals since start
  uint64_t closed_to_open = 0;
  uint64_t open_to_half_open = 0;
  uint64_t half_open_to_closed = 0;
  uint64_t half_open_to_open = 0;
  std::array<uint64_t, kBreakerStates> entered{};  // indexed by BreakerState
};

// What a successor process takes over on reload (monotonic times are machine-wide; the
// successor has the same settings, else it does not take it).
struct BreakerCarry {
  struct Slice {
    int64_t epoch = 0;
    uint64_t successes = 0;
    uint64_t failures = 0;
  };
  BreakerState state = BreakerState::kClosed;  // kOpen or kClosed: half-open is carried as open
  int64_t opened_at_ms = 0;                    // open
  std::vector<Slice> window;                   // closed: the rolling window's buckets
};

class CircuitBreaker {
 public:
  explicit CircuitBreaker(const config::CircuitBreakerConfig& config);
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Asks to send one request. Open (or half-open with every trial slot taken): refused.
  // The first call after reset_timeout moves open to half-open.
  Permit allow(int64_t now_ms);
  // The outcome of a request admitted by allow(). Refused permits and outcomes from an
  // earlier state period are ignored.
  void record(Outcome outcome, const Permit& permit, int64_t now_ms);
  // A trial that ended without an outcome (client went away) gives its slot back.
  void abandon(const Permit& permit);

  // Seconds until an open breaker may let a trial through, rounded up, at least 1: the
  // Retry-After value for a refusal.
  uint32_t retryAfterSeconds(int64_t now_ms) const;
  // Whether a response status counts as a failure (error_statuses). Connect failures and
  // timeouts have no status; the caller records Outcome::kFailure for them.
  bool isFailureStatus(int status) const;
  Outcome outcomeForStatus(int status) const {
    return isFailureStatus(status) ? Outcome::kFailure : Outcome::kSuccess;
  }

  BreakerState state() const;
  uint64_t transitions(BreakerState from, BreakerState to) const;
  uint64_t entered(BreakerState state) const;
  uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }
  BreakerSnapshot snapshot(int64_t now_ms) const;

  // Half-open is carried as open since reset_timeout: the successor lets a trial through at
  // once (the trials in flight here end here).
  BreakerCarry carryOut(int64_t now_ms) const;
  // Before any request uses the breaker.
  void carryIn(const BreakerCarry& carry, int64_t now_ms);

  // The four Envoy caps of this upstream, shared by every worker.
  ConcurrencyLimit& connectionLimit() { return connections_; }  // max_connections
  ConcurrencyLimit& pendingLimit() { return pending_; }         // max_pending
  ConcurrencyLimit& requestLimit() { return requests_; }        // max_requests
  ConcurrencyLimit& retryLimit() { return retries_; }           // max_retries
  const ConcurrencyLimit& connectionLimit() const { return connections_; }
  const ConcurrencyLimit& pendingLimit() const { return pending_; }
  const ConcurrencyLimit& requestLimit() const { return requests_; }
  const ConcurrencyLimit& retryLimit() const { return retries_; }

 private:
  static constexpr int64_t kNoEpoch = INT64_MIN;
  struct alignas(64) Bucket {
    std::atomic<int64_t> epoch{kNoEpoch};  // the bucket-width slice of time it counts
    std::atomic<uint64_t> successes{0};
    std::atomic<uint64_t> failures{0};
  };
  struct WindowCounts {
    uint64_t successes = 0;
    uint64_t failures = 0;
  };

  void countInWindow(Outcome outcome, uint64_t word, int64_t now_ms);
  static void addTo(Bucket& bucket, Outcome outcome);
  static void addTo(std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }
  bool countSlow(Outcome outcome, Bucket& bucket, int64_t epoch);
  WindowCounts sumBuckets(int64_t first_epoch, int64_t last_epoch) const;
  WindowCounts windowCounts(int64_t epoch) const;
  WindowCounts decisionCounts(const Bucket& bucket, int64_t epoch) const;
  void clearWindow();
  void maybeOpen(uint64_t word, const Bucket& bucket, int64_t epoch, int64_t now_ms);
  void recordTrial(Outcome outcome, uint32_t generation, int64_t now_ms);
  bool transition(uint64_t expected, BreakerState to, int64_t now_ms);
  int64_t epochOf(int64_t now_ms) const;

  // Settings, fixed at construction (config values made safe: no zero buckets or trials).
  const uint32_t threshold_percent_;
  const uint64_t volume_threshold_;
  const int64_t bucket_ms_;
  const uint32_t bucket_count_;
  const int64_t reset_timeout_ms_;
  const uint32_t trial_limit_;
  std::bitset<600> failure_statuses_;

  // Read by every request, written only on transitions and bucket rolls (own cache line).
  // `word_` packs state, generation and the half-open trial counts so each changes with one
  // CAS.
  alignas(64) std::atomic<uint64_t> word_;
  std::atomic<int64_t> opened_at_ms_{0};
  // The newest slice counted. Outcomes for it are added to its bucket lock-free; any other
  // slice takes countSlow(). prior_* hold the sums of the window's earlier buckets, so the
  // open check reads four counters instead of every bucket. Seqlock: prior_epoch_ is
  // kNoEpoch while they are rewritten.
  std::atomic<int64_t> prior_epoch_{kNoEpoch};
  std::atomic<uint64_t> prior_successes_{0};
  std::atomic<uint64_t> prior_failures_{0};
  std::atomic<int64_t> last_failure_epoch_{kNoEpoch};  // lets successes skip the open check

  alignas(64) std::atomic<uint64_t> refusals_{0};
  std::array<std::array<std::atomic<uint64_t>, kBreakerStates>, kBreakerStates> transitions_{};
  std::array<std::atomic<uint64_t>, kBreakerStates> entered_{};
  std::mutex mutex_;  // transitions and outcomes outside the newest slice only

  std::unique_ptr<Bucket[]> buckets_;

  ConcurrencyLimit connections_;
  ConcurrencyLimit pending_;
  ConcurrencyLimit requests_;
  ConcurrencyLimit retries_;
};

}  // namespace sg::resilience
