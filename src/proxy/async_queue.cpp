#include "proxy/async_queue.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "proxy/worker.h"
#include "queue/delivery_request.h"
#include "queue/retry_policy.h"

namespace sg::proxy {

namespace {

constexpr int64_t kMaintenanceIntervalMs = 1000;  // expire, stalled, purge
constexpr int64_t kIdleWaitMs = 1000;             // nothing to do: an enqueue wakes us
constexpr int64_t kRetryPollMs = 50;  // jobs wait for their next attempt: look this often
constexpr int64_t kErrorLogIntervalMs = 5000;

int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

queue::Overflow overflowOf(config::QueueConfig::Overflow overflow) {
  return overflow == config::QueueConfig::Overflow::kDropOldest ? queue::Overflow::kDropOldest
                                                                : queue::Overflow::kReject;
}

// The gateway's own 502/503/504 (no upstream response) in the retry policy's terms.
queue::DeliveryOutcome outcomeOf(const DeliveryReport& report) {
  queue::DeliveryOutcome outcome;
  if (!report.local) {
    outcome.status = report.status;
    return outcome;
  }
  switch (report.status) {
    case 504:
      outcome.failure = queue::DeliveryFailure::kTimeout;
      break;
    case 502:
    case 503:
      outcome.failure = queue::DeliveryFailure::kConnectFailed;
      break;
    default:
      outcome.status = report.status;
  }
  return outcome;
}

}  // namespace

std::unique_ptr<AsyncQueue> AsyncQueue::open(const config::QueueConfig& config,
                                             config::Duration visibility_timeout,
                                             metrics::Registry& registry, std::string* error) {
  std::unique_ptr<AsyncQueue> queue(new AsyncQueue(config, visibility_timeout));
  queue::StoreOptions options;
  options.path = config.path.empty() ? config.name + ".queue.db" : config.path;
  options.queue = config.name;
  options.max_length = config.max_length;
  options.overflow = overflowOf(config.overflow);
  options.result_ttl_ms = config.result_ttl.count();
  options.max_result_size = config.max_result_size;
  options.max_attempts = config.attempts;
  auto store = queue::SqliteJobStore::open(std::move(options));
  if (!store.ok()) {
    *error = "queue " + config.name + ": " + store.error().message;
    return nullptr;
  }
  queue->store_ = std::move(store.value());
  if (queue->store_->recoveredAtOpen() > 0) {
    spdlog::warn("queue {}: {} jobs were in flight when the gateway stopped; delivering them again",
                 config.name, queue->store_->recoveredAtOpen());
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

void AsyncQueue::start() {
  if (thread_.joinable() || workers_.empty() || listener_ == nullptr) return;
  thread_ = std::thread([this] { run(); });
}

void AsyncQueue::drain() {
  std::lock_guard lock(mutex_);
  draining_ = true;
}

void AsyncQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Commits the enqueues still pending while the workers (whose loops their answers are
  // posted to) still exist: the Gateway destroys the workers before the shared state.
  store_.reset();
}

void AsyncQueue::enqueue(queue::Job job, queue::EnqueueCallback done) {
  // Only workers enqueue, and stop() runs after their threads have ended.
  store_->enqueue(std::move(job), [this, done = std::move(done)](queue::EnqueueOutcome outcome) {
    if (outcome.ok() && !outcome.existing) {
      accepted_->inc();
      wake();
    } else if (!outcome.ok()) {
      refused_->inc();
    }
    done(std::move(outcome));
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
    lock.lock();
    if (stopping_ || woken_ || !tasks_.empty() || !outcomes_.empty() || wait_ms <= 0) continue;
    wake_cv_.wait_for(lock,
                      std::chrono::milliseconds(std::min(wait_ms, next_maintenance_ms_ - now + 1)));
  }
}

void AsyncQueue::maintain(int64_t now_ms) {
  auto log = [&](const char* what, const queue::StoreError& error) {
    if (now_ms - last_error_log_ms_ < kErrorLogIntervalMs) return;
    last_error_log_ms_ = now_ms;
    spdlog::error("queue {}: {}: {}", config_.name, what, error.message);
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

size_t AsyncQueue::rateAllows(int64_t now_ms, int64_t* wait_ms) {
  if (!config_.rate) return SIZE_MAX;
  const double per_second = double(config_.rate->count) * 1000.0 /
                            double(std::max<int64_t>(1, config_.rate->period.count()));
  const double per_ms = per_second / 1000.0;
  // Bursts of at most a tenth of a second's worth (and at least one job): the upstream sees
  // the rate, not a second's jobs at once.
  const double burst = std::max(1.0, per_second / 10);
  tokens_ = std::min(burst, tokens_ + double(now_ms - tokens_at_ms_) * per_ms);
  tokens_at_ms_ = now_ms;
  if (tokens_ >= 1) return static_cast<size_t>(tokens_);
  *wait_ms = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1 - tokens_) / per_ms)));
  return 0;
}

// One round in one store transaction (one fsync, however many jobs): settles the deliveries
// that ended and claims what concurrency and rate allow. Settling one job at a time cost
// an fsync per job and capped delivery at about a hundred jobs a second.
int64_t AsyncQueue::dispatch(std::deque<Outcome>& outcomes, bool draining, int64_t now_ms) {
  std::vector<queue::DeliveryVerdict> verdicts;
  std::vector<queue::Settlement> ended;
  verdicts.reserve(outcomes.size());
  ended.reserve(outcomes.size());
  for (Outcome& outcome : outcomes) {
    const queue::DeliveryOutcome delivery = outcomeOf(outcome.report);
    verdicts.push_back(
        queue::classifyDelivery(delivery, config_.retry_on, outcome.attempt, config_.attempts));
    ended.push_back(settlementFor(outcome, delivery, verdicts.back(), now_ms));
  }
  in_flight_ -= static_cast<uint32_t>(outcomes.size());
  in_flight_gauge_.store(in_flight_);
  int64_t wait_ms = kIdleWaitMs;
  size_t allowed = 0;
  if (!draining && in_flight_ < config_.concurrency) {
    allowed = std::min<size_t>(config_.concurrency - in_flight_, rateAllows(now_ms, &wait_ms));
  }
  if (ended.empty() && allowed == 0) return wait_ms;
  auto round = store_->settleAndClaim(ended, now_ms, allowed);
  if (!round.ok()) {
    // The settled jobs stay running in the store: the visibility timeout retries them.
    if (now_ms - last_error_log_ms_ >= kErrorLogIntervalMs) {
      last_error_log_ms_ = now_ms;
      spdlog::error("queue {}: settling and claiming jobs: {}", config_.name,
                    round.error().message);
    }
    return kIdleWaitMs;
  }
  for (size_t i = 0; i < outcomes.size(); ++i) {
    countSettled(outcomes[i], verdicts[i], round.value().settled[i], now_ms);
  }
  std::vector<queue::Job>& claimed = round.value().claimed;
  for (queue::Job& job : claimed) deliver(job);
  if (config_.rate) tokens_ -= double(claimed.size());
  if (in_flight_ >= config_.concurrency) return kIdleWaitMs;  // an outcome wakes us
  if (allowed > 0 && claimed.size() == allowed) return 0;   // there may be more: look again
  return store_->counts(now_ms).depth() > 0 ? std::min(wait_ms, kRetryPollMs) : wait_ms;
}

void AsyncQueue::deliver(queue::Job& job) {
  ++in_flight_;
  in_flight_gauge_.store(in_flight_);
  Worker* worker = workers_[next_worker_++ % workers_.size()];
  // The client's address travels beside the request, not in it (kClientIpField).
  std::string client_ip;
  auto& headers = job.request.headers;
  for (auto it = headers.begin(); it != headers.end();) {
    if (it->name == kClientIpField) {
      client_ip = std::move(it->value);
      it = headers.erase(it);
    } else {
      ++it;
    }
  }
  std::string request = queue::deliveryRequest(job.request, job.id, job.attempts);
  Outcome outcome{job.id, job.attempts, job.created_ms, {}};
  worker->post([this, worker, request = std::move(request), client_ip = std::move(client_ip),
                outcome = std::move(outcome)]() mutable {
    worker->startDelivery(listener_, std::move(request), std::move(client_ip),
                          config_.max_result_size,
                          [this, outcome = std::move(outcome)](DeliveryReport report) mutable {
                            outcome.report = std::move(report);
                            pushOutcome(std::move(outcome));
                          });
  });
}

queue::Settlement AsyncQueue::settlementFor(Outcome& outcome,
                                            const queue::DeliveryOutcome& delivery,
                                            queue::DeliveryVerdict verdict, int64_t now_ms) {
  queue::Settlement settlement{outcome.id, outcome.attempt, std::nullopt, {},
                               std::move(outcome.report.result)};
  switch (verdict) {
    case queue::DeliveryVerdict::kSucceeded:
      if (!settlement.result) settlement.result = queue::JobResult{delivery.status};
      return settlement;
    case queue::DeliveryVerdict::kRetry: {
      const int64_t delay = queue::backoffDelayMs(config_.backoff, outcome.attempt, random_());
      settlement.failure = queue::FailNext::retryAt(now_ms + delay);
      break;
    }
    case queue::DeliveryVerdict::kFailed:
      settlement.failure = queue::FailNext::failed();
      break;
    case queue::DeliveryVerdict::kDead:
      settlement.failure = queue::FailNext::dead();
      break;
  }
  settlement.error = queue::describeOutcome(delivery);
  return settlement;
}

void AsyncQueue::countSettled(const Outcome& outcome, queue::DeliveryVerdict verdict,
                              const queue::Status& status, int64_t now_ms) {
  // A job claimed again meanwhile (its delivery outlived the visibility timeout) has a newer
  // attempt: this answer no longer settles it.
  if (!status.ok()) {
    spdlog::debug("queue {}: job {} attempt {}: {}", config_.name, outcome.id, outcome.attempt,
                  status.error().message);
    return;
  }
  switch (verdict) {
    case queue::DeliveryVerdict::kSucceeded:
      delivered_->inc();
      latency_->observeMicros(
          static_cast<uint64_t>(std::max<int64_t>(0, now_ms - outcome.created_ms)) * 1000);
      break;
    case queue::DeliveryVerdict::kRetry:
      retried_->inc();
      break;
    case queue::DeliveryVerdict::kFailed:
      failed_->inc();
      break;
    case queue::DeliveryVerdict::kDead:
      dead_->inc();
      break;
  }
}

}  // namespace sg::proxy
