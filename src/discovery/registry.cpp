#include "discovery/registry.h"

#include <algorithm>

namespace sg::discovery {

Registry::Registry(const Clock& clock, metrics::Registry* metrics)
    : clock_(clock), metrics_(metrics) {}

Registry::Service& Registry::serviceLocked(const std::string& name) {
  auto [it, added] = services_.try_emplace(name);
  if (added && metrics_ != nullptr) {
    const metrics::Labels labels{{"service", name}};
    ServiceMetrics& m = it->second.metrics;
    m.instances = &metrics_->gauge("scalegate_registry_instances",
                                   "Live instances registered for the service.", labels);
    m.registrations =
        &metrics_->counter("scalegate_registry_registrations_total",
                           "Registrations (new or replacing) accepted by this gateway.", labels);
    m.heartbeats = &metrics_->counter("scalegate_registry_heartbeats_total",
                                      "Heartbeats accepted by this gateway.", labels);
    const char* help = "Instances evicted by this gateway: ttl expired or health check failed.";
    m.ttl_evictions = &metrics_->counter("scalegate_registry_evictions_total", help,
                                         {{"service", name}, {"reason", "ttl"}});
    m.health_evictions = &metrics_->counter("scalegate_registry_evictions_total", help,
                                            {{"service", name}, {"reason", "health_check"}});
  }
  return it->second;
}

void Registry::bumpLocked(const std::string& name, Service& service, Changed* changed) {
  service.version = ++version_;
  const auto count = static_cast<int64_t>(service.instances.size());
  if (service.metrics.instances != nullptr)
    service.metrics.instances->add(count - service.reported_count);
  service.reported_count = count;
  changed->emplace_back(name, service.version);
}

void Registry::noteLocalLocked(const std::string& name, const std::string& id, Service& service,
                               ChangeSink::Kind kind) {
  ++local_seq_;
  // A heartbeat changes no membership: a read that predates it may still be applied (its
  // heartbeat time is merged), or a busy instance would keep its service from syncing at all.
  if (kind != ChangeSink::Kind::kHeartbeat) service.last_local_write = local_seq_;
  if (sink_ != nullptr) sink_->onLocalChange(name, id, kind);
}

void Registry::evictLocked(const std::string& name, Service& service, const std::string& id,
                           EvictReason reason) {
  service.instances.erase(id);
  metrics::Counter* counter = reason == EvictReason::kTtl ? service.metrics.ttl_evictions
                                                          : service.metrics.health_evictions;
  if (counter != nullptr) counter->inc();
  noteLocalLocked(name, id, service, ChangeSink::Kind::kRemove);
}

void Registry::notify(const Changed& changed) {
  if (changed.empty()) return;
  std::lock_guard lock(listeners_mutex_);
  for (const auto& [name, version] : changed) {
    for (const auto& [token, listener] : listeners_) listener(name, version);
  }
}

Registry::PutResult Registry::put(const std::string& service_name, const std::string& id,
                                  const InstanceSpec& spec) {
  Changed changed;
  PutResult result = PutResult::kCreated;
  {
    std::lock_guard lock(mutex_);
    auto existing = services_.find(service_name);
    if (existing == services_.end() && services_.size() >= kMaxServices) return PutResult::kFull;
    Service& service = serviceLocked(service_name);
    const int64_t now = clock_.nowMs();
    auto it = service.instances.find(id);
    if (it == service.instances.end()) {
      if (service.instances.size() >= kMaxInstancesPerService) return PutResult::kFull;
      service.instances.emplace(id, Instance{id, spec, now, now});
      bumpLocked(service_name, service, &changed);
    } else {
      result = PutResult::kReplaced;
      const bool differs = !(it->second.spec == spec);
      it->second.spec = spec;
      it->second.last_heartbeat_ms = now;  // a registration is also a sign of life
      if (differs) bumpLocked(service_name, service, &changed);
    }
    if (service.metrics.registrations != nullptr) service.metrics.registrations->inc();
    noteLocalLocked(service_name, id, service, ChangeSink::Kind::kPut);
  }
  notify(changed);
  return result;
}

bool Registry::heartbeat(const std::string& service_name, const std::string& id) {
  std::lock_guard lock(mutex_);
  auto service = services_.find(service_name);
  if (service == services_.end()) return false;
  auto it = service->second.instances.find(id);
  if (it == service->second.instances.end()) return false;
  it->second.last_heartbeat_ms = clock_.nowMs();
  if (service->second.metrics.heartbeats != nullptr) service->second.metrics.heartbeats->inc();
  noteLocalLocked(service_name, id, service->second, ChangeSink::Kind::kHeartbeat);
  return true;
}

bool Registry::remove(const std::string& service_name, const std::string& id) {
  Changed changed;
  {
    std::lock_guard lock(mutex_);
    auto service = services_.find(service_name);
    if (service == services_.end() || service->second.instances.erase(id) == 0) return false;
    bumpLocked(service_name, service->second, &changed);
    noteLocalLocked(service_name, id, service->second, ChangeSink::Kind::kRemove);
  }
  notify(changed);
  return true;
}

size_t Registry::evictExpired() {
  Changed changed;
  size_t evicted = 0;
  {
    std::lock_guard lock(mutex_);
    if (!local_eviction_) return 0;
    const int64_t now = clock_.nowMs();
    for (auto& [name, service] : services_) {
      std::vector<std::string> expired;
      for (const auto& [id, instance] : service.instances) {
        if (now - instance.last_heartbeat_ms > instance.spec.ttl_ms) expired.push_back(id);
      }
      for (const auto& id : expired) evictLocked(name, service, id, EvictReason::kTtl);
      if (!expired.empty()) bumpLocked(name, service, &changed);
      evicted += expired.size();
    }
  }
  notify(changed);
  return evicted;
}

size_t Registry::evictAddress(const net::Address& address, std::string_view only_service) {
  Changed changed;
  size_t evicted = 0;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, service] : services_) {
      if (!only_service.empty() && name != only_service) continue;
      std::vector<std::string> dead;
      for (const auto& [id, instance] : service.instances) {
        if (instance.spec.address == address) dead.push_back(id);
      }
      for (const auto& id : dead) evictLocked(name, service, id, EvictReason::kHealthCheck);
      if (!dead.empty()) bumpLocked(name, service, &changed);
      evicted += dead.size();
    }
  }
  notify(changed);
  return evicted;
}

