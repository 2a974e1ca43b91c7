// Retry policy of a session (route key `retries`): which failures are retried, the retry
// budget, exponential backoff with full jitter, and replay of a buffered request body.
#include <algorithm>
#include <cerrno>

#include "proxy/session.h"
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

// Retry budget (Envoy): concurrent retries stay at or below budget_percent of the
// upstream's active requests, with a floor of 3, so a failing fleet is not hammered.
bool Session::retryBudgetAllows(const config::RetryPolicy& policy) {
  SharedUpstream& upstream = *route_->upstream;
  uint32_t active = upstream.active_requests.load(std::memory_order_relaxed);
  uint32_t allowed = std::max<uint32_t>(3, active * policy.budget_percent / 100);
  if (upstream.active_retries.load(std::memory_order_relaxed) < allowed) return true;
  upstream.retries_budget_exhausted->inc();
  return false;
}

bool Session::shouldRetry(TryFailure failure, int status) {
  const auto& policy = route_->config->retries;
  if (!policy || attempts_ >= policy->attempts || response_started_) return false;
  if (!idempotent_ && !route_->config->retry_non_idempotent) return false;
  if (!replayable_) return false;
  if (!conditionMatches(policy->on, failure, status)) return false;
  return retryBudgetAllows(*policy) && takeRetrySlot();
}

// Sends the request again, on a server not tried yet when there is one (redispatch),
// after a backoff drawn uniformly from [0, min(10 × base, base × 2^attempt)) in 8 steps.
void Session::scheduleRetry() {
  const auto& policy = *route_->config->retries;
  ++attempts_;
  route_->upstream->retries->inc();
  if (!retry_counted_) {
    route_->upstream->active_retries.fetch_add(1, std::memory_order_relaxed);
    retry_counted_ = true;
  }
  closeUpstream();
  to_upstream_.restartWith(request_head_size_, replay_body_, &input_);
  response_head_done_ = false;
  setState(State::kConnecting);
  int64_t base = policy.backoff.count();
  int64_t cap = std::min<int64_t>(base * 10, base << std::min<uint32_t>(attempts_ - 1, 20));
  // Full jitter over 8 levels: the timer queue keeps one list per distinct duration, so
  // delays are quantized rather than drawn to the millisecond.
  int64_t delay = cap * static_cast<int64_t>(worker_->random() % 8) / 8;
  if (delay <= 0) return connectUpstream();
  backoff_pending_ = true;
  worker_->loop().timers().arm(timer_, delay);
}

void Session::onBackoffElapsed() {
  backoff_pending_ = false;
  connectUpstream();
}

// Keeps the request body bytes being forwarded, while they fit retry_buffer_limit, so a
// retry can send them again. Only routes with a retry policy pay for the copy.
void Session::keepForReplay(size_t body_bytes) {
  if (!replayable_ || !route_->config->retries) return;
  if (replay_body_.size() + body_bytes > route_->config->retry_buffer_limit) {
    replayable_ = false;
    replay_body_.clear();
    return;
  }
  replay_body_.append(input_.data(), body_bytes);
}

void Session::recordOutlier(int status) {
  if (upstream_ == nullptr || !route_->upstream->outliers) return;
  route_->upstream->outliers->recordResult(upstream_->server()->index, status,
                                           worker_->loop().now());
}

void Session::endRetryAccounting() {
  if (route_ == nullptr) return;
  if (retry_counted_) route_->upstream->active_retries.fetch_sub(1, std::memory_order_relaxed);
  if (counted_request_) route_->upstream->active_requests.fetch_sub(1, std::memory_order_relaxed);
  retry_counted_ = false;
  counted_request_ = false;
}

int64_t Session::tryTimeoutMs() const {
  const auto& retries = route_->config->retries;
  int64_t response = route_->upstream->config->response_timeout.count();
  if (!retries || retries->per_try_timeout.count() <= 0) return response;
  return std::min(response, retries->per_try_timeout.count());
}

}  // namespace sg::proxy
