// ClientConn: the connection's life, its socket, the startup packet and authentication.
// What a logged-in client's messages do is in client_forward.cpp.
#include "pg/client_conn.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "net/socket.h"
#include "pg/admin_console.h"
#include "pg/auth/md5_auth.h"
#include "pg/params.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/scatter_session.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

// PostgreSQL's own limit for a startup packet.
constexpr size_t kMaxStartupPacket = 10000;
constexpr size_t kMaxAuthMessage = 8192;

bool isAdminDatabase(const std::string& name) { return name == "scalegate" || name == "pgbouncer"; }

bool listed(const std::vector<std::string>& users, const std::string& user) {
  for (const auto& name : users) {
    if (name == user) return true;
  }
  return false;
}

}  // namespace

ClientConn::ClientConn(PgWorker* worker, int fd, uint32_t listener, int64_t now_ms)
    : worker_(worker),
      stream_(fd),
      listener_(listener),
      id_(ServerWaiter::newId()),
      connected_at_ms_(now_ms) {}

ClientConn::~ClientConn() = default;

void ClientConn::start() {
  worker_->clientOpened(this);
  worker_->registerWaiter(this);
  // Over max_client_conn the client is still read up to its startup packet: an SSLRequest gets
  // its 'N' and a cancel request still works; the refusal answers the startup packet.
  counted_ = worker_->service().admitClient();
  worker_->loop().timers().arm(timer_, worker_->config().client_login_timeout.count());
  // libpq writes its first packet as soon as connect() returns, so it is usually here
  // already: answering it now saves the client a trip through the loop (as PgBouncer does),
  // and before registering the socket, a system call sooner. Registered edge-triggered after
  // the read, the socket reports whatever came in meanwhile.
  readInput();
  if (state_ != State::kClosed) worker_->loop().add(stream_.fd(), this);
}

void ClientConn::setState(State state) { state_ = state; }

ClientConn::Login& ClientConn::login() {
  if (login_ == nullptr) login_ = std::make_unique<Login>();
  return *login_;
}

std::string ClientConn::peer() const { return net::peerAddress(stream_.fd()).toString(); }

std::string ClientConn::tlsDescription() const {
  return stream_.tls() != nullptr ? stream_.tls()->description() : std::string();
}

const std::string& ClientConn::applicationName() const {
  static const std::string kEmpty;
  for (const auto& [name, value] : params_.list()) {
    if (name == "application_name") return value;
  }
  return kEmpty;
}

void ClientConn::onEvents(uint32_t events) {
  if (state_ == State::kClosed) return;
  if (stream_.tls() != nullptr) {
    events = stream_.crossEvents(events);
    if (state_ == State::kTlsHandshake) return continueTlsHandshake();
  }
  if ((events & EPOLLOUT) != 0 && stream_.blocked()) {
    flushToClient();
    if (state_ == State::kClosed) return;
    if (!stream_.blocked() && scatter_ != nullptr) scatter_->onClientDrained();
    if (!stream_.blocked() && server_read_paused_ && server_ != nullptr) {
      server_read_paused_ = false;
      server_->onEvents(EPOLLIN);
      if (state_ == State::kClosed) return;
    }
  }
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) peer_closing_ = true;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) readInput();
}

void ClientConn::readInput() {
  read_pending_ = false;
  for (;;) {
    if (state_ == State::kLookupWaiting || state_ == State::kLookup) {
      // Gone before it was asked for its password: its place in the auth pool's queue (or
      // its lookup server) is given up now, not when the lookup would have finished.
      if (peer_closing_) return onClientGone();
      read_pending_ = true;
      return;
    }
    if (state_ == State::kTlsHandshake) break;  // the handshake reads the socket itself
    if (state_ == State::kScatter) {
      // Its next messages wait for the scatter's ReadyForQuery; a client that leaves ends it.
      if (peer_closing_) return onClientGone();
      read_pending_ = true;
      return;
    }
    // A write's commit position is being read: the next transaction waits for it, so that it
    // is routed knowing it (read_your_writes: lsn); one round trip at most.
    if (state_ == State::kWaiting || state_ == State::kWelcome || lsn_asked_ ||
        (server_ != nullptr && server_->backlogBytes() > 1024 * 1024)) {
      read_pending_ = true;  // read again once a server is attached or has written
      return;
    }
    size_t limit = state_ == State::kStartup ? kMaxStartupPacket : kMaxWholeMessage + 5;
    Stream::Read result = stream_.readOnce(worker_->buffers(), limit);
    if (result == Stream::Read::kDrained) break;
    if (result == Stream::Read::kClosed || result == Stream::Read::kError) return onClientGone();
    processInput();
    if (state_ == State::kClosed) return;
    if (result == Stream::Read::kDataDrained && !peer_closing_) break;
  }
  stream_.reclaim(worker_->buffers());
  // Draining: what it sent may have ended its transaction without a server (a batch the proxy
  // answered), or brought it back from a state that could not move.
  if (worker_->draining() && (state_ == State::kIdle || state_ == State::kAdmin)) retire();
}

