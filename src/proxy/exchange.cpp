// The exchange's life cycle and its client side: the request head, the request phases and
// their pauses, local answers, and the end of the exchange. The upstream's response is read
// in exchange_response.cpp, and each feature is a phase of its own (phase_list.h).
#include "proxy/exchange.h"

#include <algorithm>
#include <ctime>

#include "http/parser.h"
#include "proxy/client_connection.h"
#include "proxy/head_writer.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

// The cache phase's end on every exchange, at the cost of a test on routes without a cache.
void endCache(CachePhase& cache, cache::FillLocks::Outcome outcome) {
  if (cache.active() || cache.state().fill_owner) cache.end(outcome);
}

int64_t nowMicros() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

}  // namespace

Exchange::Exchange(Worker* owner) : worker(owner) {}

Exchange::~Exchange() = default;

void Exchange::begin(ClientConnection* connection, SharedListener* on_listener) {
  client = connection;
  listener = on_listener;
  setState(State::kReadingHead);
}

// The single place where an exchange changes state.
void Exchange::setState(State next) { state_ = next; }

bool Exchange::parseHead() {
  const auto* config = listener->config;
  http::ParseLimits limits{config->max_header_size, config->max_headers};
  http::ParseError error = http::ParseError::kNone;
  auto parsed = http::parseRequestHead(input().view(), limits, &request, &error);
  if (parsed == http::ParseStatus::kIncomplete) return false;
  if (parsed == http::ParseStatus::kError) {
    rejectHead(error);
    return true;
  }
  client->exchangeStarted();
  startPipeline();
  return true;
}

void Exchange::rejectHead(http::ParseError error) {
  client->exchangeStarted();
  countReject(static_cast<int>(error), RejectReason::kCount);
  reject(http::statusFor(error), true);
}

void Exchange::startPipeline() {
  setState(State::kRequestPhases);
  started_us = nowMicros();
  client_minor = request.version_minor;
  request_is_head = request.method == "HEAD";
  request_upgrade = request.upgrade;
  close_after = !request.keep_alive || worker->closesConnections() || refresh();
  bool has_id = std::any_of(request.headers.begin(), request.headers.end(),
                            [](const auto& h) { return h.kind == http::HeaderKind::kXRequestId; });
  if (!has_id) generated_id = worker->requestIds().next(request_id_buffer_);
  if (worker->accessLog() != nullptr) phases.log.remember();
  request_body.start(request.body, request.content_length, false);
  if (phases.route.run() != Verdict::kContinue) return;
  runRequestPhases(0);
}

// Runs the route's request phases from `from` until one answers or pauses.
void Exchange::runRequestPhases(size_t from) {
  const auto& list = route->phases.request;
  for (size_t i = from; i < list.size(); ++i) {
    phase_at_ = i;
    const Verdict verdict = runRequestPhase(list[i], *this);
    if (verdict == Verdict::kContinue) continue;
    if (verdict == Verdict::kPause) setState(State::kPaused);
    return;
  }
}

void Exchange::resumeWith(Verdict verdict) {
  if (verdict != Verdict::kContinue) return;  // answered, or paused again
  setState(State::kRequestPhases);
  runRequestPhases(phase_at_ + 1);
}

void Exchange::armPauseTimer(int64_t duration_ms) {
  worker->loop().timers().arm(pause_timer_, std::max<int64_t>(0, duration_ms));
}

uint64_t Exchange::expectCompletion() {
  ticket_ = worker->completions().expect(this);
  return ticket_;
}

void Exchange::forgetCompletion(uint64_t ticket) {
  worker->completions().forget(ticket);
  if (ticket == ticket_) ticket_ = 0;
}

void Exchange::onCompletion(uint64_t value) {
  ticket_ = 0;
  if (state_ != State::kPaused) return;
  pause_timer_.cancel();
  resumeWith(resumeRequestPhase(route->phases.request[phase_at_], *this, value));
}

void Exchange::onTimer(net::Timer* timer) {
  if (timer == &body_timer_) return bodyTimedOut();
  if (phases.retry.backoffPending()) return phases.retry.onBackoffElapsed();
  if (state_ != State::kPaused) return;
  resumeWith(requestPhaseTimedOut(route->phases.request[phase_at_], *this));
}

