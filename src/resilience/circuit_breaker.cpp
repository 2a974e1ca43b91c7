#include "resilience/circuit_breaker.h"

#include <algorithm>
#include <limits>

namespace sg::resilience {

// Semantics:
//  * Closed: record() adds the outcome to the bucket of `now` (bucket width = window /
//    buckets, rounded up; at most 1000 buckets). The window at `now` is the current bucket
//    and the buckets-1 before it. After an outcome is counted, if the window holds
//    >= volume_threshold requests and failures * 100 >= error_threshold_percent * requests,
//    the breaker opens. A success can only tip that balance when the window holds a failure
//    (it adds volume), so successes skip the check when no failure is in the window.
//  * Open: allow() refuses until reset_timeout has elapsed since opening; the first allow()
//    after that moves to half-open.
//  * Half-open: allow() hands out at most half_open_requests trial permits per half-open
//    period (a success keeps its slot; abandon() returns one). A trial failure re-opens
//    (new opened_at); half_open_requests trial successes close with an empty window.
//  * Every transition bumps a generation carried in each Permit; outcomes whose generation
//    is not the current one are ignored (late results of pre-open requests, old trials).
// Concurrency: `word_` packs state, generation and the trial counts, so admission and trial
// accounting are single CASes. An outcome for the newest slice is one fetch_add; the open
// check reads cached sums of the earlier buckets plus the newest bucket. Transitions and
// outcomes for any other slice (the first of a new slice, late ones for an earlier slice)
// take `mutex_`. Side data (opened_at, the window) is written before the new word is
// published with release order. The open check can miss outcomes being added at the very
// moment a new slice starts (they are in the bucket, not yet in the sums); snapshot() sums
// the buckets and is exact.

namespace {

constexpr uint64_t kStateMask = 0x3;
constexpr int kTakenShift = 2;
constexpr int kSuccessShift = 21;
constexpr int kGenerationShift = 40;
constexpr uint64_t kCountMask = (uint64_t{1} << 19) - 1;
constexpr uint64_t kGenerationMask = (uint64_t{1} << 24) - 1;
constexpr uint64_t kTakenOne = uint64_t{1} << kTakenShift;
constexpr uint64_t kSuccessOne = uint64_t{1} << kSuccessShift;

BreakerState stateOf(uint64_t word) { return static_cast<BreakerState>(word & kStateMask); }
uint32_t takenOf(uint64_t word) {
  return static_cast<uint32_t>((word >> kTakenShift) & kCountMask);
}
uint32_t successesOf(uint64_t word) {
  return static_cast<uint32_t>((word >> kSuccessShift) & kCountMask);
}
uint32_t generationOf(uint64_t word) { return static_cast<uint32_t>(word >> kGenerationShift); }

uint64_t makeWord(uint32_t generation, BreakerState state) {
  return ((generation & kGenerationMask) << kGenerationShift) | static_cast<uint64_t>(state);
}

// Bounds memory (64 bytes a bucket) and the cost of starting a bucket (it sums the others).
constexpr uint32_t kMaxBuckets = 1000;

size_t index(BreakerState state) { return static_cast<size_t>(state); }

uint32_t bucketCount(const config::CircuitBreakerConfig& config) {
  return std::clamp<uint32_t>(config.buckets, 1, kMaxBuckets);
}

int64_t bucketWidth(const config::CircuitBreakerConfig& config) {
  int64_t window = std::max<int64_t>(config.window.count(), 1);
  int64_t buckets = bucketCount(config);
  return (window + buckets - 1) / buckets;
}

}  // namespace

const char* breakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(const config::CircuitBreakerConfig& config)
    : threshold_percent_(config.error_threshold_percent),
      volume_threshold_(std::max<uint32_t>(config.volume_threshold, 1)),
      bucket_ms_(bucketWidth(config)),
      bucket_count_(bucketCount(config)),
      reset_timeout_ms_(std::max<int64_t>(config.reset_timeout.count(), 0)),
      trial_limit_(
          static_cast<uint32_t>(std::clamp<uint64_t>(config.half_open_requests, 1, kCountMask))),
      word_(makeWord(0, BreakerState::kClosed)),
      buckets_(std::make_unique<Bucket[]>(bucket_count_)),
      connections_(config.max_connections),
      pending_(config.max_pending),
      requests_(config.max_requests),
      retries_(config.max_retries) {
  for (int status : config.error_statuses) {
    if (status >= 0 && static_cast<size_t>(status) < failure_statuses_.size()) {
      failure_statuses_.set(static_cast<size_t>(status));
    }
  }
}

Permit CircuitBreaker::allow(int64_t now_ms) {
  for (;;) {
    uint64_t word = word_.load(std::memory_order_acquire);
    BreakerState state = stateOf(word);
    if (state == BreakerState::kClosed) return {Permit::Kind::kAllowed, generationOf(word)};
    if (state == BreakerState::kOpen) {
      if (now_ms - opened_at_ms_.load(std::memory_order_relaxed) < reset_timeout_ms_) break;
      transition(word, BreakerState::kHalfOpen, now_ms);  // lost races just look again
      continue;
    }
    if (takenOf(word) >= trial_limit_) break;
    if (word_.compare_exchange_weak(word, word + kTakenOne, std::memory_order_acq_rel)) {
      return {Permit::Kind::kTrial, generationOf(word)};
    }
  }
  refusals_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

void CircuitBreaker::record(Outcome outcome, const Permit& permit, int64_t now_ms) {
  if (permit.kind == Permit::Kind::kTrial) {
    recordTrial(outcome, permit.generation, now_ms);
    return;
  }
  if (permit.kind != Permit::Kind::kAllowed) return;
  uint64_t word = word_.load(std::memory_order_acquire);
  if (stateOf(word) != BreakerState::kClosed || generationOf(word) != permit.generation) return;
  countInWindow(outcome, word, now_ms);
}

void CircuitBreaker::countInWindow(Outcome outcome, uint64_t word, int64_t now_ms) {
  int64_t epoch = epochOf(now_ms);
  Bucket& bucket = buckets_[static_cast<size_t>(epoch % bucket_count_)];
  if (prior_epoch_.load(std::memory_order_acquire) == epoch) {
    addTo(bucket, outcome);
  } else if (!countSlow(outcome, bucket, epoch)) {
    return;  // outside the window already
  }
  if (outcome == Outcome::kFailure) {
    int64_t last = last_failure_epoch_.load(std::memory_order_relaxed);
    while (last < epoch &&
           !last_failure_epoch_.compare_exchange_weak(last, epoch, std::memory_order_relaxed)) {
    }
  } else if (last_failure_epoch_.load(std::memory_order_relaxed) <= epoch - bucket_count_ &&
             threshold_percent_ != 0) {
    return;  // no failure in the window: a success cannot open it
  }
  maybeOpen(word, bucket, epoch, now_ms);
}

void CircuitBreaker::addTo(Bucket& bucket, Outcome outcome) {
  auto& counter = outcome == Outcome::kSuccess ? bucket.successes : bucket.failures;
  counter.fetch_add(1, std::memory_order_relaxed);
}

// An outcome outside the newest slice: the first of a new slice (rolls its bucket and sums
// the earlier ones), or a late one for an earlier slice (added to the sums as well). Buckets
// other than the newest change only here, under the mutex, so the sums stay exact.
bool CircuitBreaker::countSlow(Outcome outcome, Bucket& bucket, int64_t epoch) {
  std::lock_guard lock(mutex_);
  int64_t newest = prior_epoch_.load(std::memory_order_relaxed);
  if (newest != kNoEpoch && epoch <= newest - bucket_count_) return false;
  int64_t slice = bucket.epoch.load(std::memory_order_relaxed);
  if (slice > epoch) return false;
  if (slice < epoch) {
    bucket.successes.store(0, std::memory_order_relaxed);
    bucket.failures.store(0, std::memory_order_relaxed);
    bucket.epoch.store(epoch, std::memory_order_release);
  }
  addTo(bucket, outcome);
  if (epoch < newest) {
    addTo(outcome == Outcome::kSuccess ? prior_successes_ : prior_failures_);
  } else if (epoch > newest) {
    WindowCounts prior = sumBuckets(epoch - bucket_count_ + 1, epoch - 1);
    // Seqlock write without fences (Boehm): a reader that sees either new sum also sees
    // prior_epoch_ at kNoEpoch or later, so its re-check fails.
    prior_epoch_.store(kNoEpoch, std::memory_order_relaxed);
    prior_successes_.store(prior.successes, std::memory_order_release);
    prior_failures_.store(prior.failures, std::memory_order_release);
    prior_epoch_.store(epoch, std::memory_order_release);
  }
  return true;
}

CircuitBreaker::WindowCounts CircuitBreaker::sumBuckets(int64_t first_epoch,
                                                        int64_t last_epoch) const {
  WindowCounts counts;
  for (uint32_t i = 0; i < bucket_count_; ++i) {
    const Bucket& bucket = buckets_[i];
    int64_t slice = bucket.epoch.load(std::memory_order_acquire);
    if (slice < first_epoch || slice > last_epoch) continue;
    counts.successes += bucket.successes.load(std::memory_order_relaxed);
    counts.failures += bucket.failures.load(std::memory_order_relaxed);
  }
  return counts;
}

CircuitBreaker::WindowCounts CircuitBreaker::windowCounts(int64_t epoch) const {
  return sumBuckets(epoch - bucket_count_ + 1, epoch);
}

// The window ending at the newest slice: the cached sums of its earlier buckets plus the
// live newest bucket, read seqlock-style. Falls back to summing every bucket while the
// sums are being rewritten.
CircuitBreaker::WindowCounts CircuitBreaker::decisionCounts(const Bucket& bucket,
                                                            int64_t epoch) const {
  int64_t newest = prior_epoch_.load(std::memory_order_acquire);
  if (newest != kNoEpoch) {
    WindowCounts counts{prior_successes_.load(std::memory_order_acquire),
                        prior_failures_.load(std::memory_order_acquire)};
    if (prior_epoch_.load(std::memory_order_relaxed) == newest) {
      const Bucket& last =
          newest == epoch ? bucket : buckets_[static_cast<size_t>(newest % bucket_count_)];
      counts.successes += last.successes.load(std::memory_order_relaxed);
      counts.failures += last.failures.load(std::memory_order_relaxed);
      return counts;
    }
  }
  return windowCounts(epoch);
}

void CircuitBreaker::clearWindow() {
  for (uint32_t i = 0; i < bucket_count_; ++i) {
    buckets_[i].successes.store(0, std::memory_order_relaxed);
    buckets_[i].failures.store(0, std::memory_order_relaxed);
    buckets_[i].epoch.store(kNoEpoch, std::memory_order_relaxed);
  }
  last_failure_epoch_.store(kNoEpoch, std::memory_order_relaxed);
  prior_epoch_.store(kNoEpoch, std::memory_order_relaxed);
  prior_successes_.store(0, std::memory_order_relaxed);
  prior_failures_.store(0, std::memory_order_relaxed);
}

void CircuitBreaker::maybeOpen(uint64_t word, const Bucket& bucket, int64_t epoch, int64_t now_ms) {
  WindowCounts counts = decisionCounts(bucket, epoch);
  uint64_t requests = counts.successes + counts.failures;
  if (requests < volume_threshold_) return;
  if (counts.failures * 100 < uint64_t{threshold_percent_} * requests) return;
  transition(word, BreakerState::kOpen, now_ms);
}

void CircuitBreaker::recordTrial(Outcome outcome, uint32_t generation, int64_t now_ms) {
  for (;;) {
    uint64_t word = word_.load(std::memory_order_acquire);
    if (stateOf(word) != BreakerState::kHalfOpen || generationOf(word) != generation) return;
    if (outcome == Outcome::kFailure) {
      transition(word, BreakerState::kOpen, now_ms);
      return;
    }
    if (successesOf(word) + 1 >= trial_limit_) {
      transition(word, BreakerState::kClosed, now_ms);
      return;
    }
    if (word_.compare_exchange_weak(word, word + kSuccessOne, std::memory_order_acq_rel)) return;
  }
}

void CircuitBreaker::abandon(const Permit& permit) {
  if (permit.kind != Permit::Kind::kTrial) return;
  uint64_t word = word_.load(std::memory_order_acquire);
  for (;;) {
    if (stateOf(word) != BreakerState::kHalfOpen || generationOf(word) != permit.generation) {
      return;
    }
    if (takenOf(word) <= successesOf(word)) return;  // no trial in flight to give back
    if (word_.compare_exchange_weak(word, word - kTakenOne, std::memory_order_acq_rel)) return;
  }
}

// The only place the state changes. `expected` is the word the caller decided on; if the
// state or generation has moved on since, another thread made a transition first and this
// one is dropped. Side data for the new state is written before the word is published.
bool CircuitBreaker::transition(uint64_t expected, BreakerState to, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  BreakerState from = stateOf(expected);
  uint32_t generation = generationOf(expected);
  uint64_t word = word_.load(std::memory_order_acquire);
  if (stateOf(word) != from || generationOf(word) != generation) return false;
  if (to == BreakerState::kOpen) opened_at_ms_.store(now_ms, std::memory_order_relaxed);
  if (to == BreakerState::kClosed) clearWindow();
  // Only trial counters can change the word while the mutex is held; retry over them.
  uint64_t next = makeWord(generation + 1, to);
  while (!word_.compare_exchange_weak(word, next, std::memory_order_acq_rel)) {
  }
  transitions_[index(from)][index(to)].fetch_add(1, std::memory_order_relaxed);
  entered_[index(to)].fetch_add(1, std::memory_order_relaxed);
  return true;
}

int64_t CircuitBreaker::epochOf(int64_t now_ms) const {
  return std::max<int64_t>(now_ms, 0) / bucket_ms_;
}

uint32_t CircuitBreaker::retryAfterSeconds(int64_t now_ms) const {
  uint64_t word = word_.load(std::memory_order_acquire);
  if (stateOf(word) != BreakerState::kOpen) return 1;  // half-open: a slot may free soon
  int64_t remaining = opened_at_ms_.load(std::memory_order_relaxed) + reset_timeout_ms_ - now_ms;
  int64_t seconds = (remaining + 999) / 1000;
  return static_cast<uint32_t>(
      std::clamp<int64_t>(seconds, 1, std::numeric_limits<uint32_t>::max()));
}

bool CircuitBreaker::isFailureStatus(int status) const {
  return status >= 0 && static_cast<size_t>(status) < failure_statuses_.size() &&
         failure_statuses_.test(static_cast<size_t>(status));
}

BreakerState CircuitBreaker::state() const {
  return stateOf(word_.load(std::memory_order_acquire));
}

uint64_t CircuitBreaker::transitions(BreakerState from, BreakerState to) const {
  return transitions_[index(from)][index(to)].load(std::memory_order_relaxed);
}

uint64_t CircuitBreaker::entered(BreakerState state) const {
  return entered_[index(state)].load(std::memory_order_relaxed);
}

BreakerSnapshot CircuitBreaker::snapshot(int64_t now_ms) const {
  uint64_t word = word_.load(std::memory_order_acquire);
  BreakerSnapshot snap;
  snap.state = stateOf(word);
  WindowCounts counts = windowCounts(epochOf(now_ms));
  snap.successes = counts.successes;
  snap.failures = counts.failures;
  snap.requests = counts.successes + counts.failures;
  if (snap.state == BreakerState::kHalfOpen)
    snap.trials_in_flight = takenOf(word) - successesOf(word);
  snap.refusals = refusals();
  snap.closed_to_open = transitions(BreakerState::kClosed, BreakerState::kOpen);
  snap.open_to_half_open = transitions(BreakerState::kOpen, BreakerState::kHalfOpen);
  snap.half_open_to_closed = transitions(BreakerState::kHalfOpen, BreakerState::kClosed);
  snap.half_open_to_open = transitions(BreakerState::kHalfOpen, BreakerState::kOpen);
  for (size_t i = 0; i < kBreakerStates; ++i) {
    snap.entered[i] = entered_[i].load(std::memory_order_relaxed);
  }
  return snap;
}

BreakerCarry CircuitBreaker::carryOut(int64_t now_ms) const {
  BreakerCarry carry;
  BreakerState state = stateOf(word_.load(std::memory_order_acquire));
  if (state != BreakerState::kClosed) {
    carry.state = BreakerState::kOpen;
    carry.opened_at_ms = state == BreakerState::kOpen
                             ? opened_at_ms_.load(std::memory_order_relaxed)
                             : now_ms - reset_timeout_ms_;
    return carry;
  }
  int64_t newest = epochOf(now_ms);
  for (uint32_t i = 0; i < bucket_count_; ++i) {
    int64_t slice = buckets_[i].epoch.load(std::memory_order_acquire);
    if (slice <= newest - bucket_count_ || slice > newest) continue;
    carry.window.push_back({slice, buckets_[i].successes.load(std::memory_order_relaxed),
                            buckets_[i].failures.load(std::memory_order_relaxed)});
  }
  return carry;
}

void CircuitBreaker::carryIn(const BreakerCarry& carry, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  clearWindow();
  if (carry.state != BreakerState::kClosed) {
    opened_at_ms_.store(carry.opened_at_ms, std::memory_order_relaxed);
    word_.store(makeWord(generationOf(word_.load()) + 1, BreakerState::kOpen));
    return;
  }
  int64_t now = epochOf(now_ms);
  int64_t newest = kNoEpoch;
  for (const auto& slice : carry.window) {
    if (slice.epoch <= now - bucket_count_ || slice.epoch > now) continue;
    Bucket& bucket = buckets_[static_cast<size_t>(slice.epoch % bucket_count_)];
    bucket.successes.store(slice.successes, std::memory_order_relaxed);
    bucket.failures.store(slice.failures, std::memory_order_relaxed);
    bucket.epoch.store(slice.epoch, std::memory_order_release);
    newest = std::max(newest, slice.epoch);
    if (slice.failures > 0) {
      last_failure_epoch_.store(
          std::max(last_failure_epoch_.load(std::memory_order_relaxed), slice.epoch),
          std::memory_order_relaxed);
    }
  }
  if (newest == kNoEpoch) return;
  WindowCounts prior = sumBuckets(newest - bucket_count_ + 1, newest - 1);
  prior_successes_.store(prior.successes, std::memory_order_relaxed);
  prior_failures_.store(prior.failures, std::memory_order_relaxed);
  prior_epoch_.store(newest, std::memory_order_release);
}

}  // namespace sg::resilience
