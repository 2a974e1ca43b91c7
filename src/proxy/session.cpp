// Client side of a session: reading and validating request heads, routing, local
// replies, timeouts, and the end of each exchange. The upstream side is in
// session_upstream.cpp.
#include "proxy/session.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "http/parser.h"
#include "net/socket.h"
#include "proxy/head_writer.h"
#include "proxy/request_key.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

constexpr size_t kInitialBuffer = 16 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
// Lingering close (closeAfterResponse): nginx's lingering_timeout and lingering_time.
constexpr int64_t kLingerIdleMs = 5000;
constexpr int64_t kLingerTotalMs = 30000;

int64_t nowMicros() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

bool isIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

}  // namespace

Session::Session(Worker* worker, SharedListener* listener, int fd)
    : worker_(worker), listener_(listener), fd_(fd), timer_(this), input_(kInitialBuffer) {}

Session::~Session() = default;

void Session::startRefresh(std::string request_head, std::string client_ip, std::string key) {
  refresh_ = true;
  cache_.fill_owner = true;  // claimed for this refresh by the request that started it
  cache_.key = std::move(key);
  client_ip_ = std::move(client_ip);
  worker_->sessionOpened(this);
  input_.reserve(request_head.size(), request_head.size() + kInitialBuffer);
  std::memcpy(input_.writePtr(), request_head.data(), request_head.size());
  input_.commit(request_head.size());
  processInput();
}

void Session::start() {
  client_ip_ = net::peerAddress(fd_).hostString();
  listener_->connections->inc();
  listener_->open_connections->add(1);
  worker_->sessionOpened(this);
  worker_->loop().add(fd_, this);
  worker_->loop().timers().arm(timer_, listener_->config->request_head_timeout.count());
}

// The single place where a session changes state.
void Session::setState(State next) { state_ = next; }

void Session::onEvents(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) client_readable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) client_writable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) client_peer_closed_ = true;
  switch (state_) {
    case State::kReadingHead:
      processInput();
      break;
    case State::kWaitingForCache:
      if (events & (EPOLLHUP | EPOLLERR)) return close();
      break;  // the request head stays in input_: nothing more is read until it is answered
    case State::kConnecting:
      if (events & (EPOLLHUP | EPOLLERR)) return close();
      flushClient();
      break;
    case State::kForwarding:
      if (events & (EPOLLHUP | EPOLLERR)) return close();
      pumpResponse();
      if (state_ == State::kForwarding && !request_body_.done()) pumpRequest();
      break;
    case State::kTunnel:
      pumpTunnel();
      break;
    case State::kClosing:
      flushClient();
      break;
    case State::kLingering:
      discardClientInput();
      break;
    case State::kClosed:
      break;
  }
}

void Session::onTimer(net::Timer* /*timer*/) {
  if (backoff_pending_) return onBackoffElapsed();
  if (state_ == State::kWaitingForCache) return onFillWaitTimeout();
  // A pipelined head waiting behind a response the client stopped reading gets no 408: that
  // would be written into the middle of the unsent body.
  if (state_ == State::kReadingHead && !input_.empty() && to_client_.idle()) {
    countReject(0, RejectReason::kRequestTimeout);
    return reject(408, true);
  }
  close();  // idle keep-alive, a client that stopped reading, or a stuck close
}

void Session::processInput() {
  if (processing_input_) return;
  processing_input_ = true;
  while (state_ == State::kReadingHead) {
    if (!to_client_.idle()) {
      flushClient();
      if (state_ != State::kReadingHead || !to_client_.idle()) break;  // answer before reading on
    }
    if (!input_.empty() && handleHead()) continue;
    if (state_ != State::kReadingHead || !readClient()) break;
  }
  processing_input_ = false;
  // A draining worker keeps no idle connection: one that was still sending a response when
  // the drain began (a large cache hit) closes once it is sent and nothing else was asked.
  if (state_ == State::kReadingHead && worker_->draining() && input_.empty() && to_client_.idle()) {
    close();
  }
}

