#include "health/probe.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "http/parser.h"
#include "net/socket.h"

namespace sg::health {

namespace {

// The first check of each target fires at a random multiple of interval / kJitterSlots.
// Quantised because the loop's TimerQueue keeps one list per distinct duration.
constexpr int64_t kJitterSlots = 16;
constexpr size_t kReadChunk = 4096;

std::string describeConnectError(int error) {
  if (error == ECONNREFUSED) return "connect refused";
  if (error == ETIMEDOUT) return "timeout";
  return std::string("connect failed: ") + std::strerror(error);
}

std::string buildRequest(const CheckTarget& target) {
  const config::HealthCheckConfig& config = *target.config;
  std::string request = "GET ";
  request += config.path.empty() ? std::string("/") : config.path;
  request += " HTTP/1.1\r\nHost: ";
  request += config.host.empty() ? target.address.toString() : config.host;
  request += "\r\nUser-Agent: scalegate-health-check\r\nConnection: close\r\n\r\n";
  return request;
}

bool statusAccepted(const config::HealthCheckConfig& config, int status) {
  if (config.expect.empty()) return status >= 200 && status <= 299;
  return std::find(config.expect.begin(), config.expect.end(), status) != config.expect.end();
}

}  // namespace

Probe::Probe(net::EventLoop* loop, const CheckTarget& target, std::mt19937_64& random)
    : loop_(loop),
      target_(target),
      interval_ms_(std::max<int64_t>(target.config->interval.count(), 1)),
      timeout_ms_(std::max<int64_t>(target.config->timeout.count(), 1)),
      rise_fall_(target.config->rise, target.config->fall,
                 target.status->healthy.load(std::memory_order_relaxed)) {
  if (target_.config->type == config::HealthCheckConfig::Type::kHttp) {
    request_ = buildRequest(target_);
  }
  // Arming creates the TimerQueue's list for each duration now: creating one while the
  // queue is expiring timers (a handler arming a new duration) would grow the vector the
  // queue is iterating.
  auto& timers = loop_->timers();
  timers.arm(timeout_timer_, timeout_ms_);
  timeout_timer_.cancel();
  timers.arm(interval_timer_, interval_ms_);
  int64_t slot = std::uniform_int_distribution<int64_t>(1, kJitterSlots)(random);
  timers.arm(interval_timer_, std::max<int64_t>(interval_ms_ * slot / kJitterSlots, 1));
}

void Probe::onTimer(net::Timer* timer) {
  if (timer == &interval_timer_) {
    startCheck();
  } else if (state_ != State::kIdle) {
    finish(false, "timeout");
  }
}

void Probe::startCheck() {
  loop_->timers().arm(interval_timer_, interval_ms_);
  if (state_ != State::kIdle) {
    // With timeout == interval both timers fall due together and this one fires first: the
    // check in flight has had its whole timeout, so it fails now rather than suppress this
    // probe (which would probe a hanging server every other interval). Only a timeout
    // longer than the interval, which the config refuses, lets it run on.
    if (loop_->now() - started_ms_ < timeout_ms_) return;
    finish(false, "timeout");
  }
  started_ms_ = loop_->now();
  int error = 0;
  int fd = net::connectSocket(target_.address, &error);
  if (fd < 0) {
    finish(false, describeConnectError(error));
    return;
  }
  stream_ = net::Stream(fd);
  state_ = State::kConnecting;
  if (!loop_->add(fd, this)) {
    finish(false, std::string("epoll_ctl: ") + std::strerror(errno));
    return;
  }
  loop_->timers().arm(timeout_timer_, timeout_ms_);
}

void Probe::onEvents(uint32_t events) {
  switch (state_) {
    case State::kIdle:
      return;  // a late event for a connection already closed
    case State::kConnecting:
      onConnectEvent(events);
      return;
    case State::kHandshaking:
      stepHandshake();
      return;
    case State::kSending:
      sendRequest();
      return;
    case State::kReading:
      readResponse();
      return;
  }
}

void Probe::onConnectEvent(uint32_t events) {
  int error = net::socketError(stream_.fd());
  if (error != 0) {
    finish(false, describeConnectError(error));
    return;
  }
  if ((events & EPOLLOUT) == 0) return;  // not connected yet
  if (target_.tls != nullptr) return startHandshake();
  onConnected();
}

void Probe::startHandshake() {
  std::string host = target_.tls->sni.empty() ? target_.address.hostString() : target_.tls->sni;
  std::string error;
  auto session = net::TlsSession::make(*target_.tls->context, stream_.fd(), host, &error);
  if (session == nullptr) return finish(false, "tls: " + error);
  session->useSessionCache(&tls_sessions_);
  stream_.attachTls(std::move(session));
  state_ = State::kHandshaking;
  stepHandshake();
}

void Probe::stepHandshake() {
  switch (stream_.tls()->handshake()) {
    case net::TlsSession::Step::kWantRead:
    case net::TlsSession::Step::kWantWrite:
      return;
    case net::TlsSession::Step::kDone:
      return onConnected();
    case net::TlsSession::Step::kFailed:
      tls_sessions_.clear();
      return finish(false, "tls: " + stream_.tls()->error());
  }
}

void Probe::onConnected() {
  if (target_.config->type == config::HealthCheckConfig::Type::kTcp) {
    finish(true, "connected");
    return;
  }
  state_ = State::kSending;
  sent_ = 0;
  sendRequest();
}

void Probe::sendRequest() {
  while (sent_ < request_.size()) {
    iovec iov{request_.data() + sent_, request_.size() - sent_};
    ssize_t n = stream_.writeVec(&iov, 1);
    if (n < 0) {
      finish(false, "send failed: " + ioError());
      return;
    }
    if (n == 0) return;  // socket full: wait for EPOLLOUT
    sent_ += static_cast<size_t>(n);
  }
  state_ = State::kReading;
  readResponse();  // edge-triggered: the response may already be there
}

void Probe::readResponse() {
  char chunk[kReadChunk];
  for (;;) {
    ssize_t n = stream_.read(chunk, sizeof(chunk));
    if (n == -1) return;  // drained; wait for more
    if (n == -2) {
      finish(false, "read failed: " + ioError());
      return;
    }
    if (n == 0) {
      finish(false, "connection closed before a response");
      return;
    }
    response_.append(chunk, static_cast<size_t>(n));
    if (evaluateResponse()) return;
  }
}

bool Probe::evaluateResponse() {
  http::ParseLimits limits;
  for (;;) {
    http::ParseError error = http::ParseError::kNone;
    http::ParseStatus status =
        http::parseResponseHead(response_, limits, /*request_method_head=*/false, &head_, &error);
    if (status == http::ParseStatus::kIncomplete) return false;
    if (status == http::ParseStatus::kError) {
      finish(false, "bad response: " + std::string(http::errorName(error)));
      return true;
    }
    if (head_.status >= 100 && head_.status <= 199 && head_.status != 101) {
      response_.erase(0, head_.head_length);  // interim response: the final one follows
      continue;
    }
    finish(statusAccepted(*target_.config, head_.status), "status " + std::to_string(head_.status));
    return true;
  }
}

void Probe::finish(bool passed, const std::string& reason) {
  closeConnection();
  CheckStatus& status = *target_.status;
  (passed ? status.checks_passed : status.checks_failed).fetch_add(1, std::memory_order_relaxed);
  if (!rise_fall_.record(passed)) return;
  bool healthy = rise_fall_.healthy();
  status.healthy.store(healthy, std::memory_order_release);
  status.transitions.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("health check: {} is now {} ({})", target_.label, healthy ? "up" : "down", reason);
}

void Probe::stop() {
  closeConnection();
  interval_timer_.cancel();
}

std::string Probe::ioError() const {
  return stream_.tls() != nullptr ? stream_.tls()->error() : std::strerror(errno);
}

void Probe::closeConnection() {
  timeout_timer_.cancel();
  if (stream_.open()) {
    loop_->remove(stream_.fd());
    stream_.close();
  }
  state_ = State::kIdle;
  sent_ = 0;
  response_.clear();
}

}  // namespace sg::health
