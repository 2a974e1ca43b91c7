#include "store/connection.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/socket.h"
#include "store/resp.h"

namespace sg::store {

namespace {

constexpr size_t kMaxWaiting = 100'000;                 // commands queued on one connection
constexpr size_t kMaxBufferedReply = 64 * 1024 * 1024;  // one reply larger than this fails
constexpr int64_t kStallMs = 1000;  // no reply this long past a deadline: reconnect
constexpr int64_t kFirstBackoffMs = 100;
constexpr int64_t kMaxBackoffMs = 3200;
constexpr size_t kReadChunk = 16 * 1024;

void freeReader(redisReader* reader) {
  if (reader != nullptr) redisReaderFree(reader);
}

}  // namespace

Connection::Connection(net::EventLoop& loop, const net::Address& address,
                       const ConnectionOptions& options, StoreStats& stats, Owner& owner)
    : loop_(loop),
      address_(address),
      options_(options),
      stats_(stats),
      owner_(owner),
      reader_(nullptr, &freeReader) {}

Connection::~Connection() {
  closeSocket();
  if (counted_ready_) stats_.ready->add(-1);
}

void Connection::start() {
  if (state_ == State::kIdle) connect();
}

void Connection::shutdown() {
  setState(State::kClosed);
  backoff_timer_.cancel();
  deadline_timer_.cancel();
  closeSocket();
  failPending(ReplyStatus::kUnavailable, "the store is shutting down");
}

void Connection::setState(State next) {
  if (next == state_) return;
  state_ = next;
  const bool ready = next == State::kReady;
  if (ready != counted_ready_) {
    stats_.ready->add(ready ? 1 : -1);
    counted_ready_ = ready;
  }
  if (ready) {
    if (backoff_ms_ != 0)
      spdlog::info("store: connected to Redis at {} again", address_.toString());
    backoff_ms_ = 0;
    stats_.reconnects->inc();
  }
  owner_.onStateChanged(*this);
}

void Connection::connect() {
  reader_.reset(redisReaderCreate());
  int error = 0;
  fd_ = reader_ ? net::connectSocket(address_, &error) : -1;
  if (fd_ < 0 || !loop_.add(fd_, this)) {
    if (error == 0) error = errno;
    return fail("connect to " + address_.toString() + ": " + std::strerror(error));
  }
  connected_ = false;
  setState(State::kConnecting);
  queueHandshake();
}

// AUTH and SELECT go first on every new connection; commands queued meanwhile follow them.
void Connection::queueHandshake() {
  handshake_left_ = 0;
  auto queue = [&](std::initializer_list<std::string_view> argv) {
    Pending pending;
    pending.kind = Pending::Kind::kHandshake;
    appendCommand(&pending.command, argv);
    ++handshake_left_;
    send(std::move(pending));
  };
  if (!options_.password.empty()) {
    if (options_.username.empty()) {
      queue({"AUTH", options_.password});
    } else {
      queue({"AUTH", options_.username, options_.password});
    }
  }
  if (options_.database != 0) queue({"SELECT", std::to_string(options_.database)});
}

bool Connection::send(Pending&& pending) {
  if ((state_ != State::kConnecting && state_ != State::kReady) || pending_.size() >= kMaxWaiting) {
    stats_.unavailable->inc();
    return false;
  }
  // The clock, not the loop's batch time: a command may be sent long after the batch began.
  pending.deadline = net::monotonicMillis() + options_.timeout_ms;
  out_.append(pending.command);
  pending_.push_back(std::move(pending));
  stats_.commands->inc();
  if (connected_) scheduleFlush();
  if (!deadline_timer_.armed()) armDeadlineTimer();
  return true;
}

void Connection::cancel(const ReplyHandler* handler) {
  for (Pending& pending : pending_) {
    if (pending.handler == handler) pending.handler = nullptr;
  }
}

void Connection::scheduleFlush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  loop_.atBatchEnd(this);
}

void Connection::onBatchEnd() {
  flush_scheduled_ = false;
  flush();
}

void Connection::flush() {
  if (!connected_ || out_.empty()) return;
  size_t written = 0;
  while (written < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + written, out_.size() - written, MSG_NOSIGNAL);
    if (n > 0) {
      written += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;  // EPOLLOUT (edge-triggered) calls flush again
    } else {
      return fail(std::string("write to Redis: ") + std::strerror(errno));
    }
  }
  out_.erase(0, written);
}

void Connection::onEvents(uint32_t events) {
  if (fd_ < 0) return;
  if (!connected_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
    const int error = net::socketError(fd_);
    if (error != 0) return fail("connect to " + address_.toString() + ": " + std::strerror(error));
    connected_ = true;
    if (handshake_left_ == 0) setState(State::kReady);
    if (fd_ < 0) return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0 && !readReplies()) return;
  if ((events & EPOLLOUT) != 0) flush();
}

