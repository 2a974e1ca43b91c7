// The circuit breaker and its caps (docs/life-of-a-request.md, "Circuit breaker"), and the
// outcome of each exchange for the breaker and for outlier detection.
#include "proxy/breaker_phase.h"

#include "proxy/exchange.h"
#include "proxy/head_writer.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"

namespace sg::proxy {

resilience::CircuitBreaker* BreakerPhase::breaker() const {
  return ex_.route != nullptr ? ex_.route->upstream->breaker.get() : nullptr;
}

Verdict BreakerPhase::admit() {
  resilience::CircuitBreaker* breaker = this->breaker();
  if (breaker == nullptr) return Verdict::kContinue;
  const int64_t now_ms = ex_.nowMs();
  permit_ = breaker->allow(now_ms);
  RejectReason reason = RejectReason::kCircuitOpen;
  if (permit_.admitted()) {
    if (breaker->requestLimit().tryAcquire()) {
      holds_request_slot_ = true;
      pending_ = true;
      return Verdict::kContinue;
    }
    breaker->abandon(permit_);
    reason = RejectReason::kOverflow;
  }
  permit_ = {};
  if (reason == RejectReason::kCircuitOpen) {
    appendNumberLine(&ex_.extra_headers, "Retry-After", breaker->retryAfterSeconds(now_ms));
  }
  ex_.consumeHead();
  ex_.countReject(0, reason);
  ex_.reject(503, ex_.request.body != http::BodyKind::kNone);
  return Verdict::kAnswered;
}

// The final response head's status: a listed status is a failure for the breaker.
Verdict BreakerPhase::onResponse() {
  recordOutlier(ex_.status);
  if (pending_) settle(ex_.route->upstream->breaker->outcomeForStatus(ex_.status));
  return Verdict::kContinue;
}

void BreakerPhase::record(std::optional<resilience::Outcome> outcome) {
  resilience::CircuitBreaker* breaker = this->breaker();
  if (outcome) {
    breaker->record(*outcome, permit_, ex_.nowMs());
  } else {
    breaker->abandon(permit_);
  }
  pending_ = false;
}

void BreakerPhase::recordOutlier(int status) {
  UpstreamConn* connection = ex_.phases.upstream.connection();
  if (connection == nullptr || !ex_.route->upstream->outliers) return;
  ex_.route->upstream->outliers->recordResult(connection->server()->index, status, ex_.nowMs());
}

bool BreakerPhase::takeRetrySlot() {
  resilience::CircuitBreaker* breaker = this->breaker();
  if (breaker == nullptr || holds_retry_slot_) return true;
  holds_retry_slot_ = breaker->retryLimit().tryAcquire();
  return holds_retry_slot_;
}

bool BreakerPhase::takePendingSlot() {
  resilience::CircuitBreaker* breaker = this->breaker();
  if (breaker == nullptr || holds_pending_slot_) return true;
  holds_pending_slot_ = breaker->pendingLimit().tryAcquire();
  return holds_pending_slot_;
}

void BreakerPhase::releasePendingSlot() {
  if (!holds_pending_slot_) return;
  breaker()->pendingLimit().release();
  holds_pending_slot_ = false;
}

void BreakerPhase::freeSlots() {
  resilience::CircuitBreaker* breaker = this->breaker();
  if (breaker == nullptr) return;
  if (holds_request_slot_) breaker->requestLimit().release();
  if (holds_retry_slot_) breaker->retryLimit().release();
  holds_request_slot_ = false;
  holds_retry_slot_ = false;
  releasePendingSlot();
}

void BreakerPhase::overflow() {
  settle(std::nullopt);
  ex_.countReject(0, RejectReason::kOverflow);
  ex_.reject(503, !ex_.request_body.done());
}

}  // namespace sg::proxy
