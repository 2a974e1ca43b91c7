// ClientConn, logged in: its messages to the server (with prepared statements renamed per
// server), the replies back, and when the server is taken and given back.
#include <spdlog/spdlog.h>

#include <cctype>
#include <cstring>
#include <utility>

#include "pg/client_conn.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

// Frontend message types after login (PostgreSQL 15).
bool isFrontendType(char type) {
  return std::strchr("QPBDECSHXdcfF", type) != nullptr && type != '\0';
}

void beginMessage(std::string* out, char type, size_t payload_size) {
  out->push_back(type);
  appendInt32(out, static_cast<int32_t>(payload_size + 4));
}

// Case-insensitive: does the query start (after blanks) with these words?
bool startsWithWords(std::string_view query, std::string_view words) {
  size_t at = query.find_first_not_of(" \t\r\n");
  if (at == std::string_view::npos) return false;
  query.remove_prefix(at);
  if (query.size() < words.size()) return false;
  for (size_t i = 0; i < words.size(); ++i) {
    char a = query[i];
    if (a >= 'a' && a <= 'z') a = static_cast<char>(a - 'a' + 'A');
    if (a != words[i]) return false;
  }
  return query.size() == words.size() || std::strchr(" \t\r\n;", query[words.size()]) != nullptr;
}

// Like startsWithWords, but the word may be followed by '=' too ("search_path=public").
bool startsWithPrefixWord(std::string_view text, std::string_view word) {
  if (text.size() < word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    char a = text[i];
    if (a >= 'a' && a <= 'z') a = static_cast<char>(a - 'a' + 'A');
    if (a != word[i]) return false;
  }
  return text.size() == word.size() || std::strchr(" \t\r\n=", text[word.size()]) != nullptr;
}

}  // namespace

