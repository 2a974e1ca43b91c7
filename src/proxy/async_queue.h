#pragma once
// One queue of async routes at run time (top-level `queues`): its durable job store, the
// dispatcher that delivers its jobs, and its metrics (docs/async-routes.md).
//
// The store's calls other than enqueue may wait for a commit (an fsync), so they never run
// on a worker's event loop: the dispatcher is a thread of its own. It claims ready jobs
// within `concurrency` (jobs in flight from this gateway) and `rate`, hands each to a worker
// round-robin as a request on a connection without a client (Worker::startDelivery), which
// runs the route's phases after the enqueue (breaker, balancing, health, timeouts), and
// settles the job from the response the worker reports back. Job API lookups (/jobs/{id})
// run on the same thread (post()).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "metrics/metrics.h"
#include "queue/callback.h"
#include "queue/job_store.h"
#include "queue/retry_policy.h"
#include "queue/sqlite_job_store.h"

namespace sg::proxy {

class Worker;
struct SharedListener;

// The stored request's header line that carries the client's address to the delivery (the
// enqueue phase drops any the client sent; the dispatcher removes it before delivering).
inline constexpr std::string_view kClientIpField = "X-Scalegate-Client-Ip";

// The stored request's header line naming the callback route that accepted its X-Callback-Url
// (the route's name): its secret signs the callback. Set by the enqueue phase (any the
// client sent is dropped), removed by the dispatcher before delivering. A job without it
// (its route has no `callback`) gets no callback, whatever X-Callback-Url it carries.
inline constexpr std::string_view kCallbackRouteField = "X-Scalegate-Callback-Route";

// What a delivery's connection saw when it closed.
struct DeliveryReport {
  int status = 0;      // the response's status; 0 when none was written
  bool local = false;  // the gateway answered itself (no upstream response: 502, 503, 504)
  std::optional<queue::JobResult> result;  // the response as the upstream gave it
};

class AsyncQueue {
 public:
  // Opens (or creates) the queue's store: its SQLite file, or `shared_store`'s Redis for
  // `store: redis`. nullptr with *error set when it cannot.
  // `kept`: the SQLite store of the same file, open in the configuration this one replaces
  // (an in-process reload shares it: a second open of the file is refused while it is held).
  // `handed_locks`: the SQLite file locks the process this one replaces passed (a binary
  // upgrade, queue/file_lock.h); not owned.
  static std::unique_ptr<AsyncQueue> open(const config::QueueConfig& config,
                                          const config::StoreConfig& shared_store,
                                          config::Duration visibility_timeout,
                                          metrics::Registry& registry, std::string* error,
                                          std::shared_ptr<queue::SqliteJobStore> kept = nullptr,
                                          std::span<const int> handed_locks = {});
  ~AsyncQueue();
  AsyncQueue(const AsyncQueue&) = delete;
  AsyncQueue& operator=(const AsyncQueue&) = delete;

  // The SQLite file of a queue (path, or "<name>.queue.db" in the working directory).
  static std::string path(const config::QueueConfig& config);
  const config::QueueConfig& config() const { return config_; }
  queue::JobStore& store() { return *store_; }
  // Its SQLite store (null with store: redis), for the configuration that replaces this one.
  std::shared_ptr<queue::SqliteJobStore> sqliteStore() const { return sqlite_; }

  // Before start(): the listener whose router finds the async route for a stored request
  // (its target and Host are routed again at delivery), and the workers that run deliveries.
  void setListener(SharedListener* listener) { listener_ = listener; }
  SharedListener* listener() const { return listener_; }
  void attach(std::vector<Worker*> workers);
  // Before start(): a route of this queue with `callback`, and its secret (secret_file's
  // contents). False with *error when another callback route of the queue has the same name
  // and a different secret (the stored job names its route by name).
  bool addCallbackRoute(const std::string& route_name, std::string secret, std::string* error);
  void start();
  // No new deliveries (the gateway drains); those in flight finish.
  void drain();
  // After drain(): until no delivery is in flight (their outcomes settled), or `deadline`.
  bool waitForDeliveries(std::chrono::steady_clock::time_point deadline) const;
  // Joins the dispatcher, then the callback sender (callbacks not sent yet are dropped).
  // Jobs still running stay `running` in the store: the next open queues them again (at
  // least once).
  void stop();

  // Any thread: stores `job` (request and idempotency key); `done` runs on the store's
  // writer thread once the job is on disk (or refused).
  void enqueue(queue::Job job, queue::EnqueueCallback done);
  // Any thread: runs `task` on the dispatcher's thread, where store calls may block.
  void post(std::function<void()> task);
  // Deliveries that succeeded since start (scalegate_queue_delivered_total).
  uint64_t deliveredTotal() const { return delivered_->value(); }

