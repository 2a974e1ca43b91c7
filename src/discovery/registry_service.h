#pragma once
// The registry as the gateway runs it: the Registry, and a thread of its own whose event loop
// evicts expired instances every 250 ms and, with a top-level `store`, keeps the registry in
// step with Redis (registry_sync.h) so every gateway instance sees the same one.
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "config/config.h"
#include "discovery/clock.h"
#include "discovery/registry.h"
#include "metrics/metrics.h"
#include "net/event_loop.h"
#include "store/store_stats.h"

namespace sg::discovery {

class RegistrySync;

inline constexpr int64_t kTickMs = 250;  // eviction check and Redis sync period

// What /health says of the shared registry.
struct SharedStatus {
  bool shared = false;       // a store is configured
  bool synced = false;       // the last sync round with Redis succeeded
  int64_t last_sync_ms = 0;  // wall clock of the last successful round; 0 never
};

class RegistryService final : public net::TimerHandler {
 public:
  // `store_stats` is the store's (counts the sync's commands); null when there is no store.
  RegistryService(const config::StoreConfig& store, metrics::Registry& metrics,
                  store::StoreStats* store_stats,
                  std::unique_ptr<Clock> clock = std::make_unique<SystemClock>());
  ~RegistryService();
  RegistryService(const RegistryService&) = delete;
  RegistryService& operator=(const RegistryService&) = delete;

  void start();
  void stop();  // joins the thread

  Registry& registry() { return registry_; }
  SharedStatus sharedStatus() const;

  void onTimer(net::Timer* timer) override;

 private:
  std::unique_ptr<Clock> clock_;
  Registry registry_;
  net::EventLoop loop_;
  std::unique_ptr<RegistrySync> sync_;  // null without a store
  net::Timer tick_{this};
  std::thread thread_;
  std::atomic<bool> running_{false};
};

}  // namespace sg::discovery