// Forwards every whole message in the input (or answers it); stops when a server is needed
// and must be waited for.
bool ClientConn::forwardMessages() {
  auto& in = stream_.in();
  const uint32_t max_packet = worker_->config().max_packet_size;
  if (server_ != nullptr) timer_.cancel();  // idle_transaction_timeout: the client spoke
  while (!in.empty() && state_ != State::kClosed) {
    // Sharded: the server only finishes the proxy's own work (the welcome's parameter replay,
    // the Sync after a prepare); the client's next statement waits for it to go back, then
    // picks its shard.
    if (proxy_tail_ && server_ != nullptr) break;
    if (stream_remaining_ > 0) {
      size_t n = std::min(stream_remaining_, in.size());
      server_->send({in.data(), n});
      in.consume(n);
      stream_remaining_ -= n;
      continue;
    }
    if (in.size() < 5) break;
    char type = in.data()[0];
    int32_t length = readBigEndian32(in.data() + 1);
    if (!isFrontendType(type))
      return failProtocol(std::string("invalid frontend message type ") +
                          std::to_string(static_cast<unsigned char>(type)));
    if (length < 4 || static_cast<uint32_t>(length) > max_packet)
      return failProtocol("invalid message length " + std::to_string(length));
    if (type == 'X') {
      close();
      return false;
    }
    size_t total = static_cast<size_t>(length) + 1;
    bool whole = total <= in.size();
    if (!whole && total <= kMaxWholeMessage) break;  // the rest is coming
    if (server_ == nullptr && whole &&
        (type == 'Q' ? answerProxySetting(std::string_view(in.data() + 5, total - 5))
                     : answerProxyMessage(type, std::string_view(in.data() + 5, total - 5)))) {
      in.consume(total);
      continue;
    }
    bool shard_chosen = false;  // chooseShard read this message already
    if (server_ == nullptr && whole && database_config_->sharding.enabled()) {
      if (answerLocalTransaction(type, std::string_view(in.data() + 5, total - 5))) {
        in.consume(total);  // BEGIN, COMMIT, ROLLBACK of a transaction with no server yet
        continue;
      }
      ShardChoice choice = chooseShard(type, std::string_view(in.data() + 5, total - 5));
      if (choice == ShardChoice::kNeedMore) break;  // its Bind is coming
      if (choice == ShardChoice::kScatter) {
        if (state_ == State::kScatter) break;  // its ReadyForQuery comes when the shards answer
        continue;
      }
      if (choice == ShardChoice::kRefused) {
        in.consume(total);  // the ERROR is out
        continue;
      }
      // A deferred transaction's refused first statement is refused again on its server.
      shard_chosen = local_txn_ != LocalTxn::kOpen;
    }
    if (server_ == nullptr &&
        !needServer(type, std::string_view(in.data() + 5, std::min(in.size(), total) - 5), whole))
      break;
    if (!whole) {
      if (type == 'Q' || type == 'F') server_->markSynced();
      if (type == 'P' || type == 'B') server_->markUnsynced();
      // A large message: only unnamed statements and plain data may pass through unread.
      if (type == 'P' || type == 'B' || type == 'D' || type == 'C') {
        std::string_view head(in.data() + 5, in.size() - 5);
        bool unnamed = type == 'P' ? head.size() > 0 && head[0] == '\0'
                                   : type == 'B' && head.find('\0') != std::string_view::npos &&
                                         head.size() > head.find('\0') + 1 &&
                                         head[head.find('\0') + 1] == '\0';
        if (!unnamed)
          return failProtocol("a message with a named statement larger than the proxy handles");
        if (type == 'P') server_->expect(ServerConn::Pending::kParse);
        if (type == 'C') server_->expect(ServerConn::Pending::kClose);
      }
      if (type == 'Q' || type == 'S' || type == 'F') server_->expect(ServerConn::Pending::kSync);
      stream_remaining_ = total;
      continue;
    }
    std::string_view message(in.data(), total);
    if (skip_until_sync_) {
      if (type != 'S') {
        in.consume(total);
        continue;
      }
      skip_until_sync_ = false;
    }
    if (database_config_->sharding.enabled()) {
      ShardChoice choice = checkShardOnServer(type, message.substr(5), shard_chosen);
      if (choice == ShardChoice::kNeedMore) break;  // its Bind, or another server, is coming
      if (choice == ShardChoice::kRefused) {
        in.consume(total);  // the server answers for it (refuseInTransaction)
        continue;
      }
    }
    if (type == 'S' || type == 'Q' || type == 'F') {
      server_->markSynced();
      // Sharded: what follows may be a transaction for another shard; it waits for this
      // ReadyForQuery, which releases the server (or says a transaction goes on).
      if (transaction_status_ == 'I' && database_config_->sharding.enabled()) proxy_tail_ = true;
    } else if (type != 'd' && type != 'c' && type != 'f') {
      server_->markUnsynced();
    }
    bool ok = forwardMessage(type, message, message.substr(5));
    in.consume(total);
    if (!ok || state_ == State::kClosed) return false;
  }
  if (server_ != nullptr) server_->flush();
  return true;
}

// True when a server is attached now; false when the client waits for one.
bool ClientConn::needServer(char type, std::string_view payload, bool whole) {
  route_pool_ = whole ? routeTransaction(type, payload) : pool_;
  if (route_pool_ == nullptr) {
    closeWithError("08006", "no replica can take reads now (primary_reads: exclude)");
    return false;
  }
  std::string why;
  if (!route_pool_->isReplica() && primaryDown(*route_pool_, &why)) {
    const std::string shard = database_config_->sharding.enabled()
                                  ? " shard " + std::to_string(route_pool_->shard())
                                  : std::string();
    closeWithError(
        "08006", "the primary of database " + database_config_->name + shard + " is down: " + why);
    return false;
  }
  request_start_ms_ = worker_->now();
  transaction_start_ms_ = request_start_ms_;
  setState(State::kWaiting);
  armWaitTimer();
  requesting_ = true;
  worker_->requestServer(this);
  requesting_ = false;
  return server_ != nullptr;
}

