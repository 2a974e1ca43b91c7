#include "discovery/registry_service.h"

#include "discovery/registry_sync.h"

namespace sg::discovery {

RegistryService::RegistryService(const config::StoreConfig& store, metrics::Registry& metrics,
                                 store::StoreStats* store_stats, std::unique_ptr<Clock> clock)
    : clock_(std::move(clock)), registry_(*clock_, &metrics) {
  if (store.type != config::StoreConfig::Type::kNone && store_stats != nullptr)
    sync_ = std::make_unique<RegistrySync>(registry_, store, loop_, *store_stats);
}

RegistryService::~RegistryService() { stop(); }

void RegistryService::start() {
  if (running_.exchange(true)) return;
  loop_.setWakeHandler([this] {
    if (!running_.load()) loop_.stop();
  });
  if (sync_) sync_->start();
  loop_.timers().arm(tick_, kTickMs);
  thread_ = std::thread([this] { loop_.run(); });
}

void RegistryService::stop() {
  if (!running_.exchange(false)) return;
  loop_.wake();
  if (thread_.joinable()) thread_.join();
  tick_.cancel();
  if (sync_) sync_->shutdown();
}

void RegistryService::onTimer(net::Timer* /*timer*/) {
  registry_.evictExpired();  // a no-op when Redis decides expiry (shared mode)
  if (sync_) sync_->tick();
  loop_.timers().arm(tick_, kTickMs);
}

SharedStatus RegistryService::sharedStatus() const {
  SharedStatus status;
  status.shared = sync_ != nullptr;
  if (sync_) {
    status.synced = sync_->synced();
    status.last_sync_ms = sync_->lastSyncMs();
  }
  return status;
}

}  // namespace sg::discovery
