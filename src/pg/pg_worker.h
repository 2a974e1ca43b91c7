#pragma once
// The PostgreSQL side of one worker: its listening sockets, its clients, and the server
// connections it owns. Pools are shared (pool.h); this class moves servers between a pool's
// waiting clients and idle lists, always touching only servers on its own loop.
#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/postgres_config.h"
#include "net/acceptor.h"
#include "net/buffer_pool.h"
#include "net/event_loop.h"
#include "net/inherited_listeners.h"
#include "net/timer.h"
#include "pg/pool.h"
#include "pg/route/text_lru.h"
#include "pg/scatter/scatter_plan.h"
#include "pg/server_conn.h"
#include "pg/server_waiter.h"

namespace sg::pg {
namespace route {
class ShardKeyFinder;
class StatementClassifier;
}  // namespace route

class ClientConn;
class LagMonitor;
class PgService;
class Pool;

class PgWorker final : public net::TimerHandler {
 public:
  using Poster = std::function<void(std::function<void()>)>;
  // `clients_changed` runs when a client comes or goes (the worker's loop counts clients for
  // event coalescing, and a draining worker stops when the last has gone).
  PgWorker(PgService& service, uint32_t index, net::EventLoop& loop, net::BufferPool& buffers,
           Poster post, std::function<void()> clients_changed);
  ~PgWorker();
  PgWorker(const PgWorker&) = delete;
  PgWorker& operator=(const PgWorker&) = delete;

  bool openListeners(net::InheritedListeners* inherited, uint32_t workers, std::string* error);
  void start();  // on the loop thread, before the loop runs
  // Stop accepting; idle clients are closed, others when their transaction ends. With
  // `successor` (the next configuration generation's worker on this thread: an in-process
  // reload) clients move to it instead, each once it is between transactions.
  void beginDrain(PgWorker* successor = nullptr);
  // Where a draining worker's clients go: the newest generation's worker on this thread, or
  // null without a successor.
  PgWorker* successor() const {
    PgWorker* newest = successor_;
    while (newest != nullptr && newest->successor_ != nullptr) newest = newest->successor_;
    return newest;
  }
  // This worker's listening sockets (a successor process takes them over).
  void listeningSockets(std::vector<net::ListeningSocket>* out) const;
  bool draining() const { return draining_; }
  size_t clientCount() const { return client_count_; }
  void closeAll();

  PgService& service() { return service_; }
  const config::PostgresConfig& config() const;
  net::EventLoop& loop() { return loop_; }
  net::BufferPool& buffers() { return buffers_; }
  uint32_t index() const { return index_; }
  int64_t now() const { return loop_.now(); }
  uint64_t random();
  // Read/write verdicts for this worker's clients (made at first use with the
  // read_only_functions of the configuration then; a RELOAD does not change it yet).
  route::StatementClassifier& classifier();
  // The sharding keys of statements for a sharded database (made at first use; a RELOAD that
  // changes the key column makes a new one).
  route::ShardKeyFinder& shardKeys(const config::PostgresDatabaseConfig& database);
  // The scatter-gather plan of a statement text under a cross_shard policy, planned once per
  // text (parse, rewrite and deparse cost more than the shards' round trip on small queries).
  std::shared_ptr<const scatter::PlanResult> scatterPlan(std::string_view text,
                                                         scatter::CrossShardPolicy policy);
  // Worker 0's; null on the others.
  LagMonitor* lagMonitor() { return lag_monitor_.get(); }
  // A connection of the lag monitor to `pool`'s server, logging in with its credentials; null
  // with *error when the connect fails at once.
  ServerConn* connectProbe(Pool& pool, std::string* error);
  // Thread-safe: runs `task` on this worker's loop.
  void post(std::function<void()> task) { post_(std::move(task)); }

