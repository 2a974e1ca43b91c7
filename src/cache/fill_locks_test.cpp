// Request collapsing: owner / wait / busy / pass claims, notification once and outside the
// lock, cancel, the pass window and its bound, and many threads on a few keys.
#include "cache/fill_locks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sg::cache {
namespace {

using Claim = FillLocks::Claim;
using Outcome = FillLocks::Outcome;

constexpr int64_t kWindowMs = FillLocks::kPassWindow.count();

using Calls = std::vector<std::pair<uint64_t, uint8_t>>;  // (ticket, outcome)

// Records every notification; `on_notify` runs inside notify() (to re-enter FillLocks).
class RecordingWaiter final : public FillWaiter {
 public:
  void notify(uint64_t ticket, uint8_t outcome) override {
    {
      std::lock_guard lock(mutex_);
      calls_.emplace_back(ticket, outcome);
    }
    if (on_notify) on_notify(ticket, outcome);
  }

  Calls calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

  std::function<void(uint64_t, uint8_t)> on_notify;

 private:
  mutable std::mutex mutex_;
  Calls calls_;
};

uint8_t code(Outcome outcome) { return static_cast<uint8_t>(outcome); }

TEST(FillLocks, OwnerThenWaitOrBusy) {
  FillLocks locks;
  RecordingWaiter waiter;
  EXPECT_EQ(locks.claim("k", 0, &waiter, 1), Claim::kOwner);
  EXPECT_EQ(locks.claim("k", 0, &waiter, 2), Claim::kWait);
  EXPECT_EQ(locks.claim("k", 0, nullptr, 0), Claim::kBusy);  // not queued
  EXPECT_EQ(locks.claim("other", 0, nullptr, 0), Claim::kOwner);
  EXPECT_EQ(locks.fillsInFlight(), 2u);
  EXPECT_EQ(locks.waiting(), 1u);
  locks.release("k", Outcome::kStored, 0);
  locks.release("other", Outcome::kStored, 0);
  EXPECT_EQ(locks.fillsInFlight(), 0u);
  EXPECT_EQ(locks.waiting(), 0u);
  EXPECT_EQ(waiter.calls(), (Calls{{2, 0}}));
  EXPECT_EQ(locks.claim("k", 0, &waiter, 3), Claim::kOwner);  // free again
}

TEST(FillLocks, ReleaseNotifiesEachWaiterOnceOutsideTheLock) {
  for (Outcome outcome :
       {Outcome::kStored, Outcome::kNotStored, Outcome::kFailed, Outcome::kAborted}) {
    SCOPED_TRACE(static_cast<int>(outcome));
    FillLocks locks;
    RecordingWaiter plain;
    RecordingWaiter reentrant;  // claims again from inside notify(): would deadlock under it
    std::vector<Claim> reclaims;
    reentrant.on_notify = [&](uint64_t ticket, uint8_t) {
      reclaims.push_back(locks.claim("k", 10, &reentrant, ticket + 100));
    };
    ASSERT_EQ(locks.claim("k", 10, nullptr, 0), Claim::kOwner);
    ASSERT_EQ(locks.claim("k", 10, &plain, 1), Claim::kWait);
    ASSERT_EQ(locks.claim("k", 10, &reentrant, 2), Claim::kWait);
    ASSERT_EQ(locks.claim("k", 10, &plain, 3), Claim::kWait);
    locks.release("k", outcome, 10);
    EXPECT_EQ(plain.calls(), (Calls{{1, code(outcome)}, {3, code(outcome)}}));
    EXPECT_EQ(reentrant.calls(), (Calls{{2, code(outcome)}}));
    // After kNotStored the key passes; otherwise the first one back owns the next fetch.
    const Claim expected = outcome == Outcome::kNotStored ? Claim::kPass : Claim::kOwner;
    EXPECT_EQ(reclaims, std::vector<Claim>{expected});
    EXPECT_EQ(locks.waiting(), 0u);
    EXPECT_EQ(locks.fillsInFlight(), expected == Claim::kOwner ? 1u : 0u);
    locks.release("k", Outcome::kStored, 10);  // a second release only ends the new fill
    EXPECT_EQ(plain.calls().size(), 2u);
  }
}

TEST(FillLocks, CancelledWaiterIsNotNotified) {
  FillLocks locks;
  RecordingWaiter waiter;
  ASSERT_EQ(locks.claim("k", 0, nullptr, 0), Claim::kOwner);
  ASSERT_EQ(locks.claim("k", 0, &waiter, 1), Claim::kWait);
  ASSERT_EQ(locks.claim("k", 0, &waiter, 2), Claim::kWait);
  EXPECT_FALSE(locks.cancel("k", &waiter, 7));      // never queued
  EXPECT_FALSE(locks.cancel("other", &waiter, 1));  // another key
  EXPECT_TRUE(locks.cancel("k", &waiter, 1));
  EXPECT_FALSE(locks.cancel("k", &waiter, 1));  // already gone
  EXPECT_EQ(locks.waiting(), 1u);
  locks.release("k", Outcome::kFailed, 0);
  EXPECT_EQ(waiter.calls(), (Calls{{2, code(Outcome::kFailed)}}));
  EXPECT_FALSE(locks.cancel("k", &waiter, 2));  // notified already
}

TEST(FillLocks, ReleaseWithoutAFillDoesNothing) {
  FillLocks locks;
  RecordingWaiter waiter;
  locks.release("none", Outcome::kStored, 0);
  ASSERT_EQ(locks.claim("k", 0, nullptr, 0), Claim::kOwner);
  locks.release("k", Outcome::kNotStored, 0);
  locks.release("k", Outcome::kStored, 0);  // a marker, not a fill: it stays
  EXPECT_EQ(locks.claim("k", 1, &waiter, 1), Claim::kPass);
  EXPECT_EQ(locks.fillsInFlight(), 0u);
  EXPECT_EQ(locks.waiting(), 0u);
  EXPECT_TRUE(waiter.calls().empty());
}

TEST(FillLocks, NotStoredPassesForTheWindowOnly) {
  FillLocks locks;
  RecordingWaiter waiter;
  const int64_t start = 5'000;
  for (int round = 0; round < 3; ++round) {  // the same key marked again after expiry
    const int64_t now = start + round * kWindowMs;
    ASSERT_EQ(locks.claim("k", now, nullptr, 0), Claim::kOwner);
    locks.release("k", Outcome::kNotStored, now);
    EXPECT_EQ(locks.claim("k", now, &waiter, 1), Claim::kPass);  // not queued either
    EXPECT_EQ(locks.claim("k", now + kWindowMs - 1, nullptr, 0), Claim::kPass);
    EXPECT_EQ(locks.waiting(), 0u);
    EXPECT_EQ(locks.fillsInFlight(), 0u);
  }
  const int64_t expiry = start + 3 * kWindowMs;
  EXPECT_EQ(locks.claim("k", expiry, &waiter, 2), Claim::kOwner);
  EXPECT_EQ(locks.claim("k", expiry, &waiter, 3), Claim::kWait);  // collapsing again
  locks.release("k", Outcome::kStored, expiry);
  EXPECT_EQ(locks.claim("k", expiry, nullptr, 0), Claim::kOwner);  // no marker left
  EXPECT_EQ(waiter.calls().size(), 1u);
}

TEST(FillLocks, PassMarkersAreBoundedOldestFirst) {
  FillLocks locks;
  // Far more markers than all shards may keep together, all live (same instant).
  const size_t keys = 20 * FillLocks::kMaxPassMarkers;
  const auto key = [](size_t i) { return "example.com/" + std::to_string(i); };
  for (size_t i = 0; i < keys; ++i) {
    ASSERT_EQ(locks.claim(key(i), 0, nullptr, 0), Claim::kOwner);
    locks.release(key(i), Outcome::kNotStored, 0);
  }
  EXPECT_EQ(locks.fillsInFlight(), 0u);
  // The first markers were dropped (their keys collapse again), the last ones were kept.
  EXPECT_EQ(locks.claim(key(0), 1, nullptr, 0), Claim::kOwner);
  EXPECT_EQ(locks.claim(key(keys - 1), 1, nullptr, 0), Claim::kPass);
  size_t passing = 0;
  for (size_t i = 0; i < keys; ++i) passing += locks.claim(key(i), 1, nullptr, 0) == Claim::kPass;
  EXPECT_LE(passing, 16 * FillLocks::kMaxPassMarkers);  // the shards' bound (16 shards)
  EXPECT_GE(passing, FillLocks::kMaxPassMarkers);
}

// A worker's waiter: notifications by ticket, and a wait for one of them.
class ThreadWaiter final : public FillWaiter {
 public:
  void notify(uint64_t ticket, uint8_t) override {
    std::lock_guard lock(mutex_);
    ++notified_[ticket];
    changed_.notify_all();
  }
  void waitFor(uint64_t ticket) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return notified_.contains(ticket); });
  }
  std::map<uint64_t, int> notified() const {
    std::lock_guard lock(mutex_);
    return notified_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, int> notified_;
};

