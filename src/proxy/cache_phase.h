#pragma once
// Response caching of a route (route key `cache`; the RFC 9111 rules live in src/cache).
// Request side (cache_phase.cpp): answer from memory when a stored response may be used;
// else one request per key fetches and the others pause until it ends (FillLocks, resumed
// through the worker's completions). Response side (cache_store_phase.cpp): a 304 or a
// covered error answered from the stored copy, and the response stored as it streams.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/fill_locks.h"
#include "cache/ranges.h"
#include "proxy/cache_l2.h"
#include "proxy/cache_state.h"
#include "proxy/phase.h"
#include "store/reply.h"

namespace sg::proxy {

class Exchange;

class CachePhase final : public store::ReplyHandler {
 public:
  // The completion value that resumes a lookup paused for the second layer (L2).
  static constexpr uint64_t kL2Answered = 1000;

  explicit CachePhase(Exchange& exchange) : ex_(exchange) {}

  // Request phase kCacheLookup: kAnswered (served, refused), kPause (waits for another
  // request's fetch) or kContinue (goes to the upstream).
  Verdict lookup();
  // The fetch this exchange waited for ended (a completion), or lock_timeout passed.
  Verdict onFillDone(cache::FillLocks::Outcome outcome);
  Verdict onWaitTimeout();
  // Resumed: a fill this request waited for ended, or the L2 answered (kL2Answered).
  Verdict onResume(uint64_t value);
  // The store's answer to an L2 lookup (cache_l2_phase.cpp).
  void onReply(uint64_t cookie, const store::Reply& reply) override;
  // Response phase kCacheRevalidation: a 304 to the cache's conditional request, or an
  // error covered by stale-if-error, answered from the stored copy.
  Verdict onResponse();
  // Response phase kCacheStore: whether this response will be stored.
  Verdict prepareStore();
  // An upstream failure the gateway answers (502/503/504): the stale copy if allowed.
  bool serveStaleOnError();
  // Body bytes as they reach the client (chunk framing included when the client gets it).
  void captureForStore(std::string_view body_bytes);
  bool storing() const { return state_.store_head != nullptr; }
  // Header lines the cache adds to the upstream request: validators when revalidating, the
  // missing byte range when completing a partial entry.
  std::string upstreamLines() const;
  // The client's response head was written: a completion's stored bytes follow it.
  void afterResponseHead(std::string* head);
  void finishStore();
  // The exchange ends (or is cut): stop waiting, forget a partial store, release the key.
  void end(cache::FillLocks::Outcome outcome);
  // X-Cache on every response of a cached route, counted per route.
  void announce();
  bool active() const { return state_.active; }
  bool sendsValidators() const { return state_.active && state_.result != CacheResult::kBypass; }
  const CacheExchange& state() const { return state_; }
  // A background refresh (stale-while-revalidate) owns the key's fill lock from the start.
  void startRefresh(std::string key);
  void reset();

 private:
  bool start();
  void readRange();
  void keepPost();
  Verdict useStoredResponse();
  Verdict forwardRangeMiss();
  Verdict claimFill();
  void releaseFill(cache::FillLocks::Outcome outcome);
  void refreshInBackground();
  Verdict serve(std::shared_ptr<const cache::CachedResponse> entry, CacheResult result);
  void serveCached(std::shared_ptr<const cache::CachedResponse> entry, CacheResult result);
  cache::RangePlan planRange(const cache::CachedResponse& stored) const;
  bool partialAnswers(const cache::CachedResponse& stored) const;
  // Completing a partial entry (cache_partial_phase.cpp).
  void planCompletion();
  bool acceptCompletion();
  void combineWithPartial();
  void writeCachedHead(const cache::CachedResponse& stored, std::string_view body, bool with_body);
  void freshenStored();
  void dropStore();
  void invalidateAfterUnsafe();
  void countRevalidation(RevalidationResult result);
  // The second layer (cache_l2_phase.cpp).
  bool l2Enabled() const;
  Verdict lookupL2(char mode);
  Verdict onL2Answer();
  Verdict useL2Entry(std::shared_ptr<const cache::CachedResponse> entry, bool* served);
  Verdict waitForL2Fill();
  void writeL2(const std::shared_ptr<const cache::CachedResponse>& entry);
  void endL2Lock();
  void resetL2();

  Exchange& ex_;
  CacheExchange state_;
  // A GET with Range (RFC 9110 14.2: only GET has ranges; HEAD ignores them): looked up like
  // the GET without it; `range_` holds its one byte range (absent: several ranges or an
  // invalid field, answered with the whole stored response).
  bool has_range_ = false;
  std::optional<cache::ByteRangeSpec> range_;
  // A stored partial entry (a 206) this request cannot be answered from.
  std::shared_ptr<const cache::CachedResponse> partial_;
  // The upstream is asked only for the bytes partial_ lacks (completion_lines_: the Range
  // and If-Range lines added); prefix_ are its bytes, sent after the combined 200's head.
  bool completing_ = false;
  std::string completion_lines_;
  std::string_view prefix_;
  // L2: the lookup in flight (kLookup) or the wait for another instance's fetch (kPolling).
  enum class L2Step : uint8_t { kIdle, kLookup, kPolling };
  L2Step l2_step_ = L2Step::kIdle;
  bool l2_checked_ = false;     // this request asked the L2 (once per exchange, polls aside)
  bool l2_lock_owner_ = false;  // holds the key's L2 lock: its fetch fills the L2
  bool l2_written_ = false;     // its response was sent to the L2 (which ends the lock)
  bool from_l2_ = false;        // served from the L2: X-Cache says layer=l2
  int64_t l2_deadline_ms_ = 0;  // waiting for another instance's fetch until then
  std::string l2_owner_;        // this request's name in the L2 lock
  L2Lookup l2_answer_;
};

}  // namespace sg::proxy
