#include "queue/retry_policy.h"

#include <algorithm>
#include <limits>

namespace sg::queue {

namespace {

bool namesFailure(DeliveryFailure failure, const config::RetryOn& on) {
  switch (failure) {
    case DeliveryFailure::kConnectRefused:
      return on.connect_failure || on.refused;
    case DeliveryFailure::kConnectFailed:
      return on.connect_failure;
    case DeliveryFailure::kNone:  // no response at all: the connection ended before a head
    case DeliveryFailure::kReset:
      return on.reset;
    case DeliveryFailure::kTimeout:
      return on.timeout;
  }
  return false;
}

bool namesStatus(int status, const config::RetryOn& on) {
  if (on.server_error && status >= 500 && status <= 599) return true;
  if (on.gateway_error && (status == 502 || status == 503 || status == 504)) return true;
  return std::find(on.statuses.begin(), on.statuses.end(), status) != on.statuses.end();
}

// The high 64 bits of a 64x64-bit product, without __int128 (not ISO C++: -Wpedantic).
uint64_t mulHigh(uint64_t a, uint64_t b) {
  const uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
  const uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
  const uint64_t lo_lo = a_lo * b_lo;
  const uint64_t hi_lo = a_hi * b_lo;
  const uint64_t lo_hi = a_lo * b_hi;
  const uint64_t hi_hi = a_hi * b_hi;
  const uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
  return hi_hi + (hi_lo >> 32) + (cross >> 32);
}

}  // namespace

DeliveryVerdict classifyDelivery(const DeliveryOutcome& outcome, const config::RetryOn& retry_on,
                                 uint32_t attempt, uint32_t attempts) {
  if (outcome.status >= 200 && outcome.status <= 399) return DeliveryVerdict::kSucceeded;
  const bool retryable = outcome.status != 0 ? namesStatus(outcome.status, retry_on)
                                             : namesFailure(outcome.failure, retry_on);
  if (!retryable) return DeliveryVerdict::kFailed;
  return attempt < attempts ? DeliveryVerdict::kRetry : DeliveryVerdict::kDead;
}

int64_t backoffDelayMs(const config::QueueConfig::Backoff& backoff, uint32_t attempt,
                       uint64_t random) {
  const int64_t delay = std::max<int64_t>(backoff.delay.count(), 0);
  const int64_t cap = std::max<int64_t>(backoff.max.count(), 0);
  int64_t base = delay;
  if (backoff.type == config::QueueConfig::Backoff::Type::kExponential && delay > 0) {
    const uint32_t shift = attempt > 1 ? attempt - 1 : 0;
    // delay << shift, saturating: beyond 62 bits or past INT64_MAX it is above any cap.
    base = shift >= 63 || delay > (std::numeric_limits<int64_t>::max() >> shift)
               ? std::numeric_limits<int64_t>::max()
               : delay << shift;
  }
  base = std::min(base, cap);
  if (backoff.jitter == config::QueueConfig::Backoff::Jitter::kNone) return base;
  // Uniform in [0, base]: random / 2^64 scaled by base + 1 (multiplying keeps it monotonic
  // in `random`, and the bias is below 2^-64 * base).
  return static_cast<int64_t>(mulHigh(random, static_cast<uint64_t>(base) + 1));
}

std::string describeOutcome(const DeliveryOutcome& outcome) {
  if (outcome.status != 0) return "status " + std::to_string(outcome.status);
  switch (outcome.failure) {
    case DeliveryFailure::kNone:
      return "no response";
    case DeliveryFailure::kConnectRefused:
      return "connect refused";
    case DeliveryFailure::kConnectFailed:
      return "connect failed";
    case DeliveryFailure::kReset:
      return "connection closed before a response";
    case DeliveryFailure::kTimeout:
      return "timeout";
  }
  return "unknown failure";
}

}  // namespace sg::queue
