// Upstream side of a session: choosing a server, connecting (with failover on connect
// errors), streaming the request, reading and relaying the response, and tunnels.
#include <sys/socket.h>

#include <cerrno>

#include "http/parser.h"
#include "lb/balancer.h"
#include "net/socket.h"
#include "proxy/head_writer.h"
#include "proxy/request_key.h"
#include "proxy/session.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {
constexpr size_t kUpstreamReadChunk = 16 * 1024;
constexpr size_t kUpstreamBufferMax = 128 * 1024;  // response heads up to 64 KiB fit
const http::ParseLimits kResponseLimits{64 * 1024, 256};
}  // namespace

void Session::connectUpstream() {
  for (;;) {
    int index = pickServer();
    if (index < 0 && attempts_ > 0 && !tried_reset_) {
      // A retry with every server tried: any server may take it again.
      std::fill(tried_.begin(), tried_.end(), 0);
      tried_reset_ = true;
      continue;
    }
    if (index < 0) return reject(last_timed_out_ ? 504 : 502, false);
    tried_[static_cast<size_t>(index)] = 1;
    auto& server = *route_->upstream->servers[static_cast<size_t>(index)];
    int error_code = 0;
    UpstreamConn* connection = worker_->acquire(*route_->upstream, server, false, &error_code);
    if (connection == nullptr && error_code == Worker::kConnectionLimitReached) return overflow();
    if (connection == nullptr) {
      server.errors->inc();
      server.health.recordFailure(worker_->loop().now());
      continue;  // nothing was sent: any method may try the next server
    }
    attachUpstream(connection);
    if (upstream_ != nullptr && connection->state() == UpstreamConn::State::kActive)
      onUpstreamConnected();
    return;
  }
}

void Session::attachUpstream(UpstreamConn* connection) {
  upstream_ = connection;
  upstream_eof_ = false;  // a retry must not inherit the previous connection's end
  log_server_ = connection->server()->address_text;
  bool pooled = connection->state() == UpstreamConn::State::kIdle;
  connection->setState(pooled ? UpstreamConn::State::kActive : UpstreamConn::State::kConnecting,
                       this);
  if (!pooled && !takePendingSlot()) overflow();
}

