#include "resilience/circuit_breaker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

namespace sg::resilience {
namespace {

using Kind = Permit::Kind;
using State = BreakerState;

// Defaults: 50% of >= 20 requests in a 10 s window of 10 buckets; 30 s reset; one trial.
config::CircuitBreakerConfig defaults() { return config::CircuitBreakerConfig{}; }

// Admits and records `count` requests at `now`; returns how many were admitted.
int recordMany(CircuitBreaker& b, Outcome outcome, int count, int64_t now) {
  int admitted = 0;
  for (int i = 0; i < count; ++i) {
    Permit permit = b.allow(now);
    if (!permit.admitted()) continue;
    ++admitted;
    b.record(outcome, permit, now);
  }
  return admitted;
}

// Opens a default breaker at `now` with 20 failures.
void openAt(CircuitBreaker& b, int64_t now) {
  ASSERT_EQ(recordMany(b, Outcome::kFailure, 20, now), 20);
  ASSERT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, StaysClosedBelowVolume) {
  CircuitBreaker b(defaults());
  EXPECT_EQ(recordMany(b, Outcome::kFailure, 19, 1000), 19);  // 100% failures, volume 19
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.snapshot(1000).failures, 19u);
  EXPECT_EQ(recordMany(b, Outcome::kFailure, 1, 1000), 1);
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, OpensExactlyAtThresholdFailuresFirst) {
  CircuitBreaker b(defaults());
  recordMany(b, Outcome::kFailure, 10, 1000);
  recordMany(b, Outcome::kSuccess, 9, 1000);
  EXPECT_EQ(b.state(), State::kClosed);       // 10 of 19: below volume
  recordMany(b, Outcome::kSuccess, 1, 1000);  // the 20th request is a success and opens it
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, OpensExactlyAtThresholdSuccessesFirst) {
  CircuitBreaker b(defaults());
  recordMany(b, Outcome::kSuccess, 10, 1000);
  recordMany(b, Outcome::kFailure, 9, 1000);
  EXPECT_EQ(b.state(), State::kClosed);
  recordMany(b, Outcome::kFailure, 1, 1000);
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.transitions(State::kClosed, State::kOpen), 1u);
}

TEST(CircuitBreaker, JustBelowThresholdStaysClosed) {
  CircuitBreaker b(defaults());
  recordMany(b, Outcome::kFailure, 9, 1000);
  recordMany(b, Outcome::kSuccess, 11, 1000);
  EXPECT_EQ(b.state(), State::kClosed);
  BreakerSnapshot snap = b.snapshot(1000);
  EXPECT_EQ(snap.failures, 9u);
  EXPECT_EQ(snap.successes, 11u);
  EXPECT_EQ(snap.requests, 20u);
  recordMany(b, Outcome::kFailure, 2, 1000);  // 11 of 22 = 50%
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, FailuresOlderThanWindowDoNotCount) {
  CircuitBreaker b(defaults());
  recordMany(b, Outcome::kFailure, 15, 0);
  recordMany(b, Outcome::kFailure, 5, 11000);  // 11 s later: the first 15 are gone
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.snapshot(11000).failures, 5u);

  CircuitBreaker control(defaults());  // the same 20 failures within 9 s do open it
  recordMany(control, Outcome::kFailure, 15, 0);
  recordMany(control, Outcome::kFailure, 5, 9000);
  EXPECT_EQ(control.state(), State::kOpen);
}

// Buckets are 1 s: at t=10000 the bucket of t=500 has left the window but the bucket of
// t=5500 has not (and t=10000 reuses t=500's physical bucket).
TEST(CircuitBreaker, WindowRollsOneBucketAtATime) {
  CircuitBreaker b(defaults());
  recordMany(b, Outcome::kFailure, 10, 500);
  recordMany(b, Outcome::kFailure, 5, 5500);
  EXPECT_EQ(b.snapshot(9999).failures, 15u);
  EXPECT_EQ(b.snapshot(10000).failures, 5u);
  recordMany(b, Outcome::kFailure, 5, 10000);
  EXPECT_EQ(b.state(), State::kClosed);  // 10 failures in the window, volume 20 not reached
  EXPECT_EQ(b.snapshot(10000).failures, 10u);
  recordMany(b, Outcome::kSuccess, 9, 10000);
  EXPECT_EQ(b.state(), State::kClosed);
  recordMany(b, Outcome::kSuccess, 1, 10000);  // 10 + 10 in the window
  EXPECT_EQ(b.state(), State::kOpen);
}