void ClientConn::processInput() {
  bool more = true;
  while (more && state_ != State::kClosed && !stream_.in().empty()) {
    switch (state_) {
      case State::kStartup:
        more = processStartup();
        break;
      case State::kAuth:
        more = processAuth();
        break;
      case State::kAdmin:
        more = admin_->processInput(stream_.in());
        break;
      case State::kIdle:
      case State::kActive:
        forwardMessages();
        more = false;
        break;
      default:
        more = false;
        break;
    }
  }
  flushToClient();
}

bool ClientConn::processStartup() {
  StartupPacket packet;
  size_t consumed = 0;
  std::string error;
  ParseStatus status =
      parseStartup(stream_.in().view(), kMaxStartupPacket, &packet, &consumed, &error);
  if (status == ParseStatus::kNeedMore) {
    if (stream_.in().size() >= kMaxStartupPacket) return failProtocol("startup packet too large");
    return false;
  }
  if (status == ParseStatus::kError) return failProtocol(error);
  stream_.in().consume(consumed);
  return handleStartupPacket(packet);
}

bool ClientConn::handleStartupPacket(StartupPacket& packet) {
  switch (packet.kind) {
    case StartupPacket::Kind::kSsl:
      return answerSslRequest();
    case StartupPacket::Kind::kGssEnc:
      stream_.append("N");  // no GSSAPI encryption: the client goes on in plain text (or asks SSL)
      return true;
    case StartupPacket::Kind::kCancel: {
      uint32_t worker = 0;
      uint64_t client = 0;
      auto& service = worker_->service();
      service.cancel_requests.fetch_add(1, std::memory_order_relaxed);
      if (service.findCancelKey(packet.cancel_pid, packet.cancel_secret, &worker, &client)) {
        auto& owner = service.worker(worker);
        owner.post([&owner, client] {
          if (ClientConn* target = owner.findClient(client)) target->cancelQuery();
        });
      }
      close();  // a cancel request gets no reply, as from PostgreSQL
      return false;
    }
    case StartupPacket::Kind::kStartup:
      break;
  }
  if (!counted_) {
    worker_->service().refused_clients.fetch_add(1, std::memory_order_relaxed);
    // PgBouncer's words, which tools match on.
    closeWithError("53300", "no more connections allowed (max_client_conn)");
    return false;
  }
  if (stream_.tls() == nullptr && worker_->config().client_tls.required()) {
    // PgBouncer's words. A cancel request (above) may still come in plain text, as libpq sends it.
    closeWithError("28000", "SSL required");
    return false;
  }
  if ((packet.protocol >> 16) != 3) {
    closeWithError("08P01", "unsupported frontend protocol " +
                                std::to_string(packet.protocol >> 16) + "." +
                                std::to_string(packet.protocol & 0xffff));
    return false;
  }
  ParamMap asked;
  for (auto& [name, value] : packet.parameters) {
    if (name == "user") {
      user_ = value;
    } else if (name == "database") {
      database_ = value;
    } else if (name == "replication") {
      closeWithError("08P01", "replication connections are not supported by the proxy");
      return false;
    } else if (name == "options") {
      if (value.find_first_not_of(' ') == std::string::npos) continue;
      closeWithError("08P01", "unsupported startup parameter: options");
      return false;
    } else {
      setParam(&asked, name, value);
    }
  }
  params_.assign(std::move(asked));
  if (user_.empty()) {
    closeWithError("28000", "no PostgreSQL user name specified in startup packet");
    return false;
  }
  if (database_.empty()) database_ = user_;
  return beginAuth();
}

