#pragma once
// A client of the PostgreSQL listener, on the worker that accepted it for its whole life.
// Its one state enum changes in setState() only.
//
// Life: startup packet (an SSLRequest is answered 'S' and a TLS handshake follows when client_tls
// allows it, 'N' otherwise; GSSENC is refused with 'N'; a cancel request is passed on),
// authentication, then the welcome (the pool's server parameters, a cancel key of
// the proxy's own, ReadyForQuery). After that every message needs a server: the client takes
// one from its pool (waiting in FIFO order when none is free), its messages and the replies
// pass through, and in transaction mode the server goes back to the pool at the first
// ReadyForQuery 'I' with nothing pending.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "config/postgres_config.h"
#include "net/event_loop.h"
#include "net/timer.h"
#include "pg/auth/scram.h"
#include "pg/params.h"
#include "pg/route/shard_key.h"
#include "pg/route/statement_class.h"
#include "pg/scatter/scatter_plan.h"
#include "pg/server_conn.h"
#include "pg/server_waiter.h"
#include "pg/shard/key_value.h"
#include "pg/stream.h"

namespace sg::pg {

class AdminSession;
class PgWorker;
class Pool;
class ScatterSession;
struct ScatterRequest;
struct Statement;

class ClientConn final : public net::EventHandler,
                         public net::TimerHandler,
                         public net::Disposable,
                         public ServerWaiter {
 public:
  enum class State : uint8_t {
    kStartup,        // waiting for the startup packet
    kTlsHandshake,   // answered an SSLRequest with 'S'; the TLS handshake runs
    kLookupWaiting,  // not in users_file: queued for a server of the auth pool (auth_query)
    kLookup,         // auth_query runs on an auth pool server; its row will be the secret
    kAuth,           // waiting for the password or the SASL messages
    kWelcome,        // authenticated; waiting for the pool's first server to learn its parameters
    kIdle,           // logged in, no server
    kWaiting,        // queued for a server
    kActive,         // a server is attached
    kScatter,        // a cross-shard statement runs on several shards (scatter_ holds it)
    kAdmin,          // logged in to the admin console
    kClosed,
  };

  ClientConn(PgWorker* worker, int fd, uint32_t listener, int64_t now_ms);
  ~ClientConn() override;
  void start();

  State state() const { return state_; }
  uint64_t id() const { return id_; }
  Pool* pool() const { return pool_; }
  // ServerWaiter (server_waiter.h). It waits in the auth pool while it looks up its secret,
  // else in the one its transaction was routed to (read/write splitting), else in its own
  // (the primary's).
  uint64_t waiterId() const override { return id_; }
  Pool* waitPool() const override {
    if (lookup_pool_ != nullptr) return lookup_pool_;
    return route_pool_ != nullptr ? route_pool_ : pool_;
  }
  bool waitsForServer() const override {
    return (state_ == State::kWaiting || state_ == State::kLookupWaiting) && server_ == nullptr;
  }
  void onServerAttached(ServerConn* server) override;
  void onServerUnavailable(std::string_view sqlstate, const std::string& message) override;
  bool loggingIn() const {
    return state_ == State::kStartup || state_ == State::kTlsHandshake ||
           state_ == State::kLookupWaiting || state_ == State::kLookup || state_ == State::kAuth;
  }
  ServerConn* server() const { return server_; }
  const std::string& user() const { return user_; }
  const std::string& database() const { return database_; }
  const std::string& applicationName() const;
  int64_t connectedAtMs() const { return connected_at_ms_; }
  int64_t requestStartMs() const { return request_start_ms_; }
  int32_t cancelPid() const { return cancel_pid_; }
  std::string peer() const;
  // What TLS negotiated ("TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519"), empty for plain text.
  std::string tlsDescription() const;
  PgWorker* worker() const { return worker_; }
  AdminSession* adminSession() { return admin_.get(); }

  // ServerPeer: what the attached server calls (server_peer.h).
  void deliver(std::string_view bytes) override;
  void deliverLocalReply(char type) override;
  // auth_lookup.cpp: read here, never forwarded.
  void onLookupReply(char type, std::string_view payload) override;
  void dropLocalError() override {
    if (!local_errors_.empty()) local_errors_.erase(local_errors_.begin());
  }
  void flushToClient() override;
  bool onServerReady() override;
  void rememberParam(const std::string& name, const std::string& value) override;
  size_t backlog() const override { return stream_.queued(); }
  void waitForDrain() override { server_read_paused_ = true; }
  void onServerLost(const std::string& why) override;
  void onCommitLsn(std::string_view text) override;
  // Reads the client again.
  void onServerWritable() override;
  uint64_t clientId() const override { return id_; }
  // Cancels what the attached server runs (a cancel request for this client's key).
  void cancelQuery();
  // Closes with a FATAL error (SQLSTATE, message) when not empty.
  void closeWithError(std::string_view sqlstate, const std::string& message) override;
  void close();
  // client_move.cpp. Its worker drains: the client moves to the newest configuration
  // generation once it is between transactions (now, or when its transaction or login ends),
  // keeping its socket, TLS session, cancel key, session parameters and prepared statements.
  // Without a generation to move to, or when the new one has no place for it (its database
  // or listener gone, its database's shards changed, TLS now required), it is closed (57P01).
  void retire();

  void onEvents(uint32_t events) override;
  void onTimer(net::Timer* timer) override;

  // client_scatter.cpp: what a running scatter-gather statement (scatter_session.h) calls.
  void scatterOutput(std::string_view bytes);
  void onScatterOver();
  // Makes `server`'s session parameters the client's (a queued set_config query).
  void replayParamsOn(ServerConn* server);
  // The shards a statement runs on when it names several, or none (keyless).
  struct ShardSpread {
    std::vector<uint32_t> shards;
    bool keyless = false;
  };

  // The worker's intrusive list of clients.
  ClientConn* prev = nullptr;
  ClientConn* next = nullptr;

 private:
  friend class AdminSession;
  void setState(State state);
  // client_move.cpp
  bool betweenTransactions() const;
  // False with *why when the successor has no place for it (nothing changed then).
  bool moveTo(PgWorker* successor, std::string* why);
  bool sameServer(const Pool& pool) const;
  void changeWorker(PgWorker* successor, uint32_t listener,
                    const config::PostgresDatabaseConfig* database, Pool* pool);
  void readInput();
  void processInput();
  bool processStartup();
  bool handleStartupPacket(struct StartupPacket& packet);
  bool answerSslRequest();
  void continueTlsHandshake();
  bool beginAuth();
  void askForPassword();
  // auth_lookup.cpp: the secret of a user not in users_file, from auth_query.
  bool lookupUser(const std::string& auth_user);
  void sendLookup(ServerConn* server);
  bool finishLookup();
  void failLookup(std::string_view sqlstate, const std::string& for_client,
                  const std::string& for_log);
  void armLookupTimer();
  bool processAuth();
  bool handleScram(std::string_view payload);
  void bindPool();
  void authenticated();
  void sendWelcome();
  bool forwardMessages();
  bool needServer(char type, std::string_view payload, bool whole);
  // client_route.cpp
  Pool* routeTransaction(char type, std::string_view payload);
  Pool* pickReplica(Pool& primary, uint64_t needed_lsn = 0);
  Pool* shardPrimary();
  Pool* shardPool(uint32_t shard);
  // client_shard.cpp
  enum class ShardChoice : uint8_t { kChosen, kRefused, kNeedMore, kScatter };
  // in_transaction: a server is attached inside a transaction on current_shard_; the statement
  // must be for that shard (current_shard_ does not change).
  ShardChoice chooseShard(char type, std::string_view payload, bool in_transaction = false);
  std::string_view bindAfterParse(bool* complete);
  std::variant<uint32_t, shard::KeyError> shardOfKey(const route::KeyValue& key,
                                                     std::string_view bind) const;
  std::variant<uint32_t, ShardSpread, shard::KeyError> shardOfKeys(const route::ShardKeys& keys,
                                                                   std::string_view bind) const;
  std::variant<std::vector<uint32_t>, shard::KeyError> shardsOfKeys(const route::ShardKeys& keys,
                                                                    std::string_view bind) const;
  std::optional<shard::KeyError> addShardsOfArray(const route::KeyValue& key, std::string_view bind,
                                                  std::vector<uint32_t>* shards) const;
  void refuseStatement(char type, const shard::KeyError& error);
  // client_transaction.cpp: a sharded database's transactions (deferred BEGIN, one shard).
  struct LocalStatement {
    route::TxnControlKind kind;
    bool chain;
    std::string begin_text;
  };
  std::optional<LocalStatement> localStatement(std::string_view text);
  void runLocalStatement(const LocalStatement& statement);
  bool answerLocalTransaction(char type, std::string_view payload);
  void sendDeferredBegin();
  ShardChoice checkShardOnServer(char type, std::string_view payload, bool shard_chosen);
  void sendHeldBegin();
  ShardChoice leaveHeldServer();
  void resumeAfterHeldServer();
  std::string_view undecidedParseText(std::string_view bind) const;
  void bindUndecidedParse();
  ShardChoice refuseShard(char type, const shard::KeyError& error, bool in_transaction);
  ShardChoice keepTransactionShard(char type, uint32_t shard);
  void refuseInTransaction(char type, const shard::KeyError& error);
  bool rerouteRead();
  // client_scatter.cpp
  ShardChoice scatterStatement(char type, std::string_view payload, std::string_view text,
                               const ShardSpread& spread);
  bool scatterPools(char type, std::string_view payload, const ShardSpread& spread,
                    ScatterRequest* request);
  ShardChoice scatterExtended(ScatterRequest* request);
  bool scatterParameterTypes(std::string_view parse, std::string_view statement,
                             std::string_view* types);
  ShardChoice startScatter(ScatterRequest request, size_t consumed);
  // client_proxy_settings.cpp
  bool answerProxySetting(std::string_view query_payload);
  bool answerProxyMessage(char type, std::string_view payload);
  std::shared_ptr<const route::StatementClass> proxyVerdict(std::string_view text);
  void applyProxySettings(const route::StatementClass& verdict);
  std::string proxyShowValue(const std::string& name) const;
  bool proxyParse(const std::string& name, std::string_view text);
  bool proxyBind(const std::string& portal, const std::string& statement);
  bool proxyDescribeOrClose(char type, char kind, const std::string& name);
  bool proxyExecute(const std::string& portal);
  bool readsOwnWritesOnPrimary(const config::PostgresRoutingConfig& routing) const;
  uint64_t neededLsn() const { return std::max(last_write_lsn_, carried_lsn_); }
  bool askCommitLsn();
  bool primaryDown(const Pool& primary, std::string* why) const;
  std::string_view boundStatementText(std::string_view payload) const;
  bool forwardMessage(char type, std::string_view whole, std::string_view payload);
  bool forwardParse(std::string_view whole, std::string_view payload);
  bool forwardBind(std::string_view whole, std::string_view payload);
  bool forwardDescribeOrClose(char type, std::string_view whole, std::string_view payload);
  bool prepareOnServer(const std::shared_ptr<const Statement>& statement, bool for_client);
  // The client's statement `name`, prepared on the attached server; null when unknown.
  const Statement* ensurePrepared(std::string_view name);
  std::string noteQuery(std::string_view payload);
  void forgetParam(const char* name);
  void replayParams();
  void releaseServer();
  void detachOnClose();
  void onClientGone();
  void armIdleTimers();
  void armWaitTimer();
  bool failProtocol(const std::string& why);
  void sendError(std::string_view severity, std::string_view sqlstate, const std::string& message);

  PgWorker* worker_;
  Stream stream_;
  // The certificates its TLS session was made with (it may outlive their configuration).
  std::shared_ptr<const net::TlsContext> tls_context_;
  uint32_t listener_;
  State state_ = State::kStartup;
  bool counted_ = false;          // holds a place in max_client_conn
  bool md5_ = false;              // authenticating with md5 (else SCRAM)
  bool welcome_pending_ = false;  // logged in; the welcome waits for the first server
  uint64_t id_;
  int64_t connected_at_ms_;
  int64_t request_start_ms_ = 0;
  int64_t transaction_start_ms_ = 0;
  int64_t query_start_ms_ = -1;  // the first message after the last ReadyForQuery, or -1
  std::string user_;
  std::string database_;
  Pool* pool_ = nullptr;  // made at authentication (bindPool)
  const config::PostgresDatabaseConfig* database_config_ = nullptr;  // null: admin console
  ServerConn* server_ = nullptr;
  Pool* route_pool_ = nullptr;   // where the current transaction runs (null: pool_)
  bool sticky_primary_ = false;  // session state set: every transaction on the primary
  // SET scalegate.route: primary or replica forces where transactions go; auto (default)
  // follows each transaction's verdict.
  route::RouteSetting route_setting_ = route::RouteSetting::kAuto;
  bool transaction_writes_ = false;  // the current transaction may write (its verdict)
  bool lsn_asked_ = false;      // the next ReadyForQuery answers the position query (lsn, below)
  uint64_t next_replica_ = 0;   // replica_balance: round_robin
  int64_t last_write_ms_ = -1;  // when its last transaction that may have written ended
  // read_your_writes lsn: the primary's position after the client's last write transaction,
  // and one it was given (SET scalegate.lsn). kLsnUnknown: the position could not be read.
  static constexpr uint64_t kLsnUnknown = UINT64_MAX;
  uint64_t last_write_lsn_ = 0;
  uint64_t carried_lsn_ = 0;
  // Extended-protocol statements and portals of scalegate.* settings, answered by the proxy;
  // proxy_batch_: something was answered since the last Sync; proxy_failed_: an error was,
  // so the rest up to Sync is skipped.
  // Allocated with the first such statement: most clients never prepare one, and an idle
  // client should not carry two empty tables.
  using ProxyTable = std::unordered_map<std::string, std::shared_ptr<const route::StatementClass>>;
  struct ProxyTables {
    ProxyTable statements;
    ProxyTable portals;
  };
  std::unique_ptr<ProxyTables> proxy_tables_;
  ProxyTables& proxyTables();
  bool proxy_batch_ = false;
  bool proxy_failed_ = false;
  // Sharded databases: the shard the client's transactions go to (chooseShard), and its
  // SET scalegate.shard / scalegate.sharding_key.
  uint32_t current_shard_ = 0;
  std::optional<uint32_t> shard_setting_;
  std::unique_ptr<const std::string> sharding_key_setting_;  // (null: not set)
  // A transaction whose BEGIN the proxy answered (kOpen: no server yet; begin_text_ goes to
  // the server its first statement attaches), the unnamed statement / portal of such a
  // BEGIN, COMMIT or ROLLBACK answered here (client_transaction.cpp).
  enum class LocalTxn : uint8_t { kNone, kOpen };
  LocalTxn local_txn_ = LocalTxn::kNone;
  bool hold_begin_ = false;  // the message that attached the server does not choose the shard
  // The attached server was taken for a message that does not choose the shard (a prepare:
  // Parse, Describe, then Flush or Sync): a statement for another shard sends it back.
  bool shard_undecided_ = false;
  bool reroute_after_release_ = false;   // the server goes back; then the input is read on
  bool resend_undecided_parse_ = false;  // undecided_parse_ goes to the next server first
  std::string begin_text_;
  // An unnamed Parse that ran there (its payload): its Bind's key chooses the shard, and when
  // that is another server the Parse is sent there again first.
  std::string undecided_parse_;
  std::unique_ptr<LocalStatement> local_parsed_;  // (pointers: most clients never have one)
  std::unique_ptr<LocalStatement> local_portal_;
  bool local_batch_ = false;
  bool requesting_ = false;    // inside needServer: an attach now must not forward by itself
  bool read_pending_ = false;  // the socket may hold bytes not read yet
  bool server_read_paused_ = false;
  bool peer_closing_ = false;  // the peer shut down: read to the end, past short reads
  char transaction_status_ = 'I';
  size_t stream_remaining_ = 0;  // bytes of a large message still to pass through
  int32_t cancel_pid_ = 0;
  int32_t cancel_secret_ = 0;
  // Authentication: kept only until the client is logged in (an idle client should not hold
  // its secret, nor the room for it).
  struct Login {
    std::string secret;
    unsigned char md5_salt[4] = {};
    bool lookup_row = false;  // auth_query returned a row (its password is in secret)
    std::unique_ptr<ScramServer> scram;
    std::string lookup_error;  // auth_query's error, from the server
  };
  std::unique_ptr<Login> login_;
  Login& login();
  Pool* lookup_pool_ = nullptr;  // the auth pool, while the secret is looked up
  // Session parameters the client asked for (startup packet, SET reported by ParameterStatus).
  ClientParams params_;
  // Protocol-level prepared statements by the client's name.
  // Allocated with the first named statement (an idle client should not carry an empty table).
  using StatementTable = std::unordered_map<std::string, std::shared_ptr<const Statement>>;
  std::unique_ptr<StatementTable> statements_;
  const std::shared_ptr<const Statement>* findStatement(std::string_view name) const;
  StatementTable& statementTable();
  std::unique_ptr<AdminSession> admin_;
  net::Timer timer_{this};
  std::string scratch_;
  // Errors the proxy answers itself, in order (ErrorResponse messages), and after one of them
  // the client's messages are skipped until its Sync, as PostgreSQL does after an error.
  std::vector<std::string> local_errors_;  // a vector: an empty deque allocates
  bool skip_until_sync_ = false;
  // A cross-shard statement running (kScatter); scatter_starting_: inside its start().
  std::unique_ptr<ScatterSession> scatter_;
  bool scatter_starting_ = false;
  // The batch of a Parse without a Bind ends with Flush: a Sync of the proxy's follows it.
  bool prepare_flush_ = false;
  // Sharded: the attached server only finishes the proxy's own work (the welcome's parameter
  // replay, the Sync after a prepare); the client's next message waits for its release.
  bool proxy_tail_ = false;

 public:
  // Whole frontend messages up to this size are gathered before they are forwarded; larger
  // ones (a COPY chunk, a Bind with large values) pass through as they arrive.
  static constexpr size_t kMaxWholeMessage = 1024 * 1024;
};

}  // namespace sg::pg