bool ClientConn::forwardMessage(char type, std::string_view whole, std::string_view payload) {
  auto& stats = pool_->stats();
  lsn_asked_ = false;  // the next ReadyForQuery answers this client's message
  stats.bytes_received.inc(whole.size());
  if (query_start_ms_ < 0) query_start_ms_ = worker_->now();
  switch (type) {
    case 'Q':
      stats.queries.inc(1);
      {
        std::string shown = noteQuery(payload);
        server_->send(whole);
        server_->expect(ServerConn::Pending::kSync);
        if (!shown.empty()) {
          // A setting the server does not report: read its new value back.
          scratch_.clear();
          appendQuery(&scratch_, "SHOW " + shown);
          server_->send(scratch_);
          server_->expectShow(shown);
        }
        return true;
      }
    case 'P':
      return forwardParse(whole, payload);
    case 'B':
      return forwardBind(whole, payload);
    case 'D':
    case 'C':
      return forwardDescribeOrClose(type, whole, payload);
    case 'E':
      stats.queries.inc(1);
      server_->send(whole);
      return true;
    case 'S':
    case 'F':
      server_->send(whole);
      server_->expect(ServerConn::Pending::kSync);
      return true;
    default:  // Flush, CopyData, CopyDone, CopyFail
      server_->send(whole);
      if (type == 'H' && prepare_flush_) {
        // A sharded database's statement prepared with Flush (asyncpg): the proxy's Sync ends
        // it, so the server goes back and the Bind that runs it picks its shard(s).
        prepare_flush_ = false;
        server_->send(std::string_view("S\0\0\0\4", 5));
        server_->expect(ServerConn::Pending::kOwnSync);
        server_->markSynced();
        proxy_tail_ = true;
      }
      return true;
  }
}

bool ClientConn::forwardParse(std::string_view whole, std::string_view payload) {
  PayloadReader reader(payload);
  std::string_view name;
  if (!reader.readString(&name)) return failProtocol("malformed Parse message");
  if (name.empty() || worker_->config().max_prepared_statements == 0) {
    server_->send(whole);
    server_->expect(ServerConn::Pending::kParse);
    return true;
  }
  if (findStatement(name) != nullptr) {
    // PostgreSQL's answer to a name in use; what follows up to Sync is skipped, as it would be.
    std::string error;
    appendErrorResponse(&error, "ERROR", "42P05",
                        "prepared statement \"" + std::string(name) + "\" already exists");
    local_errors_.push_back(std::move(error));
    server_->expectLocal(ServerConn::Pending::kLocalError);
    skip_until_sync_ = true;
    return true;
  }
  std::string_view body = payload.substr(name.size() + 1);
  auto statement = worker_->service().internStatement(body);
  statementTable()[std::string(name)] = statement;
  if (server_->hasStatement(statement->id)) {
    server_->expectLocal(ServerConn::Pending::kLocalParse);
    return true;
  }
  return prepareOnServer(statement, /*for_client=*/true);
}

// Prepares `statement` on the attached server under the proxy's name. The ParseComplete goes
// to the client when it asked (for_client), else it is swallowed.
bool ClientConn::prepareOnServer(const std::shared_ptr<const Statement>& statement,
                                 bool for_client) {
  scratch_.clear();
  beginMessage(&scratch_, 'P', statement->server_name.size() + 1 + statement->body.size());
  scratch_.append(statement->server_name);
  scratch_.push_back('\0');
  scratch_.append(statement->body);
  server_->send(scratch_);
  server_->expect(for_client ? ServerConn::Pending::kParse : ServerConn::Pending::kOwnParse);
  uint64_t evicted =
      server_->addStatement(statement->id, worker_->config().max_prepared_statements);
  if (evicted != 0) {
    std::string name = "sg_prepared_" + std::to_string(evicted);
    scratch_.clear();
    beginMessage(&scratch_, 'C', 1 + name.size() + 1);
    scratch_.push_back('S');
    scratch_.append(name);
    scratch_.push_back('\0');
    server_->send(scratch_);
    server_->expect(ServerConn::Pending::kOwnClose);
  }
  return true;
}

const std::shared_ptr<const Statement>* ClientConn::findStatement(std::string_view name) const {
  if (statements_ == nullptr) return nullptr;
  auto it = statements_->find(std::string(name));
  return it == statements_->end() ? nullptr : &it->second;
}

ClientConn::StatementTable& ClientConn::statementTable() {
  if (statements_ == nullptr) statements_ = std::make_unique<StatementTable>();
  return *statements_;
}

const Statement* ClientConn::ensurePrepared(std::string_view name) {
  const auto* statement = findStatement(name);
  if (statement == nullptr) return nullptr;
  if (!server_->hasStatement((*statement)->id)) prepareOnServer(*statement, /*for_client=*/false);
  return statement->get();
}

