#include "proxy/worker.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/fd_passing.h"
#include "net/intrusive_list.h"
#include "net/socket.h"
#include "pg/pg_worker.h"
#include "proxy/client_connection.h"
#include "proxy/exchange.h"
#include "proxy/http2_session.h"
#include "proxy/upstream_conn.h"

namespace sg::proxy {

namespace {

lb::Algorithm balanceAlgorithm(config::BalanceAlgorithm algorithm) {
  using config::BalanceAlgorithm;
  switch (algorithm) {
    case BalanceAlgorithm::kRoundRobin:
      return lb::Algorithm::kRoundRobin;
    case BalanceAlgorithm::kWeightedRoundRobin:
      return lb::Algorithm::kWeightedRoundRobin;
    case BalanceAlgorithm::kLeastConn:
      return lb::Algorithm::kLeastConn;
    case BalanceAlgorithm::kLeastRequest:
      return lb::Algorithm::kLeastRequest;
    case BalanceAlgorithm::kRandom:
      return lb::Algorithm::kRandom;
    case BalanceAlgorithm::kIpHash:
      return lb::Algorithm::kIpHash;
    case BalanceAlgorithm::kHash:
      return lb::Algorithm::kHash;
    case BalanceAlgorithm::kRingHash:
      return lb::Algorithm::kRingHash;
    case BalanceAlgorithm::kMaglev:
      return lb::Algorithm::kMaglev;
  }
  return lb::Algorithm::kRoundRobin;
}

std::unique_ptr<lb::Balancer> makeBalancerFor(SharedUpstream& upstream, uint64_t seed) {
  const auto& config = *upstream.config;
  std::vector<lb::ServerSpec> specs;
  for (const auto& server : upstream.servers) {
    // A run-time slot's identity is not this thread's to read (server_slots.h): its weight
    // comes through weights_version, and hashing places it by slot.
    if (server->index >= config.servers.size()) {
      specs.push_back({1, false, "slot#" + std::to_string(server->index)});
      continue;
    }
    specs.push_back({server->weight.load(), server->config.backup, server->address_text});
  }
  lb::BalancerOptions options;
  options.algorithm = balanceAlgorithm(config.balance);
  options.ring_size = config.ring_size;
  options.hash_balance_factor = config.hash_balance_factor;
  options.slow_start_ms = config.slow_start.count();
  options.panic_threshold = config.panic_threshold;
  options.seed = seed;
  options.rotation = &upstream.rotation;
  return lb::makeBalancer(options, std::move(specs));
}

}  // namespace

Worker::Worker(SharedState* shared, WorkerThread& thread, const AccessLog* access_log)
    : shared_(shared),
      thread_(thread),
      index_(thread.index()),
      access_log_(access_log),
      loop_(thread.loop()),
      rng_(osRandomSeed() + thread.index()),
      request_ids_(rng_.next()),
      buffers_(kClientBufferSize, kPooledClientBuffers) {
  if (store::StoreStats* stats = shared_->storeStats())
    store_ = store::makeClient(shared_->config().store, loop_, *stats);
  for (auto& upstream : shared_->upstreams()) {
    balancers_.push_back(makeBalancerFor(upstream, rng_.next()));
    weights_seen_.push_back(0);
    slots_seen_.push_back(0);
    idle_.emplace_back(upstream.servers.size());
    tls_sessions_.emplace_back(upstream.servers.size());
    open_connections_.push_back(0);
  }
  // The balancers see the vacant slots once, so a server added later ramps up (slow start).
  for (auto& upstream : shared_->upstreams()) {
    if (upstream.slots) balancers_[upstream.index]->pick(pickContext(upstream, {}));
  }
}

Worker::~Worker() { closeAll(); }

void Worker::closeAll() {
  if (pg_) pg_->closeAll();
  acceptors_.clear();
  // Sessions first: closing one closes its streams' connections.
  while (sessions_ != nullptr) sessions_->close();
  while (connections_ != nullptr) connections_->close();  // closed ones are freed by loop_
  for (auto& per_upstream : idle_) {
    for (auto& per_server : per_upstream) {
      for (auto* connection : per_server) connection->close();
      per_server.clear();
    }
  }
  if (attached_) thread_.detach(this);
  attached_ = false;
}

void Worker::attachPostgres(pg::PgService* service) {
  pg_ = std::make_unique<pg::PgWorker>(
      *service, index_, loop_, buffers_,
      [this](std::function<void()> task) { post(std::move(task)); },
      [this] {
        updateCoalescing();
        maybeFinishDrain();
      });
}

bool Worker::openListeners(net::InheritedListeners* inherited, std::string* error) {
  const uint32_t workers = shared_->workerCount();
  if (pg_ && !pg_->openListeners(inherited, workers, error)) return false;
  for (auto& listener : shared_->listeners()) {
    auto fds = net::listenOrInherit(listener.config->address, inherited, index_, workers, error);
    if (fds.empty()) return false;
    for (int fd : fds) {
      acceptors_.push_back(std::make_unique<net::Acceptor>(
          fd, listener.config->name, [this, shared = &listener](int client) {
            (new ClientConnection(this, shared, client))->start();
          }));
    }
  }
  return true;
}

void Worker::listeningSockets(std::vector<net::ListeningSocket>* out) const {
  if (pg_) pg_->listeningSockets(out);
  for (const auto& acceptor : acceptors_)
    out->push_back({net::localAddress(acceptor->fd()).toString(), acceptor->fd()});
}

void Worker::adopt(int fd, std::string listener) {
  post([this, fd, name = std::move(listener)]() mutable {
    if (draining_ && successor_ != nullptr) return successor()->adopt(fd, std::move(name));
    for (auto& shared : shared_->listeners()) {
      if (shared.config->name != name) continue;
      // Reloaded again meanwhile: the connection goes on to this process's own successor.
      if (draining_ && handover_link_ >= 0 && passToSuccessor(fd, name)) break;
      if (draining_) break;
      (new ClientConnection(this, &shared, fd))->start(/*adopted=*/true);
      return;
    }
    ::close(fd);  // passed on, or no such listener any more, or this worker is stopping
  });
}

bool Worker::passToSuccessor(int fd, std::string_view listener) {
  if (handover_link_ < 0) return false;
  if (net::passConnection(handover_link_, fd, listener)) return true;
  spdlog::warn(
      "worker {}: could not pass a connection to the successor ({}): closing the idle "
      "connections left instead",
      index_, std::strerror(errno));
  handover_link_ = -1;
  return false;
}

void Worker::begin() {
  thread_.attach(this);
  attached_ = true;
  loop_.setCoalescing(std::chrono::microseconds(shared_->config().event_coalescing_us));
  for (auto& acceptor : acceptors_) loop_.add(acceptor->fd(), acceptor.get());
  last_outlier_tick_.assign(shared_->upstreams().size(), loop_.now());
  loop_.timers().arm(maintenance_, 1000);
  if (pg_) pg_->start();
  if (store_) store_->start();
}

void Worker::onTimer(net::Timer* /*timer*/) {
  trimSpareExchanges();
  if (!draining_) loop_.timers().arm(maintenance_, 1000);
  for (auto& upstream : shared_->upstreams()) {
    if (upstream.slots) syncSlots(upstream);
  }
  if (index_ != 0) return;
  auto now = loop_.now();
  for (auto& upstream : shared_->upstreams()) {
    if (upstream.slots) upstream.slots->maintain();
    if (!upstream.outliers) continue;
    auto& last = last_outlier_tick_[upstream.index];
    if (now - last >= upstream.config->outlier_detection->interval.count()) {
      upstream.outliers->tick(now);
      last = now;
    }
  }
}

Exchange* Worker::acquireExchange() {
  if (spare_exchanges_.empty()) return new Exchange(this);
  Exchange* exchange = spare_exchanges_.back().release();
  spare_exchanges_.pop_back();
  return exchange;
}

void Worker::releaseExchange(Exchange* exchange) { spare_exchanges_.emplace_back(exchange); }

// A burst of concurrent requests leaves as many spare exchanges: beyond a few dozen they
// only hold memory.
void Worker::trimSpareExchanges() {
  constexpr size_t kSpareExchanges = 64;
  if (spare_exchanges_.size() > kSpareExchanges) spare_exchanges_.resize(kSpareExchanges);
}

void Worker::drain(int handover_link, Worker* successor) {
  requested_handover_link_ = handover_link;
  requested_successor_ = successor;
  drain_requested_ = true;
  loop_.wake();
}

void Worker::onWake() {
  completions_.deliver();
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
  if (drain_requested_ && !draining_) beginDrain();
}

void Worker::notify(uint64_t ticket, uint8_t outcome) { completions_.post(ticket, outcome); }

void Worker::startRefresh(SharedListener* listener, std::string request_head, std::string client_ip,
                          std::string key) {
  auto* connection = new ClientConnection(this, listener, -1);
  connection->startRefresh(std::move(request_head), std::move(client_ip), std::move(key));
}

void Worker::post(std::function<void()> task) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(task));
  }
  loop_.wake();
}

