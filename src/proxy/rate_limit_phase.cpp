// Rate limits (docs/life-of-a-request.md, "Rate limit"): the listener's limit, then the
// route's, each checked against a limiter shared by all workers.
#include "proxy/rate_limit_phase.h"

#include <algorithm>

#include "proxy/exchange.h"
#include "proxy/request_key.h"
#include "proxy/shared_state.h"
#include "ratelimit/headers.h"

namespace sg::proxy {

std::string_view RateLimitPhase::limitKey(const SharedLimit& limit) const {
  using KeySource = config::RateLimitConfig::KeySource;
  switch (limit.config->key) {
    case KeySource::kIp:
      return clientAddress(ex_.request, ex_.clientIp(), ex_.listener->config->trusted_proxies);
    case KeySource::kHeader:
      return headerValue(ex_.request, limit.config->key_header).value_or(std::string_view());
    case KeySource::kRoute:
      return ex_.route->config->name;
    case KeySource::kGlobal:
      return {};
  }
  return {};
}

// Checks one limiter, adding its members to the RateLimit headers. Returns the seconds a
// refused request must wait, or 0 when the request may go on (shadow refusals go on).
uint32_t RateLimitPhase::checkLimit(SharedLimit& limit, int64_t now_us) {
  auto decision = limit.limiter->check(limitKey(limit), now_us);
  ratelimit::appendPolicy(&policy_, limit.config->name, decision);
  ratelimit::appendState(&state_, limit.config->name, decision);
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

// A key header sent on several lines is refused: which line is the key would be a guess,
// and a guess other than the upstream's lets a client put a fresh key in front of the
// real one and get a bucket of its own.
bool RateLimitPhase::ambiguousKey(const SharedLimit* const* limits) const {
  for (size_t i = 0; i < 2; ++i) {
    const SharedLimit* limit = limits[i];
    if (limit != nullptr && limit->config->key == config::RateLimitConfig::KeySource::kHeader &&
        headerLines(ex_.request, limit->config->key_header) > 1) {
      return true;
    }
  }
  return false;
}

// Every limit is checked (each consumes quota, as in Envoy's descriptor chain) so the
// headers describe all of them. A background refresh was admitted with the request that
// triggered it.
Verdict RateLimitPhase::run() {
  SharedLimit* limits[] = {ex_.listener->rate_limit.get(), ex_.route->rate_limit.get()};
  if (ex_.refresh() || (limits[0] == nullptr && limits[1] == nullptr)) return Verdict::kContinue;
  policy_.clear();
  state_.clear();
  if (ambiguousKey(limits)) {
    ex_.consumeHead();
    ex_.countReject(0, RejectReason::kAmbiguousKey);
    ex_.reject(400, true);
    return Verdict::kAnswered;
  }
  uint32_t retry_after = 0;
  for (SharedLimit* limit : limits) {
    if (limit != nullptr) retry_after = std::max(retry_after, checkLimit(*limit, ex_.started_us));
  }
  std::string& headers = ex_.extra_headers;
  headers.append("RateLimit-Policy: ").append(policy_).append("\r\n");
  headers.append("RateLimit: ").append(state_).append("\r\n");
  if (retry_after == 0) return Verdict::kContinue;
  appendNumberLine(&headers, "Retry-After", retry_after);
  ex_.consumeHead();
  ex_.countReject(0, RejectReason::kRateLimited);
  ex_.reject(429, ex_.request.body != http::BodyKind::kNone);
  return Verdict::kAnswered;
}

}  // namespace sg::proxy
