#include "proxy/running_state.h"

#include <boost/json.hpp>
#include <cstring>

#include "base/hex.h"
#include "proxy/cache_handover.h"
#include "proxy/shared_state.h"

namespace sg::proxy {

namespace json = boost::json;

namespace {

// "SGRS", a version byte, the JSON document's length (8 bytes, little-endian), the document,
// then the cache section (cache_handover.h) to the end.
constexpr std::string_view kMagic = "SGRS";
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderSize = 4 + 1 + 8;

// 0 when absent; throws (caught by importRunningState) when not a number.
int64_t asInt(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value == nullptr ? 0 : value->to_number<int64_t>();
}

json::object serverState(const SharedUpstream& upstream, const SharedServer& server) {
  auto passive = server.health.carryOut();
  json::object out{
      {"address", server.address_text},
      {"healthy", server.check.healthy.load(std::memory_order_relaxed)},
      {"admin_state", static_cast<int64_t>(server.admin_state.load(std::memory_order_relaxed))},
      {"weight", server.weight.load(std::memory_order_relaxed)},
      {"fails", passive.fails},
      {"window_start", passive.window_start},
      {"down_until", passive.down_until}};
  if (upstream.outliers) {
    auto outlier = upstream.outliers->carryOut(server.index);
    out["consecutive_5xx"] = outlier.consecutive_5xx;
    out["consecutive_gateway"] = outlier.consecutive_gateway;
    out["ejected_until"] = outlier.ejected_until;
    out["times_ejected"] = outlier.times_ejected;
  }
  return out;
}

json::object breakerState(const resilience::CircuitBreaker& breaker, int64_t now_ms) {
  auto carry = breaker.carryOut(now_ms);
  json::array window;
  for (const auto& slice : carry.window)
    window.push_back(json::array{slice.epoch, slice.successes, slice.failures});
  return {{"open", carry.state != resilience::BreakerState::kClosed},
          {"opened_at", carry.opened_at_ms},
          {"window", std::move(window)}};
}

json::object upstreamState(const SharedUpstream& upstream, int64_t now_ms) {
  json::object out{{"name", upstream.config->name}, {"source", upstream.config->source}};
  out["rotation"] = json::array{upstream.rotation.tiers[0].next.load(std::memory_order_relaxed),
                                upstream.rotation.tiers[1].next.load(std::memory_order_relaxed)};
  if (upstream.breaker) out["breaker"] = breakerState(*upstream.breaker, now_ms);
  json::array servers;
  if (!upstream.slots) {  // run-time servers come back from their own source
    for (const auto& server : upstream.servers) servers.push_back(serverState(upstream, *server));
  }
  out["servers"] = std::move(servers);
  return out;
}

void applyServer(SharedUpstream& upstream, SharedServer& server, const json::object& state) {
  server.check.healthy.store(state.at("healthy").as_bool(), std::memory_order_relaxed);
  auto admin = static_cast<AdminState>(asInt(state, "admin_state"));
  if (admin == AdminState::kEnabled || admin == AdminState::kDraining ||
      admin == AdminState::kDisabled) {
    server.admin_state.store(admin, std::memory_order_relaxed);
  }
  if (auto weight = asInt(state, "weight"); weight > 0)
    server.weight.store(static_cast<uint32_t>(weight), std::memory_order_relaxed);
  server.health.carryIn({static_cast<uint64_t>(asInt(state, "fails")), asInt(state, "window_start"),
                         asInt(state, "down_until")});
  if (upstream.outliers && state.contains("ejected_until")) {
    upstream.outliers->carryIn(
        server.index,
        {static_cast<uint32_t>(asInt(state, "consecutive_5xx")),
         static_cast<uint32_t>(asInt(state, "consecutive_gateway")), asInt(state, "ejected_until"),
         static_cast<uint32_t>(asInt(state, "times_ejected"))});
  }
}

void applyBreaker(resilience::CircuitBreaker& breaker, const json::object& state, int64_t now_ms) {
  resilience::BreakerCarry carry;
  carry.state = state.at("open").as_bool() ? resilience::BreakerState::kOpen
                                           : resilience::BreakerState::kClosed;
  carry.opened_at_ms = asInt(state, "opened_at");
  for (const auto& slice : state.at("window").as_array()) {
    const auto& fields = slice.as_array();
    carry.window.push_back({fields.at(0).to_number<int64_t>(), fields.at(1).to_number<uint64_t>(),
                            fields.at(2).to_number<uint64_t>()});
  }
  breaker.carryIn(carry, now_ms);
}

// Takes over one upstream's state when an upstream of that name has the same configuration.
void applyUpstream(SharedState& shared, const json::object& state, int64_t now_ms,
                   CarriedState* carried) {
  const json::string& name = state.at("name").as_string();
  for (auto& upstream : shared.upstreams()) {
    if (upstream.config->name != name) continue;
    if (upstream.config->source.empty() ||
        upstream.config->source != state.at("source").as_string()) {
      ++carried->changed;
      return;
    }
    const auto& rotation = state.at("rotation").as_array();
    for (size_t tier = 0; tier < upstream.rotation.tiers.size() && tier < rotation.size(); ++tier)
      upstream.rotation.tiers[tier].next.store(rotation[tier].to_number<uint32_t>());
    if (upstream.breaker && state.contains("breaker"))
      applyBreaker(*upstream.breaker, state.at("breaker").as_object(), now_ms);
    if (!upstream.slots) {
      for (const auto& server_state : state.at("servers").as_array()) {
        const auto& fields = server_state.as_object();
        for (auto& server : upstream.servers) {
          if (server->address_text != fields.at("address").as_string()) continue;
          applyServer(upstream, *server, fields);
          ++carried->servers;
        }
      }
    }
    upstream.weights_version.fetch_add(1);  // workers read the weights afresh
    ++carried->upstreams;
    return;
  }
}

// TLS listeners: their session ticket keys, so that clients resume across the hand-over.
json::array listenerStates(SharedState& shared) {
  json::array out;
  for (const auto& listener : shared.listeners()) {
    const auto& tls = listener.config->tls;
    if (!tls || !tls->context) continue;
    std::string keys = tls->context->ticketKeys();
    if (keys.empty()) continue;
    out.push_back(json::object{{"name", listener.config->name},
                               {"tls", tls->source},
                               {"ticket_keys", base::hexEncode(keys)}});
  }
  return out;
}

void applyListener(SharedState& shared, const json::object& state, CarriedState* carried) {
  for (const auto& listener : shared.listeners()) {
    const auto& tls = listener.config->tls;
    if (listener.config->name != state.at("name").as_string() || !tls || !tls->context) continue;
    if (tls->source != state.at("tls").as_string()) return;  // changed: new keys
    std::string keys;
    if (base::hexDecode(state.at("ticket_keys").as_string(), &keys) &&
        tls->context->setTicketKeys(keys))
      ++carried->ticket_keys;
    return;
  }
}

}  // namespace

std::string exportRunningState(SharedState& shared, int64_t now_ms) {
  json::array upstreams;
  for (const auto& upstream : shared.upstreams())
    upstreams.push_back(upstreamState(upstream, now_ms));
  std::string document = json::serialize(
      json::object{{"upstreams", std::move(upstreams)}, {"listeners", listenerStates(shared)}});
  std::string out(kMagic);
  out.push_back(static_cast<char>(kVersion));
  uint64_t length = document.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  out += document;
  exportCache(shared, &out);
  return out;
}

bool importRunningState(SharedState& shared, std::string_view bytes, int64_t now_ms,
                        CarriedState* carried, std::string* error) {
  if (bytes.size() < kHeaderSize || bytes.substr(0, 4) != kMagic ||
      static_cast<uint8_t>(bytes[4]) != kVersion) {
    return *error = "not a running state of this version", false;
  }
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= uint64_t{static_cast<uint8_t>(bytes[5 + i])} << (8 * i);
  if (length > bytes.size() - kHeaderSize) return *error = "truncated running state", false;
  try {
    json::value document = json::parse(bytes.substr(kHeaderSize, length));
    for (const auto& upstream : document.at("upstreams").as_array())
      applyUpstream(shared, upstream.as_object(), now_ms, carried);
    if (const json::value* listeners = document.as_object().if_contains("listeners")) {
      for (const auto& listener : listeners->as_array())
        applyListener(shared, listener.as_object(), carried);
    }
  } catch (const std::exception& failure) {
    return *error = std::string("bad running state: ") + failure.what(), false;
  }
  CacheImport cache;
  bool cache_ok = importCache(shared, bytes.substr(kHeaderSize + length), &cache, error);
  carried->cache_entries = cache.restored;
  carried->cache_refused = cache.refused;
  carried->cache_unowned = cache.unowned;
  return cache_ok;
}

}  // namespace sg::proxy
