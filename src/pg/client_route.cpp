// ClientConn: which of its database's servers runs the client's next transaction (read/write
// splitting). Decided once per transaction, from its first message, before a server is asked
// for; the transaction then stays on that server until ReadyForQuery 'I'.
#include <boost/container/small_vector.hpp>
#include <mutex>

#include "pg/admin_console.h"
#include "pg/client_conn.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/route/classifier.h"
#include "pg/route/comment_hints.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {}  // namespace

Pool* ClientConn::routeTransaction(char type, std::string_view payload) {
  Pool* primary = shardPrimary();
  const auto& routing = primary->routing();
  transaction_writes_ = true;  // unless its verdict says it only reads
  if (!routing.splits() || sticky_primary_) return primary;
  std::string_view text = type == 'B' ? boundStatementText(payload) : statementText(type, payload);
  if (local_txn_ == LocalTxn::kOpen) text = begin_text_;  // a deferred BEGIN decides
  if (text.empty()) return primary;  // an unnamed Bind, a Describe, COPY data, ...: the primary
  auto verdict = worker_->classifier().classify(text);
  if (verdict->sticky) {
    sticky_primary_ = true;  // session state lives on the primary from now on
    return primary;
  }
  transaction_writes_ = verdict->target != route::Target::kReplicaOk;
  if (route_setting_ == route::RouteSetting::kPrimary) return primary;
  bool to_replica = verdict->target == route::Target::kReplicaOk;
  if (verdict->hint == route::RouteHint::kPrimary) to_replica = false;
  // scalegate.route = replica moves what is only not known to be read-only (a function off
  // the allow-list, a plain BEGIN); never a write, a lock or a session change.
  if (route_setting_ == route::RouteSetting::kReplica && verdict->replica_overridable)
    to_replica = true;
  if (!to_replica || readsOwnWritesOnPrimary(routing)) return primary;
  using Mode = config::PostgresRoutingConfig::ReadYourWrites;
  if (routing.read_your_writes == Mode::kLsn && neededLsn() > 0) {
    // Only replicas that replayed the client's last write; else the primary, whatever
    // primary_reads says (reading its own write there is the point).
    Pool* replica = pickReplica(*primary, neededLsn());
    return replica != nullptr ? replica : primary;
  }
  return pickReplica(*primary);  // null: no replica, and primary_reads exclude
}

// read_your_writes: window keeps the client's reads on the primary for the window after its
// last transaction that may have written (Rails' rule); so does lsn when the write's position
// could not be read.
bool ClientConn::readsOwnWritesOnPrimary(const config::PostgresRoutingConfig& routing) const {
  using Mode = config::PostgresRoutingConfig::ReadYourWrites;
  if (routing.read_your_writes == Mode::kOff || last_write_ms_ < 0) return false;
  if (routing.read_your_writes == Mode::kLsn && last_write_lsn_ != kLsnUnknown) return false;
  return worker_->now() - last_write_ms_ < routing.read_your_writes_window.count();
}

// read_your_writes lsn: a write transaction on the primary ended; the server stays attached
// for one more query, pipelined behind whatever the client sends next, that reads the WAL
// insert position (at or past the commit). False: not needed.
bool ClientConn::askCommitLsn() {
  const auto& routing = database_config_->routing;
  if (!transaction_writes_ || sticky_primary_ || !routing.splits() ||
      routing.read_your_writes != config::PostgresRoutingConfig::ReadYourWrites::kLsn ||
      server_->pool()->isReplica()) {
    return false;
  }
  lsn_asked_ = true;
  server_->askCommitLsn();
  return true;
}

void ClientConn::onCommitLsn(std::string_view text) {
  uint64_t lsn = 0;
  last_write_lsn_ = route::parseLsn(text, &lsn) ? lsn : kLsnUnknown;
}

