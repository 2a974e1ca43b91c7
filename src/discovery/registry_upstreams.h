#pragma once
// Upstreams with `discovery: { registry: SERVICE }` follow the registry: a registered
// instance becomes a server of the upstream (a run-time slot, in slow start), one that is
// deregistered or evicted is removed (it drains: requests in flight finish), a changed weight
// is applied. When the upstream has an active health check, an instance whose server fails it
// is evicted from the registry at once (it must register again), as the playbooks' registry
// does.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "discovery/registry.h"
#include "proxy/shared_state.h"

namespace sg::discovery {

class RegistryUpstreams {
 public:
  // Binds every upstream whose discovery names a registry service; nothing when none does.
  RegistryUpstreams(Registry& registry, proxy::SharedState& shared);
  ~RegistryUpstreams();  // stop()
  RegistryUpstreams(const RegistryUpstreams&) = delete;
  RegistryUpstreams& operator=(const RegistryUpstreams&) = delete;

  // Applies the registry now, then follows its changes; a thread re-applies it and evicts
  // failed instances every `kResyncMs` (a server still draining cannot be added back at once,
  // and a slot freed later lets a waiting instance in).
  void start();
  void stop();
  // One pass: applies the registry to every bound upstream and evicts failed instances.
  void syncAll();

  static constexpr int64_t kResyncMs = 250;

 private:
  struct Binding {
    proxy::SharedUpstream* upstream;
    std::string service;
    // The servers the registry put there: only those leave with their instances (a server
    // added through the admin API stays).
    std::set<std::string> from_registry;
  };
  void sync(Binding& binding);
  void addServer(Binding& binding, const std::string& text, const net::Address& address,
                 uint32_t weight);
  void evictFailed(const Binding& binding);
  void setWeight(proxy::SharedUpstream& upstream, const std::string& address, uint32_t weight);
  void run();

  Registry& registry_;
  std::vector<Binding> bindings_;
  std::mutex sync_mutex_;  // one sync at a time (syncAll's callers)
  uint64_t listener_token_ = 0;
  std::mutex stop_mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;
  bool changed_ = false;  // the registry changed since the last pass
  std::thread thread_;
};

}  // namespace sg::discovery
