#include "proxy/dns_discovery.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "proxy/shared_state.h"

namespace sg::proxy {

DnsDiscovery::DnsDiscovery(std::vector<SharedUpstream*> upstreams,
                           std::unique_ptr<DnsResolver> resolver, metrics::Registry& registry)
    : resolver_(std::move(resolver)) {
  for (SharedUpstream* upstream : upstreams) {
    Entry entry{upstream, {}, nullptr, nullptr, std::chrono::steady_clock::now()};
    metrics::Labels labels{{"upstream", upstream->config->name}};
    entry.failures = &registry.counter(
        "scalegate_discovery_dns_failures_total",
        "DNS resolutions of the upstream's discovery name that failed (the last answer is kept).",
        labels);
    entry.resolutions =
        &registry.counter("scalegate_discovery_dns_resolutions_total",
                          "DNS resolutions of the upstream's discovery name.", labels);
    entries_.push_back(std::move(entry));
  }
}

DnsDiscovery::~DnsDiscovery() { stop(); }

void DnsDiscovery::start() {
  if (entries_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "sg-dns");
    run();
  });
}

void DnsDiscovery::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DnsDiscovery::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    auto next =
        std::min_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
          return a.due < b.due;
        })->due;
    if (wake_.wait_until(lock, next, [this] { return stop_; })) break;
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].due > now) continue;
      entries_[i].due = now + entries_[i].upstream->config->discovery->interval;
      lock.unlock();  // resolution blocks; stop() must not wait for the lock meanwhile
      refresh(i);
      lock.lock();
    }
  }
}

void DnsDiscovery::refresh(size_t i) {
  Entry& entry = entries_[i];
  const config::DiscoveryConfig& config = *entry.upstream->config->discovery;
  const std::string& name = entry.upstream->config->name;
  std::vector<DnsRecord> records;
  std::string error;
  entry.resolutions->inc();
  if (!resolver_->resolve(config, &records, &error)) {
    entry.failures->inc();
    spdlog::warn("discovery: upstream {}: resolving {} failed ({}); keeping the last answer", name,
                 config.dns, error);
    return;
  }
  std::map<std::string, const DnsRecord*> answer;
  for (const DnsRecord& record : records) answer.emplace(record.address.toString(), &record);
  std::lock_guard lock(mutex_);
  ServerSlots& slots = *entry.upstream->slots;
  for (auto it = entry.applied.begin(); it != entry.applied.end();) {
    if (answer.count(it->first) != 0) {
      ++it;
      continue;
    }
    slots.remove(it->first);
    spdlog::info("discovery: upstream {}: {} left {}", name, it->first, config.dns);
    it = entry.applied.erase(it);
  }
  for (const auto& [text, record] : answer) {
    if (entry.applied.count(text) != 0) continue;
    auto result = slots.add(record->address, std::clamp<uint32_t>(record->weight, 1, 1000));
    if (result == ServerSlots::AddResult::kNoFreeSlot) {
      spdlog::warn("discovery: upstream {}: no free slot for {} (max_servers); tried again later",
                   name, text);
      continue;
    }
    // A duplicate is a static server, one added through the admin API, or one still being
    // removed: not this name's to remove, and added again once it has left.
    if (result != ServerSlots::AddResult::kAdded) continue;
    spdlog::info("discovery: upstream {}: {} joined from {}", name, text, config.dns);
    entry.applied.emplace(text, record->address);
  }
}

std::vector<std::string> DnsDiscovery::applied(size_t i) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [text, address] : entries_[i].applied) out.push_back(text);
  return out;
}

}  // namespace sg::proxy
