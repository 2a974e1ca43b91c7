#pragma once
// Request collapsing (nginx proxy_cache_lock, Varnish's waiting list): at most one
// upstream fetch per primary key at a time, across all worker threads. The first miss on a
// key claims it and fetches; later misses on the same key wait until the owner releases
// it, then look in the cache again.
//
// Waiters are named by (FillWaiter*, ticket) instead of by pointer to a session, so a
// waiter that went away (closed, timed out) costs nothing: its worker ignores a ticket it no
// longer knows. notify() is called after the shard lock is dropped.
//
// A release says what became of the fetch:
// - kStored: the response is in the cache; waiters look again (and claim again if their
//   variant is not the one stored).
// - kNotStored: the response may not be stored (private, no-store, too large...). Waiters
//   go to the upstream on their own, and for kPassWindow later misses on the key do too
//   (Varnish's hit-for-miss) instead of queueing behind one fetch at a time.
// - kFailed: the upstream failed (5xx, refused, timeout, breaker open). Waiters go on their
//   own (those holding a stale copy may serve it under stale-if-error); nothing is recorded.
// - kAborted: the owner went away before the end (its client disconnected). Waiters claim
//   again, so one of them fetches.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace sg::cache {

class FillWaiter {
 public:
  // Thread-safe: the fill a waiter queued for ended with `outcome` (FillLocks::Outcome).
  virtual void notify(uint64_t ticket, uint8_t outcome) = 0;

 protected:
  ~FillWaiter() = default;
};

class FillLocks {
 public:
  enum class Claim : uint8_t {
    kOwner,  // fetch, then release()
    kWait,   // queued: notify() comes when the owner releases (or cancel() first)
    kBusy,   // someone else fetches and no waiter was given: not queued
    kPass,   // the key was recently found not storable: fetch without collapsing
  };
  enum class Outcome : uint8_t { kStored, kNotStored, kFailed, kAborted };

  static constexpr std::chrono::milliseconds kPassWindow{30'000};
  // Pass markers kept per shard at most (oldest dropped first beyond it).
  static constexpr size_t kMaxPassMarkers = 4096;

  FillLocks();
  ~FillLocks();
  FillLocks(const FillLocks&) = delete;
  FillLocks& operator=(const FillLocks&) = delete;

  // Claims `key` at monotonic time `now_ms`. With `waiter` null nothing is queued (a
  // stale-while-revalidate refresh only starts when nobody fetches already).
  Claim claim(std::string_view key, int64_t now_ms, FillWaiter* waiter, uint64_t ticket);
  // The owner's fetch ended. Every waiter is notified once, then forgotten.
  void release(std::string_view key, Outcome outcome, int64_t now_ms);
  // A waiter leaves before being notified (timeout, closed). False when it was not queued
  // any more (the notification is on its way: ignore it).
  bool cancel(std::string_view key, FillWaiter* waiter, uint64_t ticket);

  size_t fillsInFlight() const;
  size_t waiting() const;

 private:
  struct Shard;
  Shard& shardFor(std::string_view key) const;
  size_t sumOverShards(size_t Shard::*count) const;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace sg::cache
