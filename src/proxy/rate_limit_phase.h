#pragma once
// Rate limits of a request (listener key `rate_limit`, then the route's): every limit is
// checked and described in the RateLimit-Policy and RateLimit headers; a refusal is a 429.
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/phase.h"

namespace sg::proxy {

class Exchange;
struct SharedLimit;

class RateLimitPhase {
 public:
  explicit RateLimitPhase(Exchange& exchange) : ex_(exchange) {}
  Verdict run();

 private:
  std::string_view limitKey(const SharedLimit& limit) const;
  uint32_t checkLimit(SharedLimit& limit, int64_t now_us);
  bool ambiguousKey(const SharedLimit* const* limits) const;

  Exchange& ex_;
  std::string policy_;  // RateLimit-Policy members (capacity kept between requests)
  std::string state_;   // RateLimit members
};

}  // namespace sg::proxy
