#include "proxy/upstream_conn.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

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
    case State::kHandshaking:
      break;  // connect_timeout, armed when connecting, covers the handshake too
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
    case State::kConnecting:
      return onConnectEvent(events);
    case State::kHandshaking:
      return stepHandshake();
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

void UpstreamConn::onConnectEvent(uint32_t events) {
  if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
  int error = net::socketError(stream_.fd());
  if (error != 0 || (events & EPOLLERR)) return failConnect(false);
  if (upstream_->config->tls) return startHandshake();
  Exchange* exchange = exchange_;
  setState(State::kActive, exchange);
  exchange->onUpstreamConnected();
}

void UpstreamConn::startHandshake() {
  const config::UpstreamTlsConfig& tls = *upstream_->config->tls;
  // Without `sni` the certificate must name the IP connected to (no SNI is sent for an IP).
  std::string host = tls.sni.empty() ? server_->config.address.hostString() : tls.sni;
  std::string error;
  auto session = net::TlsSession::make(*tls.context, stream_.fd(), host, &error);
  if (session == nullptr) {
    spdlog::warn("upstream {}: server {}: connect failed (tls): {}", upstream_->config->name,
                 server_->address_text, error);
    upstream_->tls_failed->inc();
    return failConnect(false);
  }
  session->useSessionCache(&worker_->tlsSessions(*upstream_, *server_));
  stream_.attachTls(std::move(session));
  setState(State::kHandshaking, exchange_);
  stepHandshake();
}

void UpstreamConn::stepHandshake() {
  net::TlsSession& tls = *stream_.tls();
  switch (tls.handshake()) {
    case net::TlsSession::Step::kWantRead:
    case net::TlsSession::Step::kWantWrite:
      return;  // edge-triggered: OpenSSL read or wrote until the socket would block
    case net::TlsSession::Step::kDone: {
      (tls.resumed() ? upstream_->tls_resumed : upstream_->tls_full)->inc();
      Exchange* exchange = exchange_;
      setState(State::kActive, exchange);
      exchange->onUpstreamConnected();
      return;
    }
    case net::TlsSession::Step::kFailed:
      spdlog::warn("upstream {}: server {}: connect failed (tls): {}", upstream_->config->name,
                   server_->address_text, tls.error());
      upstream_->tls_failed->inc();
      worker_->tlsSessions(*upstream_, *server_).clear();  // a saved session may be the cause
      return failConnect(false);
  }
}

void UpstreamConn::failConnect(bool timed_out) { exchange_->onUpstreamConnectFailed(timed_out); }

// An idle pooled connection that turns readable was closed (or spoken to) by the server:
// it can no longer carry a request. Pure EPOLLOUT wake-ups (ACKs) are ignored.
void UpstreamConn::onIdleEvent(uint32_t events) {
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  if (stream_.tls() != nullptr && !(events & (EPOLLHUP | EPOLLERR))) {
    // A TLS server may send records to an idle connection that close nothing (a late session
    // ticket, a key update): OpenSSL takes them. A close_notify, EOF or data means it is done.
    char byte;
    if (stream_.read(&byte, 1) == -1) {
      readable = false;
      return;
    }
  } else if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
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
      return failConnect(true);
    case State::kHandshaking:
      spdlog::warn("upstream {}: server {}: connect failed (tls): handshake timed out",
                   upstream_->config->name, server_->address_text);
      upstream_->tls_failed->inc();
      return failConnect(true);
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
  if (stream_.tls() != nullptr) stream_.tls()->shutdown();  // close_notify, not waited for
  stream_.close();
  worker_->loop().dispose(this);
}

}  // namespace sg::proxy