// 'S' and the handshake when client_tls allows TLS, 'N' (plain text goes on) when it does not.
bool ClientConn::answerSslRequest() {
  const auto& tls = worker_->config().client_tls;
  if (stream_.tls() != nullptr) return failProtocol("SSLRequest inside TLS");
  if (tls.context == nullptr) {
    stream_.append("N");
    return true;
  }
  if (!stream_.in().empty()) {
    // Bytes sent before our answer cannot have been encrypted: a plaintext injection
    // (CVE-2021-23214). PostgreSQL's words.
    return failProtocol("received unencrypted data after SSL request");
  }
  stream_.append("S");
  std::string error;
  auto session = net::TlsSession::make(*tls.context, stream_.fd(), "", &error);
  if (!stream_.flush() || stream_.blocked() || session == nullptr) {
    if (session == nullptr) spdlog::warn("postgres: client {}: {}", id_, error);
    close();
    return false;
  }
  stream_.startTls(std::move(session));
  tls_context_ = tls.context;
  setState(State::kTlsHandshake);
  continueTlsHandshake();
  return false;
}

void ClientConn::continueTlsHandshake() {
  net::TlsSession::Step step = stream_.tls()->handshake();
  if (step == net::TlsSession::Step::kWantRead || step == net::TlsSession::Step::kWantWrite) return;
  if (step == net::TlsSession::Step::kFailed) {
    worker_->service().tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("postgres: client {} ({}): TLS handshake failed: {}", id_, peer(),
                 stream_.tls()->error());
    return close();
  }
  if (spdlog::should_log(spdlog::level::debug))
    spdlog::debug("postgres: client {} ({}): {}", id_, peer(), stream_.tls()->description());
  setState(State::kStartup);
  readInput();  // the startup packet may have come with the handshake's last flight
}

// Finds the client's secret (users_file, else auth_query), then asks for its password. The
// admin console follows the same rules.
bool ClientConn::beginAuth() {
  const auto& config = worker_->config();
  auto& service = worker_->service();
  bool admin = isAdminDatabase(database_);
  if (admin && !listed(config.admin_users, user_) && !listed(config.stats_users, user_)) {
    closeWithError("28000", "not allowed to use the admin console: " + user_);
    return false;
  }
  const config::PostgresDatabaseConfig* database = config.findDatabase(database_);
  if (!admin) {
    if (database == nullptr) {
      closeWithError("3D000", "no such database: " + database_);
      return false;
    }
    database_config_ = database;
  }
  setState(State::kAuth);
  if (config.auth_type == config::PostgresConfig::AuthType::kTrust) {
    authenticated();
    return true;
  }
  if (service.userSecret(user_, &login().secret)) {
    askForPassword();
    return true;
  }
  // Not listed: auth_query knows it, or nobody does.
  const std::string& auth_user =
      database != nullptr ? config.authUser(*database) : config.auth_user;
  if (!auth_user.empty()) return lookupUser(auth_user);
  login().secret.clear();
  askForPassword();
  return true;
}

// md5 or SCRAM, as the listener's type and the secret allow. An unknown user (empty secret)
// is asked anyway, so that it cannot be told from a wrong password.
void ClientConn::askForPassword() {
  setState(State::kAuth);
  if (worker_->config().auth_type == config::PostgresConfig::AuthType::kMd5 &&
      !looksLikeScramVerifier(login().secret)) {
    uint64_t salt = worker_->random();
    std::memcpy(login().md5_salt, &salt, sizeof(login().md5_salt));
    md5_ = true;
    appendAuthenticationMd5(&stream_.out(), login().md5_salt);
    return;
  }
  appendAuthenticationSasl(&stream_.out(), {kScramSha256Mechanism});
}

bool ClientConn::processAuth() {
  Message message;
  size_t consumed = 0;
  std::string error;
  ParseStatus status =
      parseMessage(stream_.in().view(), kMaxAuthMessage, &message, &consumed, &error);
  if (status == ParseStatus::kNeedMore) return false;
  if (status == ParseStatus::kError) return failProtocol(error);
  if (message.type != 'p') return failProtocol("expected a password message");
  std::string_view payload = message.payload;
  bool ok = false;
  if (!md5_) {
    ok = handleScram(payload);
  } else {
    std::string_view response = payload;
    if (!response.empty() && response.back() == '\0') response.remove_suffix(1);
    ok = !login().secret.empty() && md5Verify(user_, login().secret, login().md5_salt, response);
    if (ok) {
      authenticated();
    } else {
      worker_->service().login_failures.fetch_add(1, std::memory_order_relaxed);
      closeWithError("28P01", "password authentication failed for user \"" + user_ + "\"");
    }
  }
  if (state_ == State::kClosed) return false;
  stream_.in().consume(consumed);
  return ok;
}

