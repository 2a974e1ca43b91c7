// The client side of the request path: reading and buffering request heads, the connection's
// timeouts, keep-alive and pipelining, lingering close. Everything about one request is the
// exchange's (exchange.cpp and the phases).
#include "proxy/client_connection.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "net/socket.h"
#include "proxy/async_queue.h"
#include "proxy/exchange.h"
#include "proxy/http2_session.h"
#include "proxy/http2_stream.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"
#include "queue/delivery_request.h"

namespace sg::proxy {

namespace {

constexpr size_t kReadChunk = 16 * 1024;
// Lingering close (closeAfterResponse): nginx's lingering_timeout and lingering_time.
constexpr int64_t kLingerIdleMs = 5000;
constexpr int64_t kLingerTotalMs = 30000;

}  // namespace

struct ClientConnection::Delivery {
  Delivery(uint64_t max_result, std::string to, std::function<void(DeliveryReport)> on_done)
      : capture(max_result), upstream(std::move(to)), done(std::move(on_done)) {
    sink = [this](std::string_view bytes) { capture.append(bytes); };
  }
  queue::ResponseCapture capture;
  std::string upstream;  // a fan-out member's target; empty: the route's
  std::function<void(std::string_view)> sink;
  std::function<void(DeliveryReport)> done;
};

ClientConnection::ClientConnection(Worker* worker, SharedListener* listener, int fd)
    : worker_(worker), listener_(listener), stream_(fd), timer_(this) {}

ClientConnection::~ClientConnection() = default;

void ClientConnection::start(bool adopted) {
  ip_ = net::peerAddress(stream_.fd()).hostString();
  listener_->connections->inc();
  listener_->open_connections->add(1);
  worker_->connectionOpened(this);
  worker_->loop().add(stream_.fd(), this);
  if (adopted) return armIdleTimer();
  if (listener_->config->tls) return startTls();
  worker_->loop().timers().arm(timer_, listener_->config->request_head_timeout.count());
}

void ClientConnection::startTls() {
  std::string error;
  auto session = net::TlsSession::make(*listener_->config->tls->context, stream_.fd(), "", &error);
  if (session == nullptr) {
    spdlog::warn("listener {}: {}", listener_->config->name, error);
    listener_->tls->countFailure("other");
    return close();
  }
  stream_.attachTls(std::move(session));
  setState(State::kHandshake);
  worker_->loop().timers().arm(timer_, listener_->config->tls->handshake_timeout.count());
  continueHandshake();
}

// One step per readiness event: the loop reports both directions (edge-triggered), so a step
// that waits for either is retried on the next event.
void ClientConnection::continueHandshake() {
  net::TlsSession& tls = *stream_.tls();
  net::TlsSession::Step step = tls.handshake();
  if (step == net::TlsSession::Step::kDone) return handshakeDone();
  if (step != net::TlsSession::Step::kFailed) return;
  if (tls.failureReason().empty()) return close();  // a TCP probe: nothing to count
  spdlog::debug("listener {}: TLS handshake with {} failed: {}", listener_->config->name, ip_,
                tls.error());
  listener_->tls->countFailure(tls.failureReason());
  if (tls.failureReason() == "plain_http") return answerPlainHttp();
  close();
}

// A plain HTTP request on a TLS port: answered, as nginx does, with a 400 in plain HTTP that
// says what went wrong (a closed connection tells the client nothing). OpenSSL has read only
// the record header; the rest of the request is dropped by the lingering close, so a client
// still sending its body reads the answer rather than a reset.
void ClientConnection::answerPlainHttp() {
  static constexpr std::string_view kAnswer =
      "HTTP/1.1 400 Bad Request\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 46\r\n"
      "Connection: close\r\n\r\n"
      "The plain HTTP request was sent to HTTPS port\n";
  stream_.attachTls(nullptr);  // this socket never spoke TLS: no close_notify either
  // Best effort in one send: the answer is far smaller than any socket buffer.
  if (::send(stream_.fd(), kAnswer.data(), kAnswer.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
    return close();
  }
  readable_ = true;
  closeAfterResponse(true);
}

void ClientConnection::handshakeDone() {
  timer_.cancel();
  listener_->tls->ok->inc();
  if (stream_.tls()->resumed()) listener_->tls->resumed->inc();
  // ALPN "h2": the HTTP/2 session takes the socket (still counted open), this object goes.
  // Any other (http/1.1, or none) goes on as HTTP/1.1 below.
  if (stream_.tls()->alpn() == "h2") {
    worker_->loop().remove(stream_.fd());
    startHttp2(worker_, listener_, std::move(stream_), ip_, {});
    return close();
  }
  setState(State::kWaiting);
  worker_->loop().timers().arm(timer_, listener_->config->request_head_timeout.count());
  readable_ = true;  // request bytes may have come with the handshake's last flight
  processInput();
}

void ClientConnection::startRefresh(std::string request_head, std::string client_ip,
                                    std::string key) {
  refresh_ = true;
  refresh_key_ = std::move(key);
  ip_ = std::move(client_ip);
  startWithoutClient(request_head);
}

// Not a refresh: the warm request is a client's miss (no fill lock given, rate limits,
// access log and cache metrics as usual), from the gateway itself.
void ClientConnection::startWarm(std::string request_head, std::function<void(int status)> done) {
  warm_done_ = std::move(done);
  ip_ = "127.0.0.1";
  startWithoutClient(request_head);
}

const std::string& ClientConnection::deliveryUpstream() const {
  static const std::string kNone;
  return delivery_ != nullptr ? delivery_->upstream : kNone;
}

const std::function<void(std::string_view)>* ClientConnection::responseSink() const {
  return delivery_ != nullptr ? &delivery_->sink : nullptr;
}

// Like a warm request, a delivery is a client's request from the gateway itself; the
// route's phases know it by delivery() and skip what ran when it was accepted.
void ClientConnection::startDelivery(std::string request, std::string client_ip,
                                     std::string upstream, uint64_t max_result,
                                     std::function<void(DeliveryReport)> done) {
  delivery_ = std::make_unique<Delivery>(max_result, std::move(upstream), std::move(done));
  ip_ = client_ip.empty() ? std::string("127.0.0.1") : std::move(client_ip);
  startWithoutClient(request);
}

void ClientConnection::startChannel(Http2Stream* channel, std::string client_ip) {
  stream_ = net::Stream(channel);
  http2_stream_ = channel;
  ip_ = std::move(client_ip);
  readable_ = true;
  first_bytes_ = false;
  worker_->connectionOpened(this);
  if (channel->headError() != http::ParseError::kNone) {
    // Its header block was refused (too large): answered as the HTTP/1.1 parser's error.
    exchange_ = worker_->acquireExchange();
    exchange_->begin(this, listener_);
    return exchange_->rejectHead(channel->headError());
  }
  processInput();
}

void ClientConnection::startWithoutClient(const std::string& request_head) {
  worker_->connectionOpened(this);
  worker_->buffers().lend(&input_);
  input_.reserve(request_head.size(), request_head.size() + input_.capacity());
  std::memcpy(input_.writePtr(), request_head.data(), request_head.size());
  input_.commit(request_head.size());
  processInput();
}

// The single place where a connection changes state.
void ClientConnection::setState(State next) { state_ = next; }

void ClientConnection::onEvents(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closed_ = true;
  switch (state_) {
    case State::kHandshake:
      continueHandshake();
      break;
    case State::kWaiting:
      processInput();
      break;
    case State::kExchange:
      exchange_->onClientEvents(events);
      break;
    case State::kLingering:
      discardClientInput();
      break;
    case State::kClosed:
      break;
  }
}

void ClientConnection::onTimer(net::Timer* /*timer*/) {
  if (state_ == State::kHandshake) listener_->tls->timeout->inc();
  if (state_ == State::kWaiting && exchange_ != nullptr && !input_.empty()) {
    return exchange_->headTimedOut();
  }
  close();  // idle keep-alive, a client that stopped reading, or a stuck close
}

// Reads and starts requests until one is in flight or the socket is drained. An exchange is
// taken when a head's first bytes arrive.
void ClientConnection::processInput() {
  if (processing_input_) return;
  processing_input_ = true;
  while (state_ == State::kWaiting) {
    if (first_bytes_ && !input_.empty()) {
      bool need_more = false;
      if (switchToHttp2(&need_more)) {
        if (!need_more) return;  // this object is closed
        if (!readClient()) break;
        continue;
      }
    }
    if (!input_.empty()) {
      if (exchange_ == nullptr) {
        exchange_ = worker_->acquireExchange();
        exchange_->begin(this, listener_);
        if (refresh_) exchange_->phases.cache.startRefresh(std::move(refresh_key_));
      }
      if (exchange_->parseHead()) continue;  // started or answered: state_ tells the rest
      if (!head_timer_armed_) {
        worker_->loop().timers().arm(timer_, listener_->config->request_head_timeout.count());
        head_timer_armed_ = true;
      }
    }
    if (state_ != State::kWaiting || !readClient()) break;
  }
  processing_input_ = false;
  if (state_ != State::kWaiting || !input_.empty()) return;
  releaseIdleBuffer();
  // A draining worker keeps no idle connection: one that was still sending a response when
  // the drain began (a large cache hit) leaves once it is sent and nothing else was asked.
  if (worker_->draining()) retire();
}

bool ClientConnection::switchToHttp2(bool* need_more) {
  const std::string_view bytes(input_.data(), input_.size());
  const size_t n = std::min(bytes.size(), kHttp2Preface.size());
  if (!listener_->config->http2.h2c || stream_.tls() != nullptr ||
      bytes.substr(0, n) != kHttp2Preface.substr(0, n)) {
    first_bytes_ = false;
    return false;
  }
  *need_more = n < kHttp2Preface.size();
  if (*need_more) return true;
  // The session takes the socket (still counted open) and what was read; this object goes.
  worker_->loop().remove(stream_.fd());
  std::string already_read(bytes);
  startHttp2(worker_, listener_, std::move(stream_), ip_, already_read);
  close();
  return true;
}

void ClientConnection::retire() {
  Worker* newest = worker_->successor();
  if (moveTo(newest)) return;
  // The newest generation drains too: into a successor process, when there is one.
  Worker* handing = newest != nullptr ? newest : worker_;
  if (handing->handoverLink() >= 0 && state_ == State::kWaiting && input_.empty() &&
      stream_.fd() >= 0 && stream_.tls() == nullptr) {
    // Out of this loop first: the socket lives on in the successor.
    worker_->loop().remove(stream_.fd());
    handing->passToSuccessor(stream_.fd(), listener_->config->name);
  }
  close();
}

bool ClientConnection::moveTo(Worker* successor) {
  if (successor == nullptr || successor->draining() || state_ != State::kWaiting ||
      !input_.empty() || stream_.fd() < 0 || stream_.channel() != nullptr || refresh_ ||
      warm_done_ || delivery_) {
    return false;
  }
  SharedListener* listener =
      successor->shared().listenerTaking(listener_->config->name, stream_.tls() != nullptr);
  if (listener == nullptr) return false;
  if (stream_.tls() != nullptr && tls_config_ == nullptr)
    tls_config_ = worker_->shared().configHandle();
  listener_->open_connections->add(-1);
  listener->open_connections->add(1);
  worker_->connectionMoved(this);  // first: the lists share this object's links
  successor->connectionOpened(this);
  worker_ = successor;
  listener_ = listener;
  armIdleTimer();
  return true;
}

// Between requests the connection gives its read buffer and its exchange back.
void ClientConnection::releaseIdleBuffer() {
  if (exchange_ != nullptr) {
    exchange_->end();
    worker_->releaseExchange(exchange_);
    exchange_ = nullptr;
  }
  worker_->buffers().reclaim(&input_);
}

bool ClientConnection::readClient() {
  if (!readable_ || !stream_.open()) return false;
  const size_t limit =
      std::max<size_t>(worker_->buffers().blockSize(), listener_->config->max_header_size + 1024);
  worker_->buffers().lend(&input_);
  size_t space = input_.reserve(std::min(kReadChunk, limit / 2), limit);
  if (space == 0) return false;
  ssize_t n = stream_.read(input_.writePtr(), space);
  if (n > 0) {
    input_.commit(static_cast<size_t>(n));
    // A short read means drained (edge-triggered), unless the peer's FIN came with the data.
    if (static_cast<size_t>(n) < space && !peer_closed_ && stream_.shortReadDrains())
      readable_ = false;
    return true;
  }
  readable_ = false;
  if (n == -1) return false;
  eof_ = true;
  if (state_ == State::kWaiting || n == -2) close();
  return false;
}

void ClientConnection::armIdleTimer() {
  worker_->loop().timers().arm(timer_, listener_->config->idle_timeout.count());
}

void ClientConnection::exchangeStarted() {
  first_bytes_ = false;
  setState(State::kExchange);
  timer_.cancel();
  head_timer_armed_ = false;
}

void ClientConnection::exchangeDone(bool must_close, bool body_unread) {
  Exchange* exchange = exchange_;
  exchange_ = nullptr;
  warm_status_ = exchange->status;
  local_answer_ = exchange->local_answer;
  exchange->end();
  worker_->releaseExchange(exchange);
  if (must_close || warm_done_ || delivery_ || stream_.channel() != nullptr)
    return closeAfterResponse(body_unread);
  setState(State::kWaiting);
  armIdleTimer();
  processInput();
}

// Closing a socket that still holds unread client bytes makes the kernel send a reset, and
// a reset can destroy the response before the client has read it (a 413 or 400 sent while
// the client is still uploading). So, as nginx's lingering close does: shut the write side,
// then read and drop what the client still sends, until it closes or kLingerIdleMs pass
// without data (kLingerTotalMs at most).
void ClientConnection::closeAfterResponse(bool body_unread) {
  if (stream_.fd() < 0) return close();  // no socket: no client, or an HTTP/2 stream
  if (stream_.tls() != nullptr) stream_.tls()->shutdown();  // close_notify: the response is whole
  shutdown(stream_.fd(), SHUT_WR);
  const bool unread = !input_.empty() || body_unread || readable_;
  if (eof_ || !unread || worker_->draining()) return close();
  setState(State::kLingering);
  input_.clear();
  worker_->buffers().reclaim(&input_);
  linger_deadline_ms_ = worker_->loop().now() + kLingerTotalMs;
  discardClientInput();
}

void ClientConnection::discardClientInput() {
  if (!net::discardReadable(stream_.fd())) return close();  // the client closed: done
  int64_t left = linger_deadline_ms_ - worker_->loop().now();
  if (left <= 0) return close();
  worker_->loop().timers().arm(timer_, std::min<int64_t>(left, kLingerIdleMs));
}

void ClientConnection::drain() {
  // A handshake goes on when a successor generation takes the connection once it is idle.
  if (state_ == State::kHandshake && worker_->successor() != nullptr &&
      !worker_->successor()->draining()) {
    return;
  }
  if (state_ == State::kLingering || state_ == State::kHandshake) return close();
  if (state_ == State::kWaiting && input_.empty()) return retire();
  if (exchange_ != nullptr && worker_->closesConnections()) exchange_->close_after = true;
}

void ClientConnection::close() {
  if (state_ == State::kClosed) return;
  setState(State::kClosed);
  if (exchange_ != nullptr) {
    Exchange* exchange = exchange_;
    exchange_ = nullptr;
    exchange->end();
    worker_->releaseExchange(exchange);
  }
  timer_.cancel();
  input_.clear();
  worker_->buffers().reclaim(&input_);
  if (stream_.fd() >= 0) listener_->open_connections->add(-1);
  stream_.close();
  worker_->connectionClosed(this);
  worker_->loop().dispose(this);
  if (warm_done_) std::exchange(warm_done_, nullptr)(warm_status_);
  if (delivery_) reportDelivery();
}

void ClientConnection::reportDelivery() {
  std::unique_ptr<Delivery> delivery = std::move(delivery_);
  DeliveryReport report;
  report.status = warm_status_;
  report.local = local_answer_;
  // Only a whole upstream response is a result: a cut one (the upstream closed mid-body)
  // is a failed delivery, as it would be for a client.
  if (!local_answer_) report.result = delivery->capture.finish();
  if (!local_answer_ && !report.result) report.status = 0;
  delivery->done(std::move(report));
}

}  // namespace sg::proxy
