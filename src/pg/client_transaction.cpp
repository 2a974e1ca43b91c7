// ClientConn: transactions on a sharded database. A transaction runs on one shard: the one its
// first statement names, not the one current when its BEGIN came. So a BEGIN / START
// TRANSACTION that arrives with no server attached is answered here (CommandComplete BEGIN,
// ReadyForQuery 'T') and its text kept; the first statement that needs a server attaches its
// shard's, and the BEGIN text goes there just before it (its reply swallowed). COMMIT or
// ROLLBACK with nothing run in between is answered here too. Anything else first (SAVEPOINT,
// SET, a statement without a sharded table) runs on the current shard.
//
// Inside the transaction each statement's shard is computed again (chooseShard with
// in_transaction). A statement for another shard, or for several, is refused with 0A000 and
// never reaches a server; in its place the server runs a DO block that raises that same error,
// so the transaction fails on the server exactly as after any failed statement: the client
// sees the error and ReadyForQuery 'E', a later COMMIT rolls back, ROLLBACK TO SAVEPOINT
// recovers. Two-phase commit is not supported, so a transaction never spans shards.
#include <utility>

#include "pg/client_conn.h"
#include "pg/pg_worker.h"
#include "pg/route/classifier.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

// Could the text be BEGIN / START (kNone) or COMMIT / END / ROLLBACK / ABORT (a deferred
// transaction)? Its first letters decide, so other statements are not classified twice
// (chooseShard classifies them). A leading comment always asks the classifier.
bool mayControlTransaction(std::string_view text, bool deferred) {
  size_t at = text.find_first_not_of(" \t\r\n");
  if (at == std::string_view::npos || text.size() < at + 2) return false;
  const char first = static_cast<char>(text[at] & ~0x20);
  const char second = static_cast<char>(text[at + 1] & ~0x20);
  if (text[at] == '/' || text[at] == '-') return true;
  if (!deferred) return (first == 'B' && second == 'E') || (first == 'S' && second == 'T');
  return first == 'C' || first == 'E' || first == 'R' || first == 'A';
}

// A statement that fails with the proxy's refusal (any error fails a transaction block; DO
// runs in read-only transactions and on standbys too).
std::string failingStatement(const shard::KeyError& error) {
  std::string message = error.message;
  for (size_t at; (at = message.find("$scalegate$")) != std::string::npos;) message.erase(at, 1);
  return "DO $scalegate$BEGIN RAISE EXCEPTION USING ERRCODE = '" + error.sqlstate +
         "', MESSAGE = " + quoteLiteral(message) + "; END$scalegate$";
}

}  // namespace

// BEGIN with no transaction, COMMIT / ROLLBACK (END, ABORT, AND CHAIN) in a deferred one: the
// statement the proxy answers itself; nullopt for anything else. Only a text of exactly one such
// statement; a BEGIN with a shard hint is not deferred (the hint chooses its shard at once).
std::optional<ClientConn::LocalStatement> ClientConn::localStatement(std::string_view text) {
  const bool deferred = local_txn_ == LocalTxn::kOpen;
  if (!mayControlTransaction(text, deferred)) return std::nullopt;
  auto verdict = worker_->classifier().classify(text);
  if (verdict->statements != 1 || verdict->txn.size() != 1) return std::nullopt;
  const route::TxnControl& control = verdict->txn.front();
  if (!deferred) {
    if (control.kind != route::TxnControlKind::kBegin || verdict->shard_hint ||
        verdict->sharding_key_hint)
      return std::nullopt;
    return LocalStatement{control.kind, false, std::string(text)};
  }
  if (control.kind != route::TxnControlKind::kCommit &&
      control.kind != route::TxnControlKind::kRollback)
    return std::nullopt;
  return LocalStatement{control.kind, control.chain, {}};
}

// Runs a statement of localStatement: its CommandComplete, and the transaction's new state.
void ClientConn::runLocalStatement(const LocalStatement& statement) {
  auto& out = stream_.out();
  if (statement.kind == route::TxnControlKind::kBegin) {
    begin_text_ = statement.begin_text;
    local_txn_ = LocalTxn::kOpen;
    transaction_status_ = 'T';
    appendCommandComplete(&out, "BEGIN");
    return;
  }
  appendCommandComplete(&out,
                        statement.kind == route::TxnControlKind::kCommit ? "COMMIT" : "ROLLBACK");
  if (statement.chain) return;  // AND CHAIN: a new transaction like it, still deferred
  local_txn_ = LocalTxn::kNone;
  transaction_status_ = 'I';
  begin_text_.clear();
}

