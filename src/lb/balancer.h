#pragma once
// Balancing algorithms over one upstream's servers. Each worker owns its own Balancer
// (shared-nothing), so pick() needs no locks; it allocates nothing and never throws.
//
// What every algorithm shares (lb/candidates.h does it once for all of them):
// - Candidates. The caller says per pick which servers are healthy (health checks,
//   passive marking, ejection, admin state) and which were already tried for this
//   request (`excluded`). In order, the first rule that leaves a non-excluded server wins:
//   1. healthy primaries, when they are at least panic_threshold% of the primaries;
//   2. when some backup is healthy (no panic then): the healthy primaries if any can be
//      picked, else the healthy backups;
//   3. panic (as Envoy): every primary regardless of health (every backup when there are
//      no primaries); lastPickPanicked() then says so. panic_threshold 0 disables it.
//   Servers an operator disabled or drained are passed as `removed`: panic never brings
//   them back and they do not count toward the threshold.
//   An excluded server is never picked; when nothing is left, pick() returns -1.
// - Slow start: a server seen going from unhealthy to healthy between picks weighs
//   weight x max(10%, elapsed / slow_start) until slow_start has elapsed. Servers healthy
//   from the start, and servers merely excluded for a retry, do not slow-start.
// - Bounded loads (hash_balance_factor, for ip_hash / hash / ring_hash / maglev): a server
//   takes the request only if in_flight + 1 <= ceil(factor% x (L + 1) / n), L being the
//   total in flight over the n candidates; otherwise the key walks on.
// - Weights: 0 counts as 1; values above kMaxWeight are clamped to it.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sg::lb {

enum class Algorithm {
  kRoundRobin,          // rotation in index order, weights ignored
  kWeightedRoundRobin,  // nginx smooth weighted round robin
  kLeastConn,           // fewest in_flight / weight; ties by weighted round robin
  kLeastRequest,        // power of two (weighted) random choices
  kRandom,              // weighted random
  kIpHash,              // as kHash; the caller hashes the client address
  kHash,                // map-based hash: cheap, not consistent
  kRingHash,            // ketama-style consistent hashing ring
  kMaglev,              // Maglev consistent hashing table (65537 entries)
};

inline constexpr uint32_t kMaxWeight = 1'000'000;

struct ServerSpec {
  uint32_t weight = 1;
  bool backup = false;
  // Stable identity (e.g. "127.0.0.1:3001") placing the server on hash rings, so that every
  // worker and every gateway instance maps keys alike. Empty: "#<index>" is used.
  std::string key;
};

// round_robin's rotation position, one per tier (primaries, backups), each on its own cache
// line. Shared by every worker's balancer of one upstream, consecutive requests take
// consecutive servers whichever worker serves them (a per-worker position lets three requests
// over two workers give a, a, b). It lives as long as the upstream, longer than its balancers.
struct SharedRotation {
  struct alignas(64) Cursor {
    std::atomic<uint32_t> next{0};  // position in the tier's group to try first
  };
  std::array<Cursor, 2> tiers;
};

struct BalancerOptions {
  Algorithm algorithm = Algorithm::kRoundRobin;
  uint32_t ring_size = 160;          // ring_hash: ring points per unit of weight
  uint32_t hash_balance_factor = 0;  // percent, e.g. 125; 0 = off; 1..99 act as 100
  int64_t slow_start_ms = 0;         // 0 = off
  uint32_t panic_threshold = 50;     // percent of primaries healthy; 0 disables panic mode
  uint64_t seed = 0;                 // random number seed (each worker passes its own)
  // round_robin: the upstream's rotation; null = the balancer's own.
  SharedRotation* rotation = nullptr;
};

struct PickContext {
  // healthy[i] != 0: server i is in rotation. Missing entries count as unhealthy.
  std::span<const uint8_t> healthy;
  // excluded[i] != 0: already tried for this request. May be empty (= none).
  std::span<const uint8_t> excluded;
  // removed[i] != 0: taken out by the operator (disabled, draining): never picked, and not
  // counted among the primaries for the panic threshold. May be empty (= none).
  std::span<const uint8_t> removed;
  // Requests in flight per server across all workers. May be empty (= all zero).
  std::span<const uint32_t> in_flight;
  uint64_t hash = 0;      // hashKey() of the request key, for the hash algorithms
  bool has_hash = false;  // false: the hash algorithms pick at (weighted) random
  int64_t now_ms = 0;     // monotonic milliseconds, for slow start
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Index of the chosen server, or -1 when none can be picked.
  virtual int pick(const PickContext& context) noexcept = 0;
  // Run-time weight change (admin API). Rebuilds hash tables when the weight really changes
  // (not for the hot path); the same weight again, or an out-of-range index, is a no-op.
  virtual void setWeight(uint32_t server, uint32_t weight) = 0;

  // Whether the last pick() chose in panic mode (rule 3 above), and how many did so far.
  bool lastPickPanicked() const noexcept { return last_pick_panicked_; }
  uint64_t panicPicks() const noexcept { return panic_picks_; }

 protected:
  void notePick(bool panicked) noexcept {
    last_pick_panicked_ = panicked;
    panic_picks_ += panicked ? 1 : 0;
  }

 private:
  bool last_pick_panicked_ = false;
  uint64_t panic_picks_ = 0;
};

std::unique_ptr<Balancer> makeBalancer(const BalancerOptions& options,
                                       std::vector<ServerSpec> servers);

// The hash the proxy turns a request key (client address, header, cookie...) into for
// PickContext::hash, and the hash that places servers on rings: MurmurHash64A with a
// fixed seed. Stable across runs, workers and instances.
uint64_t hashKey(std::string_view key) noexcept;

}  // namespace sg::lb