  void clientOpened(ClientConn* client);
  void clientClosed(ClientConn* client);
  // A client moving between generations (ClientConn::moveTo) leaves one and joins the other.
  void clientMovedOut(ClientConn* client);
  void clientMovedIn(ClientConn* client);
  void serverMovedOut(ServerConn* server) { servers_.erase(server->id()); }
  void serverMovedIn(ServerConn* server) { servers_[server->id()] = server; }
  // For a cancel request or the admin console; servers look for waiters (findWaiter). A
  // client still finishing its transaction on an older generation (draining into this one)
  // is found too.
  ClientConn* findClient(uint64_t id);
  // What waits for servers of this worker's pools: registered from its start to its close.
  void registerWaiter(ServerWaiter* waiter) { waiters_[waiter->waiterId()] = waiter; }
  void unregisterWaiter(ServerWaiter* waiter) { waiters_.erase(waiter->waiterId()); }
  ServerWaiter* findWaiter(uint64_t id);
  // Calls `visit` for each client of this worker (loop thread only).
  void forEachClient(const std::function<void(const ClientConn&)>& visit) const;
  // Every server connection, the lag monitor's probes too (SHOW SERVERS lists them).
  void forEachServer(const std::function<void(const ServerConn&)>& visit) const;

  // A waiter wants a server of its waitPool(): attached now, or later through
  // onServerAttached, or refused through onServerUnavailable.
  // `first`: ahead of the other waiters (its server failed its check: it keeps its turn).
  void requestServer(ServerWaiter* waiter, bool first = false);
  // A waiter gives up (timeout, gone). False when a server is already on its way.
  bool withdraw(ServerWaiter* waiter);
  // A server's client is done with it (it is reusable), or its session reset finished.
  void releaseServer(ServerConn* server);
  // From ServerConn: login finished; the connection closed (state it was in).
  void serverReady(ServerConn* server);
  // server_check_query answered: the server goes to the waiter it was checked for.
  void serverChecked(ServerConn* server);
  void serverClosed(ServerConn* server, ServerConn::State was, const char* reason);
  // Serves the pool's waiters with this worker's idle servers (run here by another worker).
  void serve(Pool* pool);
  // Closes idle servers of `pool` (all pools when null): RECONNECT, KILL.
  void closeIdleServers(Pool* pool);
  // KILL: closes this worker's clients of `pool` and the servers they hold.
  void killPool(Pool* pool);
  // Sends a CancelRequest for what `server` runs, on a new connection.
  void sendCancel(const ServerConn& server);

  void onTimer(net::Timer* timer) override;

 private:
  // A server (or, when null, a place to connect one) for a waiter.
  struct Handoff {
    ServerConn* server = nullptr;
    PoolWaiter waiter;
  };
  // Decided under a pool's lock, run after it: usually none or one, kept off the heap.
  using Handoffs = boost::container::small_vector<Handoff, 4>;
  void serveLocked(Pool& pool, Handoffs* out);
  // The clients still on the generations draining into this one look for the newest again.
  void retireOlderClients();
  void runHandoffs(Pool& pool, Handoffs& handoffs);
  void adopt(ServerConn* server, uint64_t waiter_id);
  void attach(ServerWaiter* waiter, ServerConn* server);
  void connectFor(Pool& pool, uint64_t waiter_id);
  void expireIdleServers();
  void setKeepAlive(int fd) const;   // tcp_keepalive and its timing, on a client or server socket
  void markUnreachable(Pool& pool);  // a replica's reads go elsewhere for a while

  PgService& service_;
  uint32_t index_;
  net::EventLoop& loop_;
  net::BufferPool& buffers_;
  Poster post_;
  std::function<void()> clients_changed_;
  std::vector<std::unique_ptr<net::Acceptor>> acceptors_;
  std::unordered_map<uint64_t, ClientConn*> clients_;
  std::unordered_map<uint64_t, ServerWaiter*> waiters_;
  ClientConn* client_list_ = nullptr;
  size_t client_count_ = 0;
  std::unordered_map<uint64_t, ServerConn*> servers_;  // every server on this loop
  uint64_t rng_state_;
  bool draining_ = false;
  // In-process reloads: the generation this one drains into, and those draining into it (all
  // on this thread; an older generation is destroyed before the one it drains into).
  PgWorker* successor_ = nullptr;
  std::vector<PgWorker*> predecessors_;
  net::Timer maintenance_{this};
  std::unique_ptr<route::StatementClassifier> classifier_;
  std::unordered_map<std::string, std::unique_ptr<route::ShardKeyFinder>> shard_keys_;
  std::unique_ptr<LagMonitor> lag_monitor_;
  std::unique_ptr<route::TextLru<scatter::PlanResult>> scatter_plans_;
  std::string plan_key_;  // scratch: the policy, then the text
};

}  // namespace sg::pg