void Exchange::onClientEvents(uint32_t events) {
  const bool hang_up = (events & (EPOLLHUP | EPOLLERR)) != 0;
  switch (state_) {
    case State::kPaused:  // the request head stays buffered: nothing more is read until then
      if (phases.enqueue.readingBody()) return resumeWith(phases.enqueue.onClientReadable());
      if (hang_up) closeClient();
      return;
    case State::kConnecting:
      if (hang_up) return closeClient();
      return flushClient();
    case State::kForwarding:
      if (hang_up) return closeClient();
      pumpResponse();
      if (state_ == State::kForwarding && !request_body.done()) phases.upstream.pumpRequest();
      return;
    case State::kTunnel:
      return phases.tunnel.pump();
    case State::kResponded:
      return flushClient();
    case State::kFree:
    case State::kReadingHead:
    case State::kRequestPhases:
      return;
  }
}

void Exchange::onUpstreamEvents(uint32_t events) {
  if (state_ == State::kTunnel) return phases.tunnel.pump();
  if (state_ != State::kForwarding) return;
  if ((events & EPOLLOUT) && !phases.upstream.pipe().idle()) phases.upstream.pumpRequest();
  if (state_ == State::kForwarding && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
    pumpResponse();
  }
}

void Exchange::onUpstreamTimeout() {
  if (state_ == State::kTunnel) return closeClient();
  phases.upstream.onTimeout();
}

void Exchange::headTimedOut() {
  client->exchangeStarted();
  countReject(0, RejectReason::kRequestTimeout);
  reject(408, true);
}

void Exchange::awaitBody() {
  if (!body_timer_.armed())
    worker->loop().timers().arm(body_timer_, listener->config->request_body_timeout.count());
}

// No body bytes for request_body_timeout. The upstream connection holds a partial request:
// it is closed (never pooled) and the request is not retried. A response already relaying
// cannot become a 408: the client connection (or HTTP/2 stream) is cut instead.
void Exchange::bodyTimedOut() {
  if (state_ != State::kForwarding) return;
  countReject(0, RejectReason::kBodyTimeout);
  if (!response_started) return reject(408, true);
  phases.log.record(status);
  closeClient();
}

void Exchange::countReject(int parse_error, RejectReason reason) {
  metrics::Counter* counter = nullptr;
  if (parse_error > 0 && static_cast<size_t>(parse_error) < listener->parse_rejects.size()) {
    counter = listener->parse_rejects[static_cast<size_t>(parse_error)];
  } else if (reason != RejectReason::kCount) {
    counter = listener->rejects[static_cast<size_t>(reason)];
  }
  if (counter != nullptr) counter->inc();
}

void Exchange::consumeHead() { input().consume(request.head_length); }

void Exchange::reject(int status_code, bool close_connection) {
  answerLocally(status_code, close_connection, nullptr);
}

void Exchange::respond(int status_code, std::string_view content_type, std::string_view body,
                       bool close_connection) {
  LocalResponse local;
  local.has_body = true;
  local.content_type = content_type;
  local.body = body;
  answerLocally(status_code, close_connection, &local);
}

void Exchange::answerLocally(int status_code, bool close_connection,
                             const LocalResponse* with_body) {
  phases.upstream.close();
  // 502 and 504 are the upstream's failures (connect, reset, timeout, broken response).
  phases.breaker.settle(status_code == 502 || status_code == 504
                            ? std::optional(resilience::Outcome::kFailure)
                            : std::nullopt);
  phases.breaker.releaseSlots();
  phases.retry.endAccounting();
  if (phases.cache.active() && status_code >= 502 && status_code <= 504 &&
      phases.cache.serveStaleOnError()) {
    return;
  }
  endCache(phases.cache, cache::FillLocks::Outcome::kFailed);
  phases.cache.announce();
  status = status_code;
  local_answer = true;
  const bool must_close = close_connection || close_after || clientEof() ||
                          worker->closesConnections() || !request_body.done();
  LocalResponse local;
  if (with_body != nullptr) local = *with_body;
  local.status = status_code;
  local.close = must_close;
  local.keep_alive_header = client_minor == 0 && !must_close;
  local.head_only = request_is_head;
  local.request_id = generated_id;
  local.extra_headers = extra_headers;
  local.defaults = &listener->default_headers;
  writeLocalResponse(local, clientHead());
  phases.log.record(status_code);
  endResponse(must_close);
}

