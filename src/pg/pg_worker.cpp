#include "pg/pg_worker.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "net/intrusive_list.h"
#include "net/socket.h"
#include "pg/client_conn.h"
#include "pg/lag_monitor.h"
#include "pg/pg_service.h"
#include "pg/pool.h"
#include "pg/route/classifier.h"
#include "pg/route/shard_key.h"
#include "pg/wire.h"

namespace sg::pg {

// A CancelRequest on its own connection: connect, send 16 bytes, close.
class CancelSender final : public net::EventHandler, public net::Disposable {
 public:
  CancelSender(net::EventLoop& loop, int fd, int32_t pid, int32_t secret) : loop_(loop), fd_(fd) {
    appendCancelRequest(&packet_, pid, secret);
  }
  ~CancelSender() override {
    if (fd_ >= 0) ::close(fd_);
  }
  void onEvents(uint32_t events) override {
    if (fd_ < 0) return;
    if ((events & EPOLLOUT) != 0 && net::socketError(fd_) == 0)
      (void)::send(fd_, packet_.data(), packet_.size(), MSG_NOSIGNAL);
    loop_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
    loop_.dispose(this);
  }

 private:
  net::EventLoop& loop_;
  int fd_;
  std::string packet_;
};

PgWorker::PgWorker(PgService& service, uint32_t index, net::EventLoop& loop,
                   net::BufferPool& buffers, Poster post, std::function<void()> clients_changed)
    : service_(service),
      index_(index),
      loop_(loop),
      buffers_(buffers),
      post_(std::move(post)),
      clients_changed_(std::move(clients_changed)),
      // The address tells apart the generations of one process (their cancel keys differ).
      rng_state_(0x9e3779b97f4a7c15ULL * (index + 1) ^ static_cast<uint64_t>(::getpid()) ^
                 reinterpret_cast<uintptr_t>(this)) {}

PgWorker::~PgWorker() {
  closeAll();
  if (successor_ != nullptr) std::erase(successor_->predecessors_, this);
  for (PgWorker* older : predecessors_) older->successor_ = nullptr;
}

const config::PostgresConfig& PgWorker::config() const { return service_.config(); }

uint64_t PgWorker::random() {
  // splitmix64: cancel keys need to be unguessable enough to stop accidents, not attacks on
  // a loopback-only secret (PostgreSQL's own keys are 32-bit).
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

namespace {

// A worker's verdict cache: statements are mostly parameterized, so a few thousand texts cover
// an application; long texts are bounded by the bytes.
constexpr size_t kClassifierEntries = 4096;
constexpr size_t kClassifierBytes = 8 * 1024 * 1024;
// A replica that failed a connection or login is skipped for reads this long.
constexpr int64_t kReplicaRetryMs = 5000;

int wholeSeconds(std::chrono::milliseconds duration) {
  return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(duration).count());
}

}  // namespace

route::StatementClassifier& PgWorker::classifier() {
  if (classifier_ == nullptr) {
    auto functions = std::make_shared<const route::FunctionAllowList>(config().read_only_functions);
    classifier_ = std::make_unique<route::StatementClassifier>(
        std::move(functions), kClassifierEntries, kClassifierBytes);
  }
  return *classifier_;
}

route::ShardKeyFinder& PgWorker::shardKeys(const config::PostgresDatabaseConfig& database) {
  auto& finder = shard_keys_[database.name];
  const std::string& column =
      database.sharding.key.empty() ? std::string() : database.sharding.key[0];
  const auto& tables = database.sharding.tables;
  if (finder == nullptr || finder->spec().column != column || finder->spec().tables != tables) {
    finder = std::make_unique<route::ShardKeyFinder>(route::ShardKeySpec{column, tables},
                                                     kClassifierEntries, kClassifierBytes);
  }
  return *finder;
}

std::shared_ptr<const scatter::PlanResult> PgWorker::scatterPlan(std::string_view text,
                                                                 scatter::CrossShardPolicy policy) {
  if (scatter_plans_ == nullptr) {
    scatter_plans_ =
        std::make_unique<route::TextLru<scatter::PlanResult>>(kClassifierEntries, kClassifierBytes);
  }
  plan_key_.assign(1, static_cast<char>('0' + static_cast<int>(policy)));
  plan_key_.append(text);
  if (auto found = scatter_plans_->find(plan_key_)) return found;
  auto planned = std::make_shared<const scatter::PlanResult>(scatter::planScatter(text, policy));
  const size_t bytes =
      sizeof(scatter::PlanResult) + planned->error.message.size() +
      (planned->plan ? planned->plan->shard_sql.size() +
                           planned->plan->sort.size() * sizeof(scatter::SortKey) +
                           planned->plan->aggregate.size() * sizeof(scatter::AggregateColumn)
                     : 0);
  scatter_plans_->store(plan_key_, planned, bytes);
  return planned;
}

void PgWorker::markUnreachable(Pool& pool) {
  pool.health->unreachable_until_ms.store(now() + kReplicaRetryMs, std::memory_order_relaxed);
}

void PgWorker::setKeepAlive(int fd) const {
  const auto& c = config();
  net::setKeepAlive(fd, {c.tcp_keepalive, wholeSeconds(c.tcp_keepidle),
                         wholeSeconds(c.tcp_keepintvl), static_cast<int>(c.tcp_keepcnt)});
}

bool PgWorker::openListeners(net::InheritedListeners* inherited, uint32_t workers,
                             std::string* error) {
  const auto& listeners = config().listeners;
  for (uint32_t i = 0; i < listeners.size(); ++i) {
    auto fds = net::listenOrInherit(listeners[i].address, inherited, index_, workers, error);
    if (fds.empty()) {
      *error = "postgres listener " + listeners[i].name + ": " + *error;
      return false;
    }
    for (int fd : fds) {
      // A PostgreSQL client always speaks first (SSLRequest or StartupMessage).
      if (config().tcp_defer_accept.count() > 0)
        net::deferAccept(fd, wholeSeconds(config().tcp_defer_accept));
      acceptors_.push_back(std::make_unique<net::Acceptor>(
          fd, "postgres listener " + listeners[i].name, [this, i](int client) {
            setKeepAlive(client);
            (new ClientConn(this, client, i, now()))->start();
          }));
    }
  }
  return true;
}

void PgWorker::start() {
  for (auto& acceptor : acceptors_) loop_.add(acceptor->fd(), acceptor.get());
  loop_.timers().arm(maintenance_, 1000);
  if (index_ == 0) {
    lag_monitor_ = std::make_unique<LagMonitor>(*this);
    lag_monitor_->start();
  }
}

ServerConn* PgWorker::connectProbe(Pool& pool, std::string* error) {
  net::Address address;
  if (draining_ || !pool.address(&address)) {
    *error = "no server to probe";
    return nullptr;
  }
  int error_code = 0;
  int fd = net::connectSocket(address, &error_code);
  if (fd < 0) {
    *error = std::string("could not connect to the server: ") + std::strerror(error_code);
    return nullptr;
  }
  setKeepAlive(fd);
  uint64_t generation = 0;
  {
    std::lock_guard lock(pool.mutex);
    generation = pool.generation;
  }
  auto* server = new ServerConn(this, &pool, address, fd, generation, now());
  server->markProbe();
  servers_[server->id()] = server;
  loop_.add(fd, server);
  return server;
}

void PgWorker::listeningSockets(std::vector<net::ListeningSocket>* out) const {
  for (const auto& acceptor : acceptors_)
    out->push_back({net::localAddress(acceptor->fd()).toString(), acceptor->fd()});
}

void PgWorker::beginDrain(PgWorker* successor) {
  draining_ = true;
  if (successor != nullptr) {
    successor_ = successor;
    successor->predecessors_.push_back(this);
  }
  if (lag_monitor_ != nullptr) lag_monitor_->stop();
  for (auto& acceptor : acceptors_) {
    loop_.remove(acceptor->fd());  // the socket may live on in a successor process
    acceptor->closeSocket();
  }
  // Shutting down, the clients without a server go now (a client running a cross-shard query
  // holds its servers through the query's legs). Draining into a successor, each client moves
  // if it can now, else when its transaction has ended.
  std::vector<ClientConn*> clients;
  for (ClientConn* client = client_list_; client != nullptr; client = client->next) {
    if (successor != nullptr ||
        (client->server() == nullptr && client->state() != ClientConn::State::kScatter))
      clients.push_back(client);
  }
  for (ClientConn* client : clients) client->retire();
  if (successor != nullptr) retireOlderClients();
  closeIdleServers(nullptr);
  if (clients_changed_) clients_changed_();
}

// A reload after a reload: a session client that stayed on an older configuration (its server
// was not in the file that followed) may fit the newest one, and would otherwise hold every
// generation since its own until it next runs a transaction.
void PgWorker::retireOlderClients() {
  for (PgWorker* older : predecessors_) {
    older->retireOlderClients();
    std::vector<ClientConn*> clients;
    for (ClientConn* client = older->client_list_; client != nullptr; client = client->next)
      clients.push_back(client);
    for (ClientConn* client : clients) client->retire();
  }
}

void PgWorker::closeAll() {
  acceptors_.clear();
  while (client_list_ != nullptr) client_list_->close();
  std::vector<ServerConn*> servers;
  for (auto& [id, server] : servers_) servers.push_back(server);
  for (ServerConn* server : servers) server->close("the proxy stopped");
}

void PgWorker::clientOpened(ClientConn* client) {
  clients_[client->id()] = client;
  net::pushFront(client_list_, client);
  ++client_count_;
  if (clients_changed_) clients_changed_();
}

void PgWorker::clientClosed(ClientConn* client) {
  clients_.erase(client->id());
  net::unlink(client_list_, client);
  --client_count_;
  if (clients_changed_) clients_changed_();
}

void PgWorker::clientMovedOut(ClientConn* client) {
  unregisterWaiter(client);
  clientClosed(client);
}

void PgWorker::clientMovedIn(ClientConn* client) {
  clientOpened(client);
  registerWaiter(client);
}

ClientConn* PgWorker::findClient(uint64_t id) {
  auto it = clients_.find(id);
  if (it != clients_.end()) return it->second;
  for (PgWorker* older : predecessors_) {
    if (ClientConn* client = older->findClient(id)) return client;
  }
  return nullptr;
}

ServerWaiter* PgWorker::findWaiter(uint64_t id) {
  auto it = waiters_.find(id);
  return it == waiters_.end() ? nullptr : it->second;
}

void PgWorker::forEachClient(const std::function<void(const ClientConn&)>& visit) const {
  for (ClientConn* client = client_list_; client != nullptr; client = client->next) visit(*client);
}

void PgWorker::forEachServer(const std::function<void(const ServerConn&)>& visit) const {
  for (const auto& [id, server] : servers_) visit(*server);
}

void PgWorker::requestServer(ServerWaiter* waiter, bool first) {
  Pool& pool = *waiter->waitPool();
  Handoffs handoffs;
  {
    std::lock_guard lock(pool.mutex);
    if (first) {
      pool.waiters.push_front({index_, waiter->waiterId(), now()});
    } else {
      pool.waiters.push_back({index_, waiter->waiterId(), now()});
    }
    serveLocked(pool, &handoffs);
  }
  runHandoffs(pool, handoffs);
}

bool PgWorker::withdraw(ServerWaiter* waiter) {
  Pool& pool = *waiter->waitPool();
  std::lock_guard lock(pool.mutex);
  return pool.removeWaiter(waiter->waiterId());
}

// Pairs waiters (oldest first) with this worker's idle servers, then with new connections
// while the pool has room. Waiters left over are served by another worker's idle servers.
void PgWorker::serveLocked(Pool& pool, Handoffs* out) {
  if (pool.paused) return;
  auto& mine = pool.idle[index_];
  while (!pool.waiters.empty()) {
    if (!mine.empty()) {
      ServerConn* server = mine.back();
      mine.pop_back();
      out->push_back({server, pool.waiters.front()});
      pool.waiters.pop_front();
      ++pool.in_use;
      continue;
    }
    if (pool.open < pool.limit(now())) {
      ++pool.open;
      out->push_back({nullptr, pool.waiters.front()});
      pool.waiters.pop_front();
      continue;
    }
    break;
  }
  if (pool.waiters.empty()) return;
  for (uint32_t other = 0; other < pool.idle.size(); ++other) {
    if (other == index_ || pool.idle[other].empty()) continue;
    service_.worker(other).post([&worker = service_.worker(other), p = &pool] { worker.serve(p); });
    break;
  }
}

void PgWorker::runHandoffs(Pool& pool, Handoffs& handoffs) {
  for (auto& handoff : handoffs) {
    uint32_t target = handoff.waiter.worker;
    uint64_t waiter_id = handoff.waiter.waiter_id;
    if (handoff.server == nullptr) {
      if (target == index_) {
        connectFor(pool, waiter_id);
      } else {
        auto& worker = service_.worker(target);
        worker.post([&worker, p = &pool, waiter_id] { worker.connectFor(*p, waiter_id); });
      }
      continue;
    }
    ServerConn* server = handoff.server;
    if (target == index_) {
      adopt(server, waiter_id);
      continue;
    }
    servers_.erase(server->id());
    server->leaveLoop();
    auto& worker = service_.worker(target);
    worker.post([&worker, server, waiter_id] {
      server->joinLoop(&worker);
      worker.servers_[server->id()] = server;
      worker.adopt(server, waiter_id);
    });
  }
}

void PgWorker::serve(Pool* pool) {
  Handoffs handoffs;
  {
    std::lock_guard lock(pool->mutex);
    serveLocked(*pool, &handoffs);
  }
  runHandoffs(*pool, handoffs);
}

// A server given to a waiter of this worker (counted in_use already). If the waiter has gone
// meanwhile, the server goes back.
void PgWorker::adopt(ServerConn* server, uint64_t waiter_id) {
  ServerWaiter* waiter = findWaiter(waiter_id);
  if (waiter == nullptr || !waiter->waitsForServer()) {
    server->attach(nullptr);
    return releaseServer(server);
  }
  // A server idle longer than server_check_delay answers server_check_query first.
  const auto& config = this->config();
  if (!config.server_check_query.empty() && server->idleSinceMs() != 0 &&
      now() - server->idleSinceMs() >= config.server_check_delay.count()) {
    return server->startCheck(waiter_id, config.server_check_query);
  }
  attach(waiter, server);
}

void PgWorker::serverChecked(ServerConn* server) {
  ServerWaiter* waiter = findWaiter(server->intendedWaiter());
  if (waiter == nullptr || !waiter->waitsForServer()) {
    server->attach(nullptr);
    return releaseServer(server);
  }
  attach(waiter, server);
}

void PgWorker::attach(ServerWaiter* waiter, ServerConn* server) {
  server->attach(waiter);
  waiter->onServerAttached(server);
}

void PgWorker::connectFor(Pool& pool, uint64_t waiter_id) {
  int error_code = 0;
  net::Address address;
  int fd = -1;
  // No new server while shutting down. (Draining into a successor generation, a client waiting
  // or logging in here still gets one: it moves once its transaction has ended.)
  const bool shutting_down = draining_ && successor_ == nullptr;
  if (!shutting_down && !pool.address(&address)) {
    error_code = ENOENT;  // a replica RELOAD removed
  } else if (!shutting_down) {
    fd = net::connectSocket(address, &error_code);
  }
  if (fd >= 0) setKeepAlive(fd);
  if (fd < 0) {
    {
      std::lock_guard lock(pool.mutex);
      --pool.open;
    }
    if (!shutting_down) {
      pool.stats().server_login_failures.inc(1);
      markUnreachable(pool);
    }
    if (ServerWaiter* waiter = findWaiter(waiter_id)) {
      if (shutting_down) {
        waiter->onServerUnavailable("57P01", "the proxy is shutting down");
      } else {
        waiter->onServerUnavailable(
            "08006", std::string("could not connect to the server: ") + std::strerror(error_code));
      }
    }
    return serve(&pool);
  }
  uint64_t generation = 0;
  {
    std::lock_guard lock(pool.mutex);
    generation = pool.generation;
  }
  auto* server = new ServerConn(this, &pool, address, fd, generation, now());
  server->setIntendedWaiter(waiter_id);
  servers_[server->id()] = server;
  loop_.add(fd, server);
}

void PgWorker::serverReady(ServerConn* server) {
  Pool& pool = *server->pool();
  {
    std::lock_guard lock(pool.mutex);
    if (pool.welcome.empty()) pool.welcome = server->params();
    ++pool.in_use;
  }
  ServerWaiter* waiter = findWaiter(server->intendedWaiter());
  if (waiter != nullptr && waiter->waitsForServer()) {
    return attach(waiter, server);
  }
  server->attach(nullptr);
  releaseServer(server);
}

void PgWorker::releaseServer(ServerConn* server) {
  Pool& pool = *server->pool();
  Handoffs handoffs;
  bool keep = false;
  {
    std::lock_guard lock(pool.mutex);
    // Draining into a successor generation, its clients still waiting here are served first.
    keep = (!draining_ || (successor_ != nullptr && !pool.waiters.empty())) &&
           server->generation() == pool.generation &&
           now() - server->connectedAtMs() < config().server_lifetime.count() &&
           pool.open <= pool.size() + pool.reserve();
    // A server that closes leaves in_use in serverClosed (it is still active until then).
    if (keep) {
      --pool.in_use;
      server->becomeIdle(now());
      pool.idle[index_].push_back(server);
      serveLocked(pool, &handoffs);
    }
  }
  // Closing takes the pool's lock again (serverClosed), so it happens after. Its client is
  // done with it: the close is not the client's loss.
  if (!keep) {
    server->attach(nullptr);
    server->close(draining_ ? "the proxy is shutting down" : "lifetime or reconnect");
  }
  runHandoffs(pool, handoffs);
}

void PgWorker::serverClosed(ServerConn* server, ServerConn::State was, const char* reason) {
  Pool& pool = *server->pool();
  servers_.erase(server->id());
  if (server->isProbe()) {
    if (lag_monitor_ != nullptr) lag_monitor_->probeClosed(server, reason);
    return;
  }
  Handoffs handoffs;
  {
    std::lock_guard lock(pool.mutex);
    --pool.open;
    if (was == ServerConn::State::kActive || was == ServerConn::State::kChecking) --pool.in_use;
    if (was == ServerConn::State::kIdle) {
      auto& mine = pool.idle[index_];
      for (size_t i = 0; i < mine.size(); ++i) {
        if (mine[i] == server) {
          mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
      }
    }
    serveLocked(pool, &handoffs);
  }
  if (was == ServerConn::State::kActive && server->peer() != nullptr) {
    server->peer()->onServerLost(reason);
  } else if (was == ServerConn::State::kChecking) {
    // It failed its check: never handed out. Its waiter waits again, keeping its turn.
    ServerWaiter* waiter = findWaiter(server->intendedWaiter());
    if (waiter != nullptr && waiter->waitsForServer()) {
      runHandoffs(pool, handoffs);
      return requestServer(waiter, /*first=*/true);
    }
  } else if (ServerConn::loggingIn(was)) {
    markUnreachable(pool);
    ServerWaiter* waiter = findWaiter(server->intendedWaiter());
    if (waiter != nullptr && waiter->waitsForServer()) {
      waiter->onServerUnavailable("08006", std::string("server login failed: ") + reason);
    }
  }
  runHandoffs(pool, handoffs);
}

void PgWorker::closeIdleServers(Pool* only) {
  std::vector<ServerConn*> idle;
  for (auto& [id, server] : servers_) {
    if (server->state() == ServerConn::State::kIdle && (only == nullptr || server->pool() == only))
      idle.push_back(server);
  }
  for (ServerConn* server : idle) server->close("closed by the admin console or shutdown");
}

void PgWorker::killPool(Pool* pool) {
  std::vector<ClientConn*> doomed;
  for (ClientConn* client = client_list_; client != nullptr; client = client->next) {
    if (client->pool() == pool) doomed.push_back(client);
  }
  for (ClientConn* client : doomed)
    client->closeWithError("57P01", "database killed by the admin console");
}

void PgWorker::sendCancel(const ServerConn& server) {
  int error_code = 0;
  int fd = net::connectSocket(server.address(), &error_code);
  if (fd < 0) return;
  auto* sender = new CancelSender(loop_, fd, server.backendPid(), server.backendSecret());
  loop_.add(fd, sender);
}

void PgWorker::onTimer(net::Timer* /*timer*/) {
  expireIdleServers();
  if (index_ == 0) {
    service_.statsPeriods().tick(now(), [this] {
      StatsPeriods::Totals totals;
      auto pools = service_.pools();
      for (const auto& database : config().databases)
        totals[database.name] = sumStats(pools, database.name);
      return totals;
    });
  }
  // Waiters that reached reserve_pool_timeout may now open reserve servers.
  for (Pool* pool : service_.pools()) {
    bool waiting = false;
    {
      std::lock_guard lock(pool->mutex);
      waiting = !pool->waiters.empty() && pool->open < pool->limit(now());
    }
    if (waiting) serve(pool);
  }
  if (!draining_) loop_.timers().arm(maintenance_, 1000);
}

// server_idle_timeout and server_lifetime, keeping min_pool_size servers open.
void PgWorker::expireIdleServers() {
  std::vector<ServerConn*> expired;
  for (Pool* pool : service_.pools()) {
    std::lock_guard lock(pool->mutex);
    auto& mine = pool->idle[index_];
    for (ServerConn* server : mine) {
      bool idle_too_long = config().server_idle_timeout.count() > 0 &&
                           now() - server->idleSinceMs() >= config().server_idle_timeout.count() &&
                           pool->open - expired.size() > config().min_pool_size;
      bool too_old = config().server_lifetime.count() > 0 &&
                     now() - server->connectedAtMs() >= config().server_lifetime.count();
      if (idle_too_long || too_old || server->generation() != pool->generation)
        expired.push_back(server);
    }
  }
  for (ServerConn* server : expired) server->close("server_idle_timeout or server_lifetime");
}

}  // namespace sg::pg