// Threads claiming a few keys at random: owners release with a random outcome, waiters
// wait for their notification or cancel. Each thread only touches its own slots below.
struct Crowd {
  static constexpr int kThreads = 8;
  static constexpr int kClaims = 4000;
  static constexpr size_t kKeys = 4;

  FillLocks locks;
  std::atomic<int> owners[kKeys] = {};
  std::atomic<bool> two_owners{false};
  std::atomic<int> owned{0};
  std::atomic<int64_t> clock_ms{0};  // advances fast, so pass markers come and go
  std::vector<ThreadWaiter> waiters = std::vector<ThreadWaiter>(kThreads);
  std::vector<std::set<uint64_t>> queued = std::vector<std::set<uint64_t>>(kThreads);
  std::vector<std::set<uint64_t>> cancelled = std::vector<std::set<uint64_t>>(kThreads);

  void run(int t) {
    std::mt19937 rng(t);
    for (int i = 0; i < kClaims; ++i) {
      const size_t k = rng() % kKeys;
      const std::string key(1, static_cast<char>('a' + k));
      const uint64_t ticket = (uint64_t(t) << 32) | uint64_t(i);
      const Claim claim = locks.claim(key, clock_ms.fetch_add(50), &waiters[t], ticket);
      if (claim == Claim::kOwner) {
        ++owned;
        if (owners[k].fetch_add(1) != 0) two_owners = true;
        if (rng() % 4 == 0) std::this_thread::yield();  // let waiters queue up
        owners[k].fetch_sub(1);  // before release: the next owner may come at once
        locks.release(key, static_cast<Outcome>(rng() % 4), clock_ms.load());
      } else if (claim == Claim::kWait) {
        queued[t].insert(ticket);
        if (rng() % 3 == 0 && locks.cancel(key, &waiters[t], ticket)) {
          cancelled[t].insert(ticket);
        } else {
          waiters[t].waitFor(ticket);
        }
      }
    }
  }
};