// A late outcome for an earlier bucket (its request started before a slower one) still
// counts toward opening, though the newer bucket has already begun.
TEST(CircuitBreaker, LateOutcomeForAnEarlierBucketCounts) {
  CircuitBreaker b(defaults());
  recordMany(b, Outcome::kFailure, 10, 5500);
  recordMany(b, Outcome::kSuccess, 9, 4500);
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.snapshot(5500).requests, 19u);
  recordMany(b, Outcome::kSuccess, 1, 5500);
  EXPECT_EQ(b.state(), State::kOpen);
}

// 11 s late is outside the window of the newest bucket: dropped.
TEST(CircuitBreaker, OutcomeOlderThanTheWindowIsDropped) {
  CircuitBreaker b(defaults());
  recordMany(b, Outcome::kFailure, 10, 12000);
  recordMany(b, Outcome::kFailure, 10, 1999);  // the window of 12000 starts at 3000
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.snapshot(12000).failures, 10u);
  recordMany(b, Outcome::kFailure, 10, 3000);  // the oldest bucket of the window: counts
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, OpenRefusesWithRetryAfter) {
  CircuitBreaker b(defaults());
  openAt(b, 1000);
  EXPECT_EQ(b.allow(1000).kind, Kind::kRefused);
  EXPECT_EQ(b.retryAfterSeconds(1000), 30u);
  EXPECT_EQ(b.retryAfterSeconds(1001), 30u);  // 29.999 s rounds up
  EXPECT_EQ(b.retryAfterSeconds(2000), 29u);
  EXPECT_EQ(b.retryAfterSeconds(30000), 1u);
  EXPECT_EQ(b.retryAfterSeconds(30999), 1u);  // 1 ms left is still 1 s
  EXPECT_EQ(b.allow(30999).kind, Kind::kRefused);
  EXPECT_EQ(b.refusals(), 2u);
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.allow(31000).kind, Kind::kTrial);
  EXPECT_EQ(b.state(), State::kHalfOpen);
}

TEST(CircuitBreaker, RetryAfterIsAtLeastOneOutsideOpen) {
  CircuitBreaker b(defaults());
  EXPECT_EQ(b.retryAfterSeconds(0), 1u);
  openAt(b, 0);
  ASSERT_EQ(b.allow(30000).kind, Kind::kTrial);
  EXPECT_EQ(b.retryAfterSeconds(30000), 1u);
}

TEST(CircuitBreaker, HalfOpenLetsOneTrialThrough) {
  CircuitBreaker b(defaults());
  openAt(b, 0);
  Permit trial = b.allow(30000);
  EXPECT_EQ(trial.kind, Kind::kTrial);
  EXPECT_EQ(b.allow(30000).kind, Kind::kRefused);
  EXPECT_EQ(b.allow(40000).kind, Kind::kRefused);
  EXPECT_EQ(b.snapshot(40000).trials_in_flight, 1u);
  b.record(Outcome::kSuccess, trial, 40000);
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.allow(40000).kind, Kind::kAllowed);
}

TEST(CircuitBreaker, HalfOpenWithThreeTrialsNeedsThreeSuccesses) {
  auto config = defaults();
  config.half_open_requests = 3;
  CircuitBreaker b(config);
  openAt(b, 0);
  Permit trials[3];
  for (Permit& trial : trials) {
    trial = b.allow(30000);
    ASSERT_EQ(trial.kind, Kind::kTrial);
  }
  EXPECT_EQ(b.allow(30000).kind, Kind::kRefused);
  b.record(Outcome::kSuccess, trials[0], 30001);
  EXPECT_EQ(b.state(), State::kHalfOpen);
  EXPECT_EQ(b.allow(30001).kind, Kind::kRefused);  // a success keeps its slot
  b.record(Outcome::kSuccess, trials[1], 30002);
  EXPECT_EQ(b.state(), State::kHalfOpen);
  b.record(Outcome::kSuccess, trials[2], 30003);
  EXPECT_EQ(b.state(), State::kClosed);
  BreakerSnapshot snap = b.snapshot(30003);
  EXPECT_EQ(snap.requests, 0u);  // a fresh window: the failures that opened it are gone
  EXPECT_EQ(snap.half_open_to_closed, 1u);
  recordMany(b, Outcome::kFailure, 19, 30004);
  EXPECT_EQ(b.state(), State::kClosed);
}

