#pragma once
// What the lag monitor (lag_monitor.h) knows of one server of a split database, its primary or
// one of its replicas: up or down (rise/fall over its probes), in recovery or not, and how far
// its replay is behind the primary. Written by worker 0, read by every worker as it routes.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace sg::pg {

// One server's name in /metrics' `server` label, SHOW SERVERS' role and log lines: "primary" or
// "replicaN" (routing.replicas[N - 1]); a sharded database's are "shardS/primary" and
// "shardS/replicaN".
inline std::string serverRoleName(bool sharded, uint32_t shard, uint32_t backend) {
  std::string role = backend == 0 ? "primary" : "replica" + std::to_string(backend);
  return sharded ? "shard" + std::to_string(shard) + "/" + role : role;
}

struct ServerHealth {
  enum class State : uint8_t {
    kUnknown,  // not probed yet (no client has logged in, so no credentials): usable
    kUp,
    kDown,  // `fall` probes failed in a row; back after `rise` good ones
  };
  std::atomic<State> state{State::kUnknown};
  // Replay behind the primary beyond max_lag or max_lag_bytes: no reads until it catches up.
  std::atomic<bool> lagging{false};
  std::atomic<bool> in_recovery{false};
  // Its WAL position at the last probe: replayed (a standby) or written (the primary).
  std::atomic<uint64_t> lsn{0};
  std::atomic<int64_t> lag_ms{-1};  // -1: not known
  // A standby's own view: now - its last replayed commit's time (-1: none replayed yet).
  std::atomic<int64_t> replay_age_ms{-1};
  std::atomic<int64_t> lag_bytes{-1};  // -1: not known
  // A connection or login to it failed: no reads until then (steady clock, ms).
  std::atomic<int64_t> unreachable_until_ms{0};
  // Kept by the primary's entry only (primary_discovery): the replica acting as primary since
  // it was promoted (N: routing.replicas[N - 1]; 0: the configured primary).
  std::atomic<uint32_t> acting_primary{0};
  std::atomic<uint64_t> probes_passed{0};
  std::atomic<uint64_t> probes_failed{0};

  bool down() const { return state.load(std::memory_order_relaxed) == State::kDown; }
  // May take reads now; `needed_lsn`: the reader's own last write (0: none to wait for).
  bool readable(int64_t now_ms, uint64_t needed_lsn) const {
    return !down() && !lagging.load(std::memory_order_relaxed) &&
           now_ms >= unreachable_until_ms.load(std::memory_order_relaxed) &&
           lsn.load(std::memory_order_relaxed) >= needed_lsn;
  }
  std::string lastError() const {
    std::lock_guard lock(mutex_);
    return last_error_;
  }
  void setLastError(std::string error) {
    std::lock_guard lock(mutex_);
    last_error_ = std::move(error);
  }
  static const char* stateName(State state) {
    return state == State::kUp ? "up" : state == State::kDown ? "down" : "unknown";
  }

 private:
  mutable std::mutex mutex_;
  std::string last_error_;
};

}  // namespace sg::pg
