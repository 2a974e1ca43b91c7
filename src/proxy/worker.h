#pragma once
// A worker: one thread, one event loop, its own SO_REUSEPORT listening sockets, its own
// upstream keep-alive pools and balancer state (shared-nothing). Other threads talk to it
// only through drain()/stop(), which wake its loop.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/fill_locks.h"
#include "compress/compressor_pool.h"
#include "lb/balancer.h"
#include "net/event_loop.h"
#include "proxy/access_log.h"
#include "proxy/request_id.h"
#include "proxy/shared_state.h"
#include "proxy/split_mix.h"

namespace sg::proxy {

class Session;
class UpstreamConn;

class Worker : public net::TimerHandler, public cache::FillWaiter {
 public:
  Worker(SharedState* shared, uint32_t index, const AccessLog* access_log);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens this worker's listening sockets (called before threads start, so a bind error
  // stops start-up with a clear message).
  bool openListeners(std::string* error);
  void run();
  // Worker 0 ages outlier ejections (OutlierDetector::tick) once a second.
  void onTimer(net::Timer* timer) override;
  // Thread-safe. drain(): stop accepting, finish in-flight requests, then exit run().
  void drain();
  // Thread-safe. stop(): exit run() now (after the drain limit).
  void stop();

  net::EventLoop& loop() { return loop_; }
  SharedState& shared() { return *shared_; }
  uint32_t index() const { return index_; }
  bool draining() const { return draining_; }
  const AccessLog* accessLog() const { return access_log_; }
  RequestIdGenerator& requestIds() { return request_ids_; }
  std::string& scratch() { return scratch_; }
  compress::CompressorPool& compressors() { return compressors_; }

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

  void sessionOpened(Session* session);
  void sessionClosed(Session* session);

  // Request collapsing: a session that waits for another request's fetch (FillLocks) holds
  // a ticket; the fill's owner may be on any thread, so notify() queues the ticket and wakes
  // this loop, which resumes the session if it still waits (Session::onFillDone).
  uint64_t nextFillTicket() { return next_fill_ticket_++; }
  void awaitFill(uint64_t ticket, Session* session) { fill_waiters_[ticket] = session; }
  void forgetFill(uint64_t ticket) { fill_waiters_.erase(ticket); }
  void notify(uint64_t ticket, uint8_t outcome) override;  // thread-safe
  // stale-while-revalidate: runs `request_head` (a cacheable GET) on a session without a
  // client that refreshes the stored response of `key` and owns its fill lock.
  void startRefresh(SharedListener* listener, std::string request_head, std::string client_ip,
                    std::string key);

 private:
  class Acceptor;
  void onWake();
  void resumeFillWaiters();
  void beginDrain();
  void maybeFinishDrain();

  SharedState* shared_;
  uint32_t index_;
  const AccessLog* access_log_;
  net::EventLoop loop_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<std::unique_ptr<lb::Balancer>> balancers_;       // per upstream
  std::vector<std::vector<std::vector<UpstreamConn*>>> idle_;  // [upstream][server] LIFO
  bool takeConnectionSlot(SharedUpstream& upstream, bool* counted);
  std::vector<uint32_t> open_connections_;  // [upstream]: this worker's connections, any state
  std::vector<uint64_t> weights_seen_;      // per upstream: weights_version last applied
  std::vector<uint8_t> healthy_scratch_;
  std::vector<uint8_t> removed_scratch_;
  std::vector<uint32_t> in_flight_scratch_;
  SplitMix64 rng_;
  Session* sessions_ = nullptr;  // intrusive list of open sessions
  size_t session_count_ = 0;
  bool draining_ = false;
  std::atomic<bool> drain_requested_{false};
  std::atomic<bool> stop_requested_{false};
  RequestIdGenerator request_ids_;
  net::Timer maintenance_{this};
  std::vector<int64_t> last_outlier_tick_;
  std::string scratch_;
  compress::CompressorPool
      compressors_;  // reused across responses: brotli state is costly to build
  std::unordered_map<uint64_t, Session*> fill_waiters_;  // this thread only
  uint64_t next_fill_ticket_ = 1;
  std::mutex fill_done_mutex_;
  std::vector<std::pair<uint64_t, uint8_t>> fill_done_;  // guarded by fill_done_mutex_
  std::vector<std::pair<uint64_t, uint8_t>> fill_done_scratch_;
};

}  // namespace sg::proxy
