#include "pg/server_conn.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "net/socket.h"
#include "pg/lag_monitor.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/server_auth.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

std::atomic<uint64_t> next_server_id{1};

// Replies larger than this are streamed to the client as they arrive instead of being
// gathered whole (a DataRow of a large bytea must not be buffered).
constexpr size_t kMaxWholeReply = 1024 * 1024;
// Past this many bytes queued for the client, the server is not read until the client
// catches up.
constexpr size_t kClientBacklogLimit = 1024 * 1024;

// Replies the proxy reads whole (all small); anything else may be streamed.
bool inspected(char type) {
  switch (type) {
    case 'Z':
    case 'S':
    case 'E':
    case '1':
    case '3':
    case 'K':
    case 'R':
      return true;
    default:
      return false;
  }
}

}  // namespace

ServerConn::ServerConn(PgWorker* worker, Pool* pool, const net::Address& address, int fd,
                       uint64_t generation, int64_t now_ms)
    : worker_(worker),
      pool_(pool),
      address_(address),
      stream_(fd),
      id_(next_server_id.fetch_add(1, std::memory_order_relaxed)),
      generation_(generation),
      connected_at_ms_(now_ms) {
  worker_->loop().timers().arm(connect_timer_, worker_->config().server_connect_timeout.count());
}

ServerConn::~ServerConn() = default;

void ServerConn::setState(State state) { state_ = state; }

std::string ServerConn::tlsDescription() const {
  return stream_.tls() != nullptr ? stream_.tls()->description() : std::string();
}

void ServerConn::onEvents(uint32_t events) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kConnecting) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    int error = net::socketError(stream_.fd());
    if (error != 0) return fail(std::string("connect: ") + std::strerror(error));
    onConnected();
    if (state_ == State::kClosed) return;
  }
  if (stream_.tls() != nullptr) {
    events = stream_.crossEvents(events);
    if (state_ == State::kTlsHandshake) return continueTlsHandshake();
  }
  if ((events & EPOLLOUT) != 0 && stream_.blocked()) {
    flush();
    if (state_ == State::kClosed) return;
    if (!stream_.blocked() && peer_ != nullptr) {
      peer_->onServerWritable();
      if (state_ == State::kClosed) return;
    }
  }
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) server_closing_ = true;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) readInput();
}

void ServerConn::onTimer(net::Timer* /*timer*/) {
  if (loggingIn(state_)) fail("server connect timeout");
}

// With server_tls the server is asked for TLS first (one byte answers), as libpq does.
void ServerConn::onConnected() {
  if (worker_->config().server_tls.context == nullptr) return sendStartup();
  setState(State::kTlsRequest);
  std::string request;
  appendSslRequest(&request);
  stream_.append(request);
  flush();
}

bool ServerConn::processTlsResponse() {
  auto& in = stream_.in();
  const auto& tls = worker_->config().server_tls;
  char answer = in.data()[0];
  in.consume(1);
  if (answer != 'S' && answer != 'N') {
    fail("the server answered the SSLRequest with an error");
  } else if (!in.empty()) {
    // Bytes the server sent past its answer were not encrypted: refused (CVE-2021-23222).
    fail("the server sent unencrypted data after its SSL response");
  } else if (answer == 'N' && tls.required()) {
    fail("the server does not support TLS (server_tls requires it)");
  } else if (answer == 'N') {
    sendStartup();  // allow and prefer go on in plain text
  } else {
    std::string error;
    auto session = net::TlsSession::make(*tls.context, stream_.fd(), address_.hostString(), &error);
    if (session == nullptr) {
      fail("TLS: " + error);
      return false;
    }
    stream_.startTls(std::move(session));
    setState(State::kTlsHandshake);
    continueTlsHandshake();
  }
  return false;  // the handshake reads the socket itself, then the login starts afresh
}

void ServerConn::continueTlsHandshake() {
  net::TlsSession::Step step = stream_.tls()->handshake();
  if (step == net::TlsSession::Step::kWantRead || step == net::TlsSession::Step::kWantWrite) return;
  if (step == net::TlsSession::Step::kFailed)
    return fail("TLS handshake failed: " + stream_.tls()->error());
  sendStartup();
}

void ServerConn::sendStartup() {
  setState(State::kLogin);
  std::string startup;
  appendStartup(&startup, {{"user", pool_->serverUser()}, {"database", pool_->dbname()}});
  stream_.append(startup);
  flush();
}

void ServerConn::flush() {
  if (stream_.flush()) return;
  fail("write: " + (stream_.tls() != nullptr ? stream_.tls()->error() : std::strerror(errno)));
}

