#include "pg/pg_service.h"

#include <spdlog/spdlog.h>

#include "pg/pg_metrics.h"
#include "pg/pg_worker.h"

namespace sg::pg {

PgService::PgService(std::shared_ptr<const config::Config> config, uint32_t workers,
                     metrics::Registry* registry)
    : config_(&*config->postgres),
      generations_{std::move(config)},
      worker_count_(workers),
      registry_(registry),
      users_(std::make_shared<UserList>()) {
  if (registry_ != nullptr) registerServiceMetrics(*this, *registry_);
}

PgService::~PgService() = default;

bool PgService::start(std::string* error) { return reloadUsers(error); }

bool PgService::reloadUsers(std::string* error) {
  const auto& users_file = config().users_file;
  if (users_file.empty()) return true;
  auto users = std::make_shared<UserList>();
  if (!UserList::load(users_file, users.get(), error)) return false;
  std::lock_guard lock(users_mutex_);
  users_ = std::move(users);
  return true;
}

bool PgService::userSecret(const std::string& user, std::string* secret) const {
  std::shared_ptr<const UserList> users;
  {
    std::lock_guard lock(users_mutex_);
    users = users_;
  }
  const std::string* found = users->find(user);
  if (found == nullptr) return false;
  *secret = *found;
  return true;
}

Pool* PgService::pool(const config::PostgresDatabaseConfig& database, const std::string& user,
                      uint32_t backend, uint32_t shard) {
  // A forced server user logs in with the database's password or its user list entry;
  // otherwise the client's own user and secret.
  return findOrMakePool(database, user, database.user.empty() ? user : database.user, backend,
                        shard);
}

Pool* PgService::authPool(const config::PostgresDatabaseConfig& database,
                          const std::string& auth_user) {
  return findOrMakePool(database, auth_user, auth_user, Pool::kPrimary, 0);
}

Pool* PgService::findOrMakePool(const config::PostgresDatabaseConfig& database,
                                const std::string& user, const std::string& server_user,
                                uint32_t backend, uint32_t shard) {
  Pool* made = nullptr;
  // Set before the pool is published: another worker may find it at once.
  ServerHealth& health = serverHealth(database.name, backend, shard);
  {
    std::lock_guard lock(pools_mutex_);
    for (auto& pool : pools_) {
      if (pool->database().name == database.name && pool->clientUser() == user &&
          pool->serverUser() == server_user && pool->backend() == backend && pool->shard() == shard)
        return pool.get();
    }
    std::string secret = server_user == database.user ? database.password : std::string();
    if (secret.empty()) userSecret(server_user, &secret);
    pools_.push_back(std::make_unique<Pool>(config(), database, user, server_user,
                                            std::move(secret), worker_count_, backend, shard));
    made = pools_.back().get();
    made->health = &health;
  }
  // After the pools' lock: a scrape holds the registry's lock and then takes the pools' one.
  if (registry_ != nullptr) registerPoolMetrics(*made, *registry_);
  return made;
}

ServerHealth& PgService::serverHealth(const std::string& database, uint32_t backend,
                                      uint32_t shard) {
  std::lock_guard lock(health_mutex_);
  auto& slot = health_[{database, shard, backend}];
  if (slot == nullptr) slot = std::make_unique<ServerHealth>();
  return *slot;
}

std::vector<Pool*> PgService::pools() const {
  std::lock_guard lock(pools_mutex_);
  std::vector<Pool*> out;
  for (const auto& pool : pools_) out.push_back(pool.get());
  return out;
}

bool PgService::reload(std::string* error) {
  std::lock_guard reload_lock(reload_mutex_);
  const std::string& path = generations_.back()->source_path;
  config::LoadResult loaded = config::loadConfigFile(path);
  if (!loaded.config) {
    *error = "the file has errors; the running configuration stays:";
    for (const auto& problem : loaded.errors) *error += "\n" + problem.toString();
    return false;
  }
  if (!loaded.config->postgres) {
    *error = path + " has no postgres section any more; the running configuration stays";
    return false;
  }
  const config::PostgresConfig& next = *loaded.config->postgres;
  const config::PostgresConfig& previous = config();
  bool same_listeners = next.listeners.size() == previous.listeners.size();
  for (size_t i = 0; same_listeners && i < next.listeners.size(); ++i)
    same_listeners = next.listeners[i].address == previous.listeners[i].address;
  if (!same_listeners)
    spdlog::warn("postgres: RELOAD does not change listeners; they change at a restart");
  // As PgBouncer does: a change of server TLS settings replaces every server as it is released.
  const auto& tls = next.server_tls;
  const auto& old_tls = previous.server_tls;
  bool tls_changed = tls.mode != old_tls.mode || tls.ca != old_tls.ca || tls.cert != old_tls.cert ||
                     tls.key != old_tls.key;
  generations_.push_back(loaded.config);
  config_.store(&next, std::memory_order_release);
  for (Pool* pool : pools()) {
    const auto* database = next.findDatabase(pool->database().name);
    if (database == nullptr) continue;  // removed: its clients stay, new ones are refused
    bool renamed = pool->database().dbname != database->dbname;
    net::Address before, after;
    bool was_listed = pool->address(&before);
    std::lock_guard lock(pool->mutex);
    pool->rebind(next, *database);
    // A replica dropped from the list, or its address or the server database changed.
    bool moved = renamed || was_listed != pool->address(&after) || !(before == after);
    if (moved || tls_changed) ++pool->generation;  // old servers close when released
  }
  if (tls_changed) {
    for (PgWorker* worker : workers_) worker->post([worker] { worker->closeIdleServers(nullptr); });
  }
  if (registry_ != nullptr) {
    for (const auto& database : next.databases) {
      if (previous.findDatabase(database.name) == nullptr)
        registerDatabaseMetrics(*this, database, *registry_);
    }
  }
  if (!reloadUsers(error)) return false;
  spdlog::info("postgres: configuration reloaded from {}", path);
  return true;
}

bool PgService::admitClient() {
  uint32_t current = clients_.load(std::memory_order_relaxed);
  do {
    if (current >= config().max_client_conn) return false;
  } while (!clients_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

bool PgService::registerCancelKey(int32_t pid, int32_t secret, uint32_t worker,
                                  uint64_t client_id) {
  std::lock_guard lock(cancel_keys_->mutex);
  return cancel_keys_->targets.try_emplace(pid, CancelTarget{secret, worker, client_id}).second;
}

void PgService::unregisterCancelKey(int32_t pid) {
  std::lock_guard lock(cancel_keys_->mutex);
  cancel_keys_->targets.erase(pid);
}

bool PgService::findCancelKey(int32_t pid, int32_t secret, uint32_t* worker,
                              uint64_t* client_id) const {
  std::lock_guard lock(cancel_keys_->mutex);
  auto it = cancel_keys_->targets.find(pid);
  if (it == cancel_keys_->targets.end() || it->second.secret != secret) return false;
  *worker = it->second.worker;
  *client_id = it->second.client_id;
  return true;
}

std::shared_ptr<const Statement> PgService::internStatement(std::string_view body) {
  Statements& registry = *statements_;
  std::lock_guard lock(registry.mutex);
  std::string key(body);
  auto it = registry.by_body.find(key);
  if (it != registry.by_body.end()) {
    if (auto existing = it->second.lock()) return existing;
  }
  // Forget texts no client holds any more, now and then, so the map stays small.
  if (registry.by_body.size() > 4096 && registry.by_body.size() % 1024 == 0) {
    for (auto entry = registry.by_body.begin(); entry != registry.by_body.end();) {
      entry = entry->second.expired() ? registry.by_body.erase(entry) : std::next(entry);
    }
  }
  auto statement = std::make_shared<Statement>();
  statement->id = registry.next_id++;
  statement->body = key;
  statement->server_name = "sg_prepared_" + std::to_string(statement->id);
  registry.by_body[std::move(key)] = statement;
  return statement;
}

}  // namespace sg::pg
