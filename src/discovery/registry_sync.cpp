#include "discovery/registry_sync.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <optional>
#include <set>

#include "store/resp.h"
#include "store/script.h"

namespace sg::discovery {

namespace json = boost::json;

namespace {

constexpr std::string_view kServicesKey = "scalegate:registry:services";

std::string serviceKey(const std::string& service) {
  return "scalegate:registry:{" + service + "}";
}

// ARGV: id, definition, heartbeat ms, px, registered_at ms, mode ("put" | "republish").
// A republish never overwrites a newer registration, nor a newer heartbeat of the same one.
const store::Script& putScript() {
  static const store::Script kScript(R"lua(
local hb = KEYS[1] .. ':hb:' .. ARGV[1]
if ARGV[6] == 'republish' then
  local current = redis.call('HGET', KEYS[1], ARGV[1])
  if current then
    local ok, old = pcall(cjson.decode, current)
    local at = ok and tonumber(old.registered_at_ms) or nil
    if at and at > tonumber(ARGV[5]) then return 0 end
    if at and at == tonumber(ARGV[5]) then
      redis.call('SET', hb, ARGV[3], 'PX', ARGV[4], 'NX')
      return 0
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', hb, ARGV[3], 'PX', ARGV[4])
return 1
)lua");
  return kScript;
}

// ARGV: id, heartbeat ms, px. Only an instance Redis still knows is kept alive.
const store::Script& heartbeatScript() {
  static const store::Script kScript(R"lua(
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[1] .. ':hb:' .. ARGV[1], ARGV[2], 'PX', ARGV[3])
return 1
)lua");
  return kScript;
}

const store::Script& removeScript() {
  static const store::Script kScript(R"lua(
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[1] .. ':hb:' .. ARGV[1])
return 1
)lua");
  return kScript;
}

// Returns {live, expired}: live is id, definition, heartbeat ms for each instance whose
// heartbeat key is still there; the others' definitions are dropped (and named in expired).
const store::Script& readScript() {
  static const store::Script kScript(R"lua(
local all = redis.call('HGETALL', KEYS[1])
local live, expired = {}, {}
for i = 1, #all, 2 do
  local hb = redis.call('GET', KEYS[1] .. ':hb:' .. all[i])
  if hb then
    live[#live + 1] = all[i]; live[#live + 1] = all[i + 1]; live[#live + 1] = hb
  else
    redis.call('HDEL', KEYS[1], all[i])
    expired[#expired + 1] = all[i]
  end
end
return {live, expired}
)lua");
  return kScript;
}

std::string definitionJson(const Instance& instance) {
  json::object out;
  out["address"] = instance.spec.address_text;
  out["weight"] = instance.spec.weight;
  out["ttl_ms"] = instance.spec.ttl_ms;
  json::error_code code;
  json::value metadata = json::parse(instance.spec.metadata_json, code);
  out["metadata"] = code ? json::value(json::object()) : std::move(metadata);
  out["registered_at_ms"] = instance.registered_at_ms;
  return json::serialize(out);
}

int64_t integerField(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr) return -1;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<int64_t>(value->as_uint64());
  return -1;
}

// An instance as Redis holds it; nullopt for a definition this gateway cannot read (written
// by a newer version, or by hand): it is left out rather than guessed.
std::optional<Instance> parseRemote(std::string_view id, std::string_view definition,
                                    std::string_view heartbeat) {
  json::error_code code;
  json::value value = json::parse(definition, code);
  if (code || !value.is_object()) return std::nullopt;
  const json::object& object = value.as_object();
  const json::value* address = object.if_contains("address");
  const json::value* metadata = object.if_contains("metadata");
  if (address == nullptr || !address->is_string()) return std::nullopt;
  Instance instance;
  instance.id = std::string(id);
  std::string error;
  auto parsed = net::Address::parse(address->as_string(), &error);
  const int64_t weight = integerField(object, "weight");
  const int64_t ttl = integerField(object, "ttl_ms");
  if (!parsed || weight < kMinWeight || weight > kMaxWeight || ttl < kMinTtlMs || ttl > kMaxTtlMs)
    return std::nullopt;
  instance.spec.address = *parsed;
  instance.spec.address_text = std::string(address->as_string());
  instance.spec.weight = static_cast<uint32_t>(weight);
  instance.spec.ttl_ms = ttl;
  if (metadata != nullptr && metadata->is_object())
    instance.spec.metadata_json = json::serialize(*metadata);
  instance.registered_at_ms = std::max<int64_t>(0, integerField(object, "registered_at_ms"));
  instance.last_heartbeat_ms = std::atoll(std::string(heartbeat).c_str());
  return instance;
}

}  // namespace