void ServerConn::readInput() {
  for (;;) {
    if (peer_ != nullptr && peer_->backlog() > kClientBacklogLimit) {
      peer_->waitForDrain();  // it calls onEvents again once it has written
      return;
    }
    Stream::Read result = stream_.readOnce(worker_->buffers(), kMaxWholeReply + 5);
    if (result == Stream::Read::kDrained) break;
    if (result == Stream::Read::kClosed) return fail("server closed the connection");
    if (result == Stream::Read::kError)
      return fail("read: " +
                  (stream_.tls() != nullptr ? stream_.tls()->error() : std::strerror(errno)));
    // False: closed, or released (perhaps already on another worker): not ours to touch.
    bool keep = state_ == State::kLogin        ? processLogin()
                : state_ == State::kTlsRequest ? processTlsResponse()
                                               : processReplies();
    if (!keep) return;
    if (result == Stream::Read::kDataDrained && !server_closing_) break;
  }
  stream_.reclaim(worker_->buffers());
}

bool ServerConn::processLogin() {
  auto& in = stream_.in();
  while (state_ == State::kLogin) {
    Message message;
    size_t consumed = 0;
    std::string error;
    ParseStatus status = parseMessage(in.view(), 64 * 1024, &message, &consumed, &error);
    if (status == ParseStatus::kNeedMore) return true;
    if (status == ParseStatus::kError) {
      fail("login: " + error);
      return false;
    }
    switch (message.type) {
      case 'R':
        if (!handleAuthRequest(message.payload)) return false;
        break;
      case 'S': {
        PayloadReader reader(message.payload);
        std::string_view name, value;
        if (reader.readString(&name) && reader.readString(&value))
          setParam(std::string(name), std::string(value));
        break;
      }
      case 'K': {
        PayloadReader reader(message.payload);
        reader.readInt32(&backend_pid_);
        reader.readInt32(&backend_secret_);
        break;
      }
      case 'E':
        fail("login failed: " + errorMessageText(message.payload));
        return false;
      case 'Z':
        in.consume(consumed);
        finishLogin();
        return false;
      default:
        break;  // NoticeResponse and anything else during login: nothing to do
    }
    in.consume(consumed);
  }
  return true;
}

bool ServerConn::handleAuthRequest(std::string_view payload) {
  std::string reply;
  std::string error;
  if (!answerServerAuth(*pool_, payload, &scram_, &reply, &error)) {
    fail(error);
    return false;
  }
  if (!reply.empty()) {
    stream_.append(reply);
    flush();
  }
  return state_ != State::kClosed;
}

void ServerConn::finishLogin() {
  connect_timer_.cancel();
  scram_.reset();
  pool_->stats().server_logins.inc(1);
  if (probe_) {
    setState(State::kIdle);
    return worker_->lagMonitor()->probeReady(this);
  }
  worker_->serverReady(this);
}

void ServerConn::attach(ServerPeer* peer) {
  peer_ = peer;
  setState(State::kActive);
}

void ServerConn::startCheck(uint64_t waiter_id, const std::string& query) {
  intended_waiter_ = waiter_id;
  setState(State::kChecking);
  std::string message;
  appendQuery(&message, query);
  send(message);
  expect(Pending::kOwnQuery);
  flush();
}

void ServerConn::startProbe(const char* query) {
  setState(State::kChecking);
  own_row_.clear();
  own_error_.clear();
  std::string message;
  appendQuery(&message, query);
  send(message);
  expect(Pending::kOwnRow);
  flush();
}

void ServerConn::askCommitLsn() {
  own_row_.clear();
  own_error_.clear();
  std::string message;
  appendQuery(&message, "SELECT pg_catalog.pg_current_wal_insert_lsn()");
  send(message);
  expect(Pending::kOwnRow);
  flush();
}

// A kOwnRow query answered (its ReadyForQuery came): the row goes to whoever asked.
void ServerConn::ownRowDone() {
  if (probe_ || peer_ == nullptr) return;  // a probe's row is taken in processReplies
  std::string_view value;
  PayloadReader reader(own_row_);
  int16_t columns = 0;
  int32_t length = 0;
  if (own_error_.empty() && reader.readInt16(&columns) && columns == 1 &&
      reader.readInt32(&length) && length >= 0) {
    reader.readBytes(length, &value);
  }
  peer_->onCommitLsn(value);
}

void ServerConn::becomeIdle(int64_t now_ms) {
  peer_ = nullptr;
  unsynced_ = false;
  intended_waiter_ = 0;
  idle_since_ms_ = now_ms;
  setState(State::kIdle);
}

void ServerConn::leaveLoop() {
  worker_->loop().remove(stream_.fd());
  worker_->loop().forgetPending(this);  // another thread's loop takes it
  stream_.reclaim(worker_->buffers());
  worker_ = nullptr;
}