// A message while no server is attached to a sharded database's client: true when answered
// here (a simple Query, or an unnamed Parse / Bind / Describe / Execute / Close / Sync batch of
// a statement above: psycopg sends its BEGIN and COMMIT so).
bool ClientConn::answerLocalTransaction(char type, std::string_view payload) {
  if (type == 'Q') {
    auto statement = localStatement(payload.substr(0, payload.find('\0')));
    if (!statement) return false;
    runLocalStatement(*statement);
    appendReadyForQuery(&stream_.out(), transaction_status_);
    return true;
  }
  auto& out = stream_.out();
  PayloadReader reader(payload);
  std::string_view first, second;
  switch (type) {
    case 'P':
      local_portal_.reset();
      local_parsed_.reset();
      if (!reader.readString(&first) || !first.empty() || !reader.readString(&second)) return false;
      if (auto parsed = localStatement(second)) {
        local_parsed_ = std::make_unique<LocalStatement>(std::move(*parsed));
      } else {
        return false;
      }
      local_batch_ = true;
      out.append({'1', 0, 0, 0, 4});  // ParseComplete
      return true;
    case 'B':
      if (!local_parsed_ || !reader.readString(&first) || !first.empty() ||
          !reader.readString(&second) || !second.empty())
        return false;
      local_portal_ = std::make_unique<LocalStatement>(*local_parsed_);
      out.append({'2', 0, 0, 0, 4});  // BindComplete
      return true;
    case 'D':
      if (payload.size() != 2 || payload[1] != '\0') return false;
      if (payload[0] == 'S' && local_parsed_) {
        out.append({'t', 0, 0, 0, 6, 0, 0});  // ParameterDescription: none
      } else if (payload[0] != 'P' || !local_portal_) {
        return false;
      }
      out.append({'n', 0, 0, 0, 4});  // NoData
      return true;
    case 'E':
      if (!local_portal_ || !reader.readString(&first) || !first.empty()) return false;
      runLocalStatement(*local_portal_);
      local_portal_.reset();
      return true;
    case 'C':
      if (payload.size() != 2 || payload[1] != '\0' ||
          (payload[0] == 'S' ? local_parsed_ : local_portal_) == nullptr)
        return false;
      (payload[0] == 'S' ? local_parsed_ : local_portal_).reset();
      out.append({'3', 0, 0, 0, 4});  // CloseComplete
      return true;
    case 'S':
      if (!local_batch_) return false;
      local_batch_ = false;
      appendReadyForQuery(&out, transaction_status_);
      return true;
    case 'H':
      return local_batch_;  // Flush: the answers are in the output already
    default:
      return false;
  }
}

// A server was attached: a deferred BEGIN goes first (its reply is swallowed). What was
// answered here of an extended batch is done; the server answers the rest.
void ClientConn::sendDeferredBegin() {
  local_parsed_.reset();
  local_portal_.reset();
  local_batch_ = false;
  if (local_txn_ != LocalTxn::kOpen || hold_begin_) return;
  local_txn_ = LocalTxn::kNone;
  scratch_.clear();
  appendQuery(&scratch_, begin_text_);
  begin_text_.clear();
  server_->send(scratch_);
  server_->expect(ServerConn::Pending::kOwnQuery);
}

// A message of a sharded database's client for its attached server: inside a transaction (or
// on a server taken for a prepare) a statement must be for the server's shard. kChosen: send
// it; kRefused: answered (refuseInTransaction); kNeedMore: wait (its Bind, or another server).
// shard_chosen: the message the server was just taken for, its shard chosen already.
ClientConn::ShardChoice ClientConn::checkShardOnServer(char type, std::string_view payload,
                                                       bool shard_chosen) {
  // The message the server was just attached for: a deferred BEGIN may wait behind it.
  if (std::exchange(hold_begin_, false)) {
    shard_undecided_ = true;
  } else if ((type == 'Q' || type == 'P' || type == 'B') && !shard_chosen) {
    // Also outside a transaction: later statements of one batch (up to its Sync) run in the
    // same implicit transaction, on this server.
    ShardChoice choice = chooseShard(type, payload, /*in_transaction=*/true);
    if (choice != ShardChoice::kChosen) return choice;
    if (shard_undecided_ && type != 'P') {
      shard_undecided_ = false;  // it runs on this server, decided or not (an unnamed Bind)
      if (local_txn_ == LocalTxn::kOpen) sendHeldBegin();
    }
  }
  if (type == 'B' && !undecided_parse_.empty()) bindUndecidedParse();
  return ShardChoice::kChosen;
}

// A server attached while the BEGIN was held (for a Parse whose Bind chooses the shard, a
// Describe, ...) gets the BEGIN before the first statement that runs on it.
void ClientConn::sendHeldBegin() {
  hold_begin_ = false;
  sendDeferredBegin();
  transaction_status_ = 'T';
}

// A statement for another shard while the attached server (of the current shard) ran only a
// prepare: its batch ends with a Sync of the proxy's, it goes back to its pool, and then the
// statement is read again (resumeAfterHeldServer) and goes to its own shard (with a deferred
// BEGIN, if any); the proxy prepares the statement there again.
ClientConn::ShardChoice ClientConn::leaveHeldServer() {
  server_->send(std::string_view("S\0\0\0\4", 5));
  server_->expect(ServerConn::Pending::kOwnSync);
  server_->markSynced();
  reroute_after_release_ = true;
  resend_undecided_parse_ = !undecided_parse_.empty();
  return ShardChoice::kNeedMore;
}