bool Session::readClient() {
  if (!client_readable_) return false;
  const auto* config = listener_->config;
  size_t limit = std::max<size_t>(kInitialBuffer, config->max_header_size + 1024);
  size_t space = input_.reserve(std::min(kReadChunk, limit / 2), limit);
  if (space == 0) return false;
  ssize_t n = net::readSome(fd_, input_.writePtr(), space);
  if (n > 0) {
    input_.commit(static_cast<size_t>(n));
    // A short read means drained (edge-triggered), unless the peer's FIN came with the data.
    if (static_cast<size_t>(n) < space && !client_peer_closed_) client_readable_ = false;
    return true;
  }
  client_readable_ = false;
  if (n == -1) return false;
  client_eof_ = true;
  if (state_ == State::kReadingHead || n == -2) close();
  return false;
}

// Returns true when the head was handled (an exchange started or a reply was queued).
bool Session::handleHead() {
  const auto* config = listener_->config;
  http::ParseLimits limits{config->max_header_size, config->max_headers};
  http::ParseError error = http::ParseError::kNone;
  auto status = http::parseRequestHead(input_.view(), limits, &request_, &error);
  if (status == http::ParseStatus::kIncomplete) {
    if (!head_timer_armed_) {
      worker_->loop().timers().arm(timer_, config->request_head_timeout.count());
      head_timer_armed_ = true;
    }
    return false;
  }
  if (status == http::ParseStatus::kError) {
    countReject(static_cast<int>(error), RejectReason::kCount);
    reject(http::statusFor(error), true);
    return true;
  }
  startExchange(request_);
  return true;
}

void Session::startExchange(const http::RequestHead& request) {
  timer_.cancel();
  head_timer_armed_ = false;
  started_us_ = nowMicros();
  client_minor_ = request.version_minor;
  request_is_head_ = request.method == "HEAD";
  request_upgrade_ = request.upgrade;
  close_after_ = !request.keep_alive || worker_->draining() || refresh_;
  generated_id_ = {};
  bool has_id = std::any_of(request.headers.begin(), request.headers.end(),
                            [](const auto& h) { return h.kind == http::HeaderKind::kXRequestId; });
  if (!has_id) generated_id_ = worker_->requestIds().next(request_id_buffer_);
  if (worker_->accessLog() != nullptr) rememberForLog(request);
  if (!acceptTarget()) return;
  route_ = listener_->router.match(request.host, request.path, request.method);
  bool has_body = request.body != http::BodyKind::kNone;
  request_body_.start(request.body, request.content_length, false);
  if (route_ == nullptr) {
    input_.consume(request.head_length);
    countReject(0, RejectReason::kNoRoute);
    return reject(404, has_body);
  }
  uint64_t max_body = listener_->config->max_body_size;
  if (max_body != 0 && request.body == http::BodyKind::kContentLength &&
      request.content_length > max_body) {
    input_.consume(request.head_length);
    countReject(0, RejectReason::kBodyTooLarge);
    return reject(413, true);
  }
  // A background refresh was admitted with the request that triggered it.
  if (!refresh_ && !checkRateLimits(request)) return;
  negotiateEncoding(request);
  if (route_->cache != nullptr && !consultCache(request)) return;  // answered, or waiting
  forwardRequest(request);
}

// Before routing: request_.path becomes its normal form, which routes, limits, cache keys,
// retries and the upstream all see. Returns false when the request was answered here: a path
// refused by normalisation (400), a CONNECT (400: RFC 9112 3.2.3 allows it only in
// authority-form, which the parser refuses: the gateway does not tunnel CONNECT), or
// "OPTIONS *", which no route can match and the gateway answers itself.
bool Session::acceptTarget() {
  const auto status =
      normalizeRequestPath(listener_->config->path_normalization, &request_, &normalized_path_);
  const bool bad_path =
      status == http::PathStatus::kBadEncoding || status == http::PathStatus::kEscapedSlash;
  const bool connect = request_.method == "CONNECT";
  if (!bad_path && !connect && request_.path != "*") return true;
  input_.consume(request_.head_length);
  request_body_.start(request_.body, request_.content_length, false);
  if (bad_path || connect) {
    countReject(connect ? static_cast<int>(http::ParseError::kBadTarget) : 0,
                connect ? RejectReason::kCount : RejectReason::kBadPath);
    reject(400, true);
    return false;
  }
  // OPTIONS * asks about the server as a whole (RFC 9110 9.3.7): the methods of the routes
  // serving this host, or 404 when none does.
  const std::string allow = listener_->router.allowedMethods(request_.host);
  if (allow.empty()) {
    countReject(0, RejectReason::kNoRoute);
    reject(404, request_.body != http::BodyKind::kNone);
    return false;
  }
  extra_headers_.append("Allow: ").append(allow).append("\r\n");
  reject(200, false);
  return false;
}