bool ClientConn::forwardBind(std::string_view whole, std::string_view payload) {
  PayloadReader reader(payload);
  std::string_view portal, name;
  if (!reader.readString(&portal) || !reader.readString(&name))
    return failProtocol("malformed Bind message");
  const Statement* statement = name.empty() ? nullptr : ensurePrepared(name);
  if (statement == nullptr) {
    server_->send(whole);  // unnamed, or unknown: the server answers as PostgreSQL does
    return true;
  }
  std::string_view rest = payload.substr(portal.size() + 1 + name.size() + 1);
  scratch_.clear();
  beginMessage(&scratch_, 'B', portal.size() + 1 + statement->server_name.size() + 1 + rest.size());
  scratch_.append(portal);
  scratch_.push_back('\0');
  scratch_.append(statement->server_name);
  scratch_.push_back('\0');
  scratch_.append(rest);
  server_->send(scratch_);
  return true;
}

bool ClientConn::forwardDescribeOrClose(char type, std::string_view whole,
                                        std::string_view payload) {
  if (payload.size() < 2 || payload.back() != '\0')
    return failProtocol(type == 'D' ? "malformed Describe message" : "malformed Close message");
  char kind = payload[0];
  std::string_view name(payload.data() + 1, payload.size() - 2);
  bool renamed = kind == 'S' && !name.empty() && worker_->config().max_prepared_statements > 0;
  if (!renamed) {
    server_->send(whole);
    if (type == 'C') server_->expect(ServerConn::Pending::kClose);
    return true;
  }
  if (type == 'C') {
    // The statement stays prepared on the server (others may use it); the client's name goes.
    if (statements_ != nullptr) statements_->erase(std::string(name));
    server_->expectLocal(ServerConn::Pending::kLocalClose);
    return true;
  }
  const Statement* statement = ensurePrepared(name);
  if (statement == nullptr) {
    server_->send(whole);
    return true;
  }
  scratch_.clear();
  beginMessage(&scratch_, 'D', 1 + statement->server_name.size() + 1);
  scratch_.push_back('S');
  scratch_.append(statement->server_name);
  scratch_.push_back('\0');
  server_->send(scratch_);
  return true;
}

// Statements that change what the proxy tracks of the session. DISCARD ALL and DEALLOCATE
// ALL drop every prepared statement; DISCARD ALL and RESET reset settings. A SET of a setting
// the server does not report (search_path) returns its name: the proxy reads the value back.
// Only the first statement of a query string is looked at.
std::string ClientConn::noteQuery(std::string_view payload) {
  // Most queries start with neither D, R nor S: one look decides (this runs per query).
  size_t first = payload.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  char initial = static_cast<char>(payload[first] & ~0x20);  // ASCII upper case
  if (initial != 'D' && initial != 'R' && initial != 'S') return {};
  if (initial == 'D') {
    bool discard = startsWithWords(payload, "DISCARD ALL");
    if (discard || startsWithWords(payload, "DEALLOCATE ALL")) {
      statements_.reset();
      server_->forgetStatements();
    }
    if (discard) {
      for (const auto& param : kUnreportedParams) forgetParam(param.name);
    }
    return {};
  }
  if (initial == 'R') {
    bool all = startsWithWords(payload, "RESET ALL");
    for (const auto& param : kUnreportedParams) {
      if (all || startsWithWords(payload, param.reset_upper)) forgetParam(param.name);
    }
    return {};
  }
  if (!startsWithWords(payload, "SET")) return {};  // SELECT, mostly
  std::string_view rest = payload.substr(first + 3);
  size_t at = rest.find_first_not_of(" \t\r\n");
  if (at == std::string_view::npos) return {};
  rest.remove_prefix(at);
  if (startsWithWords(rest, "SESSION")) {
    rest.remove_prefix(7);
    at = rest.find_first_not_of(" \t\r\n");
    if (at == std::string_view::npos) return {};
    rest.remove_prefix(at);
  }
  for (const auto& param : kUnreportedParams) {
    if (startsWithPrefixWord(rest, param.upper)) return param.name;
  }
  return {};
}

void ClientConn::forgetParam(const char* name) {
  params_.erase(name);
  if (findParam(server_->params(), name) != nullptr) server_->setParam(name, "");
}