void Exchange::endResponse(bool must_close) {
  close_after = must_close;
  setState(State::kResponded);
  client->armIdleTimer();
  flushClient();
}

// Sends what the client pipe holds. A response the exchange finished (kResponded) ends the
// exchange once it is all sent.
void Exchange::flushClient() {
  if (!to_client.idle()) {
    UpstreamConn* upstream = phases.upstream.connection();
    net::Buffer* source = upstream != nullptr ? &upstream->input() : &input();
    const uint64_t sent_before = to_client.bytesSent();
    auto result = sendToClient(source);
    if (result == Pipe::Flush::kError) return closeClient();
    if (result == Pipe::Flush::kBlocked) {
      // A response the gateway wrote whole (cache hit, local reply) is sending: idle_timeout
      // counts from the client's last progress, not from the start of the response.
      if (state_ == State::kResponded && to_client.bytesSent() != sent_before)
        client->armIdleTimer();
      return;
    }
  }
  serving.reset();
  if (state_ == State::kResponded) client->exchangeDone(close_after, !request_body.done());
}

Pipe::Flush Exchange::sendToClient(net::Buffer* source) {
  Pipe::Flush result = Pipe::Flush::kDone;
  if (client->stream().open()) {
    result = to_client.flush(client->stream(), source);
  } else {
    // A background refresh or cache warm has no client; a queue delivery keeps the response.
    to_client.discard(source, client->responseSink());
  }
  // Unlike the upstream's head (kept for a retry), a sent client head is done with: without
  // this, every response head of a keep-alive connection would stay in the string.
  if (result == Pipe::Flush::kDone) to_client.reset();
  return result;
}

// The upstream's response has been relayed whole.
void Exchange::finish() {
  if (phases.cache.storing()) phases.cache.finishStore();
  endCache(phases.cache, cache::FillLocks::Outcome::kStored);
  phases.log.record(status);
  phases.breaker.releaseSlots();
  phases.retry.endAccounting();
  // Request body bytes not yet forwarded (the upstream answered early) still sit at the front
  // of the client's buffer: they must never be read as the next request.
  const bool request_forwarded = request_body.done() && phases.upstream.pipe().idle();
  if (phases.upstream.connection() != nullptr) {
    phases.upstream.release(response.keep_alive && !phases.upstream.eof() && request_forwarded &&
                            response_body.kind() != http::BodyKind::kUntilClose);
  }
  close_after = close_after || !request_forwarded || clientEof() || worker->closesConnections();
  setState(State::kResponded);
  flushClient();
}

void Exchange::end() {
  phases.upstream.close();
  phases.breaker.settle(std::nullopt);
  phases.breaker.releaseSlots();
  phases.retry.endAccounting();
  phases.compression.release();
  endCache(phases.cache, cache::FillLocks::Outcome::kAborted);
  phases.cache.reset();
  phases.rate_limit.reset();
  phases.jobs.reset();
  phases.enqueue.reset();
  phases.retry.reset();
  phases.upstream.reset();
  phases.log.reset();
  serving.reset();
  pause_timer_.cancel();
  body_timer_.cancel();
  if (ticket_ != 0) forgetCompletion(ticket_);
  route = nullptr;
  extra_headers.clear();
  generated_id = {};
  client_minor = 1;
  status = 0;
  local_answer = false;
  started_us = 0;
  request_is_head = false;  // a head refused while parsing is answered with a body
  request_upgrade = false;
  close_after = false;
  response_head_done = false;
  response_started = false;
  dechunk = false;
  request_body.start(http::BodyKind::kNone, 0, false);
  response_body.start(http::BodyKind::kNone, 0, false);
  to_client.reset();
  to_client.resetCount();
  client = nullptr;
  listener = nullptr;
  setState(State::kFree);
}

ClientHead Exchange::clientHead() {
  return {&to_client.head(), client != nullptr ? client->http2Stream() : nullptr};
}

void Exchange::closeClient() { client->close(); }
net::Buffer& Exchange::input() { return client->input(); }
bool Exchange::clientEof() const { return client->eof(); }
bool Exchange::refresh() const { return client->refresh(); }
const std::string& Exchange::clientIp() const { return client->ip(); }
int64_t Exchange::nowMs() const { return worker->loop().now(); }

}  // namespace sg::proxy
