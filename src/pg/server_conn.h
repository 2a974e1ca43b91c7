#pragma once
// A connection to a PostgreSQL server, owned by one worker at a time (see pool.h). Its one
// state enum changes in setState() only.
//
// While a client uses it, every message the proxy sends is recorded in `pending_` in order,
// so the replies can be matched: the proxy's own messages (a parameter replay, a statement
// prepared again on this server, a Close for an evicted statement) get replies the client
// never asked for, and those are swallowed. The server is free again only when nothing is
// pending and its last ReadyForQuery said 'I' (never on Flush, never mid-transaction).
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/address.h"
#include "net/event_loop.h"
#include "net/timer.h"
#include "pg/params.h"
#include "pg/server_peer.h"
#include "pg/stream.h"

namespace sg::pg {

class PgWorker;
class Pool;
class ScramClient;

class ServerConn final : public net::EventHandler,
                         public net::TimerHandler,
                         public net::Disposable {
 public:
  enum class State : uint8_t {
    kConnecting,    // TCP connect in progress
    kTlsRequest,    // SSLRequest sent (server_tls); waiting for 'S' or 'N'
    kTlsHandshake,  // the server said 'S'; the TLS handshake runs
    kLogin,         // startup sent; authenticating, then collecting parameters until ReadyForQuery
    kIdle,          // in its worker's idle list
    kChecking,      // taken for a client, running server_check_query first (idle too long)
    kActive,        // working for its peer (a client)
    kClosed,
  };
  // What a reply from the server answers, in the order the messages were sent.
  enum class Pending : uint8_t {
    kSync,        // the client's Sync or Query: ends with ReadyForQuery
    kParse,       // the client's Parse: ParseComplete
    kClose,       // the client's Close: CloseComplete
    kOwnParse,    // the proxy's Parse: its ParseComplete is swallowed
    kOwnClose,    // the proxy's Close: its CloseComplete is swallowed
    kOwnBind,     // the proxy's Bind: its BindComplete is swallowed
    kOwnQuery,    // the proxy's Query (parameter replay): everything through its ReadyForQuery
    kOwnSync,     // the proxy's Sync: replies before it pass, its ReadyForQuery is swallowed
    kOwnShow,     // the proxy's SHOW of a setting the client changed: its value is kept
    kLocalParse,  // a Parse of a statement this server has: answered by the proxy, in order
    kLocalClose,  // a Close the proxy answers itself, in order
    kLocalError,  // an error the proxy found itself (a statement name in use), in order
    kLookup,      // auth_query for a client logging in: its row or error goes to that client
    kOwnRow,      // the proxy's query whose row it keeps: a lag probe, a commit position
  };

  // `address`: where fd was connected (the pool's server then; RELOAD may change the pool's).
  ServerConn(PgWorker* worker, Pool* pool, const net::Address& address, int fd, uint64_t generation,
             int64_t now_ms);
  ~ServerConn() override;

  State state() const { return state_; }
  Pool* pool() const { return pool_; }
  const net::Address& address() const { return address_; }
  uint64_t id() const { return id_; }
  uint64_t generation() const { return generation_; }
  int32_t backendPid() const { return backend_pid_; }
  int32_t backendSecret() const { return backend_secret_; }
  int64_t connectedAtMs() const { return connected_at_ms_; }
  int64_t idleSinceMs() const { return idle_since_ms_; }
  // What it works for while active (a client), null otherwise.
  ServerPeer* peer() const { return peer_; }
  // What TLS negotiated with the server, empty for plain text.
  std::string tlsDescription() const;
  // Connecting or logging in: not yet given to any client.
  static bool loggingIn(State state) {
    return state == State::kConnecting || state == State::kTlsRequest ||
           state == State::kTlsHandshake || state == State::kLogin;
  }
  char transactionStatus() const { return transaction_status_; }
  const ParamMap& params() const { return params_; }
  void setParam(const std::string& name, const std::string& value) {
    pg::setParam(&params_, name, value);
    if (isSessionParam(name)) params_digest_ = sessionDigest(params_);
  }
  uint64_t paramsDigest() const { return params_digest_; }

  // The waiter it connects or is checked for (the first user of a new server), if any.
  uint64_t intendedWaiter() const { return intended_waiter_; }
  void setIntendedWaiter(uint64_t id) { intended_waiter_ = id; }

  // A connection of the lag monitor (lag_monitor.h): never in a pool's lists or counts.
  void markProbe() { probe_ = true; }
  bool isProbe() const { return probe_; }
  // The monitor's query; its row comes back through LagMonitor::probeAnswered.
  void startProbe(const char* query);
  // After a client's write transaction: the server's WAL insert position, for read-your-writes;
  // it reaches the client through onCommitLsn before the server is released.
  void askCommitLsn();

  void attach(ServerPeer* peer);
  // Runs server_check_query for the waiter `waiter_id` before it gets this server.
  void startCheck(uint64_t waiter_id, const std::string& query);
  // Idle again: in the worker's idle list (the caller holds the pool's lock).
  void becomeIdle(int64_t now_ms);
  // Taken off its worker's loop to be handed to another worker (moveTo on that one).
  void leaveLoop();
  void joinLoop(PgWorker* worker);
  // An in-process reload: the server of a session-pooled client moves with it to the next
  // generation's worker on this thread (the same loop) and into its `pool` there.
  void moveTo(PgWorker* worker, Pool* pool);
  PgWorker* worker() const { return worker_; }

  // Queues bytes for the server and records what they will be answered with.
  void send(std::string_view bytes) { stream_.append(bytes); }
  // The client began an extended-protocol sequence (Parse, Bind, Describe, Execute, Close,
  // Flush): the server is busy until the ReadyForQuery that answers its Sync, even when no
  // reply is pending yet.
  void markUnsynced() { unsynced_ = true; }
  void markSynced() { unsynced_ = false; }
  void expect(Pending what) { pending_.push_back(what); }
  // A SHOW of `name` sent after the client's SET: its DataRow is the client's new value.
  void expectShow(std::string name) {
    show_names_.push_back(std::move(name));
    pending_.push_back(Pending::kOwnShow);
  }
  // A reply the proxy gives itself (ParseComplete, CloseComplete) once every reply before it
  // has reached the client.
  void expectLocal(Pending what);
  size_t backlogBytes() const { return stream_.queued(); }
  void flush();
  // Nothing pending, transaction idle, nothing half-sent: the server may go back to the pool.
  bool reusable() const;
  size_t pendingCount() const { return pending_.size(); }
  // Drops the connection (and gives its place in the pool back). `reason` goes to the log.
  void close(const char* reason);

  // Prepared statements known on this server: the proxy's name for a statement's text.
  // Most recently used first; at most max_prepared_statements.
  bool hasStatement(uint64_t key);
  // Records `key` as prepared; returns the key evicted to make room (0 when none).
  uint64_t addStatement(uint64_t key, size_t capacity);
  void forgetStatements() {
    statements_.clear();
    statement_index_.clear();
  }

  void onEvents(uint32_t events) override;
  void onTimer(net::Timer* timer) override;

 private:
  void setState(State state);
  void onConnected();
  bool processTlsResponse();
  void continueTlsHandshake();
  void sendStartup();
  void readInput();
  bool processLogin();
  bool handleAuthRequest(std::string_view payload);
  void finishLogin();
  bool processReplies();
  bool handleReply(char type, std::string_view payload, bool* forward);
  void popThroughError();
  void deliverLocalReplies();
  void keepShownValue(std::string_view payload);
  void ownRowDone();
  void fail(const std::string& why);

  PgWorker* worker_;
  Pool* pool_;
  net::Address address_;
  Stream stream_;
  State state_ = State::kConnecting;
  uint64_t id_;
  uint64_t generation_;
  int64_t connected_at_ms_;
  int64_t idle_since_ms_ = 0;
  ServerPeer* peer_ = nullptr;
  uint64_t intended_waiter_ = 0;
  char transaction_status_ = 'I';
  int32_t backend_pid_ = 0;
  int32_t backend_secret_ = 0;
  ParamMap params_;
  uint64_t params_digest_ = 0;
  std::deque<Pending> pending_;
  bool unsynced_ = false;
  bool server_closing_ = false;  // the server shut down: read to the end, past short reads
  std::deque<std::string> show_names_;
  bool probe_ = false;
  std::string own_row_;          // the DataRow of a kOwnRow query
  std::string own_error_;        // its error message, if it failed
  size_t stream_remaining_ = 0;  // bytes of a large reply still to pass through
  bool stream_forward_ = true;
  std::unique_ptr<ScramClient> scram_;
  net::Timer connect_timer_{this};
  std::list<uint64_t> statements_;  // LRU, most recent first
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> statement_index_;
};

}  // namespace sg::pg