// reset_timeout (1 s) shorter than the window (10 s): the failures that opened the breaker
// are still inside the window when it closes, and must not count against the new period.
TEST(CircuitBreaker, ClosingStartsAnEmptyWindow) {
  auto config = defaults();
  config.reset_timeout = std::chrono::seconds(1);
  CircuitBreaker b(config);
  openAt(b, 0);
  b.record(Outcome::kSuccess, b.allow(1000), 1000);
  ASSERT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.snapshot(1000).requests, 0u);
  recordMany(b, Outcome::kFailure, 19, 1000);
  EXPECT_EQ(b.state(), State::kClosed);
  recordMany(b, Outcome::kFailure, 1, 1000);
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, TrialFailureReopensAndRestartsTimer) {
  CircuitBreaker b(defaults());
  openAt(b, 1000);
  Permit trial = b.allow(31000);
  ASSERT_EQ(trial.kind, Kind::kTrial);
  b.record(Outcome::kFailure, trial, 32000);
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.retryAfterSeconds(32000), 30u);
  EXPECT_EQ(b.allow(61999).kind, Kind::kRefused);  // the old timer would allow at 31000
  EXPECT_EQ(b.allow(62000).kind, Kind::kTrial);
  EXPECT_EQ(b.transitions(State::kHalfOpen, State::kOpen), 1u);
}

TEST(CircuitBreaker, OneFailedTrialOfThreeReopensAndLateTrialsAreIgnored) {
  auto config = defaults();
  config.half_open_requests = 3;
  CircuitBreaker b(config);
  openAt(b, 0);
  Permit first = b.allow(30000);
  Permit second = b.allow(30000);
  Permit third = b.allow(30000);
  b.record(Outcome::kSuccess, first, 30001);
  b.record(Outcome::kFailure, second, 30002);
  EXPECT_EQ(b.state(), State::kOpen);
  b.record(Outcome::kSuccess, third, 30003);  // from the finished half-open period
  EXPECT_EQ(b.state(), State::kOpen);
  // The next half-open period starts with three free slots and no successes.
  Permit next[3];
  for (Permit& trial : next) ASSERT_EQ((trial = b.allow(60002)).kind, Kind::kTrial);
  b.record(Outcome::kSuccess, third, 60003);  // still from the old period: ignored
  b.record(Outcome::kSuccess, next[0], 60003);
  b.record(Outcome::kSuccess, next[1], 60003);
  EXPECT_EQ(b.state(), State::kHalfOpen);
  b.record(Outcome::kSuccess, next[2], 60003);
  EXPECT_EQ(b.state(), State::kClosed);
}

TEST(CircuitBreaker, LateOutcomesOfPreOpenRequestsAreIgnored) {
  CircuitBreaker b(defaults());
  std::vector<Permit> in_flight;
  for (int i = 0; i < 4; ++i) in_flight.push_back(b.allow(0));
  openAt(b, 0);
  Permit trial = b.allow(30000);
  ASSERT_EQ(trial.kind, Kind::kTrial);
  b.record(Outcome::kFailure, in_flight[0], 30001);  // would re-open if taken for a trial
  b.record(Outcome::kSuccess, in_flight[1], 30001);  // would close if taken for a trial
  EXPECT_EQ(b.state(), State::kHalfOpen);
  EXPECT_EQ(b.transitions(State::kHalfOpen, State::kOpen), 0u);
  b.record(Outcome::kSuccess, trial, 30002);
  ASSERT_EQ(b.state(), State::kClosed);
  b.record(Outcome::kFailure, in_flight[2], 30003);  // closed again, but a new period
  b.record(Outcome::kFailure, in_flight[3], 30003);
  EXPECT_EQ(b.snapshot(30003).requests, 0u);
}

TEST(CircuitBreaker, RefusedPermitOutcomesAreIgnored) {
  CircuitBreaker b(defaults());
  Permit refused;
  for (int i = 0; i < 40; ++i) b.record(Outcome::kFailure, refused, 0);
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.snapshot(0).requests, 0u);
}

