#pragma once
// Rate limits of a request (listener key `rate_limit`, then the route's): every limit is
// checked and described in the RateLimit-Policy and RateLimit headers; a refusal is a 429.
// A `scope: cluster` limit is decided by the shared store (one script call, or a lease of
// quota spent locally); the phase pauses for the store's replies and decides locally, at
// the fallback rate, when the store fails.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/phase.h"
#include "ratelimit/rate_limiter.h"
#include "store/reply.h"

namespace sg::proxy {

class Exchange;
struct SharedLimit;
struct LeaseSlot;

class RateLimitPhase final : public store::ReplyHandler {
 public:
  explicit RateLimitPhase(Exchange& exchange) : ex_(exchange) {}
  Verdict run();
  // Resumed when the last store reply has come (phase_list.cpp).
  Verdict onStoreReplies() { return finish(); }
  void onReply(uint64_t cookie, const store::Reply& reply) override;
  // The exchange ends: replies still to come are dropped.
  void reset();
  // The lease call this request waited for (lease mode) has been answered.
  void onLeaseAnswered(size_t index);

 private:
  static constexpr size_t kLimits = 2;  // the listener's, then the route's

  std::string_view limitKey(const SharedLimit& limit) const;
  bool ambiguousKey() const;
  void decideCluster(size_t index, std::string_view key);
  bool decideFromLease(size_t index, LeaseSlot& slot);
  bool askStore(size_t index, std::string_view key, uint64_t want);
  void decideByFallback(size_t index);
  void takeResult(size_t index, const store::Reply& reply);
  void keepLease(size_t index, uint64_t granted, const ratelimit::Decision& decision);
  LeaseSlot& leaseSlot(size_t index);
  bool decideLeased(size_t index);
  void wakeLeaseWaiters(size_t index);
  void oneDecided();
  Verdict finish();
  uint32_t count(size_t index);

  Exchange& ex_;
  SharedLimit* limits_[kLimits] = {};
  ratelimit::Decision decisions_[kLimits];
  std::string keys_[kLimits];        // cluster limits: the key, kept until the reply
  uint64_t wanted_[kLimits] = {};    // cluster limits: the quota asked of the store
  uint8_t waiting_ = 0;              // store replies (or lease calls of others) still to come
  bool lease_waiter_[kLimits] = {};  // waiting in a LeaseSlot's waiters
  bool asked_[kLimits] = {};         // a store call of this request is unanswered
  std::string policy_;               // RateLimit-Policy members (capacity kept between requests)
  std::string state_;                // RateLimit members
  std::vector<std::string> args_;    // the script's arguments, reused
};

}  // namespace sg::proxy
