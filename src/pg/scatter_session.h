#pragma once
// One cross-shard statement of a client (scatter-gather), while it runs: one leg per shard, each
// with a server of that shard's pool, running the planner's per-shard SQL in parallel; their
// answers go through one ResultMerger and the client gets one answer, then ReadyForQuery 'I'.
// Owned by the ClientConn from the statement to that ReadyForQuery (then disposed on the loop,
// since a leg's server may still be on the stack).
//
// A leg is a ServerWaiter (it waits in its shard's pool under an id of its own) and the peer
// of its server while attached. It frames the server's replies itself (a ServerConn delivers
// bytes, large messages in parts) and releases its server at its ReadyForQuery. The first error
// (a shard's ErrorResponse, a pool that gives no server, a server lost) is the client's answer:
// the other legs are cancelled and drained before their servers go back.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/event_loop.h"
#include "pg/scatter/result_merger.h"
#include "pg/scatter/scatter_plan.h"
#include "pg/server_waiter.h"

namespace sg::pg {

class ClientConn;
class PgWorker;
class Pool;
class ScatterSession;

// What a scatter runs: built by the ClientConn (client_scatter.cpp) from the client's statement.
struct ScatterRequest {
  scatter::ScatterPlan plan;
  scatter::ResolvedBounds bounds;
  std::vector<Pool*> pools;  // one per leg: the pool of each shard it runs on
  std::string leg_messages;  // what every leg sends: a Query, or Parse/Bind/Describe/Execute/Sync
  bool extended = false;     // leg_messages is an extended batch (its Parse is answered)
  bool client_described = true;  // the client asked for the row description
};

class ScatterLeg final : public ServerWaiter {
 public:
  enum class State : uint8_t {
    kWaiting,  // queued in its shard's pool
    kRunning,  // a server is attached and runs the shard SQL
    kDone,     // its server went back (or never came)
  };
  ScatterLeg(ScatterSession* session, size_t index, Pool* pool);

  State state() const { return state_; }
  ServerConn* server() const { return server_; }
  // Joins its shard pool's queue (attached now, or later, or refused).
  void request();
  // The session failed: stop a running query (a cancel request), or give up waiting.
  void cancel();
  // The client left: the server is closed (its query may still run), the wait given up.
  void abandon();
  // Reads its server again after a pause (the client's backlog or the merger's held rows).
  void resume();
  bool paused() const { return paused_; }

  // ServerWaiter
  uint64_t waiterId() const override { return id_; }
  Pool* waitPool() const override { return pool_; }
  bool waitsForServer() const override { return state_ == State::kWaiting && server_ == nullptr; }
  void onServerAttached(ServerConn* server) override;
  void onServerUnavailable(std::string_view sqlstate, const std::string& message) override;
  // ServerPeer
  void deliver(std::string_view bytes) override;
  void deliverLocalReply(char /*type*/) override {}
  void dropLocalError() override {}
  void onLookupReply(char /*type*/, std::string_view /*payload*/) override {}
  bool onServerReady() override;
  void flushToClient() override;
  void onServerWritable() override {}
  void rememberParam(const std::string& /*name*/, const std::string& /*value*/) override {}
  size_t backlog() const override;
  void waitForDrain() override { paused_ = true; }
  void closeWithError(std::string_view sqlstate, const std::string& message) override;
  void onCommitLsn(std::string_view /*text*/) override {}
  void onServerLost(const std::string& why) override;
  uint64_t clientId() const override;

 private:
  void setState(State state) { state_ = state; }
  void onMessage(char type, std::string_view payload);
  void finish();

  ScatterSession* session_;
  size_t index_;
  Pool* pool_;
  uint64_t id_;
  State state_ = State::kWaiting;
  ServerConn* server_ = nullptr;
  std::string buffer_;         // replies not yet whole
  size_t skip_remaining_ = 0;  // bytes of an oversized reply still to skip
  bool paused_ = false;        // its server stopped reading (waitForDrain)
  bool cancel_sent_ = false;
  bool requested_ = false;  // queued in its pool (else a cancel ends it at once)
  int64_t query_start_ms_ = 0;
};

class ScatterSession final : public net::Disposable, public net::BatchEndHandler {
 public:
  // The largest backend message a leg gathers whole (the merger needs whole rows).
  static constexpr size_t kMaxLegMessage = 1024 * 1024;
  // Rows the merger may hold from one shard before that shard's leg stops reading.
  static constexpr size_t kMaxHeldRows = 4096;
  // Client output queued past this: the legs stop reading until it drains.
  static constexpr size_t kClientBacklogLimit = 1024 * 1024;

  ScatterSession(ClientConn* client, ScatterRequest request);
  ~ScatterSession() override;
  ScatterSession(const ScatterSession&) = delete;
  ScatterSession& operator=(const ScatterSession&) = delete;

  // Asks every leg's pool for a server. The session may be over when it returns.
  void start();
  bool over() const { return over_; }
  // The client's output drained: paused legs read again.
  void onClientDrained();
  // query_wait_timeout: legs still waiting for a server fail the query.
  void onWaitTimeout();
  // The client left mid-scatter: every leg lets go of its server (closed, never reused dirty).
  void abandon();

  // From the legs.
  ClientConn& client() { return *client_; }
  PgWorker& worker() { return *worker_; }
  const std::string& legMessages() const { return request_.leg_messages; }
  bool extended() const { return request_.extended; }
  bool failed() const { return failed_; }
  void onLegMessage(size_t leg, char type, std::string_view payload);
  void onLegFailed(std::string_view sqlstate, const std::string& message);
  void onLegDone();
  // The leg's merger queue is long: it should stop reading (a sorted merge waits for others).
  bool holdsTooMany(size_t leg) const;
  size_t clientBacklog() const;

  void onBatchEnd() override;

 private:
  void pumpOutput();
  void cancelLegs();
  void finishIfDone();
  void scheduleResume();

  ClientConn* client_;
  PgWorker* worker_;
  ScatterRequest request_;
  scatter::ResultMerger merger_;
  std::vector<std::unique_ptr<ScatterLeg>> legs_;
  bool starting_ = false;
  bool failed_ = false;  // the client's answer is an error: the rest is drained
  bool no_data_sent_ = false;
  bool over_ = false;
  bool resume_scheduled_ = false;
};

}  // namespace sg::pg
