// Retries (docs/life-of-a-request.md, "Retry"): a failed try of a replayable request is
// sent again, to another server when there is one, after an exponential backoff with full
// jitter, within the upstream's retry budget.
#include "proxy/retry_phase.h"

#include <algorithm>

#include "proxy/exchange.h"
#include "proxy/request_key.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

bool conditionMatches(const config::RetryOn& on, TryFailure failure, int status) {
  switch (failure) {
    case TryFailure::kRefused:
      return on.refused || on.connect_failure;
    case TryFailure::kConnectFailure:
      return on.connect_failure;
    case TryFailure::kReset:
      return on.reset;
    case TryFailure::kTimeout:
      return on.timeout;
    case TryFailure::kStatus:
      if (on.server_error && status >= 500) return true;
      if (on.gateway_error && status >= 502 && status <= 504) return true;
      return std::find(on.statuses.begin(), on.statuses.end(), status) != on.statuses.end();
  }
  return false;
}

}  // namespace

void RetryPhase::startRequest(bool idempotent) {
  idempotent_ =
      idempotent || (ex_.route->config->retries && headerValue(ex_.request, "idempotency-key"));
  ex_.route->upstream->active_requests.fetch_add(1, std::memory_order_relaxed);
  counted_request_ = true;
}

// A listed status ends this try: the response is discarded with its connection.
Verdict RetryPhase::onResponse() {
  if (!shouldRetry(TryFailure::kStatus, ex_.response.status)) return Verdict::kContinue;
  ex_.phases.breaker.recordOutlier(ex_.response.status);
  if (ex_.response.status >= 500) ex_.phases.upstream.connection()->server()->errors->inc();
  schedule();
  return Verdict::kAnswered;
}

// Retry budget (Envoy): concurrent retries stay at or below budget_percent of the
// upstream's active requests, with a floor of 3, so a failing fleet is not hammered.
bool RetryPhase::budgetAllows(const config::RetryPolicy& policy) {
  SharedUpstream& upstream = *ex_.route->upstream;
  uint32_t active = upstream.active_requests.load(std::memory_order_relaxed);
  uint32_t allowed = std::max<uint32_t>(3, active * policy.budget_percent / 100);
  if (upstream.active_retries.load(std::memory_order_relaxed) < allowed) return true;
  upstream.retries_budget_exhausted->inc();
  return false;
}

bool RetryPhase::shouldRetry(TryFailure failure, int status) {
  const auto& policy = ex_.route->config->retries;
  if (!policy || attempts_ >= policy->attempts || ex_.response_started) return false;
  if (!idempotent_ && !ex_.route->config->retry_non_idempotent) return false;
  if (!replayable_) return false;
  if (!conditionMatches(policy->on, failure, status)) return false;
  return budgetAllows(*policy) && ex_.phases.breaker.takeRetrySlot();
}

// Sends the request again, on a server not tried yet when there is one (redispatch),
// after a backoff drawn uniformly from [0, min(10 × base, base × 2^attempt)) in 8 steps.
void RetryPhase::schedule() {
  const auto& policy = *ex_.route->config->retries;
  ++attempts_;
  ex_.route->upstream->retries->inc();
  if (!retry_counted_) {
    ex_.route->upstream->active_retries.fetch_add(1, std::memory_order_relaxed);
    retry_counted_ = true;
  }
  ex_.phases.upstream.restartForRetry(replay_body_);
  ex_.response_head_done = false;
  ex_.setState(Exchange::State::kConnecting);
  int64_t base = policy.backoff.count();
  int64_t cap = std::min<int64_t>(base * 10, base << std::min<uint32_t>(attempts_ - 1, 20));
  // Full jitter over 8 levels: the timer queue keeps one list per distinct duration, so
  // delays are quantized rather than drawn to the millisecond.
  int64_t delay = cap * static_cast<int64_t>(ex_.worker->random() % 8) / 8;
  if (delay <= 0) return ex_.phases.upstream.connect();
  backoff_pending_ = true;
  ex_.armPauseTimer(delay);
}

void RetryPhase::onBackoffElapsed() {
  backoff_pending_ = false;
  ex_.phases.upstream.connect();
}

// Only routes with a retry policy pay for the copy.
void RetryPhase::keepForReplay(size_t body_bytes) {
  if (!replayable_ || !ex_.route->config->retries) return;
  if (replay_body_.size() + body_bytes > ex_.route->config->retry_buffer_limit) {
    replayable_ = false;
    replay_body_.clear();
    return;
  }
  replay_body_.append(ex_.input().data(), body_bytes);
}

void RetryPhase::endCounting() {
  SharedUpstream& upstream = *ex_.route->upstream;
  if (retry_counted_) upstream.active_retries.fetch_sub(1, std::memory_order_relaxed);
  if (counted_request_) upstream.active_requests.fetch_sub(1, std::memory_order_relaxed);
  retry_counted_ = false;
  counted_request_ = false;
}

int64_t RetryPhase::tryTimeoutMs() const {
  const auto& retries = ex_.route->config->retries;
  int64_t response = ex_.route->upstream->config->response_timeout.count();
  if (!retries || retries->per_try_timeout.count() <= 0) return response;
  return std::min(response, retries->per_try_timeout.count());
}

void RetryPhase::reset() {
  attempts_ = 0;
  replay_body_.clear();
  replayable_ = true;
  idempotent_ = false;
  backoff_pending_ = false;
  tried_reset_ = false;
}

}  // namespace sg::proxy