// The text of the named statement a Bind runs (the client prepared it earlier); empty when
// unnamed or unknown.
std::string_view ClientConn::boundStatementText(std::string_view payload) const {
  PayloadReader reader(payload);
  std::string_view portal, name;
  if (!reader.readString(&portal) || !reader.readString(&name) || name.empty()) return {};
  const auto* statement = findStatement(name);
  if (statement == nullptr) return {};
  std::string_view body = (*statement)->body;  // the query, its NUL, then the parameter types
  return body.substr(0, body.find('\0'));
}

// The lag monitor found the primary in use (of `primary`'s shard) down (fall probes failed):
// writes fail at once rather than wait for a connect timeout. Only split databases and the
// shards of sharded ones are probed.
bool ClientConn::primaryDown(const Pool& primary, std::string* why) const {
  uint32_t acting = primary.health->acting_primary.load(std::memory_order_relaxed);
  const ServerHealth& health =
      acting == Pool::kPrimary
          ? *primary.health
          : worker_->service().serverHealth(database_config_->name, acting, primary.shard());
  if (!health.down()) return false;
  *why = health.lastError();
  return true;
}

// A replica by replica_balance; with primary_reads: include the primary is one more candidate.
// The primary pool of the client's current shard (its login pool when not sharded).
Pool* ClientConn::shardPrimary() { return shardPool(current_shard_); }

// The primary pool of one shard (the login pool is shard 0's).
Pool* ClientConn::shardPool(uint32_t shard) {
  if (shard == 0) return pool_;
  Pool* primary = worker_->service().pool(*database_config_, user_, Pool::kPrimary, shard);
  shareCredentials(*pool_, *primary);
  return primary;
}

// A replica of `primary`'s shard by replica_balance; with primary_reads: include the primary
// is one more candidate.
Pool* ClientConn::pickReplica(Pool& primary, uint64_t needed_lsn) {
  using Balance = config::PostgresRoutingConfig::Balance;
  const auto& routing = primary.routing();
  auto& service = worker_->service();
  uint32_t replicas = static_cast<uint32_t>(routing.replicas.size());
  bool include_primary =
      routing.primary_reads == config::PostgresRoutingConfig::PrimaryReads::kInclude;
  int64_t now = worker_->now();
  boost::container::small_vector<Pool*, 4> usable;
  for (uint32_t i = 0; i < replicas; ++i) {
    Pool* pool = service.pool(*database_config_, user_, i + 1, primary.shard());
    if (pool->health->readable(now, needed_lsn)) usable.push_back(pool);
  }
  if (usable.empty())
    return routing.primary_reads == config::PostgresRoutingConfig::PrimaryReads::kExclude
               ? nullptr
               : &primary;
  if (include_primary && needed_lsn == 0) usable.push_back(&primary);
  uint32_t candidates = static_cast<uint32_t>(usable.size());
  Pool* chosen = nullptr;
  if (routing.replica_balance == Balance::kRandom) {
    chosen = usable[worker_->random() % candidates];
  } else if (routing.replica_balance == Balance::kRoundRobin) {
    chosen = usable[next_replica_++ % candidates];
  } else {
    uint32_t best_load = UINT32_MAX;
    for (Pool* pool : usable) {
      std::lock_guard lock(pool->mutex);
      uint32_t load = pool->in_use + static_cast<uint32_t>(pool->waiters.size());
      if (load < best_load) {
        best_load = load;
        chosen = pool;
      }
    }
  }
  if (chosen != pool_) shareCredentials(*pool_, *chosen);
  return chosen;
}

// The replica this read waited for cannot be reached: the read goes to another usable replica,
// else to the primary unless primary_reads is exclude. Keeps its turn. False: nowhere to go.
bool ClientConn::rerouteRead() {
  if (route_pool_ == nullptr || !route_pool_->isReplica()) return false;
  Pool* next = pickReplica(*shardPrimary());
  if (next == nullptr) return false;
  route_pool_ = next;
  worker_->requestServer(this, /*first=*/true);
  return true;
}

}  // namespace sg::pg