void ClientConn::onServerAttached(ServerConn* server) {
  if (state_ == State::kLookupWaiting) return sendLookup(server);
  timer_.cancel();
  server_ = server;
  setState(State::kActive);
  if (request_start_ms_ != 0) {
    pool_->stats().wait_micros.inc(static_cast<uint64_t>(worker_->now() - request_start_ms_) *
                                   1000);
    pool_->stats().waits.inc(1);
  }
  if (welcome_pending_) {
    welcome_pending_ = false;
    proxy_tail_ = database_config_->sharding.enabled();
    // The login's server (shard 0) may still be here when the first statement comes.
    shard_undecided_ = database_config_->sharding.enabled();
    sendWelcome();
    setState(State::kActive);
  }
  replayParams();
  if (local_batch_ || local_txn_ == LocalTxn::kOpen) sendDeferredBegin();
  if (requesting_) return;  // needServer's caller goes on forwarding
  forwardMessages();
  flushToClient();
  if (state_ == State::kClosed) return;
  if (server_ != nullptr && server_->reusable() && stream_remaining_ == 0 &&
      worker_->config().pool_mode != config::PostgresConfig::PoolMode::kSession) {
    flushToClient();
    if (state_ == State::kClosed) return;
    releaseServer();  // it had nothing to run (a welcome only)
  }
  if (read_pending_) readInput();
}

// Makes the server's session parameters the client's before its messages run. set_config
// takes a value as the configuration file would, so a list (search_path) stays a list.
void ClientConn::replayParams() { replayParamsOn(server_); }

void ClientConn::replayParamsOn(ServerConn* server) {
  if (server->paramsDigest() == params_.digest()) return;
  std::string sets;
  std::string resets;
  for (const auto& [name, value] : params_.list()) {
    const std::string* current = findParam(server->params(), name);
    if (current != nullptr && *current == value) continue;
    sets += sets.empty() ? "SELECT " : ", ";
    sets += "pg_catalog.set_config(" + quoteLiteral(name) + ", " + quoteLiteral(value) + ", false)";
    server->setParam(name, value);
  }
  // Values another client set that this one never asked for go back to the default.
  for (const auto& [name, value] : server->params()) {
    if (isSessionParam(name) && findParam(params_.list(), name) == nullptr && !value.empty()) {
      resets += "RESET " + name + ";";
      server->setParam(name, "");
    }
  }
  if (sets.empty() && resets.empty()) return;
  scratch_.clear();
  appendQuery(&scratch_, sets.empty() ? resets : sets + ";" + resets);
  server->send(scratch_);
  server->expect(ServerConn::Pending::kOwnQuery);
}

void ClientConn::onServerUnavailable(std::string_view sqlstate, const std::string& message) {
  if (state_ == State::kLookupWaiting) return failLookup(sqlstate, message, message);
  if (state_ == State::kWaiting && rerouteRead()) return;
  closeWithError(sqlstate, message);
}

void ClientConn::deliver(std::string_view bytes) {
  if (local_txn_ == LocalTxn::kOpen && bytes.size() == 6 && bytes[0] == 'Z') [[unlikely]] {
    static constexpr char kInTransaction[] = {'Z', 0, 0, 0, 5, 'T'};
    bytes = std::string_view(kInTransaction, 6);  // a server ran a Parse before the BEGIN
  }
  stream_.append(bytes);
  pool_->stats().bytes_sent.inc(bytes.size());
}

void ClientConn::deliverLocalReply(char type) {
  if (type == 'E') {
    if (local_errors_.empty()) return;
    stream_.append(local_errors_.front());
    local_errors_.erase(local_errors_.begin());
    return;
  }
  stream_.append(std::string_view(type == '1' ? "1\0\0\0\4" : "3\0\0\0\4", 5));
}

void ClientConn::rememberParam(const std::string& name, const std::string& value) {
  if (!isSessionParam(name)) return;
  const std::string* current = findParam(params_.list(), name);
  if (current == nullptr || *current != value) params_.set(name, value);
}