void ServerConn::joinLoop(PgWorker* worker) {
  worker_ = worker;
  worker_->loop().add(stream_.fd(), this);
}

void ServerConn::moveTo(PgWorker* worker, Pool* pool) {
  {
    std::lock_guard lock(pool_->mutex);
    --pool_->open;
    --pool_->in_use;
  }
  {
    std::lock_guard lock(pool->mutex);
    ++pool->open;
    ++pool->in_use;
    generation_ = pool->generation;
  }
  worker_->serverMovedOut(this);
  worker->serverMovedIn(this);
  worker_ = worker;
  pool_ = pool;
}

bool ServerConn::reusable() const {
  return state_ == State::kActive && pending_.empty() && !unsynced_ && transaction_status_ == 'I' &&
         !stream_.blocked();
}

bool ServerConn::processReplies() {
  auto& in = stream_.in();
  while (!in.empty() && (state_ == State::kActive || state_ == State::kChecking)) {
    if (stream_remaining_ > 0) {
      size_t n = std::min(stream_remaining_, in.size());
      if (stream_forward_ && peer_ != nullptr) peer_->deliver({in.data(), n});
      in.consume(n);
      stream_remaining_ -= n;
      continue;
    }
    if (in.size() < 5) break;
    char type = in.data()[0];
    int32_t length = readBigEndian32(in.data() + 1);
    if (length < 4) return fail("server sent a malformed message"), false;
    size_t total = static_cast<size_t>(length) + 1;
    if (total > in.size()) {
      if (total <= kMaxWholeReply || inspected(type)) {
        if (total > kMaxWholeReply) return fail("server sent an oversized message"), false;
        break;  // wait for the rest
      }
      // A large row or copy chunk: forward what is here, then the rest as it comes.
      stream_forward_ = pending_.empty() || (pending_.front() != Pending::kOwnQuery &&
                                             pending_.front() != Pending::kLookup &&
                                             pending_.front() != Pending::kOwnRow);
      stream_remaining_ = total;
      continue;
    }
    bool forward = true;
    std::string_view payload(in.data() + 5, total - 5);
    if (!handleReply(type, payload, &forward)) return false;
    if (type == 'Z' && forward && peer_ != nullptr && transaction_status_ != 'I' &&
        worker_->config().pool_mode == config::PostgresConfig::PoolMode::kStatement) {
      // A transaction began: statement pooling cannot keep it (PgBouncer's words and reply).
      in.consume(total);
      peer_->closeWithError("08P01", "transaction blocks not allowed in statement pooling mode");
      return false;  // the client's close closed this server too (it is in a transaction)
    }
    if (forward && peer_ != nullptr) peer_->deliver({in.data(), total});
    in.consume(total);
    if (type == 'Z') {
      if (state_ == State::kChecking && probe_) {
        setState(State::kIdle);
        worker_->lagMonitor()->probeAnswered(this, own_row_, own_error_);
        return false;
      }
      if (state_ == State::kChecking) {
        if (!pending_.empty()) continue;
        setState(State::kActive);
        worker_->serverChecked(this);  // it answered: on to its client
        return false;
      }
      if (peer_ != nullptr) {
        if (peer_->onServerReady()) return false;
      } else if (reusable()) {
        worker_->releaseServer(this);  // a session's reset query finished
        return false;
      }
    }
  }
  if (peer_ != nullptr) peer_->flushToClient();
  return state_ != State::kClosed;
}

