#include "proxy/async_queue.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "proxy/worker.h"
#include "queue/redis_job_store.h"
#include "queue/sqlite_job_store.h"

namespace sg::proxy {

namespace {

constexpr int64_t kMaintenanceIntervalMs = 1000;  // expire, stalled, purge
constexpr int64_t kErrorLogIntervalMs = 5000;

int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

queue::Overflow overflowOf(config::QueueConfig::Overflow overflow) {
  return overflow == config::QueueConfig::Overflow::kDropOldest ? queue::Overflow::kDropOldest
                                                                : queue::Overflow::kReject;
}

}  // namespace

namespace {

queue::StoreOptions storeOptions(const config::QueueConfig& config,
                                 std::span<const int> handed_locks = {}) {
  queue::StoreOptions options;
  options.handed_locks.assign(handed_locks.begin(), handed_locks.end());
  options.path = AsyncQueue::path(config);
  options.queue = config.name;
  options.max_length = config.max_length;
  options.overflow = overflowOf(config.overflow);
  options.result_ttl_ms = config.result_ttl.count();
  options.max_result_size = config.max_result_size;
  options.max_attempts = config.attempts;
  return options;
}

queue::Result<std::shared_ptr<queue::JobStore>> openStore(const config::QueueConfig& config,
                                                          const config::StoreConfig& shared,
                                                          std::span<const int> handed_locks) {
  if (config.store == config::QueueConfig::Store::kSqlite) {
    auto store = queue::SqliteJobStore::open(storeOptions(config, handed_locks));
    if (!store.ok()) return store.error();
    if (store.value()->lock().handedOver()) {
      spdlog::info(
          "queue {}: shares {} with the process it replaces until that one has settled "
          "its deliveries",
          config.name, store.value()->options().path);
    }
    if (store.value()->recoveredAtOpen() > 0) {
      spdlog::warn(
          "queue {}: {} jobs were in flight when the gateway stopped; delivering them again",
          config.name, store.value()->recoveredAtOpen());
    }
    return std::shared_ptr<queue::JobStore>(std::move(store.value()));
  }
  queue::RedisStoreOptions redis;
  redis.server = shared;
  redis.timeout = std::max<std::chrono::milliseconds>(redis.timeout, shared.timeout);
  auto store = queue::RedisJobStore::open(storeOptions(config), std::move(redis));
  if (!store.ok()) return store.error();
  spdlog::info("queue {}: jobs kept in redis as consumer {}", config.name,
               store.value()->consumer());
  return std::shared_ptr<queue::JobStore>(std::move(store.value()));
}

}  // namespace

std::string AsyncQueue::path(const config::QueueConfig& config) {
  return config.path.empty() ? config.name + ".queue.db" : config.path;
}

std::unique_ptr<AsyncQueue> AsyncQueue::open(const config::QueueConfig& config,
                                             const config::StoreConfig& shared_store,
                                             config::Duration visibility_timeout,
                                             metrics::Registry& registry, std::string* error,
                                             std::shared_ptr<queue::SqliteJobStore> kept,
                                             std::span<const int> handed_locks) {
  std::unique_ptr<AsyncQueue> queue(new AsyncQueue(config, visibility_timeout));
  if (kept != nullptr) {
    kept->setLimits(storeOptions(config));
    queue->sqlite_ = kept;
    queue->store_ = std::move(kept);
  } else {
    auto store = openStore(config, shared_store, handed_locks);
    if (!store.ok()) {
      *error = "queue " + config.name + ": " + store.error().message;
      return nullptr;
    }
    queue->store_ = std::move(store.value());
    if (config.store == config::QueueConfig::Store::kSqlite)
      queue->sqlite_ = std::static_pointer_cast<queue::SqliteJobStore>(queue->store_);
  }
  queue->registerMetrics(registry);
  return queue;
}

AsyncQueue::AsyncQueue(const config::QueueConfig& config, config::Duration visibility_timeout)
    : config_(config), visibility_timeout_ms_(visibility_timeout.count()) {}

AsyncQueue::~AsyncQueue() { stop(); }

void AsyncQueue::registerMetrics(metrics::Registry& registry) {
  const metrics::Labels labels{{"queue", config_.name}};
  accepted_ = &registry.counter("scalegate_queue_accepted_total",
                                "Requests stored as new jobs (answered 202).", labels);
  refused_ = &registry.counter(
      "scalegate_queue_refused_total",
      "Requests an async route could not store (queue full or store failure: 503).", labels);
  delivered_ = &registry.counter("scalegate_queue_delivered_total",
                                 "Jobs delivered with a 2xx or 3xx answer.", labels);
  retried_ = &registry.counter("scalegate_queue_retried_total",
                               "Deliveries that failed and were scheduled again.", labels);
  failed_ = &registry.counter("scalegate_queue_failed_total",
                              "Jobs ended by an answer retry_on does not name.", labels);
  dead_ = &registry.counter(
      "scalegate_queue_dead_total",
      "Jobs moved to the dead letters (attempts exhausted, expired, stalled on the last attempt).",
      labels);
  auto callbacks = [&](const char* result) {
    return &registry.counter(
        "scalegate_queue_callbacks_total",
        "Job-end callbacks (X-Callback-Url): sent (a 2xx), failed (every try failed), dropped "
        "(too many pending, or pending at shutdown).",
        {{"queue", config_.name}, {"result", result}});
  };
  callbacks_sent_ = callbacks("sent");
  callbacks_failed_ = callbacks("failed");
  callbacks_dropped_ = callbacks("dropped");
  latency_ = &registry.histogram("scalegate_queue_delivery_latency_seconds",
                                 "Time from a job's acceptance to its successful delivery.", labels,
                                 {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800});
  // The store's counts as of its last commit (lock-free). Scrapes end before stop() closes
  // the store (the admin listener stops first); the test only covers a scrape racing it.
  auto counts = [this] { return store_ ? store_->counts(wallMs()) : queue::QueueCounts{}; };
  registry.gaugeCallback("scalegate_queue_depth",
                         "Jobs waiting for a delivery (queued or retrying).", labels,
                         [counts] { return double(counts().depth()); });
  registry.gaugeCallback("scalegate_queue_in_flight",
                         "Deliveries this gateway has in flight to the upstream.", labels,
                         [this] { return double(in_flight_gauge_.load()); });
  registry.gaugeCallback("scalegate_queue_dead_letters", "Jobs in the dead letters now.", labels,
                         [counts] { return double(counts().dead()); });
  registry.gaugeCallback("scalegate_queue_oldest_age_seconds",
                         "Age of the oldest job waiting for its first delivery.", labels,
                         [counts] { return double(counts().oldest_queued_age_ms) / 1000.0; });
}

void AsyncQueue::attach(std::vector<Worker*> workers) { workers_ = std::move(workers); }

bool AsyncQueue::addCallbackRoute(const std::string& route_name, std::string secret,
                                  std::string* error) {
  for (const CallbackRoute& route : callback_routes_) {
    if (route.name != route_name) continue;
    if (*route.secret == secret) return true;
    *error = "queue " + config_.name + ": two callback routes named " + route_name +
             " have different secrets; give the routes distinct names";
    return false;
  }
  callback_routes_.push_back({route_name, std::make_shared<const std::string>(std::move(secret))});
  return true;
}

void AsyncQueue::start() {
  if (thread_.joinable() || workers_.empty() || listener_ == nullptr) return;
  if (!callback_routes_.empty() && !callbacks_) {
    queue::CallbackSenderOptions options;
    options.queue = config_.name;
    options.count = [this](queue::CallbackResult result) {
      switch (result) {
        case queue::CallbackResult::kSent:
          callbacks_sent_->inc();
          break;
        case queue::CallbackResult::kFailed:
          callbacks_failed_->inc();
          break;
        case queue::CallbackResult::kDropped:
          callbacks_dropped_->inc();
          break;
      }
    };
    callbacks_ = std::make_unique<queue::CallbackSender>(std::move(options));
    callbacks_->start();
  }
  thread_ = std::thread([this] { run(); });
}

void AsyncQueue::drain() {
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    woken_ = true;
  }
  wake_cv_.notify_one();  // a round that sees it now, for waitForDeliveries
}

