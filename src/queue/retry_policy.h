#pragma once
// What the dispatcher does after one delivery of a job: done, retry later, or stop (failed or
// dead-lettered), and how long to wait before the next attempt. Pure functions: the caller
// supplies the randomness, so tests are hermetic.
#include <cstdint>
#include <string>

#include "config/config.h"

namespace sg::queue {

// How a delivery ended when there was no usable upstream response (status 0), or kNone.
enum class DeliveryFailure : uint8_t {
  kNone,
  kConnectRefused,
  kConnectFailed,  // timeout, unreachable, no healthy server
  kReset,          // closed or reset before a response head
  kTimeout,        // response timeout
};

struct DeliveryOutcome {
  int status = 0;  // the upstream's final status; 0 when there was none
  DeliveryFailure failure = DeliveryFailure::kNone;
};

enum class DeliveryVerdict : uint8_t { kSucceeded, kRetry, kFailed, kDead };

// 2xx and 3xx succeed. A failure or status the retry_on list names is retried while
// attempt < attempts (attempt is 1-based: the delivery that just ended), else kDead.
// Anything else (a 4xx or 5xx the list does not name, or a failure it does not name) is
// kFailed: a final answer. connect_failure covers refused and failed connects; "refused" only
// refused; statuses are exact codes (429 etc.). A status 0 with kNone (no response at all)
// counts as kReset. A non-zero status decides even if a failure is set too.
DeliveryVerdict classifyDelivery(const DeliveryOutcome& outcome, const config::RetryOn& retry_on,
                                 uint32_t attempt, uint32_t attempts);

// Milliseconds before the next attempt after failed attempt `attempt` (1-based; 0 counts as
// 1): exponential = delay * 2^(attempt-1) capped at max (no overflow for any attempt), fixed =
// delay (capped at max); jitter full = uniform in [0, that] drawn from `random` (a uniformly
// random 64-bit value: 0 gives 0, UINT64_MAX gives the whole delay), none = exactly that.
// Negative durations count as 0.
int64_t backoffDelayMs(const config::QueueConfig::Backoff& backoff, uint32_t attempt,
                       uint64_t random);

// Short text for the job's last_error: "status 503", "connect refused", "timeout", ...
std::string describeOutcome(const DeliveryOutcome& outcome);

}  // namespace sg::queue
