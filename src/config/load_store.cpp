// The top-level `store` (shared state in Redis or Redis Cluster) and the checks that tie
// other sections to it: a cluster-scope rate limit needs a store.
#include "config/load.h"

namespace sg::config::detail {

namespace {

constexpr uint32_t kMaxDatabase = 15;  // Redis's default `databases 16`
constexpr uint32_t kMaxConnections = 64;
constexpr Duration kMaxTimeout = std::chrono::seconds(60);

void readStoreType(ErrorSink& errors, const Field* field, StoreConfig* out) {
  std::string type;
  if (!readString(errors, field, &type)) return;
  if (type == "redis") {
    out->type = StoreConfig::Type::kRedis;
  } else if (type == "redis_cluster") {
    out->type = StoreConfig::Type::kRedisCluster;
  } else {
    errors.add(field->mark(), field->path,
               "unknown type " + quoted(type) + " (one of: redis, redis_cluster)");
  }
}

void readSeeds(ErrorSink& errors, const Field& field, std::vector<net::Address>* out) {
  for (const Field& item : sequenceItems(errors, field)) {
    net::Address address;
    if (readAddress(errors, &item, &address)) out->push_back(address);
  }
  if (field.value.IsSequence() && field.value.size() == 0) {
    errors.add(field.mark(), field.path, "must list at least one node of the cluster (host:port)");
  }
}

// `address` belongs to redis and `seeds` to redis_cluster; the other is a mistake worth
// naming rather than silently ignoring.
void readEndpoints(ErrorSink& errors, MapReader& map, StoreConfig* out) {
  const bool cluster = out->type == StoreConfig::Type::kRedisCluster;
  const Field* address = map.find("address");
  const Field* seeds = map.find("seeds");
  if (cluster) {
    if (address != nullptr) {
      errors.add(address->mark(), address->path,
                 "redis_cluster takes `seeds: [host:port, ...]`, not address");
    }
    if (const Field* required = map.require("seeds")) readSeeds(errors, *required, &out->seeds);
    return;
  }
  if (seeds != nullptr)
    errors.add(seeds->mark(), seeds->path, "seeds apply to type: redis_cluster only");
  readAddress(errors, map.require("address"), &out->address);
}

}  // namespace

void loadStore(ErrorSink& errors, const Field& field, StoreConfig* out) {
  MapReader map(
      errors, field,
      {"type", "address", "seeds", "username", "password", "database", "timeout", "connections"});
  if (!map.valid()) return;
  readStoreType(errors, map.require("type"), out);
  if (out->type == StoreConfig::Type::kNone) return;
  readEndpoints(errors, map, out);
  readString(errors, map.find("username"), &out->username);
  readString(errors, map.find("password"), &out->password);
  if (!out->username.empty() && out->password.empty()) {
    const Field* username = map.find("username");
    errors.add(username->mark(), username->path,
               "username needs a password (AUTH username password)");
  }
  if (const Field* database = map.find("database")) {
    if (out->type == StoreConfig::Type::kRedisCluster) {
      errors.add(database->mark(), database->path, "Redis Cluster has only database 0");
    } else {
      readUint32(errors, database, 0, kMaxDatabase, &out->database);
    }
  }
  if (const Field* timeout = map.find("timeout");
      readDuration(errors, timeout, &out->timeout, false)) {
    if (out->timeout > kMaxTimeout)
      errors.add(timeout->mark(), timeout->path, "must be at most 60s");
  }
  readUint32(errors, map.find("connections"), 1, kMaxConnections, &out->connections);
}

void checkClusterScopes(ErrorSink& errors, const Field* store, const Config& config) {
  if (config.store.type != StoreConfig::Type::kNone || store != nullptr) return;
  auto check = [&](const std::optional<RateLimitConfig>& limit, const std::string& where) {
    if (limit && limit->scope == RateLimitConfig::Scope::kCluster) {
      errors.add(YAML::Mark(), where +
                                   ".rate_limit: scope: cluster needs the top-level `store` (type: "
                                   "redis or redis_cluster)");
    }
  };
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const std::string listener = "listeners[" + std::to_string(i) + "]";
    check(config.listeners[i].rate_limit, listener);
    for (size_t r = 0; r < config.listeners[i].routes.size(); ++r) {
      const RouteConfig& route = config.listeners[i].routes[r];
      const std::string where = listener + ".routes[" + std::to_string(r) + "]";
      check(route.rate_limit, where);
      if (route.cache && route.cache->l2) {
        errors.add(YAML::Mark(), where +
                                     ".cache: l2: true needs the top-level `store` (type: "
                                     "redis or redis_cluster)");
      }
    }
  }
}

}  // namespace sg::config::detail
