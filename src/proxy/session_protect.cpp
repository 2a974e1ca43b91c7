// Protection steps of a session, run after routing and before an upstream is picked
// (docs/life-of-a-request.md): rate limits (listener, then route), then the upstream's
// circuit breaker and its concurrency caps. Each either lets the request on or answers
// it locally (429 or 503 with Retry-After).
#include "http/parser.h"
#include "proxy/request_key.h"
#include "proxy/session.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"
#include "ratelimit/headers.h"

namespace sg::proxy {

std::string_view Session::limitKey(const SharedLimit& limit,
                                   const http::RequestHead& request) const {
  using KeySource = config::RateLimitConfig::KeySource;
  switch (limit.config->key) {
    case KeySource::kIp:
      return clientAddress(request, client_ip_, listener_->config->trusted_proxies);
    case KeySource::kHeader:
      return headerValue(request, limit.config->key_header).value_or(std::string_view());
    case KeySource::kRoute:
      return route_->config->name;
    case KeySource::kGlobal:
      return {};
  }
  return {};
}

// Checks one limiter, adding its members to the RateLimit headers. Returns the seconds a
// refused request must wait, or 0 when the request may go on (shadow refusals go on).
uint32_t Session::checkLimit(SharedLimit& limit, const http::RequestHead& request, int64_t now_us) {
  auto decision = limit.limiter->check(limitKey(limit, request), now_us);
  ratelimit::appendPolicy(&limit_policy_, limit.config->name, decision);
  ratelimit::appendState(&limit_state_, limit.config->name, decision);
  if (decision.allowed) {
    limit.allowed->inc();
    return 0;
  }
  if (limit.config->shadow) {
    limit.shadow_refused->inc();
    return 0;
  }
  limit.refused->inc();
  return decision.retry_after_seconds;
}

// The listener's limit, then the route's. Every limit is checked (each consumes quota, as
// in Envoy's descriptor chain) so the headers describe all of them. Returns false when the
// request was refused with 429.
bool Session::checkRateLimits(const http::RequestHead& request) {
  SharedLimit* limits[] = {listener_->rate_limit.get(), route_->rate_limit.get()};
  if (limits[0] == nullptr && limits[1] == nullptr) return true;
  limit_policy_.clear();
  limit_state_.clear();
  // A key header sent on several lines is refused: which line is the key would be a guess,
  // and a guess other than the upstream's lets a client put a fresh key in front of the
  // real one and get a bucket of its own.
  for (SharedLimit* limit : limits) {
    if (limit != nullptr && limit->config->key == config::RateLimitConfig::KeySource::kHeader &&
        headerLines(request, limit->config->key_header) > 1) {
      input_.consume(request.head_length);
      countReject(0, RejectReason::kAmbiguousKey);
      reject(400, true);
      return false;
    }
  }
  uint32_t retry_after = 0;
  for (SharedLimit* limit : limits) {
    if (limit != nullptr)
      retry_after = std::max(retry_after, checkLimit(*limit, request, started_us_));
  }
  extra_headers_.append("RateLimit-Policy: ").append(limit_policy_).append("\r\n");
  extra_headers_.append("RateLimit: ").append(limit_state_).append("\r\n");
  if (retry_after == 0) return true;
  appendNumberLine(&extra_headers_, "Retry-After", retry_after);
  input_.consume(request.head_length);
  countReject(0, RejectReason::kRateLimited);
  reject(429, request.body != http::BodyKind::kNone);
  return false;
}

// The circuit breaker and the max_requests cap. Returns false when the request was
// answered with 503 (the caller has not consumed the head yet).
bool Session::admitToUpstream(const http::RequestHead& request) {
  resilience::CircuitBreaker* breaker = route_->upstream->breaker.get();
  if (breaker == nullptr) return true;
  int64_t now_ms = worker_->loop().now();
  permit_ = breaker->allow(now_ms);
  RejectReason reason = RejectReason::kCircuitOpen;
  if (permit_.admitted()) {
    if (breaker->requestLimit().tryAcquire()) {
      holds_request_slot_ = true;
      breaker_pending_ = true;
      return true;
    }
    breaker->abandon(permit_);
    reason = RejectReason::kOverflow;
  }
  permit_ = {};
  if (reason == RejectReason::kCircuitOpen) {
    appendNumberLine(&extra_headers_, "Retry-After", breaker->retryAfterSeconds(now_ms));
  }
  input_.consume(request.head_length);
  countReject(0, reason);
  reject(503, request.body != http::BodyKind::kNone);
  return false;
}

// The exchange's outcome for the breaker: a failure, a success, or (nullopt) none, when the
// client went away or the request was refused for its own fault. Safe to call more than once.
void Session::settleBreaker(std::optional<resilience::Outcome> outcome) {
  if (!breaker_pending_) return;
  resilience::CircuitBreaker* breaker = route_->upstream->breaker.get();
  if (outcome) {
    breaker->record(*outcome, permit_, worker_->loop().now());
  } else {
    breaker->abandon(permit_);
  }
  breaker_pending_ = false;
}

// Frees the exchange's concurrency slots at its end.
void Session::releaseSlots() {
  resilience::CircuitBreaker* breaker =
      route_ != nullptr ? route_->upstream->breaker.get() : nullptr;
  if (breaker == nullptr) return;
  if (holds_request_slot_) breaker->requestLimit().release();
  if (holds_retry_slot_) breaker->retryLimit().release();
  holds_request_slot_ = false;
  holds_retry_slot_ = false;
  releasePendingSlot();
}

// A max_* cap was reached: 503 at once, the upstream is not tried (Envoy's overflow).
void Session::overflow() {
  settleBreaker(std::nullopt);
  countReject(0, RejectReason::kOverflow);
  reject(503, !request_body_.done());
}

// max_retries: a request holds one retry slot from its first retry to its end.
bool Session::takeRetrySlot() {
  resilience::CircuitBreaker* breaker = route_->upstream->breaker.get();
  if (breaker == nullptr || holds_retry_slot_) return true;
  holds_retry_slot_ = breaker->retryLimit().tryAcquire();
  return holds_retry_slot_;
}

// max_pending: a request waiting for a new upstream connection holds a pending slot.
bool Session::takePendingSlot() {
  resilience::CircuitBreaker* breaker = route_->upstream->breaker.get();
  if (breaker == nullptr || holds_pending_slot_) return true;
  holds_pending_slot_ = breaker->pendingLimit().tryAcquire();
  return holds_pending_slot_;
}

void Session::releasePendingSlot() {
  if (!holds_pending_slot_) return;
  route_->upstream->breaker->pendingLimit().release();
  holds_pending_slot_ = false;
}

}  // namespace sg::proxy