void Worker::startWarm(SharedListener* listener, std::string request_head,
                       std::function<void(int status)> done) {
  auto* connection = new ClientConnection(this, listener, -1);
  connection->startWarm(std::move(request_head), std::move(done));
}

void Worker::startDelivery(SharedListener* listener, std::string request, std::string client_ip,
                           std::string upstream, uint64_t max_result,
                           std::function<void(DeliveryReport)> done) {
  auto* connection = new ClientConnection(this, listener, -1);
  connection->startDelivery(std::move(request), std::move(client_ip), std::move(upstream),
                            max_result, std::move(done));
}

void Worker::beginDrain() {
  draining_ = true;
  handover_link_ = requested_handover_link_.load();
  successor_ = requested_successor_.load();
  for (auto& acceptor : acceptors_) {
    // New connections are refused, or, when a successor process holds the same socket, go
    // to it. Out of the loop first: epoll would report a socket that lives on elsewhere.
    loop_.remove(acceptor->fd());
    acceptor->closeSocket();
  }
  if (pg_) pg_->beginDrain(successor_ != nullptr ? successor_->postgres() : nullptr);
  for (ClientConnection* connection = connections_; connection != nullptr;) {
    ClientConnection* next = connection->next;
    connection->drain();
    connection = next;
  }
  for (Http2Session* session = sessions_; session != nullptr;) {
    Http2Session* next = session->next;
    // To the successor, or GOAWAY (which never closes the session from inside the loop).
    if (!session->moveTo(successor())) session->drain();
    session = next;
  }
  for (auto& per_upstream : idle_) {
    for (auto& per_server : per_upstream) {
      for (auto* connection : per_server) connection->close();
      per_server.clear();
    }
  }
  maybeFinishDrain();
}