TEST(FillLocks, ManyThreadsOneOwnerPerKeyAndEveryWaiterAnsweredOnce) {
  Crowd crowd;
  std::vector<std::thread> threads;
  for (int t = 0; t < Crowd::kThreads; ++t) threads.emplace_back([&, t] { crowd.run(t); });
  for (std::thread& thread : threads) thread.join();
  EXPECT_FALSE(crowd.two_owners);
  EXPECT_GT(crowd.owned.load(), 0);
  EXPECT_EQ(crowd.locks.fillsInFlight(), 0u);
  EXPECT_EQ(crowd.locks.waiting(), 0u);
  size_t queued = 0;
  size_t cancelled = 0;
  for (int t = 0; t < Crowd::kThreads; ++t) {
    queued += crowd.queued[t].size();
    cancelled += crowd.cancelled[t].size();
    // Exactly once per queued ticket not cancelled, and nothing else.
    std::map<uint64_t, int> expected;
    for (uint64_t ticket : crowd.queued[t]) {
      if (!crowd.cancelled[t].contains(ticket)) expected[ticket] = 1;
    }
    EXPECT_EQ(crowd.waiters[t].notified(), expected) << "thread " << t;
  }
  EXPECT_GT(queued, cancelled);  // both paths were taken
  EXPECT_GT(cancelled, 0u);
}

}  // namespace
}  // namespace sg::cache