void Session::detachUpstream() {
  if (upstream_ == nullptr) return;
  if (counted_active_) {
    upstream_->server()->active->add(-1);
    upstream_->server()->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  counted_active_ = false;
  upstream_->timer().cancel();
  upstream_ = nullptr;
}

void Session::closeUpstream() {
  if (upstream_ == nullptr) return;
  UpstreamConn* connection = upstream_;
  detachUpstream();
  connection->close();
}

void Session::onUpstreamConnected() {
  releasePendingSlot();
  auto* server = upstream_->server();
  server->requests->inc();
  server->active->add(1);
  server->in_flight.fetch_add(1, std::memory_order_relaxed);
  counted_active_ = true;
  setState(State::kForwarding);
  worker_->loop().timers().arm(upstream_->timer(), tryTimeoutMs());
  pumpRequest();
}

void Session::onUpstreamConnectFailed(int /*error_code*/, bool timed_out) {
  releasePendingSlot();
  auto* server = upstream_->server();
  server->errors->inc();
  server->health.recordFailure(worker_->loop().now());
  recordOutlier(0);
  last_timed_out_ = timed_out;
  closeUpstream();
  connectUpstream();  // nothing was sent: the next untried server may take it
}

void Session::onUpstreamEvents(uint32_t events) {
  if (state_ == State::kTunnel) return pumpTunnel();
  if (state_ != State::kForwarding) return;
  if ((events & EPOLLOUT) && !to_upstream_.idle()) pumpRequest();
  if (state_ == State::kForwarding && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
    pumpResponse();
  }
}

void Session::onUpstreamTimeout() {
  if (state_ == State::kTunnel) return close();
  // Counted as an error, but not against passive health: only failed connects mark a
  // server down (a slow endpoint does not take a live server out of rotation).
  upstream_->server()->errors->inc();
  if (response_started_) return close();
  recordOutlier(0);
  if (shouldRetry(TryFailure::kTimeout, 0)) return scheduleRetry();
  reject(504, !request_body_.done());
}

void Session::pumpRequest() {
  for (;;) {
    // Take in buffered body bytes first, so the head and body leave in one sendmsg.
    if (to_upstream_.bodyReady() == 0 && !input_.empty() && !acceptRequestBody()) return;
    auto result = to_upstream_.flush(upstream_->fd(), &input_);
    if (result == Pipe::Flush::kError) return upstreamBroken();
    if (result == Pipe::Flush::kBlocked || request_body_.done()) return;
    if (!readClient()) {
      if (client_eof_) close();  // the client gave up mid-body (close() is idempotent)
      return;
    }
  }
}

// Marks the request body bytes at the front of the client buffer as ready to forward.
// Returns false when the exchange ended (bad chunk or body over the limit).
bool Session::acceptRequestBody() {
  size_t body = 0;
  if (request_body_.scan(&input_, 0, &body) == BodyFramer::Result::kError) {
    countReject(0, RejectReason::kBadChunk);
    closeUpstream();
    response_started_ ? close() : reject(400, true);
    return false;
  }
  const uint64_t max_body = listener_->config->max_body_size;
  if (max_body != 0 && request_body_.wireBytes() > max_body) {
    countReject(0, RejectReason::kBodyTooLarge);
    closeUpstream();
    response_started_ ? close() : reject(413, true);
    return false;
  }
  if (body > 0) {
    keepForReplay(body);
    to_upstream_.addBody(body);
    rearmUpstreamTimer();
  }
  return true;
}

// The upstream connection died before a response head (reset on write, or EOF). When it
// was a reused pooled connection the server most likely closed it while idle: a bodiless
// idempotent request goes once more to the same server on a fresh connection. Otherwise the
// route's retry policy decides, and a bodiless idempotent request may still go to a server
// not yet tried. Anything else gets 502.
void Session::upstreamBroken() {
  SharedServer* server = upstream_->server();
  bool stale_reuse = upstream_->reused() && !retried_;
  if (!stale_reuse) {
    server->errors->inc();
    recordOutlier(0);
  }
  if (response_started_) return close();
  if (stale_reuse && retryable_ && !response_head_done_) return resendOnFreshConnection();
  if (shouldRetry(TryFailure::kReset, 0)) return scheduleRetry();
  if (!retryable_ || response_head_done_) return reject(502, true);
  closeUpstream();
  to_upstream_.rewindHead();
  setState(State::kConnecting);
  connectUpstream();
}

void Session::resendOnFreshConnection() {
  SharedServer* server = upstream_->server();
  closeUpstream();
  to_upstream_.rewindHead();
  setState(State::kConnecting);
  retried_ = true;
  int error_code = 0;
  UpstreamConn* connection = worker_->acquire(*route_->upstream, *server, true, &error_code);
  if (connection == nullptr) {
    server->errors->inc();
    server->health.recordFailure(worker_->loop().now());
    return connectUpstream();
  }
  attachUpstream(connection);
}

bool Session::readUpstream() {
  if (!upstream_->readable) return false;
  net::Buffer& buffer = upstream_->input();
  size_t space = buffer.reserve(kUpstreamReadChunk / 2, kUpstreamBufferMax);
  ssize_t n = net::readSome(upstream_->fd(), buffer.writePtr(), space);
  if (n > 0) {
    buffer.commit(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < space && !upstream_->peer_closed) upstream_->readable = false;
    rearmUpstreamTimer();
    return true;
  }
  upstream_->readable = false;
  if (n == -1) return false;
  upstream_eof_ = true;
  return false;
}

void Session::pumpResponse() {
  for (;;) {
    // Take in buffered body bytes before flushing, so head and body go out together.
    if (response_head_done_ && to_client_.bodyReady() == 0 &&
        (!upstream_->input().empty() || compressionEndPending())) {
      // Broken framing from the upstream: the client sees a cut response.
      if (!takeResponseBody()) return close();
    }
    if (!to_client_.idle()) {
      auto result = sendToClient(compressor_ ? compressed_.get() : &upstream_->input());
      if (result == Pipe::Flush::kError) return close();
      if (result == Pipe::Flush::kBlocked) {
        client_writable_ = false;
        worker_->loop().timers().arm(timer_, listener_->config->idle_timeout.count());
        return;
      }
      timer_.cancel();
    }
    if (response_head_done_ && response_body_.done()) return finishExchange();
    // Buffered bytes are parsed before reading more: reads are edge-triggered, so a final
    // response that came in the same read as a 1xx gets no new event.
    if (!response_head_done_ && !upstream_->input().empty()) {
      HeadStep step = handleResponseHead();
      if (step == HeadStep::kStop) return;
      if (step == HeadStep::kHandled) continue;
    }
    if (!response_head_done_ || upstream_->input().empty()) {
      if (upstream_eof_) return upstreamEnded();
      if (!readUpstream()) {
        if (upstream_eof_ || flushCompressedStream()) continue;  // flushed: send it
        return;
      }
    }
  }
}

void Session::upstreamEnded() {
  if (!response_head_done_) {
    if (upstream_->input().empty()) return upstreamBroken();
    auto* server = upstream_->server();
    server->errors->inc();
    return reject(502, true);  // closed in the middle of the response head
  }
  if (response_body_.finishOnEof()) return pumpResponse();
  close();  // truncated body: closing tells the client it is incomplete
}

Session::HeadStep Session::handleResponseHead() {
  http::ParseError error = http::ParseError::kNone;
  net::Buffer& buffer = upstream_->input();
  auto status =
      http::parseResponseHead(buffer.view(), kResponseLimits, request_is_head_, &response_, &error);
  if (status == http::ParseStatus::kIncomplete) return HeadStep::kIncomplete;
  // A 101 answers only an upgrade request (RFC 9110 15.2.2): relaying one the client did not
  // ask for would hand it a protocol it never agreed to.
  if (status == http::ParseStatus::kError || (response_.status == 101 && !request_upgrade_)) {
    upstream_->server()->errors->inc();
    reject(502, true);
    return HeadStep::kStop;
  }
  if (response_.status == 101) {
    buffer.consume(response_.head_length);
    startUpgrade();
    return HeadStep::kStop;
  }
  if (response_.status < 200) {  // 100 Continue, 103 Early Hints: relay and read on
    if (client_minor_ >= 1) writeClientResponseHead(response_, {}, &to_client_.head());
    buffer.consume(response_.head_length);
    return HeadStep::kHandled;
  }
  if (shouldRetry(TryFailure::kStatus, response_.status)) {
    recordOutlier(response_.status);
    if (response_.status >= 500) upstream_->server()->errors->inc();
    scheduleRetry();  // the response is discarded with its connection
    return HeadStep::kStop;
  }
  return startResponse() ? HeadStep::kHandled : HeadStep::kStop;
}

// The upstream accepted the upgrade: the exchange succeeded (a half-open breaker's trial
// is settled now, not when the tunnel closes hours later) and becomes a tunnel.
void Session::startUpgrade() {
  recordOutlier(101);
  if (breaker_pending_) settleBreaker(resilience::Outcome::kSuccess);
  upstream_->server()->health.recordSuccess();
  ClientResponseContext context;
  context.tunnel = true;
  announceCacheResult();
  context.extra_headers = extra_headers_;
  writeClientResponseHead(response_, context, &to_client_.head());
  startTunnel();
}

// Returns false when the cache answered instead (the upstream's response is dropped).
bool Session::startResponse() {
  status_ = response_.status;
  recordOutlier(status_);
  if (breaker_pending_) settleBreaker(route_->upstream->breaker->outcomeForStatus(status_));
  if (cache_.active) {
    if (interceptCachedResponse()) return false;
    if (cache_.invalidate) invalidateAfterUnsafe();
  }
  bool dechunk = client_minor_ == 0 && response_.body == http::BodyKind::kChunked;
  bool close_client = close_after_ || dechunk || !request_body_.done() || !to_upstream_.idle() ||
                      response_.body == http::BodyKind::kUntilClose || worker_->draining();
  ClientResponseContext context;
  decideCompression(&context);
  if (compressor_) {
    dechunk = true;  // the framer hands over bare payload; compressed output is re-framed
    close_client = close_client || client_minor_ == 0;
  }
  context.chunked = (response_.body == http::BodyKind::kChunked && !dechunk) ||
                    (compressor_ && client_minor_ >= 1);
  context.close = close_client;
  context.keep_alive_header = client_minor_ == 0 && !close_client;
  context.request_id = generated_id_;
  if (cache_.active) {
    prepareStore(dechunk);
    announceCacheResult();
  }
  context.extra_headers = extra_headers_;
  context.defaults = &listener_->default_headers;
  std::string cookie;
  const auto& sticky = route_->upstream->config->sticky_cookie;
  if (!sticky.empty() && sticky_server_ != static_cast<int>(upstream_->server()->index)) {
    cookie = sticky + "=" + upstream_->server()->sticky_id + "; Path=/; HttpOnly";
    context.set_cookie = cookie;
  }
  writeClientResponseHead(response_, context, &to_client_.head());
  response_body_.start(response_.body, response_.content_length, dechunk);
  upstream_->input().consume(response_.head_length);
  response_head_done_ = true;
  response_started_ = true;
  close_after_ = close_client;
  return true;
}

void Session::startTunnel() {
  setState(State::kTunnel);
  response_started_ = true;
  status_ = 101;
  request_body_.start(http::BodyKind::kUntilClose, 0, false);
  response_body_.start(http::BodyKind::kUntilClose, 0, false);
  to_upstream_.reset();
  to_upstream_.addBody(input_.size());
  to_client_.addBody(upstream_->input().size());
  record(101);
  client_readable_ = true;
  upstream_->readable = true;
  pumpTunnel();
}

// Moves bytes both ways until either side closes; then flushes what is left and closes.
void Session::pumpTunnel() {
  bool progress = true;
  while (progress && state_ == State::kTunnel) {
    progress = false;
    if (to_upstream_.flush(upstream_->fd(), &input_) == Pipe::Flush::kError) return close();
    if (to_client_.flush(fd_, &upstream_->input()) == Pipe::Flush::kError) return close();
    if (to_upstream_.idle() && client_readable_) {
      size_t before = input_.size();
      if (readClient()) {
        to_upstream_.addBody(input_.size() - before);
        progress = true;
      } else if (client_eof_ || state_ == State::kClosed) {
        return close();
      }
    }
    if (to_client_.idle() && upstream_->readable) {
      size_t before = upstream_->input().size();
      if (readUpstream()) {
        to_client_.addBody(upstream_->input().size() - before);
        progress = true;
      } else if (upstream_eof_) {
        to_client_.flush(fd_, &upstream_->input());
        return close();
      }
    }
  }
}

}  // namespace sg::proxy