bool AsyncQueue::waitForDeliveries(std::chrono::steady_clock::time_point deadline) const {
  // Polled: a drain happens once per reload or stop, and deliveries take milliseconds or more.
  // First a dispatcher round that knew of the drain: it sends nothing after that one.
  while ((thread_.joinable() && !drain_seen_.load()) || in_flight_gauge_.load() != 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void AsyncQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // After the dispatcher (nothing pushes any more), before the store goes.
  if (callbacks_) callbacks_->stop();
  // A store the next configuration keeps stays open: its answers to this queue's enqueues come
  // first. Polled, so that an enqueue counts itself without a lock (stop() is rare, and the
  // writer answers within a commit).
  while (enqueues_pending_.load(std::memory_order_acquire) != 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Commits the enqueues still pending while the workers (whose loops their answers are
  // posted to) still exist: the Gateway destroys the workers before the shared state.
  sqlite_.reset();
  store_.reset();
}

void AsyncQueue::enqueue(queue::Job job, queue::EnqueueCallback done) {
  enqueues_pending_.fetch_add(1, std::memory_order_relaxed);
  // Only workers enqueue, and stop() runs after their threads have ended.
  store_->enqueue(std::move(job), [this, done = std::move(done)](queue::EnqueueOutcome outcome) {
    if (outcome.ok() && !outcome.existing) {
      accepted_->inc();
      wake();
    } else if (!outcome.ok()) {
      refused_->inc();
    }
    done(std::move(outcome));
    enqueues_pending_.fetch_sub(1, std::memory_order_release);  // the last use of this queue
  });
}

void AsyncQueue::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_cv_.notify_one();
}

void AsyncQueue::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_cv_.notify_one();
}

void AsyncQueue::pushOutcome(Outcome outcome) {
  {
    std::lock_guard lock(mutex_);
    outcomes_.push_back(std::move(outcome));
  }
  wake_cv_.notify_one();
}

void AsyncQueue::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    std::deque<std::function<void()>> tasks = std::move(tasks_);
    std::deque<Outcome> outcomes = std::move(outcomes_);
    tasks_.clear();
    outcomes_.clear();
    woken_ = false;
    const bool draining = draining_;
    lock.unlock();
    for (auto& task : tasks) task();
    int64_t now = wallMs();
    if (now >= next_maintenance_ms_) {
      maintain(now);
      next_maintenance_ms_ = now + kMaintenanceIntervalMs;
    }
    const int64_t wait_ms = dispatch(outcomes, draining, wallMs());
    if (draining) drain_seen_.store(true);
    lock.lock();
    if (stopping_ || woken_ || !tasks_.empty() || !outcomes_.empty() || wait_ms <= 0) continue;
    wake_cv_.wait_for(lock,
                      std::chrono::milliseconds(std::min(wait_ms, next_maintenance_ms_ - now + 1)));
  }
}

