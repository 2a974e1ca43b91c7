#pragma once
// A worker: one configuration generation's part of one worker thread (worker_thread.h): its
// own SO_REUSEPORT listening sockets, upstream keep-alive pools and balancer state
// (shared-nothing). Other threads talk to it only through drain()/post(), which wake its loop.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/fill_locks.h"
#include "compress/compressor_pool.h"
#include "lb/balancer.h"
#include "net/acceptor.h"
#include "net/buffer_pool.h"
#include "net/event_loop.h"
#include "net/inherited_listeners.h"
#include "net/tls.h"
#include "proxy/access_log.h"
#include "proxy/completions.h"
#include "proxy/request_id.h"
#include "proxy/shared_state.h"
#include "proxy/split_mix.h"
#include "proxy/worker_thread.h"
#include "store/client.h"

namespace sg::pg {
class PgService;
class PgWorker;
}  // namespace sg::pg

namespace sg::proxy {

class ClientConnection;
class Exchange;
class Http2Session;
struct DeliveryReport;
class UpstreamConn;

class Worker final : public net::TimerHandler, public cache::FillWaiter {
 public:
  Worker(SharedState* shared, WorkerThread& thread, const AccessLog* access_log);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Gives this worker its part of the PostgreSQL listener (before openListeners).
  void attachPostgres(pg::PgService* service);
  pg::PgWorker* postgres() { return pg_.get(); }
  // Opens this worker's listening sockets (called before threads start, so a bind error
  // stops start-up with a clear message).
  // `inherited`: listening sockets handed over by the process this one replaces (may be null).
  bool openListeners(net::InheritedListeners* inherited, std::string* error);
  // On the loop thread: attaches to the thread and starts accepting (and the PostgreSQL
  // listener, the store client, the maintenance timer).
  void begin();
  // The loop's wake (WorkerThread::onWake): completions, posted tasks, a requested drain.
  void onWake();
  // Once a second: worker 0 ages outlier ejections (OutlierDetector::tick), and every worker
  // trims its pool of spare exchanges.
  void onTimer(net::Timer* timer) override;
  // Thread-safe. drain(): stop accepting, finish in-flight requests, then call `on_drained`.
  // With `handover_link` (a successor process's link, see app/upgrade.h), idle keep-alive
  // connections are passed to the successor instead of being closed. With `successor` (the
  // next generation's Worker on the same thread: an in-process reload), every client
  // connection moves to it once idle, TLS and HTTP/2 ones included.
  void drain(int handover_link = -1, Worker* successor = nullptr);
  // Called once, on the loop thread, when a drain has finished.
  void setOnDrained(std::function<void()> on_drained) { on_drained_ = std::move(on_drained); }
  // This worker's listening sockets, HTTP and PostgreSQL (call before run()).
  void listeningSockets(std::vector<net::ListeningSocket>* out) const;
  // Thread-safe: serves `fd`, an idle client connection a predecessor process passed on, as a
  // connection of the listener named `listener` (closed when there is none).
  void adopt(int fd, std::string listener);
  // On the loop thread: closes every connection now (after the drain limit) and detaches
  // from the thread; the worker may then be destroyed on the loop thread.
  void closeAll();

  net::EventLoop& loop() { return loop_; }
  WorkerThread& thread() { return thread_; }
  SharedState& shared() { return *shared_; }
  uint32_t index() const { return index_; }
  bool draining() const { return draining_; }
  // Connections close after their response: draining without a successor to pass them to.
  bool closesConnections() const {
    if (!draining_ || handover_link_ >= 0) return false;
    const Worker* newest = successor();
    return newest == nullptr || newest->closesConnections();
  }
  // Where a draining worker's connections go: the newest generation's Worker on this thread
  // (the successor's successor when that one drains too), or null without a successor.
  Worker* successor() const {
    Worker* newest = successor_;
    while (newest != nullptr && newest->successor_ != nullptr) newest = newest->successor_;
    return newest;
  }
  // Client connections and HTTP/2 sessions, HTTP and PostgreSQL (event coalescing).
  size_t clientConnections() const;
  // The successor's link while handing over (else -1).
  int handoverLink() const { return handover_link_; }
  // Passes an idle client connection (`fd`, of listener `listener`) to the successor; the
  // caller still closes its copy. When the link fails (the successor died), warns once and
  // stops handing over: the connections left close after their response instead.
  bool passToSuccessor(int fd, std::string_view listener);
  const AccessLog* accessLog() const { return access_log_; }
  RequestIdGenerator& requestIds() { return request_ids_; }
  std::string& scratch() { return scratch_; }
  compress::CompressorPool& compressors() { return compressors_; }
  net::BufferPool& buffers() { return buffers_; }
  // Completions posted from any thread to this worker's loop (a paused phase's wake-up).
  Completions& completions() { return completions_; }
  // This worker's client of the shared store; null without a top-level `store`.
  store::Client* store() { return store_.get(); }

  // Picks a server of `upstream` not yet `tried` in this exchange; -1 when none is usable.
  // `hash` (lb::hashKey of the request key) is used by the hash algorithms when has_hash.
  int pickServer(SharedUpstream& upstream, const std::vector<uint8_t>& tried, bool has_hash = false,
                 uint64_t hash = 0);
  // Per-worker random numbers (retry jitter).
  uint64_t random();
  // A pooled idle connection to `server`, or a new one (connecting). Null when the socket
  // could not even be created; *error_code tells why (kConnectionLimitReached: the
  // upstream's circuit_breaker.max_connections are all open).
  static constexpr int kConnectionLimitReached = -1;
  // An upstream connection of this worker was closed (UpstreamConn::close).
  void connectionClosed(const SharedUpstream& upstream);
  UpstreamConn* acquire(SharedUpstream& upstream, SharedServer& server, bool fresh,
                        int* error_code);
  // Returns a connection to the pool, or closes it when the pool is full.
  void release(UpstreamConn* connection);
  void forgetIdle(UpstreamConn* connection);
  // The TLS session this worker saved for a server (upstream `tls`), for resumption.
  net::TlsSessionCache& tlsSessions(const SharedUpstream& upstream, const SharedServer& server) {
    return tls_sessions_[upstream.index][server.index];
  }

