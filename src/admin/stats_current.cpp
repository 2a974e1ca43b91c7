// The sampler's "current" section: what each listener, route, upstream, server, cache layer,
// queue and PostgreSQL pool looks like at the sample (rates over the last interval).
#include <string>

#include "admin/admin_api.h"
#include "admin/stats_sampler.h"
#include "pg/pg_service.h"

namespace sg::admin {

namespace json = boost::json;

namespace {

// Increase per second of a counter since the last sample, remembered under `key`.
double rateOf(std::map<std::string, uint64_t>& previous, const std::string& key, uint64_t now,
              double seconds) {
  auto [it, fresh] = previous.try_emplace(key, now);
  const uint64_t before = it->second;
  it->second = now;
  if (fresh || seconds <= 0 || now < before) return 0;
  return static_cast<double>(now - before) / seconds;
}

double ratio(double part, double whole) { return whole > 0 ? part / whole : 0; }

// The dashboard's words for a server: healthy, slow_start, draining, disabled, ejected, down.
std::string serverState(proxy::OutReason reason, bool slow_starting) {
  switch (reason) {
    case proxy::OutReason::kNone:
      return slow_starting ? "slow_start" : "healthy";
    case proxy::OutReason::kDisabled:
      return "disabled";
    case proxy::OutReason::kDraining:
    case proxy::OutReason::kRemoving:
      return "draining";
    case proxy::OutReason::kVacant:
      return "vacant";
    case proxy::OutReason::kEjected:
      return "ejected";
    case proxy::OutReason::kFailedCheck:
    case proxy::OutReason::kFailedConnects:
      return "down";
  }
  return "down";
}

}  // namespace

json::object StatsSampler::listenersJson(double seconds) {
  json::object out;
  const auto limited = static_cast<size_t>(proxy::RejectReason::kRateLimited);
  for (auto& listener : shared_.listeners()) {
    const std::string& name = listener.config->name;
    uint64_t rejected = 0;
    for (metrics::Counter* counter : listener.rejects) rejected += counter->value();
    const uint64_t rate_limited = listener.rejects[limited]->value();
    out[name] = json::object{
        {"open_connections", listener.open_connections->value()},
        {"rate_limited_total", rate_limited},
        {"rate_limited_per_s", rateOf(previous_counts_, "rl/" + name, rate_limited, seconds)},
        {"rejected_total", rejected},
        {"rejected_per_s", rateOf(previous_counts_, "rej/" + name, rejected, seconds)}};
  }
  return out;
}

namespace {

// A cached route's lookups (HIT, STALE, MISS, REVALIDATED) and its hits by layer (l1, l2).
struct RouteCacheCounts {
  uint64_t lookups = 0;
  uint64_t layer[2] = {0, 0};
};

RouteCacheCounts routeCacheCounts(const proxy::RouteCache& cache) {
  RouteCacheCounts counts;
  for (size_t i = 0; i < 2; ++i) counts.layer[i] = cache.layer_hits[i]->value();
  for (auto result : {proxy::CacheResult::kHit, proxy::CacheResult::kStale,
                      proxy::CacheResult::kMiss, proxy::CacheResult::kRevalidated}) {
    counts.lookups += cache.responses[static_cast<size_t>(result)]->value();
  }
  return counts;
}

}  // namespace

json::object StatsSampler::routesJson() const {
  json::object out;
  for (const RouteMemory& memory : routes_) {
    const auto& config = *memory.route->config;
    json::object entry{{"listener", memory.listener},
                       {"route", config.name},
                       {"upstream", memory.route->upstream ? memory.route->upstream->config->name
                                                           : std::string()}};
    if (memory.route->cache) {
      const RouteCacheCounts counts = routeCacheCounts(*memory.route->cache);
      const auto lookups = static_cast<double>(counts.lookups);
      entry["cache"] = json::object{
          {"lookups", counts.lookups},
          {"hit_ratio", ratio(static_cast<double>(counts.layer[0] + counts.layer[1]), lookups)},
          {"l1_hit_ratio", ratio(static_cast<double>(counts.layer[0]), lookups)},
          {"l2_hit_ratio", ratio(static_cast<double>(counts.layer[1]), lookups)}};
    }
    out[memory.listener + "/" + config.name] = std::move(entry);
  }
  return out;
}

json::object StatsSampler::serverJson(const proxy::SharedUpstream& upstream,
                                      const proxy::SharedServer& server, double seconds,
                                      int64_t now_ms) {
  const proxy::OutReason reason = upstream.outReason(server, now_ms);
  const bool up = reason == proxy::OutReason::kNone;
  ServerMemory& memory = servers_[&server];
  // Balancers slow-start a server that comes back from a health verdict (not one an operator
  // enabled again).
  if (up && memory.unhealthy) memory.up_since_ms = now_ms;
  memory.unhealthy = reason == proxy::OutReason::kFailedCheck ||
                     reason == proxy::OutReason::kEjected ||
                     reason == proxy::OutReason::kFailedConnects;
  const int64_t slow_start_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(upstream.config->slow_start).count();
  // Each worker's balancer ramps the server from when it saw it back; the sampler shows the
  // ramp from its own sighting, which is within one interval of theirs.
  const bool slow_starting = up && slow_start_ms > 0 && memory.up_since_ms > 0 &&
                             now_ms - memory.up_since_ms < slow_start_ms;
  const uint64_t requests = server.requests->value();
  const double rps = seconds > 0 && requests >= memory.requests
                         ? static_cast<double>(requests - memory.requests) / seconds
                         : 0;
  memory.requests = requests;
  json::object out{{"address", server.address_text},
                   {"state", serverState(reason, slow_starting)},
                   {"reason", proxy::outReasonName(reason)},
                   {"backup", server.config.backup},
                   {"weight", server.weight.load()},
                   {"in_flight", server.in_flight.load()},
                   {"active_connections", server.active->value()},
                   {"requests", requests},
                   {"rps", rps},
                   {"errors", server.errors->value()}};
  return out;
}

json::object StatsSampler::upstreamsJson(double seconds, int64_t now_ms) {
  json::object out;
  for (auto& upstream : shared_.upstreams()) {
    json::array servers;
    uint64_t healthy = 0;
    // Run-time slots: their identity is read under the slots' lock; empty ones are skipped.
    auto guard = upstream.slots ? upstream.slots->lock() : std::unique_lock<std::mutex>();
    for (const auto& server : upstream.servers) {
      if (server->admin_state.load() == proxy::AdminState::kVacant) continue;
      json::object entry = serverJson(upstream, *server, seconds, now_ms);
      const auto& state = entry["state"].as_string();
      if (state == "healthy" || state == "slow_start") ++healthy;
      servers.push_back(std::move(entry));
    }
    const size_t total = servers.size();
    json::object entry{
        {"servers", std::move(servers)}, {"healthy_servers", healthy}, {"total_servers", total}};
    if (upstream.breaker) {
      const auto snapshot = upstream.breaker->snapshot(now_ms);
      entry["circuit_breaker"] =
          json::object{{"state", resilience::breakerStateName(snapshot.state)},
                       {"refusals", snapshot.refusals},
                       {"window_failures", snapshot.failures},
                       {"window_successes", snapshot.successes}};
    }
    out[upstream.config->name] = std::move(entry);
  }
  return out;
}

json::object StatsSampler::cacheJson(double seconds) {
  const cache::CacheStats stats = shared_.cache()->cache.stats();
  uint64_t layer[2] = {0, 0};
  uint64_t lookups = 0;
  for (const RouteMemory& memory : routes_) {
    if (!memory.route->cache) continue;
    const RouteCacheCounts counts = routeCacheCounts(*memory.route->cache);
    lookups += counts.lookups;
    for (size_t i = 0; i < 2; ++i) layer[i] += counts.layer[i];
  }
  const double lookups_per_s = rateOf(previous_counts_, "cache/lookups", lookups, seconds);
  const double l1_per_s = rateOf(previous_counts_, "cache/l1", layer[0], seconds);
  const double l2_per_s = rateOf(previous_counts_, "cache/l2", layer[1], seconds);
  auto layerJson = [&](uint64_t hits, double per_s) {
    return json::object{
        {"hits", hits},
        {"hits_per_s", per_s},
        {"hit_ratio", ratio(static_cast<double>(hits), static_cast<double>(lookups))},
        {"hit_ratio_now", ratio(per_s, lookups_per_s)}};
  };
  return json::object{
      {"entries", stats.entries},
      {"bytes", stats.bytes},
      {"capacity", stats.capacity},
      {"evictions", stats.evictions},
      {"lookups", lookups},
      {"lookups_per_s", lookups_per_s},
      {"hit_ratio", ratio(static_cast<double>(layer[0] + layer[1]), static_cast<double>(lookups))},
      {"hit_ratio_now", ratio(l1_per_s + l2_per_s, lookups_per_s)},
      {"layers",
       json::object{{"l1", layerJson(layer[0], l1_per_s)}, {"l2", layerJson(layer[1], l2_per_s)}}}};
}

json::array StatsSampler::queuesJson(double seconds) {
  json::array out;
  const int64_t wall_ms = clock_.wall_ms();
  for (auto& queue : shared_.queues()) {
    const std::string& name = queue->config().name;
    const queue::QueueCounts counts = queue->store().counts(wall_ms);
    const uint64_t delivered = queue->deliveredTotal();
    out.push_back(json::object{
        {"name", name},
        {"depth", counts.depth()},
        {"running", counts.inFlight()},
        {"oldest_age_ms", counts.oldest_queued_age_ms},
        {"delivered_total", delivered},
        {"delivered_per_s", rateOf(previous_counts_, "queue/" + name, delivered, seconds)}});
  }
  return out;
}

// The PostgreSQL side as /health shows it: pools per database and user (active, idle, size,
// clients waiting) and each primary's and replica's state and lag.
json::value StatsSampler::postgresJson(int64_t now_ms) const {
  ServiceResponse health = healthResponse(shared_, now_ms, postgres_);
  boost::system::error_code error;
  json::value document = json::parse(health.body, error);
  if (error || !document.is_object()) return nullptr;
  json::value* postgres = document.as_object().if_contains("postgres");
  return postgres != nullptr ? *postgres : json::value(nullptr);
}

}  // namespace sg::admin