std::optional<Instance> Registry::find(const std::string& service_name,
                                       const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto service = services_.find(service_name);
  if (service == services_.end()) return std::nullopt;
  auto it = service->second.instances.find(id);
  if (it == service->second.instances.end()) return std::nullopt;
  return it->second;
}

ServiceSnapshot Registry::snapshot(const std::string& service_name) const {
  std::lock_guard lock(mutex_);
  ServiceSnapshot out;
  out.name = service_name;
  auto service = services_.find(service_name);
  if (service == services_.end()) return out;
  out.version = service->second.version;
  for (const auto& [id, instance] : service->second.instances) out.instances.push_back(instance);
  return out;
}

std::vector<ServiceSummary> Registry::services() const {
  std::lock_guard lock(mutex_);
  std::vector<ServiceSummary> out;
  for (const auto& [name, service] : services_) {
    if (!service.instances.empty())
      out.push_back({name, service.instances.size(), service.version});
  }
  return out;
}

uint64_t Registry::version() const {
  std::lock_guard lock(mutex_);
  return version_;
}

uint64_t Registry::subscribe(Listener listener) {
  std::lock_guard lock(listeners_mutex_);
  const uint64_t token = next_token_++;
  listeners_.emplace(token, std::move(listener));
  return token;
}

void Registry::unsubscribe(uint64_t token) {
  std::lock_guard lock(listeners_mutex_);
  listeners_.erase(token);
}

void Registry::setChangeSink(ChangeSink* sink) {
  std::lock_guard lock(mutex_);
  sink_ = sink;
}

void Registry::setLocalEviction(bool enabled) {
  std::lock_guard lock(mutex_);
  local_eviction_ = enabled;
}

uint64_t Registry::localWriteSeq() const {
  std::lock_guard lock(mutex_);
  return local_seq_;
}

bool Registry::applyRemote(const std::string& service_name, std::vector<Instance> instances,
                           const std::vector<std::string>& expired, uint64_t issued_at) {
  Changed changed;
  {
    std::lock_guard lock(mutex_);
    auto existing = services_.find(service_name);
    if (existing == services_.end() && (instances.empty() || services_.size() >= kMaxServices))
      return false;
    Service& service = serviceLocked(service_name);
    // The read that returned `expired` dropped them from Redis: counted whether or not the
    // rest is applied, so each expiry is counted once across every gateway.
    if (service.metrics.ttl_evictions != nullptr)
      service.metrics.ttl_evictions->inc(expired.size());
    if (service.last_local_write > issued_at) return false;
    std::map<std::string, Instance> next;
    for (auto& instance : instances) {
      if (next.size() >= kMaxInstancesPerService) break;
      auto local = service.instances.find(instance.id);
      if (local != service.instances.end())  // a local heartbeat may not have reached Redis yet
        instance.last_heartbeat_ms =
            std::max(instance.last_heartbeat_ms, local->second.last_heartbeat_ms);
      std::string id = instance.id;
      next.emplace(std::move(id), std::move(instance));
    }
    const bool same = std::equal(next.begin(), next.end(), service.instances.begin(),
                                 service.instances.end(), [](const auto& a, const auto& b) {
                                   return a.first == b.first && a.second.spec == b.second.spec;
                                 });
    service.instances = std::move(next);  // heartbeat times always; a version only on change
    if (!same) bumpLocked(service_name, service, &changed);
  }
  notify(changed);
  return true;
}

std::vector<Instance> Registry::allInstances(std::vector<std::string>* service_names) const {
  std::lock_guard lock(mutex_);
  std::vector<Instance> out;
  for (const auto& [name, service] : services_) {
    for (const auto& [id, instance] : service.instances) {
      out.push_back(instance);
      service_names->push_back(name);
    }
  }
  return out;
}

}  // namespace sg::discovery
