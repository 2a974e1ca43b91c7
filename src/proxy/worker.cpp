#include "proxy/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "net/socket.h"
#include "proxy/session.h"
#include "proxy/upstream_conn.h"

namespace sg::proxy {

class Worker::Acceptor final : public net::EventHandler {
 public:
  Acceptor(Worker* worker, SharedListener* listener, int fd)
      : worker_(worker), listener_(listener), fd_(fd) {}
  ~Acceptor() { closeSocket(); }

  void closeSocket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  // Edge-triggered: accept until the queue is empty.
  void onEvents(uint32_t /*events*/) override {
    while (fd_ >= 0) {
      int client = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          spdlog::warn("accept on {}: {}", listener_->config->name, std::strerror(errno));
        }
        return;
      }
      net::setNoDelay(client);
      auto* session = new Session(worker_, listener_, client);
      session->start();
    }
  }

 private:
  Worker* worker_;
  SharedListener* listener_;
  int fd_;
};

Worker::Worker(SharedState* shared, uint32_t index, const AccessLog* access_log)
    : shared_(shared), index_(index), access_log_(access_log), request_ids_(osRandomSeed() + index) {
  for (auto& upstream : shared_->upstreams()) {
    std::vector<lb::ServerSpec> specs;
    for (const auto& server : upstream.servers) {
      specs.push_back({server->config.weight, server->config.backup});
    }
    balancers_.push_back(lb::makeBalancer(upstream.config->balance, std::move(specs)));
    idle_.emplace_back(upstream.servers.size());
  }
  loop_.setWakeHandler([this] { onWake(); });
}

Worker::~Worker() {
  acceptors_.clear();
  while (sessions_ != nullptr) sessions_->abort();  // closed sessions are freed by loop_
  for (auto& per_upstream : idle_) {
    for (auto& per_server : per_upstream) {
      for (auto* connection : per_server) connection->close();
      per_server.clear();
    }
  }
}

bool Worker::openListeners(std::string* error) {
  for (auto& listener : shared_->listeners()) {
    int fd = net::listenSocket(listener.config->address, 4096, error);
    if (fd < 0) return false;
    acceptors_.push_back(std::make_unique<Acceptor>(this, &listener, fd));
  }
  return true;
}

void Worker::run() {
  metrics::setCurrentShard(index_);
  for (auto& acceptor : acceptors_) loop_.add(acceptor->fd(), acceptor.get());
  loop_.run();
}

void Worker::drain() {
  drain_requested_ = true;
  loop_.wake();
}

void Worker::stop() {
  stop_requested_ = true;
  loop_.wake();
}

void Worker::onWake() {
  if (stop_requested_) return loop_.stop();
  if (drain_requested_ && !draining_) beginDrain();
}

void Worker::beginDrain() {
  draining_ = true;
  for (auto& acceptor : acceptors_) acceptor->closeSocket();  // new connections are refused
  for (Session* session = sessions_; session != nullptr;) {
    Session* next = session->next;
    session->drain();
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

void Worker::maybeFinishDrain() {
  if (draining_ && session_count_ == 0) loop_.stop();
}

int Worker::pickServer(SharedUpstream& upstream, const std::vector<uint8_t>& tried) {
  usable_scratch_.resize(upstream.servers.size());
  auto now = loop_.now();
  for (size_t i = 0; i < upstream.servers.size(); ++i) {
    usable_scratch_[i] = tried[i] == 0 && upstream.servers[i]->health.isUp(now) ? 1 : 0;
  }
  return balancers_[upstream.index]->pick({usable_scratch_});
}

UpstreamConn* Worker::acquire(SharedUpstream& upstream, SharedServer& server, bool fresh,
                              int* error_code) {
  auto& pool = idle_[upstream.index][server.index];
  if (!fresh && !pool.empty()) {
    UpstreamConn* connection = pool.back();
    pool.pop_back();
    return connection;
  }
  int fd = net::connectSocket(server.config.address, error_code);
  if (fd < 0) return nullptr;
  auto* connection = new UpstreamConn(this, &upstream, &server, fd);
  loop_.add(fd, connection);
  return connection;
}

void Worker::release(UpstreamConn* connection) {
  auto& pool = idle_[connection->upstream()->index][connection->server()->index];
  if (draining_ || !connection->input().empty() ||
      pool.size() >= connection->upstream()->config->keepalive) {
    return connection->close();
  }
  connection->setState(UpstreamConn::State::kIdle, nullptr);
  pool.push_back(connection);
}

void Worker::forgetIdle(UpstreamConn* connection) {
  auto& pool = idle_[connection->upstream()->index][connection->server()->index];
  auto it = std::find(pool.begin(), pool.end(), connection);
  if (it != pool.end()) pool.erase(it);
}

void Worker::sessionOpened(Session* session) {
  session->next = sessions_;
  session->prev = nullptr;
  if (sessions_ != nullptr) sessions_->prev = session;
  sessions_ = session;
  ++session_count_;
}

void Worker::sessionClosed(Session* session) {
  if (session->prev != nullptr) session->prev->next = session->next; else sessions_ = session->next;
  if (session->next != nullptr) session->next->prev = session->prev;
  session->prev = session->next = nullptr;
  --session_count_;
  maybeFinishDrain();
}

}  // namespace sg::proxy