// A store that keeps failing (disk full) would log every round: once per interval is enough.
void AsyncQueue::logStoreError(int64_t now_ms, const char* what, const queue::StoreError& error) {
  if (now_ms - last_error_log_ms_ < kErrorLogIntervalMs) return;
  last_error_log_ms_ = now_ms;
  spdlog::error("queue {}: {}: {}", config_.name, what, error.message);
}

void AsyncQueue::maintain(int64_t now_ms) {
  auto log = [&](const char* what, const queue::StoreError& error) {
    logStoreError(now_ms, what, error);
  };
  auto expired = store_->expire(now_ms, config_.message_ttl.count());
  if (!expired.ok()) log("expiring jobs", expired.error());
  if (expired.ok() && expired.value() > 0) {
    dead_->inc(expired.value());
    spdlog::warn("queue {}: {} jobs not started within message_ttl went to the dead letters",
                 config_.name, expired.value());
  }
  auto stalled = store_->stalled(now_ms, visibility_timeout_ms_);
  if (!stalled.ok()) log("retrying stalled jobs", stalled.error());
  if (stalled.ok() && stalled.value() > 0) {
    retried_->inc(stalled.value());
    spdlog::warn("queue {}: {} deliveries ran past the visibility timeout; retrying them",
                 config_.name, stalled.value());
  }
  auto purged = store_->purgeResults(now_ms);
  if (!purged.ok()) log("purging results", purged.error());
}

}  // namespace sg::proxy