size_t Worker::clientConnections() const {
  return connection_count_ + (pg_ ? pg_->clientCount() : 0);
}

void Worker::updateCoalescing() { thread_.updateCoalescing(); }

void Worker::maybeFinishDrain() {
  if (!draining_ || drained_ || clientConnections() != 0) return;
  drained_ = true;
  if (on_drained_) on_drained_();
}

// Closes this worker's idle connections to slots out of rotation (removing or vacant), lets
// the balancer see them out, then tells the slots this worker is done with the version.
void Worker::syncSlots(SharedUpstream& upstream) {
  uint64_t version = upstream.slots->version();
  if (version == slots_seen_[upstream.index]) return;
  slots_seen_[upstream.index] = version;
  auto& pools = idle_[upstream.index];
  for (const auto& server : upstream.servers) {
    AdminState state = server->admin_state.load(std::memory_order_acquire);
    if (state != AdminState::kRemoving && state != AdminState::kVacant) continue;
    auto& pool = pools[server->index];
    for (auto* connection : pool) connection->close();
    pool.clear();
  }
  balancers_[upstream.index]->pick(pickContext(upstream, {}));
  upstream.slots->acknowledge(index_, version);
}

// Builds the balancer's view of the servers: healthy (admin state, active checks, outlier
// ejection, passive marking), what this request already tried, and the load per server.
int Worker::pickServer(SharedUpstream& upstream, const std::vector<uint8_t>& tried, bool has_hash,
                       uint64_t hash) {
  auto& balancer = *balancers_[upstream.index];
  uint64_t version = upstream.weights_version.load(std::memory_order_relaxed);
  if (version != weights_seen_[upstream.index]) {
    weights_seen_[upstream.index] = version;
    for (const auto& server : upstream.servers) {
      balancer.setWeight(static_cast<uint32_t>(server->index), server->weight.load());
    }
  }
  lb::PickContext context = pickContext(upstream, tried);
  context.hash = hash;
  context.has_hash = has_hash;
  int index = balancer.pick(context);
  if (balancer.lastPickPanicked()) upstream.panic_picks->inc();
  return index;
}

lb::PickContext Worker::pickContext(SharedUpstream& upstream, const std::vector<uint8_t>& tried) {
  size_t count = upstream.servers.size();
  healthy_scratch_.resize(count);
  removed_scratch_.resize(count);
  in_flight_scratch_.resize(count);
  auto now = loop_.now();
  for (size_t i = 0; i < count; ++i) {
    const auto& server = *upstream.servers[i];
    OutReason reason = upstream.outReason(server, now);
    healthy_scratch_[i] = reason == OutReason::kNone ? 1 : 0;
    // Operator decisions hold even in panic mode: disabled, draining, removing servers and
    // vacant slots are removed outright, not merely unhealthy.
    removed_scratch_[i] = reason == OutReason::kDisabled || reason == OutReason::kDraining ||
                          reason == OutReason::kRemoving || reason == OutReason::kVacant;
    in_flight_scratch_[i] = server.in_flight.load(std::memory_order_relaxed);
  }
  lb::PickContext context;
  context.healthy = healthy_scratch_;
  context.excluded = tried;
  context.removed = removed_scratch_;
  context.in_flight = in_flight_scratch_;
  context.now_ms = now;
  return context;
}