// The text of the unnamed statement a Bind runs when its Parse ran on a server taken for a
// prepare (undecided_parse_); empty otherwise.
std::string_view ClientConn::undecidedParseText(std::string_view bind) const {
  if (undecided_parse_.empty() || bind.size() < 2) return {};
  PayloadReader reader(bind);
  std::string_view portal, statement;
  if (!reader.readString(&portal) || !reader.readString(&statement) || !statement.empty())
    return {};
  return statementText('P', undecided_parse_);
}

// A Bind of the unnamed statement reaches a server: on another server than its Parse's (the
// Bind chose another shard) the Parse goes first, its ParseComplete swallowed.
void ClientConn::bindUndecidedParse() {
  if (undecidedParseText(std::string_view(stream_.in().data() + 5, stream_.in().size() - 5))
          .empty())
    return;
  if (std::exchange(resend_undecided_parse_, false)) {
    scratch_.clear();
    scratch_.push_back('P');
    appendInt32(&scratch_, static_cast<int32_t>(undecided_parse_.size() + 4));
    scratch_.append(undecided_parse_);
    server_->send(scratch_);
    server_->expect(ServerConn::Pending::kOwnParse);
  }
  undecided_parse_.clear();
}

void ClientConn::resumeAfterHeldServer() {
  reroute_after_release_ = false;
  processInput();
  if (state_ != State::kClosed) flushToClient();
}

// chooseShard found no shard for the statement, or one this transaction may not use.
ClientConn::ShardChoice ClientConn::refuseShard(char type, const shard::KeyError& error,
                                                bool in_transaction) {
  if (in_transaction) {
    if (local_txn_ == LocalTxn::kOpen) sendHeldBegin();  // so that the refusal fails it
    refuseInTransaction(type, error);
    return ShardChoice::kRefused;
  }
  // A deferred transaction's first statement: the current shard's server takes the transaction
  // and refuses it there (chooseShard again, in_transaction), failing it as PostgreSQL would.
  if (local_txn_ == LocalTxn::kOpen) {
    hold_begin_ = false;
    return ShardChoice::kChosen;
  }
  refuseStatement(type, error);
  return ShardChoice::kRefused;
}

// Inside a transaction on current_shard_: a statement for `shard` may run only when it is the
// same one.
ClientConn::ShardChoice ClientConn::keepTransactionShard(char type, uint32_t shard) {
  if (shard_undecided_) {  // the server ran only a prepare (and has not had the BEGIN yet)
    if (shard != current_shard_ &&
        worker_->config().pool_mode != config::PostgresConfig::PoolMode::kSession)
      return leaveHeldServer();
    shard_undecided_ = false;
    if (local_txn_ == LocalTxn::kOpen) sendHeldBegin();
  }
  if (shard == current_shard_) return ShardChoice::kChosen;
  refuseInTransaction(type, {"0A000", "scalegate: this transaction runs on shard " +
                                          std::to_string(current_shard_) +
                                          "; the statement needs shard " + std::to_string(shard) +
                                          ": a transaction may touch one shard only (two-phase "
                                          "commit is not supported)"});
  return ShardChoice::kRefused;
}

// The attached server runs, in place of the refused statement, one that fails with the same
// error, so its reply (ErrorResponse, and for a simple Query ReadyForQuery 'E') is the
// statement's, in order. In an extended batch the error goes at once (a client that sent Flush
// waits for it): a Sync of the proxy's ends the batch so far, the failing statement follows,
// both their ReadyForQuery swallowed (kOwnSync); the client's messages up to its Sync are
// skipped and its Sync gets the server's ReadyForQuery ('E' in a transaction).
void ClientConn::refuseInTransaction(char type, const shard::KeyError& error) {
  scratch_.clear();
  if (type != 'Q' && transaction_status_ == 'I') {
    // An extended batch outside a transaction is one implicit transaction up to its Sync: the
    // failing statement joins it (unnamed Parse, Bind, Execute; Flush so the error goes out
    // at once), so the server rolls back what the batch ran before, as PostgreSQL would.
    std::string body = failingStatement(error);
    scratch_.push_back('P');
    appendInt32(&scratch_, static_cast<int32_t>(body.size() + 8));
    scratch_.push_back('\0');
    scratch_.append(body);
    scratch_.append("\0\0\0", 3);
    scratch_.append("B\0\0\0\x0c\0\0\0\0\0\0\0\0", 13);
    scratch_.append("E\0\0\0\x09\0\0\0\0\0H\0\0\0\4", 15);
    server_->send(scratch_);
    server_->expect(ServerConn::Pending::kOwnParse);
    server_->expect(ServerConn::Pending::kOwnBind);
    server_->markUnsynced();
    skip_until_sync_ = true;
    return;
  }
  if (type != 'Q') scratch_.append("S\0\0\0\4", 5);
  appendQuery(&scratch_, failingStatement(error));
  server_->send(scratch_);
  if (type == 'Q') {
    server_->expect(ServerConn::Pending::kSync);
    return;
  }
  server_->expect(ServerConn::Pending::kOwnSync);
  server_->expect(ServerConn::Pending::kOwnSync);
  server_->markSynced();
  skip_until_sync_ = true;
}

}  // namespace sg::pg
