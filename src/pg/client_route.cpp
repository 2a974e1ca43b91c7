// ClientConn: which of its database's servers runs the client's next transaction (read/write
// splitting). Decided once per transaction, from its first message, before a server is asked
// for; the transaction then stays on that server until ReadyForQuery 'I'.
#include <mutex>

#include "pg/client_conn.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/route/classifier.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

// The statement text of a Query or Parse payload; empty for other messages.
std::string_view statementText(char type, std::string_view payload) {
  PayloadReader reader(payload);
  std::string_view text;
  if (type == 'P') {
    std::string_view name;
    if (!reader.readString(&name)) return {};
  } else if (type != 'Q') {
    return {};
  }
  return reader.readString(&text) ? text : std::string_view();
}

}  // namespace

Pool* ClientConn::routeTransaction(char type, std::string_view payload) {
  const auto& routing = database_config_->routing;
  if (!routing.splits() || sticky_primary_) return pool_;
  std::string_view text = statementText(type, payload);
  if (text.empty()) return pool_;  // Bind of a named statement, COPY data, ...: the primary
  auto verdict = worker_->classifier().classify(text);
  if (verdict->sticky) {
    sticky_primary_ = true;  // session state lives on the primary from now on
    return pool_;
  }
  bool to_replica = verdict->target == route::Target::kReplicaOk;
  if (verdict->hint == route::RouteHint::kPrimary) to_replica = false;
  if (!to_replica) return pool_;
  return pickReplica(routing);
}

// A replica by replica_balance; with primary_reads: include the primary is one more candidate.
Pool* ClientConn::pickReplica(const config::PostgresRoutingConfig& routing) {
  using Balance = config::PostgresRoutingConfig::Balance;
  auto& service = worker_->service();
  uint32_t replicas = static_cast<uint32_t>(routing.replicas.size());
  bool include_primary =
      routing.primary_reads == config::PostgresRoutingConfig::PrimaryReads::kInclude;
  uint32_t candidates = replicas + (include_primary ? 1 : 0);
  auto candidate = [&](uint32_t i) -> Pool* {
    return i < replicas ? service.pool(*database_config_, user_, i + 1) : pool_;
  };
  Pool* chosen = nullptr;
  if (routing.replica_balance == Balance::kRandom) {
    chosen = candidate(static_cast<uint32_t>(worker_->random() % candidates));
  } else if (routing.replica_balance == Balance::kRoundRobin) {
    chosen = candidate(static_cast<uint32_t>(next_replica_++ % candidates));
  } else {
    uint32_t best_load = UINT32_MAX;
    for (uint32_t i = 0; i < candidates; ++i) {
      Pool* pool = candidate(i);
      std::lock_guard lock(pool->mutex);
      uint32_t load = pool->in_use + static_cast<uint32_t>(pool->waiters.size());
      if (load < best_load) {
        best_load = load;
        chosen = pool;
      }
    }
  }
  if (chosen != pool_) shareCredentials(chosen);
  return chosen;
}

// A replica pool logs in as the primary pool does: the SCRAM key its clients proved, or the
// secret auth_query found.
void ClientConn::shareCredentials(Pool* replica) {
  ScramKey key;
  if (pool_->passThroughKey(&key)) replica->setPassThroughKey(key);
  std::string secret = pool_->serverSecret();
  if (!secret.empty()) replica->setServerSecret(secret);
}

}  // namespace sg::pg
