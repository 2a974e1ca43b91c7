#include "pg/pool.h"

#include <algorithm>

namespace sg::pg {

Pool::Pool(const config::PostgresConfig& config, const config::PostgresDatabaseConfig& database,
           std::string client_user, std::string server_user, std::string server_secret,
           uint32_t workers, uint32_t backend, uint32_t shard)
    : idle(workers),
      database_(&database),
      backend_(backend),
      shard_(shard),
      client_user_(std::move(client_user)),
      server_user_(std::move(server_user)),
      server_secret_(std::move(server_secret)),
      size_(config.poolSize(database)),
      reserve_(config.reservePool(database)),
      reserve_timeout_ms_(config.reserve_pool_timeout.count()) {}

void Pool::rebind(const config::PostgresConfig& config,
                  const config::PostgresDatabaseConfig& database) {
  database_.store(&database, std::memory_order_release);
  size_ = config.poolSize(database);
  reserve_ = config.reservePool(database);
  reserve_timeout_ms_ = config.reserve_pool_timeout.count();
}

const config::PostgresRoutingConfig& Pool::routing() const {
  const auto& db = database();
  if (!db.sharding.enabled() || shard_ >= db.sharding.shards.size()) return db.routing;
  return db.sharding.shards[shard_].routing;
}

const std::string& Pool::dbname() const {
  const auto& db = database();
  if (!db.sharding.enabled() || shard_ >= db.sharding.shards.size()) return db.dbname;
  return db.sharding.shards[shard_].dbname;
}

bool Pool::address(net::Address* out) const {
  const auto& db = database();
  if (db.sharding.enabled() && shard_ >= db.sharding.shards.size()) return false;
  const net::Address& primary =
      db.sharding.enabled() ? db.sharding.shards[shard_].primary : db.primary;
  const auto& replicas = routing().replicas;
  uint32_t server = backend_;
  if (backend_ == kPrimary && health != nullptr) {
    server = health->acting_primary.load(std::memory_order_relaxed);  // primary_discovery
  }
  if (server == kPrimary) {
    *out = primary;
    return true;
  }
  if (server > replicas.size()) return false;
  *out = replicas[server - 1];
  return true;
}

size_t Pool::idleCount() const {
  size_t count = 0;
  for (const auto& per_worker : idle) count += per_worker.size();
  return count;
}

uint32_t Pool::limit(int64_t now_ms) const {
  if (reserve_ > 0 && !waiters.empty() && now_ms - waiters.front().since_ms >= reserve_timeout_ms_)
    return size_ + reserve_;
  return size_;
}

bool Pool::removeWaiter(uint64_t waiter_id) {
  auto it = std::find_if(waiters.begin(), waiters.end(),
                         [waiter_id](const PoolWaiter& w) { return w.waiter_id == waiter_id; });
  if (it == waiters.end()) return false;
  waiters.erase(it);
  return true;
}

std::string Pool::serverSecret() const {
  std::lock_guard lock(key_mutex_);
  return server_secret_;
}

void Pool::setServerSecret(const std::string& secret) {
  std::lock_guard lock(key_mutex_);
  if (secret == server_secret_) return;
  server_secret_ = secret;
  has_key_ = false;  // a ClientKey proved for the old verifier would not open the new one
}

void Pool::setPassThroughKey(const ScramKey& key) {
  std::lock_guard lock(key_mutex_);
  client_key_ = key;
  has_key_ = true;
}

bool Pool::passThroughKey(ScramKey* key) {
  std::lock_guard lock(key_mutex_);
  if (has_key_) *key = client_key_;
  return has_key_;
}

void shareCredentials(Pool& from, Pool& to) {
  ScramKey key;
  if (from.passThroughKey(&key)) to.setPassThroughKey(key);
  std::string secret = from.serverSecret();
  if (!secret.empty()) to.setServerSecret(secret);
}

}  // namespace sg::pg