bool ClientConn::onServerReady() {
  if (state_ == State::kLookup) return finishLookup();
  transaction_status_ = server_->transactionStatus();
  if (query_start_ms_ >= 0) {
    pool_->stats().query_micros.inc(static_cast<uint64_t>(worker_->now() - query_start_ms_) * 1000);
    query_start_ms_ = -1;
  }
  if (server_->pendingCount() > 0 || stream_remaining_ > 0) return false;
  const auto mode = worker_->config().pool_mode;
  if (transaction_status_ != 'I') {
    if (mode == config::PostgresConfig::PoolMode::kStatement) {
      closeWithError("08P01", "transaction blocks not allowed in statement pooling mode");
      return true;
    }
    armIdleTimers();
    if (std::exchange(proxy_tail_, false) && !stream_.in().empty()) {
      processInput();  // the proxy's own work ended inside a transaction: the client goes on
      return state_ == State::kClosed;
    }
    return false;
  }
  bool position_read = lsn_asked_;
  if (lsn_asked_) {
    lsn_asked_ = false;  // the position query's ReadyForQuery: the transaction was counted
  } else {
    pool_->stats().transactions.inc(1);
    pool_->stats().transaction_micros.inc(
        static_cast<uint64_t>(worker_->now() - transaction_start_ms_) * 1000);
    if (mode != config::PostgresConfig::PoolMode::kSession && server_->reusable() &&
        askCommitLsn()) {
      flushToClient();
      return state_ == State::kClosed;
    }
  }
  if (mode == config::PostgresConfig::PoolMode::kSession) {
    if (worker_->draining()) retire();  // its server moves with it, or it stays
    return false;
  }
  if (!server_->reusable()) return false;
  flushToClient();
  if (state_ == State::kClosed) return true;
  const bool proxy_tail = proxy_tail_;
  releaseServer();
  if (proxy_tail && !stream_.in().empty() && state_ == State::kIdle) processInput();
  if (position_read && read_pending_ && state_ != State::kClosed) readInput();
  if (reroute_after_release_ && state_ != State::kClosed) resumeAfterHeldServer();
  return true;
}

void ClientConn::releaseServer() {
  ServerConn* server = server_;
  server_ = nullptr;
  proxy_tail_ = false;
  shard_undecided_ = false;
  if (local_txn_ == LocalTxn::kOpen) transaction_status_ = 'T';  // its BEGIN still waits
  if (transaction_writes_) last_write_ms_ = worker_->now();      // read_your_writes
  setState(State::kIdle);
  armIdleTimers();
  stream_.trimOutput();
  worker_->releaseServer(server);
  // Draining: the transaction that was running has ended; the client moves or goes now.
  if (worker_->draining()) retire();
}

// The client leaves with a server attached: a clean server goes back (after the reset query
// in session mode); one in a transaction or with replies pending is closed, never reused.
void ClientConn::detachOnClose() {
  ServerConn* server = server_;
  server_ = nullptr;
  server->attach(nullptr);
  if (!server->reusable() || stream_remaining_ > 0) {
    return server->close("the client left in the middle of a transaction");
  }
  if (worker_->config().pool_mode == config::PostgresConfig::PoolMode::kSession &&
      !worker_->config().server_reset_query.empty()) {
    scratch_.clear();
    appendQuery(&scratch_, worker_->config().server_reset_query);
    server->send(scratch_);
    server->expect(ServerConn::Pending::kOwnQuery);
    server->forgetStatements();
    server->flush();
    return;  // released when its ReadyForQuery comes
  }
  worker_->releaseServer(server);
}

void ClientConn::onServerLost(const std::string& why) {
  server_ = nullptr;
  if (state_ == State::kLookup) return failLookup("08006", "server connection lost", why);
  closeWithError("08006", "server connection lost: " + why);
}

void ClientConn::onServerWritable() {
  if (read_pending_) readInput();
}

void ClientConn::cancelQuery() {
  if (server_ != nullptr) worker_->sendCancel(*server_);
}

void ClientConn::armWaitTimer() {
  worker_->loop().timers().arm(timer_, worker_->config().query_wait_timeout.count());
}

// idle_transaction_timeout while a transaction is open; client_idle_timeout otherwise.
void ClientConn::armIdleTimers() {
  const auto& config = worker_->config();
  if (state_ == State::kActive) {
    worker_->loop().timers().arm(timer_, config.idle_transaction_timeout.count());
  } else {
    worker_->loop().timers().arm(timer_, config.client_idle_timeout.count());
  }
}

}  // namespace sg::pg