TEST(CircuitBreaker, AbandonReturnsTheTrialSlot) {
  CircuitBreaker b(defaults());
  openAt(b, 0);
  Permit trial = b.allow(30000);
  ASSERT_EQ(trial.kind, Kind::kTrial);
  ASSERT_EQ(b.allow(30000).kind, Kind::kRefused);
  b.abandon(trial);
  EXPECT_EQ(b.state(), State::kHalfOpen);
  EXPECT_EQ(b.snapshot(30000).trials_in_flight, 0u);
  b.abandon(trial);  // twice: there is no second slot to give back
  Permit again = b.allow(30001);
  EXPECT_EQ(again.kind, Kind::kTrial);
  EXPECT_EQ(b.allow(30001).kind, Kind::kRefused);
  b.abandon(Permit{Kind::kAllowed, again.generation});  // only trials hold slots
  EXPECT_EQ(b.allow(30001).kind, Kind::kRefused);
  b.record(Outcome::kSuccess, again, 30002);
  EXPECT_EQ(b.state(), State::kClosed);
}

// abandon() after the trial's outcome was recorded (a caller bug) must not free a slot
// that a succeeded trial keeps.
TEST(CircuitBreaker, AbandonAfterSuccessDoesNotFreeASlot) {
  auto config = defaults();
  config.half_open_requests = 2;
  CircuitBreaker b(config);
  openAt(b, 0);
  Permit first = b.allow(30000);
  b.record(Outcome::kSuccess, first, 30000);
  b.abandon(first);
  EXPECT_EQ(b.allow(30000).kind, Kind::kTrial);
  EXPECT_EQ(b.allow(30000).kind, Kind::kRefused);
}

TEST(CircuitBreaker, AbandonOfAnOldTrialDoesNotFreeANewSlot) {
  CircuitBreaker b(defaults());
  openAt(b, 0);
  Permit old_trial = b.allow(30000);
  Permit failing = old_trial;
  b.record(Outcome::kFailure, failing, 30000);  // re-open at 30000
  ASSERT_EQ(b.allow(60000).kind, Kind::kTrial);
  b.abandon(old_trial);
  EXPECT_EQ(b.allow(60000).kind, Kind::kRefused);
}

TEST(CircuitBreaker, CountsEveryTransition) {
  CircuitBreaker b(defaults());
  openAt(b, 0);                                        // closed → open
  b.record(Outcome::kFailure, b.allow(30000), 30000);  // → half-open → open
  b.record(Outcome::kSuccess, b.allow(60000), 60000);  // → half-open → closed
  recordMany(b, Outcome::kFailure, 20, 60000);         // closed → open
  EXPECT_EQ(b.transitions(State::kClosed, State::kOpen), 2u);
  EXPECT_EQ(b.transitions(State::kOpen, State::kHalfOpen), 2u);
  EXPECT_EQ(b.transitions(State::kHalfOpen, State::kOpen), 1u);
  EXPECT_EQ(b.transitions(State::kHalfOpen, State::kClosed), 1u);
  EXPECT_EQ(b.transitions(State::kClosed, State::kHalfOpen), 0u);
  EXPECT_EQ(b.transitions(State::kOpen, State::kClosed), 0u);
  EXPECT_EQ(b.entered(State::kOpen), 3u);
  EXPECT_EQ(b.entered(State::kHalfOpen), 2u);
  EXPECT_EQ(b.entered(State::kClosed), 1u);
  BreakerSnapshot snap = b.snapshot(60000);
  EXPECT_EQ(snap.state, State::kOpen);
  EXPECT_EQ(snap.closed_to_open, 2u);
  EXPECT_EQ(snap.open_to_half_open, 2u);
  EXPECT_EQ(snap.half_open_to_open, 1u);
  EXPECT_EQ(snap.half_open_to_closed, 1u);
  EXPECT_EQ(snap.entered[static_cast<size_t>(State::kOpen)], 3u);
  EXPECT_STREQ(breakerStateName(snap.state), "open");
  EXPECT_STREQ(breakerStateName(State::kHalfOpen), "half_open");
}