RegistrySync::RegistrySync(Registry& registry, const config::StoreConfig& config,
                           net::EventLoop& loop, store::StoreStats& stats)
    : registry_(registry), stats_(stats) {
  // One connection (per node): the writes of a round must reach Redis before its reads.
  config::StoreConfig own = config;
  own.connections = 1;
  // Off the request path: a sync round can afford more than a request's store timeout.
  own.timeout = std::max<config::Duration>(config.timeout, std::chrono::milliseconds(200));
  client_ = store::makeClient(own, loop, stats);
}

RegistrySync::~RegistrySync() = default;

void RegistrySync::start() {
  registry_.setLocalEviction(false);  // Redis expires heartbeats (see the header)
  registry_.setChangeSink(this);
  client_->start();
}

void RegistrySync::shutdown() {
  registry_.setChangeSink(nullptr);
  client_->cancel(this);
  client_->shutdown();
}

void RegistrySync::onLocalChange(const std::string& service, const std::string& id, Kind kind) {
  std::lock_guard lock(dirty_mutex_);
  auto [it, added] = dirty_.try_emplace({service, id}, kind);
  // A put or a removal says more than a heartbeat; the latest of put/removal wins.
  if (!added && (kind != Kind::kHeartbeat || it->second == Kind::kHeartbeat)) it->second = kind;
}

void RegistrySync::tick() {
  const uint64_t reconnects = stats_.reconnects->value();
  if (reconnects != reconnects_seen_) {
    reconnects_seen_ = reconnects;
    need_republish_ = true;  // Redis may have restarted empty
  }
  // Taken before the changes are drained: every change up to it is written below, before
  // this round's reads are sent, on the same connection.
  const uint64_t issued = registry_.localWriteSeq();
  if (need_republish_ && client_->ready()) republishAll();
  writeChanges();
  if (round_open_) return;
  issued_at_ = issued;
  readServices();
}

void RegistrySync::republishAll() {
  need_republish_ = false;
  std::vector<std::string> services;
  const std::vector<Instance> instances = registry_.allInstances(&services);
  for (size_t i = 0; i < instances.size(); ++i)
    writeOne(services[i], instances[i].id, Kind::kPut, true);
}

void RegistrySync::writeChanges() {
  std::map<Key, Kind> changes;
  {
    std::lock_guard lock(dirty_mutex_);
    changes.swap(dirty_);
  }
  for (const auto& [key, kind] : changes) writeOne(key.first, key.second, kind, false);
}

void RegistrySync::writeOne(const std::string& service, const std::string& id, Kind kind,
                            bool republish) {
  const std::string key = serviceKey(service);
  std::optional<Instance> instance = registry_.find(service, id);
  std::string command;
  const store::Script* script = &removeScript();
  if (!instance) {
    if (kind == Kind::kHeartbeat) return;  // removed since: its removal is on its way
    kind = Kind::kRemove;
    store::appendScriptCall(&command, removeScript(), key, {id});
  } else {
    const int64_t left =
        instance->spec.ttl_ms - (registry_.clock().nowMs() - instance->last_heartbeat_ms);
    if (left <= 0) return;  // expired here already: nothing worth sharing
    const std::string heartbeat = std::to_string(instance->last_heartbeat_ms);
    const std::string px = std::to_string(left);
    if (kind == Kind::kHeartbeat) {
      script = &heartbeatScript();
      store::appendScriptCall(&command, heartbeatScript(), key, {id, heartbeat, px});
    } else {
      kind = Kind::kPut;
      script = &putScript();
      const std::string at = std::to_string(instance->registered_at_ms);
      store::appendScriptCall(
          &command, putScript(), key,
          {id, definitionJson(*instance), heartbeat, px, at, republish ? "republish" : "put"});
      std::string add;
      store::appendCommand(&add, {"SADD", kServicesKey, service});
      send(kServicesKey, std::move(add), nullptr,
           Request{Op::kWrite, round_, service, id, kind, republish});
    }
  }
  send(key, std::move(command), script, Request{Op::kWrite, round_, service, id, kind, republish});
}

