#include "pg/pg_service.h"

#include <spdlog/spdlog.h>

#include "pg/pg_metrics.h"

namespace sg::pg {

PgService::PgService(const config::PostgresConfig& config, uint32_t workers,
                     metrics::Registry* registry)
    : config_(config),
      worker_count_(workers),
      registry_(registry),
      users_(std::make_shared<UserList>()) {
  if (registry_ != nullptr) registerServiceMetrics(*this, *registry_);
}

PgService::~PgService() = default;

bool PgService::start(std::string* error) { return reloadUsers(error); }

bool PgService::reloadUsers(std::string* error) {
  if (config_.users_file.empty()) return true;
  auto users = std::make_shared<UserList>();
  if (!UserList::load(config_.users_file, users.get(), error)) return false;
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

Pool* PgService::pool(const config::PostgresDatabaseConfig& database, const std::string& user) {
  std::lock_guard lock(pools_mutex_);
  for (auto& pool : pools_) {
    if (&pool->database() == &database && pool->clientUser() == user) return pool.get();
  }
  // A forced server user logs in with the database's password or its user list entry;
  // otherwise the client's own user and secret.
  std::string server_user = database.user.empty() ? user : database.user;
  std::string secret = database.password;
  if (secret.empty()) userSecret(server_user, &secret);
  pools_.push_back(std::make_unique<Pool>(config_, database, user, std::move(server_user),
                                          std::move(secret), worker_count_));
  if (registry_ != nullptr) registerPoolMetrics(*pools_.back(), *registry_);
  return pools_.back().get();
}

std::vector<Pool*> PgService::pools() const {
  std::lock_guard lock(pools_mutex_);
  std::vector<Pool*> out;
  for (const auto& pool : pools_) out.push_back(pool.get());
  return out;
}

bool PgService::admitClient() {
  uint32_t current = clients_.load(std::memory_order_relaxed);
  do {
    if (current >= config_.max_client_conn) return false;
  } while (!clients_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

void PgService::registerCancelKey(int32_t pid, int32_t secret, uint32_t worker,
                                  uint64_t client_id) {
  std::lock_guard lock(cancel_mutex_);
  cancel_keys_[pid] = {secret, worker, client_id};
}

void PgService::unregisterCancelKey(int32_t pid) {
  std::lock_guard lock(cancel_mutex_);
  cancel_keys_.erase(pid);
}

bool PgService::findCancelKey(int32_t pid, int32_t secret, uint32_t* worker,
                              uint64_t* client_id) const {
  std::lock_guard lock(cancel_mutex_);
  auto it = cancel_keys_.find(pid);
  if (it == cancel_keys_.end() || it->second.secret != secret) return false;
  *worker = it->second.worker;
  *client_id = it->second.client_id;
  return true;
}

std::shared_ptr<const Statement> PgService::internStatement(std::string_view body) {
  std::lock_guard lock(statements_mutex_);
  std::string key(body);
  auto it = statements_.find(key);
  if (it != statements_.end()) {
    if (auto existing = it->second.lock()) return existing;
  }
  // Forget texts no client holds any more, now and then, so the map stays small.
  if (statements_.size() > 4096 && statements_.size() % 1024 == 0) {
    for (auto entry = statements_.begin(); entry != statements_.end();) {
      entry = entry->second.expired() ? statements_.erase(entry) : std::next(entry);
    }
  }
  auto statement = std::make_shared<Statement>();
  statement->id = next_statement_++;
  statement->body = key;
  statement->server_name = "sg_prepared_" + std::to_string(statement->id);
  statements_[std::move(key)] = statement;
  return statement;
}

}  // namespace sg::pg