// The request goes to the upstream: breaker, then the upstream head, then a server.
void Session::forwardRequest(const http::RequestHead& request) {
  if (!admitToUpstream(request)) return;
  bool has_body = request.body != http::BodyKind::kNone;
  idempotent_ = isIdempotent(request.method) ||
                (route_->config->retries && headerValue(request, "idempotency-key").has_value());
  retryable_ = !has_body && isIdempotent(request.method);
  route_->upstream->active_requests.fetch_add(1, std::memory_order_relaxed);
  counted_request_ = true;
  chooseHashKey(request);
  writeUpstreamHead(request);
  request_head_size_ = to_upstream_.head().size();
  input_.consume(request.head_length);
  if (request.expect_continue && has_body && input_.empty()) {
    to_client_.head().append("HTTP/1.1 100 Continue\r\n\r\n");
    flushClient();
    if (state_ == State::kClosed) return;
  }
  tried_.assign(route_->upstream->servers.size(), 0);
  setState(State::kConnecting);
  connectUpstream();
}

void Session::writeUpstreamHead(const http::RequestHead& request) {
  std::string_view path = request.path;
  const auto& prefix = route_->config->match.prefix;
  std::string stripped;
  if (route_->config->strip_prefix && path.size() >= prefix.size()) {
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
  context.client_ip = client_ip_;
  context.trusted_peer = isTrustedProxy(client_ip_, listener_->config->trusted_proxies);
  context.request_id = generated_id_;
  context.fallback_host = route_->upstream->servers.front()->address_text;
  std::string validators;
  if (cache_.active && cache_.result != CacheResult::kBypass) {
    context.drop_conditionals = true;
    if (cache_.revalidating) validators = validatorLines(*cache_.stale);
    context.extra_headers = validators;
  }
  to_upstream_.reset();
  writeUpstreamRequestHead(request, context, &to_upstream_.head());
}

void Session::rememberForLog(const http::RequestHead& request) {
  log_method_.assign(request.method);
  log_path_.assign(request.target);
  log_request_id_.assign(generated_id_);
  if (generated_id_.empty()) {
    for (const auto& header : request.headers) {
      if (header.kind == http::HeaderKind::kXRequestId) log_request_id_.assign(header.value);
    }
  }
}

void Session::countReject(int parse_error, RejectReason reason) {
  metrics::Counter* counter = nullptr;
  if (parse_error > 0 && static_cast<size_t>(parse_error) < listener_->parse_rejects.size()) {
    counter = listener_->parse_rejects[static_cast<size_t>(parse_error)];
  } else if (reason != RejectReason::kCount) {
    counter = listener_->rejects[static_cast<size_t>(reason)];
  }
  if (counter != nullptr) counter->inc();
}

// Answers from the gateway itself; the connection stays open only when the request was
// fully consumed (no body left unread) and nothing asks to close it.
void Session::reject(int status, bool close_connection) {
  closeUpstream();
  // 502 and 504 are the upstream's failures (connect, reset, timeout, broken response).
  settleBreaker(status == 502 || status == 504 ? std::optional(resilience::Outcome::kFailure)
                                               : std::nullopt);
  releaseSlots();
  endRetryAccounting();
  if (cache_.active && status >= 502 && status <= 504 && serveStaleOnError()) return;
  endCacheExchange(cache::FillLocks::Outcome::kFailed);
  announceCacheResult();
  status_ = status;
  bool must_close = close_connection || close_after_ || client_eof_ || worker_->draining() ||
                    !request_body_.done();
  LocalResponse response;
  response.status = status;
  response.close = must_close;
  response.keep_alive_header = client_minor_ == 0 && !must_close;
  response.head_only = request_is_head_;
  response.request_id = generated_id_;
  response.extra_headers = extra_headers_;
  response.defaults = &listener_->default_headers;
  writeLocalResponse(response, &to_client_.head());
  record(status);
  endResponse(must_close);
}

// After a response the gateway wrote whole (local reply, cached response): flush it, then
// close or read the next request.
void Session::endResponse(bool must_close) {
  if (must_close) {
    setState(State::kClosing);
    worker_->loop().timers().arm(timer_, listener_->config->idle_timeout.count());
    return flushClient();
  }
  resetExchange();
  setState(State::kReadingHead);
  worker_->loop().timers().arm(timer_, listener_->config->idle_timeout.count());
  flushClient();
  if (state_ == State::kReadingHead) processInput();
}

void Session::flushClient() {
  if (to_client_.idle()) {
    serving_.reset();
    if (state_ == State::kClosing) closeAfterResponse();
    return;
  }
  net::Buffer* source = upstream_ != nullptr ? &upstream_->input() : &input_;
  const uint64_t sent_before = to_client_.bytesSent();
  auto result = sendToClient(source);
  if (result == Pipe::Flush::kError) return close();
  if (result == Pipe::Flush::kBlocked) {
    client_writable_ = false;
    // A response the gateway wrote whole (cache hit, local reply) is sending: idle_timeout
    // counts from the client's last progress, not from the start of the response.
    const bool idle_timer = state_ == State::kReadingHead || state_ == State::kClosing;
    if (idle_timer && to_client_.bytesSent() != sent_before)
      worker_->loop().timers().arm(timer_, listener_->config->idle_timeout.count());
    return;
  }
  serving_.reset();
  if (state_ == State::kClosing) closeAfterResponse();
}

// Closing a socket that still holds unread client bytes makes the kernel send a reset, and
// a reset can destroy the response before the client has read it (a 413 or 400 sent while
// the client is still uploading). So, as nginx's lingering close does: shut the write side,
// then read and drop what the client still sends, until it closes or kLingerIdleMs pass
// without data (kLingerTotalMs at most).
void Session::closeAfterResponse() {
  if (fd_ < 0) return close();
  shutdown(fd_, SHUT_WR);
  bool unread = !input_.empty() || !request_body_.done() || client_readable_;
  if (client_eof_ || !unread || worker_->draining()) return close();
  setState(State::kLingering);
  input_.clear();
  linger_deadline_ms_ = worker_->loop().now() + kLingerTotalMs;
  discardClientInput();
}

void Session::discardClientInput() {
  char scratch[16 * 1024];
  for (int reads = 0; reads < 64; ++reads) {  // bounded per event, like any other read loop
    ssize_t n = net::readSome(fd_, scratch, sizeof(scratch));
    if (n == -1) break;          // drained for now
    if (n <= 0) return close();  // the client closed (or reset): done
  }
  int64_t left = linger_deadline_ms_ - worker_->loop().now();
  if (left <= 0) return close();
  worker_->loop().timers().arm(timer_, std::min<int64_t>(left, kLingerIdleMs));
}

Pipe::Flush Session::sendToClient(net::Buffer* source) {
  Pipe::Flush result = Pipe::Flush::kDone;
  if (fd_ >= 0) {
    result = to_client_.flush(fd_, source);
  } else {
    to_client_.discard(source);  // a background refresh has no client
  }
  // Unlike the upstream's head (kept for a retry), a sent client head is done with: without
  // this, every response head of a keep-alive connection would stay in the string.
  if (result == Pipe::Flush::kDone) to_client_.reset();
  return result;
}

void Session::finishExchange() {
  if (cache_.store_head) finishStore();
  endCacheExchange(cache::FillLocks::Outcome::kStored);
  record(status_);
  releaseSlots();
  endRetryAccounting();
  // Request body bytes not yet forwarded (the upstream answered early) still sit at the front
  // of the client's buffer: they must never be read as the next request.
  bool request_forwarded = request_body_.done() && to_upstream_.idle();
  if (upstream_ != nullptr) {
    releaseUpstream(response_.keep_alive && !upstream_eof_ && request_forwarded &&
                    response_body_.kind() != http::BodyKind::kUntilClose);
  }
  if (!request_forwarded) close_after_ = true;
  if (close_after_ || client_eof_ || worker_->draining()) {
    setState(State::kClosing);
    return flushClient();
  }
  resetExchange();
  setState(State::kReadingHead);
  worker_->loop().timers().arm(timer_, listener_->config->idle_timeout.count());
  processInput();
}

// The exchange with the upstream succeeded: its connection goes back to the pool if it
// can carry another request.
void Session::releaseUpstream(bool reusable) {
  upstream_->server()->health.recordSuccess();
  UpstreamConn* connection = upstream_;
  detachUpstream();
  if (reusable)
    worker_->release(connection);
  else
    connection->close();
}

void Session::resetExchange() {
  releaseCompressor();
  if (cache_.active) {
    endCacheExchange(cache::FillLocks::Outcome::kAborted);
    cache_.reset();
  }
  attempts_ = 0;
  extra_headers_.clear();
  replay_body_.clear();
  replayable_ = true;
  backoff_pending_ = false;
  tried_reset_ = false;
  has_hash_ = false;
  sticky_server_ = -1;
  route_ = nullptr;
  log_server_ = {};
  request_is_head_ = false;  // a head refused while parsing is answered with a body
  // A request refused while parsing must not log the previous one's fields.
  log_method_.clear();
  log_path_.clear();
  log_request_id_.clear();
  response_head_done_ = false;
  response_started_ = false;
  upstream_eof_ = false;
  retried_ = false;
  last_timed_out_ = false;
  status_ = 0;
  request_body_.start(http::BodyKind::kNone, 0, false);
  response_body_.start(http::BodyKind::kNone, 0, false);
  to_client_.resetCount();
}

void Session::record(int status) {
  size_t status_class = static_cast<size_t>(std::clamp(status / 100, 1, 5) - 1);
  int64_t elapsed = started_us_ > 0 ? nowMicros() - started_us_ : 0;
  if (route_ != nullptr && !refresh_) {  // a background refresh is no client's request
    route_->responses_by_class[status_class]->inc();
    route_->latency->observeMicros(static_cast<uint64_t>(std::max<int64_t>(0, elapsed)));
  }
  const AccessLog* log = worker_->accessLog();
  if (log == nullptr) return;
  AccessRecord entry;
  entry.listener = listener_->config->name;
  entry.route = route_ != nullptr ? std::string_view(route_->config->name) : "";
  entry.method = log_method_;
  entry.path = log_path_;
  entry.status = status;
  entry.upstream = route_ != nullptr ? std::string_view(route_->config->upstream) : "";
  entry.upstream_server = log_server_;
  entry.duration_ms = static_cast<double>(elapsed) / 1000.0;
  entry.client = client_ip_;
  entry.request_id = log_request_id_;
  // Local replies and cache hits are logged when written, before they leave: queued bytes count.
  entry.bytes_sent = to_client_.bytesSent() + to_client_.bytesQueued();
  log->write(entry, &worker_->scratch());
}

void Session::drain() {
  if (state_ == State::kLingering) return close();
  if (state_ == State::kReadingHead && input_.empty() && to_client_.idle()) return close();
  close_after_ = true;
}

void Session::close() {
  if (state_ == State::kClosed) return;
  setState(State::kClosed);
  closeUpstream();
  settleBreaker(std::nullopt);
  releaseSlots();
  endRetryAccounting();
  releaseCompressor();
  endCacheExchange(cache::FillLocks::Outcome::kAborted);
  serving_.reset();
  timer_.cancel();
  if (fd_ >= 0) {
    ::close(fd_);
    listener_->open_connections->add(-1);
  }
  worker_->sessionClosed(this);
  worker_->loop().dispose(this);
}

}  // namespace sg::proxy
