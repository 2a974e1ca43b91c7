#include "proxy/server_slots.h"

#include <algorithm>
#include <limits>

#include "net/event_loop.h"
#include "proxy/shared_state.h"

namespace sg::proxy {

// Where an address's metric series read from: the slot holding the address now, or -1.
struct ServerSlots::AddressMetrics {
  metrics::Counter* requests = nullptr;
  metrics::Counter* errors = nullptr;
  metrics::Gauge* active = nullptr;
  std::atomic<int64_t> slot{-1};
};

namespace {

config::ServerConfig slotDefaults(const config::DiscoveryConfig& config) {
  config::ServerConfig server;
  server.max_fails = config.max_fails;
  server.fail_timeout = config.fail_timeout;
  return server;
}

}  // namespace

ServerSlots::ServerSlots(SharedUpstream& upstream, const config::DiscoveryConfig& config,
                         metrics::Registry& registry, uint32_t workers)
    : upstream_(upstream),
      config_(config),
      registry_(registry),
      first_(upstream.servers.size()),
      slots_(config.max_servers),
      acknowledged_(std::make_unique<std::atomic<uint64_t>[]>(workers)),
      workers_(workers),
      present_(upstream.servers.size()) {
  const config::ServerConfig defaults = slotDefaults(config);
  for (size_t i = 0; i < config.max_servers; ++i) {
    auto server = std::make_unique<SharedServer>(defaults, first_ + i);
    server->admin_state.store(AdminState::kVacant);
    server->address_text.clear();
    server->sticky_id.clear();
    upstream.servers.push_back(std::move(server));
  }
  for (uint32_t w = 0; w < workers; ++w) acknowledged_[w].store(0);
}

ServerSlots::~ServerSlots() = default;

void ServerSlots::setHooks(Hook added, Hook removed) {
  std::lock_guard lock(mutex_);
  added_ = std::move(added);
  removed_ = std::move(removed);
  for (size_t i = 0; i < slots_.size(); ++i) {  // servers added before the checker started
    if (slots_[i].phase == Phase::kActive && added_) added_(*upstream_.servers[first_ + i]);
  }
}

// Every worker has seen the slot change: the series registered once per address read the
// slot through AddressMetrics::slot, so a re-added address continues its series.
ServerSlots::AddressMetrics& ServerSlots::metricsFor(const std::string& address) {
  auto it = metrics_.find(address);
  if (it != metrics_.end()) return *it->second;
  auto record = std::make_unique<AddressMetrics>();
  AddressMetrics* raw = record.get();
  SharedUpstream* owner = &upstream_;
  // The series follow whichever slot holds the address now (none: vacant).
  ServerSeries series = registerServerSeries(
      registry_, {{"upstream", upstream_.config->name}, {"server", address}},
      [owner, raw] {
        int64_t slot = raw->slot.load(std::memory_order_acquire);
        if (slot < 0) return OutReason::kVacant;
        return owner->outReason(*owner->servers[static_cast<size_t>(slot)], net::monotonicMillis());
      },
      [owner, raw] {
        int64_t slot = raw->slot.load(std::memory_order_acquire);
        if (slot < 0) return 0.0;
        return static_cast<double>(owner->servers[static_cast<size_t>(slot)]->weight.load());
      });
  record->requests = series.requests;
  record->errors = series.errors;
  record->active = series.active;
  return *metrics_.emplace(address, std::move(record)).first->second;
}

int ServerSlots::findLocked(std::string_view address) const {
  for (size_t i = 0; i < upstream_.servers.size(); ++i) {
    const bool slot = i >= first_;
    if (slot && slots_[i - first_].phase != Phase::kActive &&
        slots_[i - first_].phase != Phase::kRemoving)
      continue;
    if (upstream_.servers[i]->address_text == address) return static_cast<int>(i);
  }
  return -1;
}

ServerSlots::AddResult ServerSlots::add(const net::Address& address, uint32_t weight) {
  std::lock_guard lock(mutex_);
  if (findLocked(address.toString()) >= 0) return AddResult::kDuplicate;
  auto free = std::find_if(slots_.begin(), slots_.end(),
                           [](const Slot& slot) { return slot.phase == Phase::kFree; });
  if (free == slots_.end()) return AddResult::kNoFreeSlot;
  SharedServer& server = *upstream_.servers[first_ + static_cast<size_t>(free - slots_.begin())];
  fill(server, address, weight);
  free->phase = Phase::kActive;
  free->since_version = version_.fetch_add(1) + 1;
  upstream_.weights_version.fetch_add(1);  // workers apply the slot's weight
  present_.fetch_add(1);
  if (added_) added_(server);
  return AddResult::kAdded;
}

// The slot is free: no worker reads its identity until the release store below.
void ServerSlots::fill(SharedServer& server, const net::Address& address, uint32_t weight) {
  server.config = slotDefaults(config_);
  server.config.address = address;
  server.config.weight = weight;
  server.address_text = address.toString();
  server.sticky_id = stickyIdFor(server.address_text);
  AddressMetrics& record = metricsFor(server.address_text);
  server.requests = record.requests;
  server.errors = record.errors;
  server.active = record.active;
  server.health.reset();
  server.check.healthy.store(true);
  if (upstream_.outliers) upstream_.outliers->forget(server.index);
  server.weight.store(weight);
  server.in_flight.store(0);
  record.slot.store(static_cast<int64_t>(server.index), std::memory_order_release);
  server.admin_state.store(AdminState::kEnabled, std::memory_order_release);
}

ServerSlots::RemoveResult ServerSlots::remove(std::string_view address) {
  std::lock_guard lock(mutex_);
  int index = findLocked(address);
  if (index < 0) return RemoveResult::kNotFound;
  if (static_cast<size_t>(index) < first_) return RemoveResult::kStatic;
  Slot& slot = slots_[static_cast<size_t>(index) - first_];
  if (slot.phase == Phase::kRemoving) return RemoveResult::kAlreadyRemoving;
  slot.phase = Phase::kRemoving;
  slot.since_version = version_.fetch_add(1) + 1;
  upstream_.servers[static_cast<size_t>(index)]->admin_state.store(AdminState::kRemoving);
  present_.fetch_sub(1);
  return RemoveResult::kRemoving;
}

std::vector<ServerSlots::Entry> ServerSlots::list(int64_t now_ms) {
  std::lock_guard lock(mutex_);
  std::vector<Entry> entries;
  for (size_t i = 0; i < upstream_.servers.size(); ++i) {
    const bool slot = i >= first_;
    Phase phase = slot ? slots_[i - first_].phase : Phase::kActive;
    if (phase != Phase::kActive && phase != Phase::kRemoving) continue;
    const SharedServer& server = *upstream_.servers[i];
    entries.push_back({server.address_text, server.weight.load(),
                       std::string(outReasonName(upstream_.outReason(server, now_ms))), slot});
  }
  return entries;
}

size_t ServerSlots::freeSlots() {
  std::lock_guard lock(mutex_);
  return static_cast<size_t>(std::count_if(
      slots_.begin(), slots_.end(), [](const Slot& slot) { return slot.phase == Phase::kFree; }));
}

void ServerSlots::acknowledge(uint32_t worker, uint64_t version) {
  if (worker < workers_) acknowledged_[worker].store(version, std::memory_order_release);
}

uint64_t ServerSlots::minAcknowledged() const {
  uint64_t least = std::numeric_limits<uint64_t>::max();
  for (uint32_t w = 0; w < workers_; ++w) {
    least = std::min(least, acknowledged_[w].load(std::memory_order_acquire));
  }
  return least;
}

void ServerSlots::maintain() {
  std::lock_guard lock(mutex_);
  const uint64_t seen = minAcknowledged();
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (slot.phase == Phase::kVacated && seen >= slot.since_version) {
      slot.phase = Phase::kFree;
    } else if (slot.phase == Phase::kRemoving && seen >= slot.since_version &&
               upstream_.servers[first_ + i]->connections.load() == 0) {
      vacate(i);
    }
  }
}

// Every worker has seen the removal (no new connection to it) and none is open: nothing
// in flight. Its identity stays readable until every worker has seen the vacancy too.
void ServerSlots::vacate(size_t index) {
  SharedServer& server = *upstream_.servers[first_ + index];
  server.admin_state.store(AdminState::kVacant);
  metrics_.find(server.address_text)->second->slot.store(-1, std::memory_order_release);
  if (removed_) removed_(server);
  slots_[index].phase = Phase::kVacated;
  slots_[index].since_version = version_.fetch_add(1) + 1;
}

}  // namespace sg::proxy