namespace sg::proxy {

// Re-arms the upstream timer after progress. With a per-try timeout, the deadline set when
// the try started holds until the response head arrives.
void Session::rearmUpstreamTimer() {
  const auto& retries = route_->config->retries;
  bool per_try = retries && retries->per_try_timeout.count() > 0;
  if (per_try && !response_head_done_) return;
  worker_->loop().timers().arm(upstream_->timer(),
                               route_->upstream->config->response_timeout.count());
}

// The sticky cookie's server when it can take the request (draining servers still serve
// their sticky clients, as HAProxy does), else the balancer's choice.
int Session::pickServer() {
  auto& upstream = *route_->upstream;
  if (sticky_server_ >= 0 && tried_[static_cast<size_t>(sticky_server_)] == 0 &&
      stickyUsable(static_cast<size_t>(sticky_server_))) {
    return sticky_server_;
  }
  return worker_->pickServer(upstream, tried_, has_hash_, hash_);
}

bool Session::stickyUsable(size_t server) const {
  auto& upstream = *route_->upstream;
  auto reason = upstream.outReason(*upstream.servers[server], worker_->loop().now());
  return reason == OutReason::kNone || reason == OutReason::kDraining;
}

void Session::chooseHashKey(const http::RequestHead& request) {
  const auto& upstream = *route_->upstream;
  const auto& config = *upstream.config;
  if (!config.sticky_cookie.empty()) {
    if (auto value = cookieValue(request, config.sticky_cookie)) {
      for (const auto& server : upstream.servers) {
        if (server->sticky_id == *value) sticky_server_ = static_cast<int>(server->index);
      }
    }
  }
  using config::BalanceAlgorithm;
  switch (config.balance) {
    case BalanceAlgorithm::kIpHash:
      has_hash_ = true;
      hash_ = lb::hashKey(client_ip_);
      return;
    case BalanceAlgorithm::kHash:
    case BalanceAlgorithm::kRingHash:
    case BalanceAlgorithm::kMaglev: {
      std::string joined;  // allocates only for a key header sent on several lines
      if (auto source = hashSource(request, config.hash_on, client_ip_, &joined)) {
        has_hash_ = true;
        hash_ = lb::hashKey(*source);
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace sg::proxy
