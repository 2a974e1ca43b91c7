#pragma once
// The upstream's circuit breaker and concurrency caps (upstream key `circuit_breaker`), and
// the outcome of each exchange for the breaker and for outlier detection.
#include <cstdint>
#include <optional>

#include "proxy/phase.h"
#include "resilience/circuit_breaker.h"

namespace sg::proxy {

class Exchange;

class BreakerPhase {
 public:
  explicit BreakerPhase(Exchange& exchange) : ex_(exchange) {}

  // Request phase: a permit and a max_requests slot, or 503 (Retry-After when open).
  Verdict admit();
  // Response phase: the final response head's status for the breaker and outlier detection.
  Verdict onResponse();

  // The exchange's outcome: a failure, a success, or (nullopt) none, when the client went
  // away or the request was refused for its own fault. Safe to call more than once.
  void settle(std::optional<resilience::Outcome> outcome) {
    if (pending_) record(outcome);
  }
  bool pending() const { return pending_; }
  // A result of the server in use, for outlier detection (0: connect failure, reset, timeout).
  void recordOutlier(int status);
  // max_retries: held from a request's first retry to its end.
  bool takeRetrySlot();
  // max_pending: held while waiting for a new upstream connection.
  bool takePendingSlot();
  void releasePendingSlot();
  // Frees the exchange's slots at its end.
  void releaseSlots() {
    if (holds_request_slot_ || holds_retry_slot_ || holds_pending_slot_) freeSlots();
  }
  // A max_* cap was reached: 503 at once, the upstream is not tried (Envoy's overflow).
  void overflow();

 private:
  resilience::CircuitBreaker* breaker() const;
  void record(std::optional<resilience::Outcome> outcome);
  void freeSlots();

  Exchange& ex_;
  resilience::Permit permit_;
  bool pending_ = false;             // permit_ awaits an outcome
  bool holds_request_slot_ = false;  // circuit_breaker.max_requests
  bool holds_pending_slot_ = false;  // circuit_breaker.max_pending
  bool holds_retry_slot_ = false;    // circuit_breaker.max_retries
};

}  // namespace sg::proxy
