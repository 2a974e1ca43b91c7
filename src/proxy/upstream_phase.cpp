// The upstream phase (docs/life-of-a-request.md, "Pick a server and connect" and "Forward
// the request"): the upstream head is written, a server picked, a pooled connection taken or
// a new one made (failover on connect errors), and the request body streamed to it.
#include "proxy/upstream_phase.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "lb/balancer.h"
#include "net/socket.h"
#include "proxy/client_connection.h"
#include "proxy/exchange.h"
#include "proxy/head_writer.h"
#include "proxy/request_key.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

constexpr size_t kUpstreamReadChunk = 16 * 1024;
constexpr size_t kUpstreamBufferMax = 128 * 1024;  // response heads up to 64 KiB fit

bool isIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

}  // namespace

Verdict UpstreamPhase::forward() {
  const http::RequestHead& request = ex_.request;
  const bool has_body = request.body != http::BodyKind::kNone;
  const bool idempotent = isIdempotent(request.method);
  retryable_ = !has_body && idempotent;
  ex_.phases.retry.startRequest(idempotent);
  chooseHashKey();
  writeHead();
  request_head_size_ = to_upstream_.head().size();
  ex_.consumeHead();
  ex_.setState(Exchange::State::kConnecting);
  if (request.expect_continue && has_body && ex_.input().empty()) {
    ex_.to_client.head().append("HTTP/1.1 100 Continue\r\n\r\n");
    ex_.flushClient();
    if (ex_.state() == Exchange::State::kFree) return Verdict::kAnswered;  // the client left
  }
  tried_.assign(ex_.route->upstream->servers.size(), 0);
  connect();
  return Verdict::kAnswered;  // the exchange is the upstream's now
}

void UpstreamPhase::writeHead() {
  std::string_view path = ex_.request.path;
  const auto& prefix = ex_.route->config->match.prefix;
  std::string stripped;
  if (ex_.route->config->strip_prefix && path.size() >= prefix.size()) {
    path.remove_prefix(prefix.size());
    if (path.empty() || path.front() != '/') {
      stripped.reserve(path.size() + 1);
      stripped.push_back('/');
      stripped.append(path);
      path = stripped;
    }
  }
  UpstreamRequestContext context;
  context.path = path;
  context.client_ip = ex_.clientIp();
  context.trusted_peer = isTrustedProxy(ex_.clientIp(), ex_.listener->config->trusted_proxies);
  context.https = ex_.listener->config->tls != nullptr;
  context.request_id = ex_.generated_id;
  context.fallback_host = ex_.route->upstream->fallback_host;
  std::string validators;
  const CachePhase& cache = ex_.phases.cache;
  if (cache.sendsValidators()) {
    context.drop_conditionals = true;
    validators = cache.upstreamLines();
    context.extra_headers = validators;
  }
  to_upstream_.reset();
  writeUpstreamRequestHead(ex_.request, context, &to_upstream_.head());
}

void UpstreamPhase::connect() {
  for (;;) {
    int index = pickServer();
    if (index < 0 && ex_.phases.retry.attempts() > 0 && !ex_.phases.retry.triedEveryServer()) {
      // A retry with every server tried: any server may take it again.
      std::fill(tried_.begin(), tried_.end(), 0);
      ex_.phases.retry.setTriedEveryServer();
      continue;
    }
    // An upstream with no server at all (run-time servers: none added, or all removed).
    if (index < 0 && ex_.route->upstream->slots && ex_.route->upstream->slots->present() == 0)
      return ex_.reject(503, false);
    if (index < 0) return ex_.reject(last_timed_out_ ? 504 : 502, false);
    tried_[static_cast<size_t>(index)] = 1;
    auto& server = *ex_.route->upstream->servers[static_cast<size_t>(index)];
    int error_code = 0;
    UpstreamConn* connection =
        ex_.worker->acquire(*ex_.route->upstream, server, false, &error_code);
    if (connection == nullptr && error_code == Worker::kConnectionLimitReached)
      return ex_.phases.breaker.overflow();
    if (connection == nullptr) {
      server.errors->inc();
      server.health.recordFailure(ex_.nowMs());
      continue;  // nothing was sent: any method may try the next server
    }
    attach(connection);
    if (connection_ != nullptr && connection->state() == UpstreamConn::State::kActive)
      onConnected();
    return;
  }
}

void UpstreamPhase::attach(UpstreamConn* connection) {
  connection_ = connection;
  eof_ = false;  // a retry must not inherit the previous connection's end
  ex_.phases.log.setServer(connection->server()->address_text);
  const bool pooled = connection->state() == UpstreamConn::State::kIdle;
  connection->setState(pooled ? UpstreamConn::State::kActive : UpstreamConn::State::kConnecting,
                       &ex_);
  if (!pooled && !ex_.phases.breaker.takePendingSlot()) ex_.phases.breaker.overflow();
}