TEST(CircuitBreaker, ClassifiesStatusesFromConfig) {
  CircuitBreaker b(defaults());
  for (int status : {500, 502, 503, 504}) EXPECT_TRUE(b.isFailureStatus(status)) << status;
  for (int status : {200, 404, 429, 501, 0, -1, 600, 1000}) {
    EXPECT_FALSE(b.isFailureStatus(status)) << status;
  }
  auto config = defaults();
  config.error_statuses = {429, 599};
  CircuitBreaker custom(config);
  EXPECT_TRUE(custom.isFailureStatus(429));
  EXPECT_TRUE(custom.isFailureStatus(599));
  EXPECT_FALSE(custom.isFailureStatus(500));
  EXPECT_EQ(custom.outcomeForStatus(429), Outcome::kFailure);
  EXPECT_EQ(custom.outcomeForStatus(200), Outcome::kSuccess);
}

TEST(CircuitBreaker, OwnsTheFourConcurrencyCaps) {
  auto config = defaults();
  config.max_connections = 1;
  config.max_pending = 2;
  config.max_requests = 3;
  config.max_retries = 0;
  CircuitBreaker b(config);
  EXPECT_EQ(b.connectionLimit().max(), 1u);
  EXPECT_EQ(b.pendingLimit().max(), 2u);
  EXPECT_EQ(b.requestLimit().max(), 3u);
  EXPECT_EQ(b.retryLimit().max(), 0u);
  EXPECT_TRUE(b.connectionLimit().tryAcquire());
  EXPECT_FALSE(b.connectionLimit().tryAcquire());
  EXPECT_EQ(b.connectionLimit().overflows(), 1u);
  EXPECT_EQ(b.requestLimit().current(), 0u);  // the caps are independent
}

// Four threads read one shared clock (like the steady clock), so they cross bucket
// boundaries together and a bucket's first outcome races with the others: every outcome
// must be counted exactly once. 1 ms buckets, one window covering the whole run, a new
// bucket every 64 requests: 1000 bucket starts per round, 20 rounds.
TEST(CircuitBreaker, ConcurrentRecordsAddUpExactly) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 16000;
  constexpr int64_t kDurationMs = kThreads * kPerThread / 64;
  auto config = defaults();
  config.volume_threshold = 1u << 30;  // never opens: this test is about counting
  config.window = config::Duration(kDurationMs);
  config.buckets = kDurationMs;
  for (int round = 0; round < 20; ++round) {
    CircuitBreaker b(config);
    std::atomic<int64_t> ticks{0};
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        for (int i = 0; i < kPerThread; ++i) {
          int64_t now = ticks.fetch_add(1) / 64;
          Permit permit = b.allow(now);
          b.record(i % 5 == 0 ? Outcome::kFailure : Outcome::kSuccess, permit, now);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    BreakerSnapshot snap = b.snapshot(kDurationMs - 1);
    ASSERT_EQ(snap.failures, uint64_t{kThreads} * kPerThread / 5) << "round " << round;
    ASSERT_EQ(snap.successes, uint64_t{kThreads} * kPerThread * 4 / 5) << "round " << round;
    ASSERT_EQ(snap.state, State::kClosed);
  }
}

