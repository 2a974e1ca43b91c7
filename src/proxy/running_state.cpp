#include "proxy/running_state.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstring>
#include <stdexcept>

#include "base/hex.h"
#include "proxy/cache_handover.h"
#include "proxy/protection_state.h"
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

// Everything that decides a local limit's states: a successor takes them over only when
// its limit (same listener and route) has the same.
std::string limitFingerprint(const config::RateLimitConfig& config) {
  std::string out = fmt::format("{} {} {} {}/{} {} {}", static_cast<int>(config.algorithm),
                                static_cast<int>(config.key), config.key_header, config.rate.count,
                                config.rate.period.count(), config.burst, config.max_keys);
  for (const auto& [key, tier] : config.tiers)
    out += fmt::format(" {}={}/{}:{}", key, tier.rate.count, tier.rate.period.count(), tier.burst);
  return out;
}

// Calls fn(listener name, route name ("" for the listener's), limit) for each local limit.
template <typename Fn>
void forEachLocalLimit(SharedState& shared, Fn&& fn) {
  auto visit = [&fn](const std::string& listener, const std::string& route, SharedLimit* limit) {
    if (limit != nullptr && limit->config->scope == config::RateLimitConfig::Scope::kLocal)
      fn(listener, route, *limit);
  };
  for (auto& listener : shared.listeners()) {
    visit(listener.config->name, "", listener.rate_limit.get());
    for (auto& route : listener.router.routes())
      visit(listener.config->name, route.config->name, route.rate_limit.get());
  }
}

// Each live key as 32 bytes (stored hash, idle_at, a, b; little-endian) in hexadecimal.
std::string keysToHex(const ratelimit::RateLimiter::Carry& carry) {
  std::string out;
  out.reserve(carry.keys.size() * 64);
  for (const auto& [tag, state] : carry.keys) {
    for (uint64_t word :
         {tag, static_cast<uint64_t>(state.idle_at), static_cast<uint64_t>(state.a), state.b})
      for (int i = 0; i < 8; ++i)
        fmt::format_to(std::back_inserter(out), "{:02x}", (word >> (8 * i)) & 0xff);
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

// Throws (caught by importRunningState) on a malformed string.
void keysFromHex(std::string_view text, ratelimit::RateLimiter::Carry* carry) {
  if (text.size() % 64 != 0) throw std::invalid_argument("rate limit keys of a bad length");
  auto nibble = [](char c) -> uint64_t {
    if (c >= '0' && c <= '9') return static_cast<uint64_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<uint64_t>(c - 'a' + 10);
    throw std::invalid_argument("rate limit keys that are not hexadecimal");
  };
  carry->keys.reserve(text.size() / 64);
  for (size_t at = 0; at < text.size(); at += 64) {
    uint64_t words[4] = {};
    for (size_t w = 0; w < 4; ++w) {
      for (size_t i = 0; i < 8; ++i) {
        const size_t digit = at + 16 * w + 2 * i;
        words[w] |= (nibble(text[digit]) << 4 | nibble(text[digit + 1])) << (8 * i);
      }
    }
    carry->keys.emplace_back(words[0], ratelimit::State{static_cast<int64_t>(words[1]),
                                                        static_cast<int64_t>(words[2]), words[3]});
  }
}

json::array rateLimitStates(SharedState& shared, int64_t now_ms) {
  json::array out;
  forEachLocalLimit(shared,
                    [&](const std::string& listener, const std::string& route, SharedLimit& limit) {
                      auto carry = limit.limiter->carryOut(now_ms * 1000);
                      out.push_back(json::object{{"listener", listener},
                                                 {"route", route},
                                                 {"config", limitFingerprint(*limit.config)},
                                                 {"seed", carry.hash_seed},
                                                 {"keys", keysToHex(carry)}});
                    });
  return out;
}

// Takes each limit's keys over where the successor has the same limit; returns the keys.
size_t applyRateLimits(SharedState& shared, const json::array& states, int64_t now_ms) {
  size_t keys = 0;
  forEachLocalLimit(shared, [&](const std::string& listener, const std::string& route,
                                SharedLimit& limit) {
    for (const auto& value : states) {
      const auto& state = value.as_object();
      if (state.at("listener").as_string() != listener || state.at("route").as_string() != route ||
          state.at("config").as_string() != limitFingerprint(*limit.config))
        continue;
      ratelimit::RateLimiter::Carry carry;
      carry.hash_seed = state.at("seed").to_number<uint64_t>();
      keysFromHex(state.at("keys").as_string(), &carry);
      limit.limiter->carryIn(carry, now_ms * 1000);
      keys += carry.keys.size();
    }
  });
  return keys;
}

}  // namespace

std::string exportRunningState(SharedState& shared, int64_t now_ms) {
  json::array upstreams;
  for (const auto& upstream : shared.upstreams())
    upstreams.push_back(upstreamState(upstream, now_ms));
  std::string document =
      json::serialize(json::object{{"upstreams", std::move(upstreams)},
                                   {"listeners", listenerStates(shared)},
                                   {"rate_limits", rateLimitStates(shared, now_ms)}});
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
    // Absent from a predecessor of an earlier version: its successor's limits start fresh.
    if (const json::value* limits = document.as_object().if_contains("rate_limits"))
      carried->rate_limit_keys = applyRateLimits(shared, limits->as_array(), now_ms);
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

std::string describe(const CarriedState& carried) {
  return fmt::format(
      "the state of {} upstream(s) ({} servers), {} cache entries ({} did not fit, {} of routes "
      "that no longer cache), {} rate-limit keys; {} changed upstream(s) start fresh; {} TLS "
      "listener(s) keep their session ticket keys",
      carried.upstreams, carried.servers, carried.cache_entries, carried.cache_refused,
      carried.cache_unowned, carried.rate_limit_keys, carried.changed, carried.ticket_keys);
}

}  // namespace sg::proxy