bool ClientConn::handleScram(std::string_view payload) {
  std::string error;
  std::string reply;
  if (login().scram == nullptr) {
    SaslInitialResponse initial;
    if (!parseSaslInitialResponse(payload, &initial, &error)) return failProtocol(error);
    if (initial.mechanism != kScramSha256Mechanism || !initial.data)
      return failProtocol("unsupported SASL mechanism");
    ScramVerifier verifier;
    std::string secret_error;
    bool usable = scramVerifierForSecret(user_, login().secret, &worker_->service().verifierCache(),
                                         &verifier, &secret_error);
    // An unknown user still goes through the exchange (with a verifier nobody knows).
    if (!usable)
      verifier = makeScramVerifier(std::to_string(worker_->random()), "unknown-user", 4096);
    login().scram = std::make_unique<ScramServer>(verifier);
    ScramStatus status = login().scram->clientFirst(*initial.data, &reply, &error);
    if (status != ScramStatus::kOk) return failProtocol("SCRAM: " + error);
    appendAuthenticationSaslContinue(&stream_.out(), reply);
    return true;
  }
  std::string_view data;
  if (!parseSaslResponse(payload, &data, &error)) return failProtocol(error);
  ScramStatus status = login().scram->clientFinal(data, &reply, &error);
  if (status == ScramStatus::kMalformed) return failProtocol("SCRAM: " + error);
  if (status != ScramStatus::kOk || login().secret.empty()) {
    worker_->service().login_failures.fetch_add(1, std::memory_order_relaxed);
    closeWithError("28P01", "password authentication failed for user \"" + user_ + "\"");
    return false;
  }
  appendAuthenticationSaslFinal(&stream_.out(), reply);
  bindPool();
  if (pool_ != nullptr) pool_->setPassThroughKey(login().scram->clientKey());
  login().scram.reset();
  authenticated();
  return true;
}

// The pool is made only once the client has proved who it is: names that fail to log in
// leave no pool behind (a stream of made-up user names would grow the pool list forever).
void ClientConn::bindPool() {
  if (pool_ != nullptr || database_config_ == nullptr) return;
  pool_ = worker_->service().pool(*database_config_, user_);
  // The pool logs in to the server as this user with what auth_query returned (SCRAM
  // pass-through or md5), and a changed password is picked up at the next login.
  if (login_ != nullptr && login_->lookup_row && !login_->secret.empty() &&
      pool_->serverUser() == user_)
    pool_->setServerSecret(login_->secret);
}

void ClientConn::authenticated() {
  bindPool();
  login_.reset();  // not needed any more
  appendAuthenticationOk(&stream_.out());
  timer_.cancel();
  if (pool_ == nullptr) {
    admin_ = std::make_unique<AdminSession>(this);
    setState(State::kAdmin);
    admin_->welcome(&stream_.out());
    if (worker_->draining()) retire();  // logged in while its configuration drains
    return;
  }
  {
    std::lock_guard lock(pool_->mutex);
    ++pool_->clients;
    if (pool_->welcome.empty()) {
      // The pool has never logged in to its server: the client waits for the first one, whose
      // parameters it is then told.
      setState(State::kWelcome);
    }
  }
  if (state_ == State::kWelcome) {
    setState(State::kWaiting);
    welcome_pending_ = true;
    // Its first transaction may run on this server: its time counts from here, not from 0.
    request_start_ms_ = worker_->now();
    transaction_start_ms_ = request_start_ms_;
    armWaitTimer();
    worker_->requestServer(this);
    return;
  }
  sendWelcome();
  if (worker_->draining()) retire();  // logged in while its configuration drains
}