  void connectionOpened(ClientConnection* connection);
  void connectionClosed(ClientConnection* connection);
  // A connection or session moving to the successor generation leaves this worker's count.
  void connectionMoved(ClientConnection* connection);
  void sessionMoved(Http2Session* session);
  // HTTP/2 connections: counted like client connections (a drain waits for them), and told
  // to go (GOAWAY) when the worker drains.
  void sessionOpened(Http2Session* session);
  void sessionClosed(Http2Session* session);
  // Exchanges are pooled: one is taken when a request head begins and given back (after
  // Exchange::end) when its response has been sent. Spare ones are freed by onTimer, never
  // during an event batch, so a pointer to a released exchange stays valid until then.
  Exchange* acquireExchange();
  void releaseExchange(Exchange* exchange);

  // Request collapsing: a request that waits for another's fetch (FillLocks) holds a
  // completion ticket; the fill's owner may be on any thread, so notify() posts it.
  void notify(uint64_t ticket, uint8_t outcome) override;  // thread-safe
  // stale-while-revalidate: runs `request_head` (a cacheable GET) on a connection without a
  // client that refreshes the stored response of `key` and owns its fill lock.
  void startRefresh(SharedListener* listener, std::string request_head, std::string client_ip,
                    std::string key);
  // Thread-safe: runs `task` on this worker's loop thread soon (cache warming, started on
  // the admin thread, runs its requests on the workers).
  void post(std::function<void()> task);
  // Cache warming: runs `request_head` (a GET) on a connection without a client, as an
  // ordinary request; `done` gets the response status (0: none) when it has ended.
  void startWarm(SharedListener* listener, std::string request_head,
                 std::function<void(int status)> done);
  // Async routes: runs a stored request (head and body) on a connection without a client
  // (ClientConnection::startDelivery); `done` gets what was answered.
  void startDelivery(SharedListener* listener, std::string request, std::string client_ip,
                     std::string upstream, uint64_t max_result,
                     std::function<void(DeliveryReport)> done);

 private:
  void trimSpareExchanges();
  void beginDrain();
  void maybeFinishDrain();
  void updateCoalescing();
  // Run-time server slots: applies a new ServerSlots version (see server_slots.h).
  void syncSlots(SharedUpstream& upstream);
  static bool leavingSlot(UpstreamConn& connection);
  // The balancer's view of the servers now (health, operator removals, load).
  lb::PickContext pickContext(SharedUpstream& upstream, const std::vector<uint8_t>& tried);

  SharedState* shared_;
  WorkerThread& thread_;
  uint32_t index_;
  const AccessLog* access_log_;
  net::EventLoop& loop_;
  std::vector<std::unique_ptr<net::Acceptor>> acceptors_;
  std::vector<std::unique_ptr<lb::Balancer>> balancers_;         // per upstream
  std::vector<std::vector<std::vector<UpstreamConn*>>> idle_;    // [upstream][server] LIFO
  std::vector<std::vector<net::TlsSessionCache>> tls_sessions_;  // [upstream][server]
  bool takeConnectionSlot(SharedUpstream& upstream, bool* counted);
  std::vector<uint32_t> open_connections_;  // [upstream]: this worker's connections, any state
  std::vector<uint64_t> weights_seen_;      // per upstream: weights_version last applied
  std::vector<uint64_t> slots_seen_;        // per upstream: ServerSlots::version last applied
  std::vector<uint8_t> healthy_scratch_;
  std::vector<uint8_t> removed_scratch_;
  std::vector<uint32_t> in_flight_scratch_;
  SplitMix64 rng_;
  ClientConnection* connections_ = nullptr;  // intrusive list of open client connections
  Http2Session* sessions_ = nullptr;         // intrusive list of open HTTP/2 sessions
  size_t connection_count_ = 0;              // client connections and HTTP/2 sessions
  // Exchanges not in use (LIFO: the warmest first). One in use belongs to its connection.
  std::vector<std::unique_ptr<Exchange>> spare_exchanges_;
  bool draining_ = false;
  bool drained_ = false;
  bool attached_ = false;        // begin() ran: the thread wakes this worker
  int handover_link_ = -1;       // set when the drain begins
  Worker* successor_ = nullptr;  // likewise
  std::atomic<int> requested_handover_link_{-1};
  std::atomic<Worker*> requested_successor_{nullptr};
  std::atomic<bool> drain_requested_{false};
  std::function<void()> on_drained_;
  RequestIdGenerator request_ids_;
  net::Timer maintenance_{this};
  std::vector<int64_t> last_outlier_tick_;
  std::string scratch_;
  compress::CompressorPool
      compressors_;  // reused across responses: brotli state is costly to build
  // Client read buffers: 16 KiB holds most request heads in one read; 64 spare blocks cover
  // the requests in flight of a busy worker.
  static constexpr size_t kClientBufferSize = 16 * 1024;
  static constexpr size_t kPooledClientBuffers = 64;
  net::BufferPool buffers_;
  Completions completions_{loop_};
  // Tasks from other threads (post), guarded by posted_mutex_.
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::unique_ptr<store::Client> store_;
  std::unique_ptr<pg::PgWorker> pg_;  // after buffers_, which it uses
};

}  // namespace sg::proxy
