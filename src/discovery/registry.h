#pragma once
// The service registry: services -> live instances, registered, heartbeated and deregistered
// through the admin API, and evicted when their heartbeat is older than their ttl (or by
// address when an active health check finds one dead). Thread-safe: the admin thread writes,
// the registry thread evicts and syncs, consumers read snapshots from any thread.
//
// Consumers (upstreams with `discovery: { registry: SERVICE }`) learn of changes either by a
// listener called after each change of a service, or by polling version() and reading a
// snapshot(). A version counts membership and field changes; a heartbeat is not a change.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/clock.h"
#include "discovery/instance.h"
#include "metrics/metrics.h"

namespace sg::discovery {

inline constexpr size_t kMaxServices = 1000;
inline constexpr size_t kMaxInstancesPerService = 1000;

// Where local changes go to be shared with other gateway instances (registry_sync.h). Called
// with the registry's lock held: it only records which instance changed.
class ChangeSink {
 public:
  enum class Kind : uint8_t { kPut, kHeartbeat, kRemove };
  virtual void onLocalChange(const std::string& service, const std::string& id, Kind kind) = 0;

 protected:
  ~ChangeSink() = default;
};

struct ServiceSnapshot {
  std::string name;
  uint64_t version = 0;             // this service's; 0 when it never had an instance
  std::vector<Instance> instances;  // by id
};

struct ServiceSummary {
  std::string name;
  size_t instances = 0;
  uint64_t version = 0;
};

class Registry {
 public:
  // Runs after the change, outside the registry's lock, on the thread that made it (the admin
  // or the registry thread). It may read the registry, but not subscribe or unsubscribe.
  using Listener = std::function<void(const std::string& service, uint64_t version)>;
  enum class PutResult : uint8_t { kCreated, kReplaced, kFull };
  enum class EvictReason : uint8_t { kTtl, kHealthCheck };

  // `metrics` may be null (tests); otherwise per-service gauges and counters go there.
  Registry(const Clock& clock, metrics::Registry* metrics);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  PutResult put(const std::string& service, const std::string& id, const InstanceSpec& spec);
  // False when the instance is unknown (never registered, deregistered or evicted).
  bool heartbeat(const std::string& service, const std::string& id);
  bool remove(const std::string& service, const std::string& id);
  // Evicts every instance whose last heartbeat is older than its ttl (when local eviction is
  // on); returns how many.
  size_t evictExpired();
  // Evicts the instances at `address` (of `service`, or of every service when empty): an
  // active health check found it dead. Returns how many.
  size_t evictAddress(const net::Address& address, std::string_view service = {});

  std::optional<Instance> find(const std::string& service, const std::string& id) const;
  ServiceSnapshot snapshot(const std::string& service) const;
  std::vector<ServiceSummary> services() const;  // those with at least one instance, by name
  uint64_t version() const;                      // bumped by every change of any service

  uint64_t subscribe(Listener listener);  // returns a token for unsubscribe
  void unsubscribe(uint64_t token);

  const Clock& clock() const { return clock_; }

  // Shared mode (registry_sync.h). The sink sees every local change. With local eviction off,
  // expiry is decided by Redis and arrives through applyRemote.
  void setChangeSink(ChangeSink* sink);
  void setLocalEviction(bool enabled);
  // A counter of local changes: applyRemote(..., issued_at) ignores a service changed locally
  // (put, removal, eviction; not a heartbeat) after `issued_at`: the read may predate it.
  uint64_t localWriteSeq() const;
  // Replaces the service's instances with Redis's; `expired` are ids Redis's copy dropped
  // because their heartbeat key expired (counted as evictions here). False when skipped.
  bool applyRemote(const std::string& service, std::vector<Instance> instances,
                   const std::vector<std::string>& expired, uint64_t issued_at);
  std::vector<Instance> allInstances(std::vector<std::string>* services) const;

 private:
  struct ServiceMetrics {
    metrics::Gauge* instances = nullptr;
    metrics::Counter* registrations = nullptr;
    metrics::Counter* heartbeats = nullptr;
    metrics::Counter* ttl_evictions = nullptr;
    metrics::Counter* health_evictions = nullptr;
  };
  struct Service {
    std::map<std::string, Instance> instances;
    uint64_t version = 0;
    uint64_t last_local_write = 0;
    int64_t reported_count = 0;  // what the instances gauge holds
    ServiceMetrics metrics;
  };
  using Changed = std::vector<std::pair<std::string, uint64_t>>;

  Service& serviceLocked(const std::string& name);
  void bumpLocked(const std::string& name, Service& service, Changed* changed);
  void noteLocalLocked(const std::string& name, const std::string& id, Service& service,
                       ChangeSink::Kind kind);
  void evictLocked(const std::string& name, Service& service, const std::string& id,
                   EvictReason reason);
  void notify(const Changed& changed);

  const Clock& clock_;
  metrics::Registry* metrics_;
  mutable std::mutex mutex_;
  std::map<std::string, Service> services_;
  uint64_t version_ = 0;
  uint64_t local_seq_ = 0;
  bool local_eviction_ = true;
  ChangeSink* sink_ = nullptr;
  std::mutex listeners_mutex_;
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_token_ = 1;
};

}  // namespace sg::discovery