void ClientConn::sendWelcome() {
  ParamMap welcome;
  {
    std::lock_guard lock(pool_->mutex);
    welcome = pool_->welcome;
  }
  // The client's own values where it asked for one; the server's otherwise.
  ParamMap mine = params_.list();
  for (auto& [name, value] : welcome) {
    const std::string* asked = findParam(mine, name);
    if (asked != nullptr) {
      value = *asked;
    } else if (isSessionParam(name)) {
      setParam(&mine, name, value);
    }
  }
  params_.assign(std::move(mine));
  {
    std::lock_guard lock(pool_->mutex);
    params_.shareWith(&pool_->last_params);
  }
  for (const auto& [name, value] : welcome) appendParameterStatus(&stream_.out(), name, value);
  do {  // a pid no other client of this process holds (0 means none)
    cancel_pid_ = static_cast<int32_t>(worker_->random() & 0x7fffffff);
    cancel_secret_ = static_cast<int32_t>(worker_->random());
  } while (cancel_pid_ == 0 || !worker_->service().registerCancelKey(cancel_pid_, cancel_secret_,
                                                                     worker_->index(), id_));
  appendBackendKeyData(&stream_.out(), cancel_pid_, cancel_secret_);
  appendReadyForQuery(&stream_.out(), 'I');
  setState(State::kIdle);
  armIdleTimers();
}

void ClientConn::onTimer(net::Timer* /*timer*/) {
  switch (state_) {
    case State::kTlsHandshake:
      // No error message: the client cannot read one until the handshake is done.
      spdlog::info("postgres: client {} ({}): TLS handshake timed out", id_, peer());
      worker_->service().tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
      return close();
    case State::kStartup:
    case State::kAuth:
    case State::kLookup:
      return closeWithError("08P01", "client_login_timeout");
    case State::kLookupWaiting:
      if (!worker_->withdraw(this)) return;  // a server is on its way
      {
        bool login_over =
            worker_->now() - connected_at_ms_ >= worker_->config().client_login_timeout.count();
        std::string why = login_over ? "client_login_timeout" : "query_wait_timeout";
        return failLookup("08P01", why, why + " while waiting for a server of the auth pool");
      }
    case State::kWaiting:
      if (!worker_->withdraw(this)) return;  // a server is on its way
      if (pool_ != nullptr) pool_->stats().query_wait_timeouts.inc(1);
      return closeWithError("08P01", "query_wait_timeout");
    case State::kScatter:
      return scatter_->onWaitTimeout();
    case State::kActive:
      return closeWithError("25P03", "idle transaction timeout");
    case State::kIdle:
      return closeWithError("08P01", "client_idle_timeout");
    default:
      return;
  }
}

bool ClientConn::failProtocol(const std::string& why) {
  worker_->service().protocol_errors.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("postgres: client {} ({}): protocol error: {}", id_, peer(), why);
  closeWithError("08P01", why);
  return false;
}

void ClientConn::sendError(std::string_view severity, std::string_view sqlstate,
                           const std::string& message) {
  appendErrorResponse(&stream_.out(), severity, sqlstate, message);
}

void ClientConn::closeWithError(std::string_view sqlstate, const std::string& message) {
  if (state_ == State::kClosed) return;
  if (!message.empty()) {
    sendError("FATAL", sqlstate, message);
    stream_.flush();
  }
  close();
}

void ClientConn::flushToClient() {
  if (state_ == State::kClosed || !stream_.blocked()) return;
  if (!stream_.flush()) return onClientGone();
  if (state_ == State::kIdle) stream_.trimOutput();  // idle: nothing more is coming soon
}

void ClientConn::onClientGone() { close(); }

void ClientConn::close() {
  if (state_ == State::kClosed) return;
  State was = state_;
  setState(State::kClosed);
  timer_.cancel();
  if (was == State::kWaiting || was == State::kLookupWaiting) worker_->withdraw(this);
  if (server_ != nullptr) detachOnClose();
  if (scatter_ != nullptr) {
    scatter_->abandon();
    worker_->loop().dispose(scatter_.release());
  }
  if (pool_ != nullptr && was != State::kStartup && was != State::kTlsHandshake &&
      was != State::kAuth && was != State::kLookupWaiting && was != State::kLookup) {
    std::lock_guard lock(pool_->mutex);
    --pool_->clients;
  }
  if (cancel_pid_ != 0) worker_->service().unregisterCancelKey(cancel_pid_);
  if (counted_) worker_->service().clientLeft();
  if (stream_.fd() >= 0) {
    worker_->loop().remove(stream_.fd());
    stream_.reclaim(worker_->buffers());
    stream_.close();
  }
  worker_->unregisterWaiter(this);
  worker_->clientClosed(this);
  worker_->loop().dispose(this);
}

}  // namespace sg::pg
