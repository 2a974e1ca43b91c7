#pragma once
// Servers added and removed at run time (upstream key `discovery`, admin API, registry).
//
// Workers index everything by server index (balancers, idle pools, the tried bitmap, metrics),
// so an upstream with `discovery` reserves `max_servers` slots after its static servers at
// start-up and indices never move. A vacant slot is out of rotation (OutReason::kVacant).
// The slot's identity (address, sticky id, metric pointers) is plain data written only
// while no worker can read it:
// - add() fills a free slot and publishes it with a release store of its admin state;
// - remove() marks it kRemoving (no new requests, sticky clients included) and bumps
//   version(); each worker acknowledges a version on its 1 s maintenance tick after
//   closing its idle connections to slots out of rotation;
// - maintain() (worker 0's tick) vacates a removing slot once every worker has seen the
//   removal and no connection to it is open (requests in flight have finished), and frees a
//   vacant slot for reuse once every worker has seen the vacancy.
// Static upstreams have no ServerSlots and pay nothing.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/discovery_config.h"
#include "metrics/metrics.h"
#include "net/address.h"

namespace sg::proxy {

struct SharedServer;
struct SharedUpstream;

class ServerSlots {
 public:
  enum class AddResult { kAdded, kDuplicate, kNoFreeSlot };
  enum class RemoveResult { kRemoving, kAlreadyRemoving, kNotFound, kStatic };
  struct Entry {
    std::string address;
    uint32_t weight = 0;
    std::string state;  // outReasonName, or "removing"
    bool discovered = false;
  };
  // Called with the slot's server when it enters rotation / leaves it for good (the active
  // health checker picks added servers up and drops vacated ones). Must not call back in.
  using Hook = std::function<void(SharedServer&)>;

  // Appends config.max_servers vacant slots to upstream.servers.
  ServerSlots(SharedUpstream& upstream, const config::DiscoveryConfig& config,
              metrics::Registry& registry, uint32_t workers);
  ~ServerSlots();
  ServerSlots(const ServerSlots&) = delete;
  ServerSlots& operator=(const ServerSlots&) = delete;

  // Thread-safe. Added servers start in slow start (the balancer sees them come up).
  AddResult add(const net::Address& address, uint32_t weight);
  // Thread-safe. The server drains, then its slot is vacated (see above).
  RemoveResult remove(std::string_view address);
  // Thread-safe: the servers present (static and discovered), in slot order.
  std::vector<Entry> list(int64_t now_ms);
  // Held by readers outside the workers (admin thread) while they read servers' identity.
  std::unique_lock<std::mutex> lock() { return std::unique_lock(mutex_); }

  // Servers that may take new requests: static ones and filled slots not being removed.
  size_t present() const { return present_.load(std::memory_order_relaxed); }
  size_t freeSlots();
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // Worker `worker` has applied `version` (closed idle connections of slots out of rotation).
  void acknowledge(uint32_t worker, uint64_t version);
  // Vacates drained slots and frees vacant ones that every worker has seen; worker 0's tick.
  void maintain();
  void setHooks(Hook added, Hook removed);

 private:
  enum class Phase : uint8_t { kFree, kActive, kRemoving, kVacated };
  struct Slot {
    Phase phase = Phase::kFree;
    uint64_t since_version = 0;  // version at which it entered kRemoving / kVacated
  };
  // Per-address metric series: registered once, kept when the address goes and comes back.
  struct AddressMetrics;
  AddressMetrics& metricsFor(const std::string& address);
  void fill(SharedServer& server, const net::Address& address, uint32_t weight);
  void vacate(size_t slot);
  uint64_t minAcknowledged() const;
  int findLocked(std::string_view address) const;

  SharedUpstream& upstream_;
  const config::DiscoveryConfig& config_;
  metrics::Registry& registry_;
  size_t first_;  // index of the first slot in upstream.servers
  std::mutex mutex_;
  std::vector<Slot> slots_;
  std::map<std::string, std::unique_ptr<AddressMetrics>, std::less<>> metrics_;
  std::unique_ptr<std::atomic<uint64_t>[]> acknowledged_;  // per worker
  uint32_t workers_;
  std::atomic<uint64_t> version_{1};
  std::atomic<size_t> present_{0};
  Hook added_;
  Hook removed_;
};

}  // namespace sg::proxy