// Threads fail concurrently: the breaker opens exactly once, and concurrent half-open
// admission hands out exactly half_open_requests trials.
TEST(CircuitBreaker, ConcurrentFailuresOpenOnceAndTrialsAreExact) {
  constexpr int kThreads = 4;
  auto config = defaults();
  config.half_open_requests = 3;
  CircuitBreaker b(config);
  std::atomic<int> admitted{0};
  std::atomic<int> trials{0};
  std::barrier phase(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      phase.arrive_and_wait();
      for (int i = 0; i < 2000; ++i) {
        Permit permit = b.allow(1000);
        if (permit.admitted()) admitted.fetch_add(1);
        b.record(Outcome::kFailure, permit, 1000);
      }
      phase.arrive_and_wait();  // nobody moves to half-open while others still fail
      for (int i = 0; i < 2000; ++i) {
        if (b.allow(31000).kind == Kind::kTrial) trials.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(b.transitions(State::kClosed, State::kOpen), 1u);
  EXPECT_EQ(b.transitions(State::kOpen, State::kHalfOpen), 1u);
  EXPECT_EQ(b.state(), State::kHalfOpen);
  EXPECT_EQ(trials.load(), 3);
  EXPECT_GE(admitted.load(), 20);               // it cannot open before 20 failures
  EXPECT_LT(admitted.load(), 2000 * kThreads);  // and then it refused the rest
  EXPECT_EQ(b.refusals(), uint64_t{2000} * kThreads * 2 - admitted.load() - 3);
}

TEST(CircuitBreaker, UnsafeConfigValuesAreMadeSafe) {
  auto config = defaults();
  config.buckets = 0;
  config.half_open_requests = 0;
  config.volume_threshold = 0;
  config.window = config::Duration(0);
  CircuitBreaker b(config);
  EXPECT_EQ(b.state(), State::kClosed);
  recordMany(b, Outcome::kSuccess, 5, 0);
  EXPECT_EQ(b.state(), State::kClosed);  // volume 0 still needs a failure to open
  recordMany(b, Outcome::kFailure, 5, 0);
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.allow(30000).kind, Kind::kTrial);  // zero trials would wedge half-open
}

// A million buckets would make a 1 ms bucket and a 1000 s window; capped at 1000 buckets
// the window stays 10 s (10 ms buckets).
TEST(CircuitBreaker, BucketCountIsCappedAndTheWindowKept) {
  auto config = defaults();
  config.buckets = 1000000;
  CircuitBreaker b(config);
  recordMany(b, Outcome::kFailure, 10, 0);
  recordMany(b, Outcome::kFailure, 5, 9999);
  EXPECT_EQ(b.snapshot(9999).failures, 15u);
  EXPECT_EQ(b.snapshot(10000).failures, 5u);
  recordMany(b, Outcome::kFailure, 5, 9999);
  EXPECT_EQ(b.state(), State::kOpen);
}

// Reload: a successor process's breaker takes over the open state and the rolling window.
TEST(CircuitBreaker, CarriedOpenStateKeepsRefusingUntilTheResetTimeout) {
  CircuitBreaker old_breaker(defaults());
  openAt(old_breaker, 1000);
  CircuitBreaker successor(defaults());
  successor.carryIn(old_breaker.carryOut(5000), 5000);
  EXPECT_EQ(successor.state(), State::kOpen);
  EXPECT_FALSE(successor.allow(5000).admitted());
  EXPECT_EQ(successor.retryAfterSeconds(5000), 26u);  // opened at 1000, 30 s reset
  EXPECT_EQ(successor.allow(31000).kind, Kind::kTrial);
}

TEST(CircuitBreaker, CarriedHalfOpenStateLetsATrialThroughAtOnce) {
  CircuitBreaker old_breaker(defaults());
  openAt(old_breaker, 1000);
  ASSERT_EQ(old_breaker.allow(31000).kind, Kind::kTrial);  // now half-open, trial in flight
  CircuitBreaker successor(defaults());
  successor.carryIn(old_breaker.carryOut(31500), 31500);
  EXPECT_EQ(successor.allow(31500).kind, Kind::kTrial);
}

TEST(CircuitBreaker, CarriedWindowCountsTowardOpening) {
  CircuitBreaker old_breaker(defaults());
  recordMany(old_breaker, Outcome::kFailure, 10, 1000);
  recordMany(old_breaker, Outcome::kSuccess, 9, 2000);
  CircuitBreaker successor(defaults());
  successor.carryIn(old_breaker.carryOut(2500), 2500);
  EXPECT_EQ(successor.snapshot(2500).failures, 10u);
  EXPECT_EQ(successor.snapshot(2500).successes, 9u);
  recordMany(successor, Outcome::kFailure, 1, 3000);  // the 20th request: 11 of 20 failed
  EXPECT_EQ(successor.state(), State::kOpen);
}

TEST(CircuitBreaker, CarriedWindowDropsWhatAgedOutMeanwhile) {
  CircuitBreaker old_breaker(defaults());
  recordMany(old_breaker, Outcome::kFailure, 10, 1000);
  recordMany(old_breaker, Outcome::kFailure, 5, 8000);
  CircuitBreaker successor(defaults());
  successor.carryIn(old_breaker.carryOut(8000), 12000);  // the 1000 ms bucket left the window
  EXPECT_EQ(successor.snapshot(12000).failures, 5u);
  recordMany(successor, Outcome::kFailure, 14, 12000);
  EXPECT_EQ(successor.state(), State::kClosed);  // 19 in the window
  recordMany(successor, Outcome::kFailure, 1, 12000);
  EXPECT_EQ(successor.state(), State::kOpen);
}

}  // namespace
}  // namespace sg::resilience