 private:
  struct DeliveredJob {
    std::string id;
    uint32_t attempt = 0;
    int64_t created_ms = 0;
    // Where the job's end is reported (X-Callback-Url accepted by a callback route).
    std::optional<queue::CallbackUrl> callback_url;
    std::shared_ptr<const std::string> callback_secret;
    std::string upstream;  // a fan-out member's target
  };
  struct CallbackRoute {
    std::string name;
    std::shared_ptr<const std::string> secret;
  };
  // One delivery request's end: one job, or a batch's jobs.
  struct Outcome {
    std::vector<DeliveredJob> jobs;
    DeliveryReport report;
  };
  struct Judged {
    DeliveredJob job;
    queue::DeliveryVerdict verdict;
  };

  AsyncQueue(const config::QueueConfig& config, config::Duration visibility_timeout);
  void registerMetrics(metrics::Registry& registry);
  void run();
  void maintain(int64_t now_ms);
  void logStoreError(int64_t now_ms, const char* what, const queue::StoreError& error);
  // Dispatcher round (async_dispatch.cpp). Settles the outcomes, then claims and hands out
  // what concurrency and rate allow; returns how long the dispatcher may sleep before looking
  // again (an enqueue or an outcome wakes it sooner).
  int64_t dispatch(std::deque<Outcome>& outcomes, bool draining, int64_t now_ms);
  std::vector<queue::ClaimRequest> claimsFor(size_t slots, int64_t now_ms, int64_t* wait_ms);
  bool batchDue(int64_t now_ms, int64_t* wait_ms) const;
  size_t rateAllows(int64_t now_ms, int64_t* wait_ms);
  void deliverClaimed(std::vector<queue::Job>& claimed);
  void deliver(queue::Job& job);
  void deliverBatch(std::vector<queue::Job>& jobs);
  void send(std::string request, std::string client_ip, std::string upstream, Outcome outcome);
  void judge(Outcome& outcome, int64_t now_ms, std::vector<queue::Settlement>& ended,
             std::vector<Judged>& judged);
  void countSettled(const Judged& judged, const queue::Status& status, int64_t now_ms);
  // Takes the callback route marker out of `job`'s request; the job's callback, if any.
  void takeCallback(queue::Job& job, DeliveredJob* delivered);
  void callBack(const Judged& judged, const queue::Settlement& settlement);
  void pushOutcome(Outcome outcome);
  void wake();

  const config::QueueConfig config_;
  const int64_t visibility_timeout_ms_;
  std::shared_ptr<queue::JobStore> store_;
  std::shared_ptr<queue::SqliteJobStore> sqlite_;  // store_ when it is SQLite
  // Enqueues whose answer has not come back: a store kept by the next configuration outlives
  // this queue, so stop() waits for them (their answers use this queue).
  std::atomic<uint64_t> enqueues_pending_{0};
  SharedListener* listener_ = nullptr;
  std::vector<Worker*> workers_;
  std::vector<CallbackRoute> callback_routes_;        // set before start()
  std::unique_ptr<queue::CallbackSender> callbacks_;  // null without callback routes

  // Dispatcher-thread state.
  uint32_t in_flight_ = 0;
  // Settlements of a round the store failed, sent again with the next round.
  std::vector<queue::Settlement> unsettled_;
  std::vector<Judged> unsettled_judged_;
  size_t next_worker_ = 0;
  double tokens_ = 0;
  int64_t tokens_at_ms_ = 0;
  int64_t next_maintenance_ms_ = 0;
  int64_t last_error_log_ms_ = 0;
  std::mt19937_64 random_{std::random_device{}()};

  // mutex_ guards what other threads hand the dispatcher.
  std::mutex mutex_;
  std::condition_variable wake_cv_;
  std::deque<std::function<void()>> tasks_;
  std::deque<Outcome> outcomes_;
  bool woken_ = false;
  bool draining_ = false;
  bool stopping_ = false;
  std::thread thread_;

  metrics::Counter* accepted_ = nullptr;
  metrics::Counter* delivered_ = nullptr;
  metrics::Counter* retried_ = nullptr;
  metrics::Counter* failed_ = nullptr;
  metrics::Counter* dead_ = nullptr;
  metrics::Counter* refused_ = nullptr;
  metrics::Histogram* latency_ = nullptr;
  metrics::Counter* callbacks_sent_ = nullptr;
  metrics::Counter* callbacks_failed_ = nullptr;
  metrics::Counter* callbacks_dropped_ = nullptr;
  std::atomic<uint32_t> in_flight_gauge_{0};
  std::atomic<bool> drain_seen_{false};  // a dispatcher round ran after drain()
};

}  // namespace sg::proxy
