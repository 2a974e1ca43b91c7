// The dispatcher's round (AsyncQueue, docs/async-routes.md): settle what ended, claim what
// concurrency and rate allow, hand each claimed job (or batch of jobs) to a worker.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "proxy/async_queue.h"
#include "proxy/router.h"
#include "proxy/worker.h"
#include "queue/batch_request.h"
#include "queue/delivery_request.h"

namespace sg::proxy {

namespace {

constexpr int64_t kIdleWaitMs = 1000;   // nothing to do: an enqueue or an outcome wakes us
constexpr int64_t kRetryPollMs = 50;    // jobs wait for their next attempt: look this often
constexpr int64_t kStoreRetryMs = 250;  // a round failed with settlements to store: try again

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

// The client's address travels beside the stored request, not in it (kClientIpField).
std::string takeClientIp(queue::Job& job) {
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
  return client_ip;
}

// How many of `claimed` a claim for `which` took: claims append in order, and a job's
// attempts (1 after its first claim) tells which claim took it.
size_t claimedBy(const std::vector<queue::Job>& claimed, queue::ClaimAttempts which) {
  const auto first = static_cast<size_t>(std::count_if(
      claimed.begin(), claimed.end(), [](const queue::Job& job) { return job.attempts == 1; }));
  switch (which) {
    case queue::ClaimAttempts::kAny:
      return claimed.size();
    case queue::ClaimAttempts::kFirst:
      return first;
    case queue::ClaimAttempts::kLater:
      return claimed.size() - first;
  }
  return 0;
}

}  // namespace

// One round in one store transaction (one fsync, however many jobs): settles the deliveries
// that ended and claims what concurrency and rate allow. Settling one job at a time cost
// an fsync per job and capped delivery at about a hundred jobs a second.
int64_t AsyncQueue::dispatch(std::deque<Outcome>& outcomes, bool draining, int64_t now_ms) {
  // What a failed round could not store goes first: each settlement names its attempt, so one
  // the store did take (Redis applies a pipeline's scripts one by one) is refused, not doubled.
  std::vector<queue::Settlement> ended = std::exchange(unsettled_, {});
  std::vector<Judged> judged = std::exchange(unsettled_judged_, {});
  for (Outcome& outcome : outcomes) judge(outcome, now_ms, ended, judged);
  in_flight_ -= static_cast<uint32_t>(outcomes.size());
  in_flight_gauge_.store(in_flight_);
  int64_t wait_ms = kIdleWaitMs;
  size_t slots = 0;
  if (!draining && in_flight_ < config_.concurrency) {
    slots = std::min<size_t>(config_.concurrency - in_flight_, rateAllows(now_ms, &wait_ms));
  }
  const std::vector<queue::ClaimRequest> claims = claimsFor(slots, now_ms, &wait_ms);
  if (ended.empty() && claims.empty()) return wait_ms;
  auto round = store_->settleAndClaim(ended, now_ms, claims);
  if (!round.ok()) {
    // Kept for the next round rather than left to the visibility timeout (a redelivery).
    logStoreError(now_ms, "settling and claiming jobs", round.error());
    unsettled_ = std::move(ended);
    unsettled_judged_ = std::move(judged);
    return unsettled_.empty() ? kIdleWaitMs : kStoreRetryMs;
  }
  for (size_t i = 0; i < judged.size(); ++i) {
    const queue::Status& status = round.value().settled[i];
    countSettled(judged[i], status, now_ms);
    // After the commit: the state is on disk before anyone is told about it.
    if (status.ok()) callBack(judged[i], ended[i]);
  }
  std::vector<queue::Job>& claimed = round.value().claimed;
  bool filled = false;  // a claim got all it asked for: there may be more ready
  for (const queue::ClaimRequest& claim : claims) {
    filled = filled || claimedBy(claimed, claim.which) == claim.max;
  }
  deliverClaimed(claimed);
  if (in_flight_ >= config_.concurrency) return kIdleWaitMs;  // an outcome wakes us
  if (filled) return 0;
  return store_->counts(now_ms).depth() > 0 ? std::min(wait_ms, kRetryPollMs) : wait_ms;
}

std::vector<queue::ClaimRequest> AsyncQueue::claimsFor(size_t slots, int64_t now_ms,
                                                       int64_t* wait_ms) {
  std::vector<queue::ClaimRequest> claims;
  if (slots == 0) return claims;
  if (!config_.batch) {
    claims.push_back({slots, queue::ClaimAttempts::kAny});
    return claims;
  }
  // First attempts go in batches (one slot each); later attempts one by one.
  if (batchDue(now_ms, wait_ms)) {
    claims.push_back({config_.batch->max_items, queue::ClaimAttempts::kFirst});
    --slots;
  }
  if (slots > 0) claims.push_back({slots, queue::ClaimAttempts::kLater});
  return claims;
}

// A batch goes when max_items jobs wait for their first delivery, or when the oldest of them
// has waited max_wait; until then *wait_ms says when to look again.
bool AsyncQueue::batchDue(int64_t now_ms, int64_t* wait_ms) const {
  const queue::QueueCounts counts = store_->counts(now_ms);
  const uint64_t waiting = counts.by_state[static_cast<int>(queue::JobState::kQueued)];
  if (waiting == 0) return false;
  const int64_t max_wait = config_.batch->max_wait.count();
  if (waiting >= config_.batch->max_items || counts.oldest_queued_age_ms >= max_wait) return true;
  *wait_ms = std::min(*wait_ms, std::max<int64_t>(1, max_wait - counts.oldest_queued_age_ms));
  return false;
}

// Later attempts (and every job of a queue without batches) go one by one. A batching queue's
// first attempts came from one kFirst claim: one method and target, one request.
void AsyncQueue::deliverClaimed(std::vector<queue::Job>& claimed) {
  std::vector<queue::Job> batch;
  for (queue::Job& job : claimed) {
    if (config_.batch && job.attempts == 1) {
      batch.push_back(std::move(job));
    } else {
      deliver(job);
    }
  }
  if (!batch.empty()) deliverBatch(batch);
}

void AsyncQueue::deliver(queue::Job& job) {
  std::string client_ip = takeClientIp(job);
  Outcome outcome;
  outcome.jobs.push_back({job.id, job.attempts, job.created_ms});
  outcome.jobs.back().upstream = job.upstream;
  takeCallback(job, &outcome.jobs.back());
  send(queue::deliveryRequest(job.request, job.id, job.attempts), std::move(client_ip),
       job.upstream, std::move(outcome));
}

void AsyncQueue::deliverBatch(std::vector<queue::Job>& jobs) {
  std::vector<queue::BatchItem> items;
  Outcome outcome;
  for (queue::Job& job : jobs) {
    (void)takeClientIp(job);  // a batch has no single client
    items.push_back({job.id, &job.request});
    outcome.jobs.push_back({job.id, job.attempts, job.created_ms});
    outcome.jobs.back().upstream = job.upstream;
    takeCallback(job, &outcome.jobs.back());  // each job of a batch has its own callback
  }
  // A batch claim takes jobs of one upstream (ClaimAttempts::kFirst).
  send(queue::batchDeliveryRequest(items), {}, jobs.front().upstream, std::move(outcome));
}

void AsyncQueue::send(std::string request, std::string client_ip, std::string upstream,
                      Outcome outcome) {
  ++in_flight_;
  in_flight_gauge_.store(in_flight_);
  if (config_.rate) tokens_ -= 1;
  Worker* worker = workers_[next_worker_++ % workers_.size()];
  worker->post([this, worker, request = std::move(request), client_ip = std::move(client_ip),
                upstream = std::move(upstream), outcome = std::move(outcome)]() mutable {
    worker->startDelivery(listener_, std::move(request), std::move(client_ip), std::move(upstream),
                          config_.max_result_size,
                          [this, outcome = std::move(outcome)](DeliveryReport report) mutable {
                            outcome.report = std::move(report);
                            pushOutcome(std::move(outcome));
                          });
  });
}

size_t AsyncQueue::rateAllows(int64_t now_ms, int64_t* wait_ms) {
  if (!config_.rate) return SIZE_MAX;
  const double per_second = double(config_.rate->count) * 1000.0 /
                            double(std::max<int64_t>(1, config_.rate->period.count()));
  const double per_ms = per_second / 1000.0;
  // Bursts of at most a tenth of a second's worth (and at least one request): the upstream
  // sees the rate, not a second's requests at once.
  const double burst = std::max(1.0, per_second / 10);
  tokens_ = std::min(burst, tokens_ + double(now_ms - tokens_at_ms_) * per_ms);
  tokens_at_ms_ = now_ms;
  if (tokens_ >= 1) return static_cast<size_t>(tokens_);
  *wait_ms = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1 - tokens_) / per_ms)));
  return 0;
}

