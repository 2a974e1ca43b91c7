#include "proxy/upstream_conn.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "net/socket.h"
#include "proxy/exchange.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {
constexpr size_t kUpstreamBuffer = 16 * 1024;
}

UpstreamConn::UpstreamConn(Worker* worker, SharedUpstream* upstream, SharedServer* server, int fd)
    : worker_(worker),
      upstream_(upstream),
      server_(server),
      stream_(fd),
      input_(kUpstreamBuffer),
      timer_(this) {}

UpstreamConn::~UpstreamConn() = default;

// The single place where the state changes; each state owns its timer.
void UpstreamConn::setState(State next, Exchange* exchange) {
  state_ = next;
  exchange_ = exchange;
  auto& timers = worker_->loop().timers();
  switch (next) {
    case State::kConnecting:
      timers.arm(timer_, upstream_->config->connect_timeout.count());
      break;
    case State::kActive:
      timer_.cancel();  // the exchange arms response_timeout when it sends
      break;
    case State::kIdle:
      reused_ = true;
      timers.arm(timer_, upstream_->config->keepalive_timeout.count());
      break;
    case State::kClosed:
      timer_.cancel();
      break;
  }
}

void UpstreamConn::onEvents(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closed = true;
  switch (state_) {
    case State::kConnecting: {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int error = net::socketError(stream_.fd());
      Exchange* exchange = exchange_;
      if (error == 0 && !(events & EPOLLERR)) {
        setState(State::kActive, exchange);
        exchange->onUpstreamConnected();
      } else {
        exchange->onUpstreamConnectFailed(false);
      }
      return;
    }
    case State::kActive:
      exchange_->onUpstreamEvents(events);
      return;
    case State::kIdle:
      onIdleEvent(events);
      return;
    case State::kClosed:
      return;
  }
}

// An idle pooled connection that turns readable was closed (or spoken to) by the server:
// it can no longer carry a request. Pure EPOLLOUT wake-ups (ACKs) are ignored.
void UpstreamConn::onIdleEvent(uint32_t events) {
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
    char byte;
    ssize_t n = recv(stream_.fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      readable = false;
      return;
    }
  }
  worker_->forgetIdle(this);
  close();
}

void UpstreamConn::onTimer(net::Timer* /*timer*/) {
  switch (state_) {
    case State::kConnecting:
      exchange_->onUpstreamConnectFailed(true);
      return;
    case State::kActive:
      exchange_->onUpstreamTimeout();
      return;
    case State::kIdle:
      worker_->forgetIdle(this);
      close();
      return;
    case State::kClosed:
      return;
  }
}

void UpstreamConn::close() {
  if (state_ == State::kClosed) return;
  setState(State::kClosed, nullptr);
  if (holds_connection_slot) upstream_->breaker->connectionLimit().release();
  holds_connection_slot = false;
  worker_->connectionClosed(*upstream_);
  if (upstream_->slots) server_->connections.fetch_sub(1);  // see ServerSlots::maintain
  stream_.close();
  worker_->loop().dispose(this);
}

}  // namespace sg::proxy