// Reads until the socket is drained. False when the connection failed meanwhile.
bool Connection::readReplies() {
  char buffer[kReadChunk];
  for (;;) {
    const ssize_t n = net::readSome(fd_, buffer, sizeof(buffer));
    if (n == -1) return true;
    if (n == 0) {
      fail("Redis at " + address_.toString() + " closed the connection");
      return false;
    }
    if (n < 0) {
      fail(std::string("read from Redis: ") + std::strerror(errno));
      return false;
    }
    if (redisReaderFeed(reader_.get(), buffer, static_cast<size_t>(n)) != REDIS_OK ||
        reader_->len - reader_->pos > kMaxBufferedReply) {
      stats_.errors->inc();
      fail("a reply from Redis at " + address_.toString() + " is larger than 64 MiB");
      return false;
    }
    if (!takeReplies()) return false;
  }
}

bool Connection::takeReplies() {
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
      stats_.errors->inc();
      fail("malformed reply from Redis at " + address_.toString() + ": " + reader_->errstr);
      return false;
    }
    if (raw == nullptr) return true;
    std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                       &freeReplyObject);
    deliver(reply.get());
    if (fd_ < 0) return false;
  }
}

void Connection::deliver(redisReply* raw) {
  if (pending_.empty()) {
    stats_.errors->inc();
    return fail("a reply from Redis at " + address_.toString() + " answers no command");
  }
  Pending pending = std::move(pending_.front());
  pending_.pop_front();
  if (timed_out_ > 0) {  // answered already, as a timeout
    --timed_out_;
    return;
  }
  const Reply reply = Reply::of(raw);
  // Redirections and a script to resend are routine; the client follows them.
  const std::string_view error = reply.error();
  if (!reply.ok() && !error.starts_with("NOSCRIPT") && !error.starts_with("MOVED") &&
      !error.starts_with("ASK")) {
    stats_.errors->inc();
  }
  switch (pending.kind) {
    case Pending::Kind::kHandshake:
      if (!reply.ok())
        return fail("Redis at " + address_.toString() +
                    " refused the handshake: " + std::string(reply.error()));
      if (--handshake_left_ == 0 && connected_) setState(State::kReady);
      return;
    case Pending::Kind::kAsking:
      return;
    case Pending::Kind::kUser:
      if (pending.handler == nullptr) return;
      break;
    case Pending::Kind::kInternal:
      break;
  }
  owner_.onReply(*this, pending, reply);
}

// Deadlines are checked on a fixed tick (a quarter of the timeout): one timer duration for
// every command, as the timer queue wants, at the price of answering a timeout up to a
// quarter late.
void Connection::armDeadlineTimer() {
  loop_.timers().arm(deadline_timer_, std::max<int64_t>(1, options_.timeout_ms / 4));
}

void Connection::onTimer(net::Timer* timer) {
  if (timer == &backoff_timer_) {
    if (state_ == State::kBackoff) connect();
    return;
  }
  expireDeadlines();
}

void Connection::expireDeadlines() {
  const net::MonoMillis now = net::monotonicMillis();
  if (!pending_.empty() && pending_.front().deadline + kStallMs <= now) {
    return fail("Redis at " + address_.toString() + " has not replied for over a second");
  }
  while (timed_out_ < pending_.size() && pending_[timed_out_].deadline <= now) {
    Pending& pending = pending_[timed_out_++];
    if (pending.kind == Pending::Kind::kHandshake) {
      return fail("Redis at " + address_.toString() + " did not answer the handshake in time");
    }
    stats_.timeouts->inc();
    if (pending.kind == Pending::Kind::kAsking ||
        (pending.kind == Pending::Kind::kUser && pending.handler == nullptr)) {
      continue;
    }
    Pending answered = pending;  // the entry stays queued: its reply is still to come
    answered.handler = std::exchange(pending.handler, nullptr);
    owner_.onReply(*this, answered, Reply::failed(ReplyStatus::kTimeout, "the store timed out"));
    if (fd_ < 0) return;
  }
  if (!pending_.empty()) armDeadlineTimer();
}

void Connection::fail(const std::string& why) {
  const bool first = state_ == State::kReady || backoff_ms_ == 0;
  if (first) spdlog::warn("store: {}", why);
  closeSocket();
  if (state_ == State::kClosed) return;
  backoff_ms_ = backoff_ms_ == 0 ? kFirstBackoffMs : std::min(backoff_ms_ * 2, kMaxBackoffMs);
  setState(State::kBackoff);
  loop_.timers().arm(backoff_timer_, backoff_ms_);
  failPending(ReplyStatus::kUnavailable, why);
}

void Connection::closeSocket() {
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  connected_ = false;
  out_.clear();
  if (flush_scheduled_) {
    loop_.unschedule(this);
    flush_scheduled_ = false;
  }
}

// Every command still waiting gets `status`; kept ones that timed out were answered already.
void Connection::failPending(ReplyStatus status, std::string_view reason) {
  std::deque<Pending> waiting;
  waiting.swap(pending_);
  const size_t answered = timed_out_;
  timed_out_ = 0;
  handshake_left_ = 0;
  for (size_t i = answered; i < waiting.size(); ++i) {
    Pending& pending = waiting[i];
    if (pending.kind == Pending::Kind::kHandshake || pending.kind == Pending::Kind::kAsking)
      continue;
    if (pending.kind == Pending::Kind::kUser && pending.handler == nullptr) continue;
    if (status == ReplyStatus::kUnavailable) stats_.unavailable->inc();
    owner_.onReply(*this, pending, Reply::failed(status, reason));
  }
}

}  // namespace sg::store
