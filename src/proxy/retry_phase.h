#pragma once
// Retry policy of a route (route key `retries`): which failures are retried, the retry
// budget, exponential backoff with full jitter, and replay of a buffered request body.
#include <cstdint>
#include <string>

#include "config/config.h"
#include "proxy/phase.h"

namespace sg::proxy {

class Exchange;

// How one try at an upstream failed, for the retry policy (retries.on).
enum class TryFailure : uint8_t { kConnectFailure, kRefused, kReset, kTimeout, kStatus };

class RetryPhase {
 public:
  explicit RetryPhase(Exchange& exchange) : ex_(exchange) {}

  // At the start of forwarding: whether the request may be sent again, and its accounting.
  void startRequest(bool idempotent);
  // Response phase: a listed status ends this try and schedules the next one.
  Verdict onResponse();
  bool shouldRetry(TryFailure failure, int status);
  // Sends the request again after a backoff (the exchange's pause timer).
  void schedule();
  bool backoffPending() const { return backoff_pending_; }
  void onBackoffElapsed();
  // Keeps body bytes being forwarded (within retry_buffer_limit) for a replay.
  void keepForReplay(size_t body_bytes);
  uint32_t attempts() const { return attempts_; }
  bool triedEveryServer() const { return tried_reset_; }
  void setTriedEveryServer() { tried_reset_ = true; }
  int64_t tryTimeoutMs() const;
  void endAccounting() {
    if (retry_counted_ || counted_request_) endCounting();
  }
  void reset();

 private:
  void endCounting();
  bool budgetAllows(const config::RetryPolicy& policy);

  Exchange& ex_;
  uint32_t attempts_ = 0;    // retries made
  std::string replay_body_;  // body bytes kept for a retry (within retry_buffer_limit)
  bool replayable_ = true;
  bool idempotent_ = false;
  bool retry_counted_ = false;    // counted in the upstream's active_retries
  bool counted_request_ = false;  // counted in the upstream's active_requests
  bool backoff_pending_ = false;  // the pause timer is waiting out a retry backoff
  bool tried_reset_ = false;      // every server was tried; a retry may reuse one
};

}  // namespace sg::proxy