// Each job of the outcome judged on its own: a failed batch retries its jobs one by one.
void AsyncQueue::judge(Outcome& outcome, int64_t now_ms, std::vector<queue::Settlement>& ended,
                       std::vector<Judged>& judged) {
  const queue::DeliveryOutcome delivery = outcomeOf(outcome.report);
  for (size_t i = 0; i < outcome.jobs.size(); ++i) {
    const DeliveredJob& job = outcome.jobs[i];
    const auto verdict =
        queue::classifyDelivery(delivery, config_.retry_on, job.attempt, config_.attempts);
    queue::Settlement settlement{job.id, job.attempt, std::nullopt, {}, std::nullopt};
    const bool last = i + 1 == outcome.jobs.size();
    if (outcome.report.result) {
      settlement.result = last ? std::move(outcome.report.result) : outcome.report.result;
    }
    switch (verdict) {
      case queue::DeliveryVerdict::kSucceeded:
        if (!settlement.result) settlement.result = queue::JobResult{delivery.status};
        break;
      case queue::DeliveryVerdict::kRetry: {
        const int64_t delay = queue::backoffDelayMs(config_.backoff, job.attempt, random_());
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
    if (settlement.failure) settlement.error = queue::describeOutcome(delivery);
    ended.push_back(std::move(settlement));
    judged.push_back({job, verdict});
  }
}

void AsyncQueue::countSettled(const Judged& judged, const queue::Status& status, int64_t now_ms) {
  // A job claimed again meanwhile (its delivery outlived the visibility timeout) has a newer
  // attempt: this answer no longer settles it.
  if (!status.ok()) {
    spdlog::debug("queue {}: job {} attempt {}: {}", config_.name, judged.job.id,
                  judged.job.attempt, status.error().message);
    return;
  }
  switch (judged.verdict) {
    case queue::DeliveryVerdict::kSucceeded:
      delivered_->inc();
      latency_->observeMicros(
          static_cast<uint64_t>(std::max<int64_t>(0, now_ms - judged.job.created_ms)) * 1000);
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

void AsyncQueue::takeCallback(queue::Job& job, DeliveredJob* delivered) {
  std::string route_name;
  bool marked = false;
  const std::string* url_text = nullptr;
  size_t urls = 0;
  auto& headers = job.request.headers;
  for (auto it = headers.begin(); it != headers.end();) {
    if (it->name == kCallbackRouteField) {
      route_name = std::move(it->value);
      marked = true;
      it = headers.erase(it);
      continue;
    }
    ++it;
  }
  if (!marked) return;
  for (const queue::HeaderLine& header : headers) {
    if (equalsIgnoreCase(header.name, queue::kCallbackUrlField)) {
      url_text = &header.value;
      ++urls;
    }
  }
  auto route = std::find_if(callback_routes_.begin(), callback_routes_.end(),
                            [&](const CallbackRoute& r) { return r.name == route_name; });
  if (route == callback_routes_.end() || urls != 1) {
    // Accepted by a route that no longer has `callback` (the configuration changed since).
    spdlog::debug("queue {}: job {}: no callback route {} any more", config_.name, job.id,
                  route_name);
    return;
  }
  std::string why;
  delivered->callback_url = queue::parseCallbackUrl(*url_text, &why);  // checked at accept
  delivered->callback_secret = route->secret;
}

// A job that ended through this delivery (not a retry) reports to its callback URL; the
// sender's thread does the network part.
void AsyncQueue::callBack(const Judged& judged, const queue::Settlement& settlement) {
  if (!judged.job.callback_url || !callbacks_) return;
  queue::JobState state = queue::JobState::kSucceeded;
  switch (judged.verdict) {
    case queue::DeliveryVerdict::kSucceeded:
      break;
    case queue::DeliveryVerdict::kRetry:
      return;
    case queue::DeliveryVerdict::kFailed:
      state = queue::JobState::kFailed;
      break;
    case queue::DeliveryVerdict::kDead:
      state = queue::JobState::kDead;
      break;
  }
  // settlement.result is the result as stored (max_result_size applied): what
  // GET /jobs/{id}/result gives.
  queue::CallbackItem item;
  item.url = *judged.job.callback_url;
  item.job_id = judged.job.id;
  item.body =
      queue::callbackBody(judged.job.id, config_.name, state, judged.job.attempt,
                          settlement.result ? &*settlement.result : nullptr, judged.job.upstream);
  item.secret = judged.job.callback_secret;
  callbacks_->push(std::move(item));
}

}  // namespace sg::proxy