uint64_t Worker::random() { return rng_.next(); }

UpstreamConn* Worker::acquire(SharedUpstream& upstream, SharedServer& server, bool fresh,
                              int* error_code) {
  auto& pool = idle_[upstream.index][server.index];
  if (!fresh && !pool.empty()) {
    UpstreamConn* connection = pool.back();
    pool.pop_back();
    return connection;
  }
  bool counted = false;
  if (!takeConnectionSlot(upstream, &counted)) {
    *error_code = kConnectionLimitReached;
    return nullptr;
  }
  int fd = net::connectSocket(server.config.address, error_code);
  if (fd < 0) {
    if (counted) upstream.breaker->connectionLimit().release();
    return nullptr;
  }
  if (upstream.slots) server.connections.fetch_add(1);  // see ServerSlots::maintain
  auto* connection = new UpstreamConn(this, &upstream, &server, fd);
  connection->holds_connection_slot = counted;
  ++open_connections_[upstream.index];
  loop_.add(fd, connection);
  return connection;
}

// circuit_breaker.max_connections. When every slot is taken, one of this worker's own idle
// connections to the upstream is closed to free one. A worker with no connection to the
// upstream may always open one, uncounted: other workers' idle pools must not starve it
// (Envoy gives each worker's pool the same allowance).
bool Worker::takeConnectionSlot(SharedUpstream& upstream, bool* counted) {
  resilience::CircuitBreaker* breaker = upstream.breaker.get();
  *counted = false;
  if (breaker == nullptr) return true;
  if (breaker->connectionLimit().tryAcquire()) return *counted = true;
  for (auto& pool : idle_[upstream.index]) {
    if (pool.empty()) continue;
    UpstreamConn* oldest = pool.front();  // the most likely to be closed by the server anyway
    pool.erase(pool.begin());
    oldest->close();
    if (breaker->connectionLimit().tryAcquire()) return *counted = true;
    break;
  }
  return open_connections_[upstream.index] == 0;
}

void Worker::connectionClosed(const SharedUpstream& upstream) {
  --open_connections_[upstream.index];
}

void Worker::release(UpstreamConn* connection) {
  auto& pool = idle_[connection->upstream()->index][connection->server()->index];
  if (draining_ || !connection->input().empty() ||
      pool.size() >= connection->upstream()->config->keepalive || leavingSlot(*connection)) {
    return connection->close();
  }
  connection->setState(UpstreamConn::State::kIdle, nullptr);
  pool.push_back(connection);
}

// A connection to a run-time server being removed is not pooled: the slot empties sooner.
bool Worker::leavingSlot(UpstreamConn& connection) {
  if (!connection.upstream()->slots) return false;
  AdminState state = connection.server()->admin_state.load(std::memory_order_relaxed);
  return state == AdminState::kRemoving || state == AdminState::kVacant;
}

void Worker::forgetIdle(UpstreamConn* connection) {
  auto& pool = idle_[connection->upstream()->index][connection->server()->index];
  auto it = std::find(pool.begin(), pool.end(), connection);
  if (it != pool.end()) pool.erase(it);
}

void Worker::connectionOpened(ClientConnection* connection) {
  net::pushFront(connections_, connection);
  ++connection_count_;
  updateCoalescing();
}

void Worker::sessionOpened(Http2Session* session) {
  net::pushFront(sessions_, session);
  ++connection_count_;
  updateCoalescing();
}

void Worker::sessionClosed(Http2Session* session) {
  net::unlink(sessions_, session);
  --connection_count_;
  updateCoalescing();
  maybeFinishDrain();
}

void Worker::connectionClosed(ClientConnection* connection) {
  net::unlink(connections_, connection);
  --connection_count_;
  updateCoalescing();
  maybeFinishDrain();
}

void Worker::connectionMoved(ClientConnection* connection) { connectionClosed(connection); }

void Worker::sessionMoved(Http2Session* session) { sessionClosed(session); }

}  // namespace sg::proxy
