#include "discovery/registry_upstreams.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "net/event_loop.h"

namespace sg::discovery {

RegistryUpstreams::RegistryUpstreams(Registry& registry, proxy::SharedState& shared)
    : registry_(registry) {
  for (auto& upstream : shared.upstreams()) {
    const auto& discovery = upstream.config->discovery;
    if (discovery && !discovery->registry.empty() && upstream.slots)
      bindings_.push_back({&upstream, discovery->registry});
  }
}

RegistryUpstreams::~RegistryUpstreams() { stop(); }

void RegistryUpstreams::start() {
  if (bindings_.empty()) return;
  syncAll();
  // The listener runs on the thread that changed the registry (perhaps this one, inside a
  // sync that evicts): it only wakes the sync thread.
  listener_token_ = registry_.subscribe([this](const std::string&, uint64_t) {
    {
      std::lock_guard lock(stop_mutex_);
      changed_ = true;
    }
    stop_signal_.notify_all();
  });
  thread_ = std::thread([this] { run(); });
}

void RegistryUpstreams::stop() {
  if (!thread_.joinable()) return;
  registry_.unsubscribe(listener_token_);
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_signal_.notify_all();
  thread_.join();
}

void RegistryUpstreams::run() {
  std::unique_lock lock(stop_mutex_);
  while (!stopping_) {
    stop_signal_.wait_for(lock, std::chrono::milliseconds(kResyncMs),
                          [this] { return stopping_ || changed_; });
    if (stopping_) break;
    changed_ = false;
    lock.unlock();
    syncAll();
    lock.lock();
  }
}

void RegistryUpstreams::syncAll() {
  std::lock_guard lock(sync_mutex_);
  for (auto& binding : bindings_) {
    evictFailed(binding);
    sync(binding);
  }
}

// Adds what the registry has and the upstream lacks, removes what the registry put there and
// no longer has. Several instances at one address are one server (the highest weight).
void RegistryUpstreams::sync(Binding& binding) {
  std::map<std::string, std::pair<net::Address, uint32_t>> wanted;
  for (const auto& instance : registry_.snapshot(binding.service).instances) {
    auto [it, fresh] = wanted.try_emplace(instance.spec.address.toString(), instance.spec.address,
                                          instance.spec.weight);
    if (!fresh) it->second.second = std::max(it->second.second, instance.spec.weight);
  }
  proxy::ServerSlots& slots = *binding.upstream->slots;
  std::set<std::string> present;
  for (const auto& entry : slots.list(net::monotonicMillis())) {
    if (!entry.discovered) continue;
    present.insert(entry.address);
    auto it = wanted.find(entry.address);
    if (it == wanted.end()) {
      if (binding.from_registry.erase(entry.address) > 0 &&
          slots.remove(entry.address) == proxy::ServerSlots::RemoveResult::kRemoving)
        spdlog::info("registry: {} left service {}, draining it from upstream {}", entry.address,
                     binding.service, binding.upstream->config->name);
      continue;
    }
    // A server still draining keeps its place until its slot is vacated; then it comes back.
    if (entry.state != "removing") {
      binding.from_registry.insert(entry.address);
      if (entry.weight != it->second.second)
        setWeight(*binding.upstream, entry.address, it->second.second);
    }
    wanted.erase(it);
  }
  std::erase_if(binding.from_registry,
                [&present](const std::string& address) { return !present.contains(address); });
  for (const auto& [text, spec] : wanted) addServer(binding, text, spec.first, spec.second);
}

void RegistryUpstreams::addServer(Binding& binding, const std::string& text,
                                  const net::Address& address, uint32_t weight) {
  auto result = binding.upstream->slots->add(address, weight);
  if (result == proxy::ServerSlots::AddResult::kAdded) {
    binding.from_registry.insert(text);
    spdlog::info("registry: {} joined upstream {} (service {})", text,
                 binding.upstream->config->name, binding.service);
  } else if (result == proxy::ServerSlots::AddResult::kNoFreeSlot) {
    spdlog::warn("registry: upstream {} has no free server slot for {} (discovery.max_servers)",
                 binding.upstream->config->name, text);
  }
}

void RegistryUpstreams::setWeight(proxy::SharedUpstream& upstream, const std::string& address,
                                  uint32_t weight) {
  auto guard = upstream.slots->lock();
  for (auto& server : upstream.servers) {
    if (server->admin_state.load() == proxy::AdminState::kVacant) continue;
    if (server->address_text != address) continue;
    server->weight.store(weight);
    upstream.weights_version.fetch_add(1);
  }
}

// A discovered server that failed its active health check: its instances leave the registry.
void RegistryUpstreams::evictFailed(const Binding& binding) {
  if (!binding.upstream->config->health_check) return;
  for (const auto& entry : binding.upstream->slots->list(net::monotonicMillis())) {
    if (!entry.discovered || entry.state != "failed_check") continue;
    std::string error;
    auto address = net::Address::parse(entry.address, &error);
    if (!address) continue;
    if (registry_.evictAddress(*address, binding.service) > 0)
      spdlog::warn("registry: {} of service {} failed its health check: evicted", entry.address,
                   binding.service);
  }
}

}  // namespace sg::discovery