void RegistrySync::readServices() {
  round_open_ = true;
  round_failed_ = false;
  reads_left_ = 0;
  ++round_;
  std::string command;
  store::appendCommand(&command, {"SMEMBERS", kServicesKey});
  send(kServicesKey, std::move(command), nullptr, Request{Op::kMembers, round_, {}, {}, {}});
}

bool RegistrySync::send(std::string_view key, std::string&& command, const store::Script* script,
                        Request request) {
  const uint64_t cookie = next_cookie_++;
  waiting_.emplace(cookie, std::move(request));
  if (client_->send(key, std::move(command), script, this, cookie)) return true;
  // No connection: answered now as a failure, as a reply would be.
  onReply(cookie, store::Reply::failed(store::ReplyStatus::kUnavailable, "store unavailable"));
  return false;
}

void RegistrySync::failRound() {
  round_failed_ = true;
  need_republish_ = true;
  if (synced_.exchange(false, std::memory_order_acq_rel))
    spdlog::warn("registry: Redis unreachable; serving the last known registry");
}

void RegistrySync::onReply(uint64_t cookie, const store::Reply& reply) {
  auto it = waiting_.find(cookie);
  if (it == waiting_.end()) return;
  const Request request = std::move(it->second);
  waiting_.erase(it);
  switch (request.op) {
    case Op::kWrite:
      if (!reply.ok()) {
        // Sent again next round (a republish: with every other instance, see failRound).
        if (!request.republish) onLocalChange(request.service, request.id, request.kind);
        failRound();
      }
      return;
    case Op::kMembers:
      if (request.round == round_) onMembers(reply);
      return;
    case Op::kRead:
      if (request.round == round_) onRead(request, reply);
      return;
  }
}

void RegistrySync::onMembers(const store::Reply& reply) {
  if (!reply.ok()) {
    failRound();
    round_open_ = false;
    return;
  }
  std::set<std::string> names;
  // Names stay in the set once used; bounded as the registry is, whatever Redis holds.
  for (size_t i = 0; i < reply.size() && names.size() < kMaxServices; ++i) {
    std::string name(reply.element(i).string());
    if (!checkName("service", name)) names.insert(std::move(name));
  }
  for (const auto& summary : registry_.services()) names.insert(summary.name);
  reads_left_ = names.size() + 1;  // + 1: this reply, so a round of no service still ends
  for (const auto& name : names) {
    std::string command;
    const std::string key = serviceKey(name);
    store::appendScriptCall(&command, readScript(), key, {});
    send(key, std::move(command), &readScript(), Request{Op::kRead, round_, name, {}, {}});
  }
  finishRead();
}

void RegistrySync::onRead(const Request& request, const store::Reply& reply) {
  if (!reply.ok() || !reply.isArray() || reply.size() != 2) {
    if (reply.ok()) spdlog::warn("registry: unexpected reply reading service {}", request.service);
    failRound();
  } else if (!round_failed_) {
    const store::Reply live = reply.element(0);
    const store::Reply gone = reply.element(1);
    std::vector<Instance> instances;
    for (size_t i = 0; i + 2 < live.size(); i += 3) {
      auto instance = parseRemote(live.element(i).string(), live.element(i + 1).string(),
                                  live.element(i + 2).string());
      if (instance) instances.push_back(std::move(*instance));
    }
    std::vector<std::string> expired;
    for (size_t i = 0; i < gone.size(); ++i) expired.emplace_back(gone.element(i).string());
    registry_.applyRemote(request.service, std::move(instances), expired, issued_at_);
  }
  finishRead();
}

void RegistrySync::finishRead() {
  if (reads_left_ > 0) --reads_left_;
  if (reads_left_ > 0) return;
  round_open_ = false;
  if (round_failed_) return;
  last_sync_ms_.store(registry_.clock().nowMs(), std::memory_order_release);
  if (!synced_.exchange(true, std::memory_order_acq_rel))
    spdlog::info("registry: in step with Redis");
}

}  // namespace sg::discovery