// Matches one reply to what it answers. False when the connection was closed.
bool ServerConn::handleReply(char type, std::string_view payload, bool* forward) {
  bool own_show = !pending_.empty() && pending_.front() == Pending::kOwnShow;
  bool lookup = !pending_.empty() && pending_.front() == Pending::kLookup;
  bool own_row = !pending_.empty() && pending_.front() == Pending::kOwnRow;
  bool own_query = own_show || lookup || own_row ||
                   (!pending_.empty() && pending_.front() == Pending::kOwnQuery);
  switch (type) {
    case 'Z':
      if (!payload.empty()) transaction_status_ = payload[0];
      if (own_show) show_names_.pop_front();
      if (!pending_.empty()) {
        own_query = own_query || pending_.front() == Pending::kOwnSync;  // its ReadyForQuery only
        pending_.pop_front();
      }
      *forward = !own_query;
      if (own_row) ownRowDone();
      break;
    case 'D':
      if (own_show) keepShownValue(payload);
      if (own_row) own_row_.assign(payload);
      if (lookup && peer_ != nullptr) peer_->onLookupReply(type, payload);
      *forward = !own_query;
      break;
    case '2':  // the client's BindComplete are not tracked; only the proxy's own is swallowed
      if (!pending_.empty() && pending_.front() == Pending::kOwnBind) {
        pending_.pop_front();
        *forward = false;
      } else {
        *forward = !own_query;
      }
      break;
    case '1':
    case '3':
      if (!pending_.empty()) {
        Pending head = pending_.front();
        *forward = head != Pending::kOwnParse && head != Pending::kOwnClose && !own_query;
        if (!own_query) pending_.pop_front();
      }
      break;
    case 'E':
      if (own_show) {
        *forward = false;  // the client's transaction failed: its SET did not happen
      } else if (lookup) {
        if (peer_ != nullptr) peer_->onLookupReply(type, payload);
        *forward = false;
      } else if (own_row) {
        own_error_ = errorMessageText(payload);
        *forward = false;
      } else if (own_query) {
        spdlog::warn("postgres: the proxy's own query failed on a server: {}",
                     errorMessageText(payload));
        *forward = false;
      } else {
        popThroughError();
      }
      break;
    case 'S': {
      PayloadReader reader(payload);
      std::string_view name, value;
      if (reader.readString(&name) && reader.readString(&value)) {
        setParam(std::string(name), std::string(value));
        if (peer_ != nullptr && !own_query)
          peer_->rememberParam(std::string(name), std::string(value));
      }
      *forward = !own_query;
      break;
    }
    default:
      *forward = !own_query;
      break;
  }
  deliverLocalReplies();
  return state_ != State::kClosed;
}

void ServerConn::expectLocal(Pending what) {
  pending_.push_back(what);
  deliverLocalReplies();
}

// Replies the proxy gives itself, in order, once every reply before them is out.
void ServerConn::deliverLocalReplies() {
  while (!pending_.empty()) {
    Pending head = pending_.front();
    char reply = head == Pending::kLocalClose   ? '3'
                 : head == Pending::kLocalParse ? '1'
                 : head == Pending::kLocalError ? 'E'
                                                : '\0';
    if (reply == '\0') return;
    pending_.pop_front();
    if (peer_ != nullptr) peer_->deliverLocalReply(reply);
  }
}

void ServerConn::keepShownValue(std::string_view payload) {
  PayloadReader reader(payload);
  int16_t columns = 0;
  int32_t length = 0;
  std::string_view value;
  if (show_names_.empty() || !reader.readInt16(&columns) || columns < 1 ||
      !reader.readInt32(&length) || length < 0 || !reader.readBytes(length, &value))
    return;
  setParam(show_names_.front(), std::string(value));
  if (peer_ != nullptr) peer_->rememberParam(show_names_.front(), std::string(value));
}

// After an error in the extended protocol the server skips every message up to the next
// Sync: the replies they would have had never come.
void ServerConn::popThroughError() {
  while (!pending_.empty() && pending_.front() != Pending::kSync &&
         pending_.front() != Pending::kOwnSync && pending_.front() != Pending::kOwnQuery &&
         pending_.front() != Pending::kOwnRow) {
    if (pending_.front() == Pending::kLocalError && peer_ != nullptr) peer_->dropLocalError();
    pending_.pop_front();  // skipped by the server: no reply, not even a local one
  }
}

bool ServerConn::hasStatement(uint64_t key) {
  auto it = statement_index_.find(key);
  if (it == statement_index_.end()) return false;
  statements_.splice(statements_.begin(), statements_, it->second);
  return true;
}

uint64_t ServerConn::addStatement(uint64_t key, size_t capacity) {
  uint64_t evicted = 0;
  if (capacity > 0 && statements_.size() >= capacity) {
    evicted = statements_.back();
    statement_index_.erase(evicted);
    statements_.pop_back();
  }
  statements_.push_front(key);
  statement_index_[key] = statements_.begin();
  return evicted;
}

void ServerConn::fail(const std::string& why) {
  if (state_ == State::kClosed) return;
  spdlog::info("postgres: server {} ({}@{}): {}", id_, pool_->serverUser(), address_.toString(),
               why);
  if (loggingIn(state_)) pool_->stats().server_login_failures.inc(1);
  close(why.c_str());
}

void ServerConn::close(const char* reason) {
  if (state_ == State::kClosed) return;
  State was = state_;
  setState(State::kClosed);
  connect_timer_.cancel();
  if (worker_ != nullptr) {
    if (stream_.fd() >= 0) {
      if (was == State::kIdle || was == State::kActive || was == State::kChecking) {
        std::string bye;
        appendTerminate(&bye);
        stream_.append(bye);
        stream_.flush();
      }
      worker_->loop().remove(stream_.fd());
    }
    stream_.reclaim(worker_->buffers());
    stream_.close();
    worker_->serverClosed(this, was, reason);
    worker_->loop().dispose(this);
  }
}

}  // namespace sg::pg