void UpstreamPhase::detach() {
  if (connection_ == nullptr) return;
  if (counted_active_) {
    connection_->server()->active->add(-1);
    connection_->server()->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  counted_active_ = false;
  connection_->timer().cancel();
  ex_.stopBodyTimer();  // without its upstream connection the body is not read
  connection_ = nullptr;
}

void UpstreamPhase::closeConnection() {
  UpstreamConn* connection = connection_;
  detach();
  connection->close();
}

void UpstreamPhase::release(bool reusable) {
  connection_->server()->health.recordSuccess();
  UpstreamConn* connection = connection_;
  detach();
  if (reusable)
    ex_.worker->release(connection);
  else
    connection->close();
}

void UpstreamPhase::onConnected() {
  ex_.phases.breaker.releasePendingSlot();
  auto* server = connection_->server();
  server->requests->inc();
  server->active->add(1);
  server->in_flight.fetch_add(1, std::memory_order_relaxed);
  counted_active_ = true;
  ex_.setState(Exchange::State::kForwarding);
  ex_.worker->loop().timers().arm(connection_->timer(), ex_.phases.retry.tryTimeoutMs());
  pumpRequest();
}

void UpstreamPhase::onConnectFailed(bool timed_out) {
  ex_.phases.breaker.releasePendingSlot();
  auto* server = connection_->server();
  server->errors->inc();
  server->health.recordFailure(ex_.nowMs());
  ex_.phases.breaker.recordOutlier(0);
  last_timed_out_ = timed_out;
  close();
  connect();  // nothing was sent: the next untried server may take it
}

void UpstreamPhase::onTimeout() {
  // Counted as an error, but not against passive health: only failed connects mark a
  // server down (a slow endpoint does not take a live server out of rotation).
  connection_->server()->errors->inc();
  if (ex_.response_started) return ex_.closeClient();
  ex_.phases.breaker.recordOutlier(0);
  if (ex_.phases.retry.shouldRetry(TryFailure::kTimeout, 0)) return ex_.phases.retry.schedule();
  ex_.reject(504, !ex_.request_body.done());
}

void UpstreamPhase::pumpRequest() {
  net::Buffer& input = ex_.input();
  for (;;) {
    // Take in buffered body bytes first, so the head and body leave in one sendmsg.
    if (to_upstream_.bodyReady() == 0 && !input.empty() && !acceptRequestBody()) return;
    auto result = to_upstream_.flush(connection_->stream(), &input);
    if (result == Pipe::Flush::kError) return broken();
    // Backpressure (the upstream is slow to take the body) is the upstream's timeouts' job.
    if (result == Pipe::Flush::kBlocked || ex_.request_body.done()) return ex_.stopBodyTimer();
    if (!ex_.client->readClient()) {
      if (ex_.state() == Exchange::State::kFree) return;
      // The client gave up mid-body (closing twice is harmless).
      if (ex_.clientEof()) return ex_.closeClient();
      return ex_.awaitBody();
    }
    ex_.stopBodyTimer();  // bytes came: the next wait gets the whole request_body_timeout
  }
}

// Marks the request body bytes at the front of the client buffer as ready to forward.
// Returns false when the exchange ended (bad chunk or body over the limit).
bool UpstreamPhase::acceptRequestBody() {
  size_t body = 0;
  if (ex_.request_body.scan(&ex_.input(), 0, &body) == BodyFramer::Result::kError) {
    ex_.countReject(0, RejectReason::kBadChunk);
    close();
    ex_.response_started ? ex_.closeClient() : ex_.reject(400, true);
    return false;
  }
  const uint64_t max_body = ex_.listener->config->max_body_size;
  if (max_body != 0 && ex_.request_body.wireBytes() > max_body) {
    ex_.countReject(0, RejectReason::kBodyTooLarge);
    close();
    ex_.response_started ? ex_.closeClient() : ex_.reject(413, true);
    return false;
  }
  if (body > 0) {
    ex_.phases.retry.keepForReplay(body);
    to_upstream_.addBody(body);
    rearmTimer();
  }
  return true;
}

// When the dead connection was a reused pooled one the server most likely closed it while
// idle: a bodiless idempotent request goes once more to the same server on a fresh
// connection. Otherwise the route's retry policy decides, and a bodiless idempotent request
// may still go to a server not yet tried. Anything else gets 502.
void UpstreamPhase::broken() {
  SharedServer* server = connection_->server();
  // A TLS failure after the handshake (TLS 1.3: a refused client certificate) says why.
  if (net::TlsSession* tls = connection_->stream().tls(); tls != nullptr && !tls->error().empty())
    spdlog::warn("upstream {}: server {}: connection failed (tls): {}",
                 connection_->upstream()->config->name, server->address_text, tls->error());
  const bool stale_reuse = connection_->reused() && !resent_;
  if (!stale_reuse) {
    server->errors->inc();
    ex_.phases.breaker.recordOutlier(0);
  }
  if (ex_.response_started) return ex_.closeClient();
  if (stale_reuse && retryable_ && !ex_.response_head_done) return resendOnFreshConnection();
  if (ex_.phases.retry.shouldRetry(TryFailure::kReset, 0)) return ex_.phases.retry.schedule();
  if (!retryable_ || ex_.response_head_done) return ex_.reject(502, true);
  close();
  to_upstream_.rewindHead();
  ex_.setState(Exchange::State::kConnecting);
  connect();
}

void UpstreamPhase::resendOnFreshConnection() {
  SharedServer* server = connection_->server();
  close();
  to_upstream_.rewindHead();
  ex_.setState(Exchange::State::kConnecting);
  resent_ = true;
  int error_code = 0;
  UpstreamConn* connection = ex_.worker->acquire(*ex_.route->upstream, *server, true, &error_code);
  if (connection == nullptr) {
    server->errors->inc();
    server->health.recordFailure(ex_.nowMs());
    return connect();
  }
  attach(connection);
}

// The cache's completion was answered with a 206 it cannot combine: the request goes again
// without the `added` bytes of header lines the cache put last (its Range and If-Range).
void UpstreamPhase::resendWithout(size_t added) {
  std::string& head = to_upstream_.head();
  head.erase(request_head_size_ - 2 - added, added);  // they precede the blank line
  request_head_size_ -= added;
  restartForRetry({});
  std::fill(tried_.begin(), tried_.end(), 0);  // the server that answered may answer again
  ex_.response_head_done = false;
  ex_.setState(Exchange::State::kConnecting);
  connect();
}

void UpstreamPhase::restartForRetry(std::string_view replay) {
  close();
  to_upstream_.restartWith(request_head_size_, replay, &ex_.input());
}

bool UpstreamPhase::read() {
  if (!connection_->readable) return false;
  net::Buffer& buffer = connection_->input();
  size_t space = buffer.reserve(kUpstreamReadChunk / 2, kUpstreamBufferMax);
  ssize_t n = connection_->stream().read(buffer.writePtr(), space);
  if (n > 0) {
    buffer.commit(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < space && !connection_->peer_closed &&
        connection_->stream().shortReadDrains())
      connection_->readable = false;
    rearmTimer();
    return true;
  }
  connection_->readable = false;
  if (n == -1) return false;
  eof_ = true;
  return false;
}

// Re-arms the upstream timer after progress. With a per-try timeout, the deadline set when
// the try started holds until the response head arrives.
void UpstreamPhase::rearmTimer() {
  const auto& retries = ex_.route->config->retries;
  const bool per_try = retries && retries->per_try_timeout.count() > 0;
  if (per_try && !ex_.response_head_done) return;
  ex_.worker->loop().timers().arm(connection_->timer(),
                                  ex_.route->upstream->config->response_timeout.count());
}

// The sticky cookie's server when it can take the request (draining servers still serve
// their sticky clients, as HAProxy does), else the balancer's choice.
int UpstreamPhase::pickServer() {
  if (sticky_server_ >= 0 && tried_[static_cast<size_t>(sticky_server_)] == 0 &&
      stickyUsable(static_cast<size_t>(sticky_server_))) {
    return sticky_server_;
  }
  return ex_.worker->pickServer(*ex_.route->upstream, tried_, has_hash_, hash_);
}

bool UpstreamPhase::stickyUsable(size_t server) const {
  auto& upstream = *ex_.route->upstream;
  auto reason = upstream.outReason(*upstream.servers[server], ex_.nowMs());
  return reason == OutReason::kNone || reason == OutReason::kDraining;
}

void UpstreamPhase::chooseHashKey() {
  const auto& upstream = *ex_.route->upstream;
  const auto& config = *upstream.config;
  if (!config.sticky_cookie.empty()) {
    if (auto value = cookieValue(ex_.request, config.sticky_cookie)) {
      for (const auto& server : upstream.servers) {
        // A vacant run-time slot's identity may be rewritten: not read (server_slots.h).
        if (upstream.slots &&
            server->admin_state.load(std::memory_order_acquire) == AdminState::kVacant)
          continue;
        if (server->sticky_id == *value) sticky_server_ = static_cast<int>(server->index);
      }
    }
  }
  using config::BalanceAlgorithm;
  switch (config.balance) {
    case BalanceAlgorithm::kIpHash:
      has_hash_ = true;
      hash_ = lb::hashKey(ex_.clientIp());
      return;
    case BalanceAlgorithm::kHash:
    case BalanceAlgorithm::kRingHash:
    case BalanceAlgorithm::kMaglev: {
      std::string joined;  // allocates only for a key header sent on several lines
      if (auto source = hashSource(ex_.request, config.hash_on, ex_.clientIp(), &joined)) {
        has_hash_ = true;
        hash_ = lb::hashKey(*source);
      }
      return;
    }
    default:
      return;
  }
}

void UpstreamPhase::reset() {
  to_upstream_.reset();
  eof_ = false;
  resent_ = false;
  last_timed_out_ = false;
  retryable_ = false;
  has_hash_ = false;
  sticky_server_ = -1;
}

}  // namespace sg::proxy
