// The cache's second layer on the request path (docs/life-of-a-request.md, "Cache"): the
// request that owns a key's fill on this instance (FillLocks) asks the store before the
// upstream. An entry there fills memory and answers; else the store's per-key lock names
// one instance to fetch, and the others poll for its entry until lock_timeout. A store that
// is down, slow or answers garbage leaves the cache to memory alone (L1), never an error.
#include <atomic>
#include <chrono>

#include "cache/l2_codec.h"
#include "cache/rfc9111.h"
#include "proxy/cache_phase.h"
#include "proxy/exchange.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"
#include "store/client.h"

namespace sg::proxy {

namespace {

using Outcome = cache::FillLocks::Outcome;

// Between two looks at a key another instance is fetching.
constexpr int64_t kPollIntervalMs = 20;
// How long a fetch that stored nothing lets the waiting instances go on without waiting.
constexpr int64_t kPassMs = 1000;

cache::Time wallNow() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// Writes and lock releases are not waited for: their replies (or failures, counted by the
// store's own metrics) are dropped here.
class DiscardReplies final : public store::ReplyHandler {
 public:
  void onReply(uint64_t /*cookie*/, const store::Reply& /*reply*/) override {}
};
DiscardReplies discard_replies;

std::atomic<uint64_t> next_owner{0};

}  // namespace

bool CachePhase::l2Enabled() const {
  return ex_.route != nullptr && ex_.route->cache != nullptr && ex_.route->cache->config->l2 &&
         !ex_.refresh() && ex_.worker->store() != nullptr;
}

// mode: "1" look, and take the key's lock when nothing is stored; "2" take the lock anyway.
Verdict CachePhase::lookupL2(char mode) {
  RouteCache& route_cache = *ex_.route->cache;
  store::Client* client = ex_.worker->store();
  if (!client->ready()) {
    route_cache.l2_lookups[static_cast<size_t>(L2LookupResult::kFailed)]->inc();
    return Verdict::kContinue;
  }
  if (l2_owner_.empty()) {
    l2_owner_ = route_cache.shared->instance;
    l2_owner_.append("-").append(std::to_string(next_owner.fetch_add(1) + 1));
  }
  const std::string key = l2Key(state_.key);
  const std::string lock_ms = std::to_string(route_cache.shared->config.lock_timeout.count());
  const char mode_text[2] = {mode, '\0'};
  std::string command;
  store::appendScriptCall(&command, l2LookupScript(), key, {mode_text, l2_owner_, lock_ms});
  if (!client->send(key, std::move(command), &l2LookupScript(), this, 0)) {
    route_cache.l2_lookups[static_cast<size_t>(L2LookupResult::kFailed)]->inc();
    return Verdict::kContinue;
  }
  l2_checked_ = true;
  l2_step_ = L2Step::kLookup;
  return Verdict::kPause;
}

void CachePhase::onReply(uint64_t /*cookie*/, const store::Reply& reply) {
  if (l2_step_ != L2Step::kLookup) return;
  l2_step_ = L2Step::kIdle;
  l2_answer_ = parseL2Lookup(reply, ex_.route->cache->owner, ex_.request.headers);
  ex_.onCompletion(kL2Answered);
}

Verdict CachePhase::onL2Answer() {
  RouteCache& route_cache = *ex_.route->cache;
  L2Lookup answer = std::move(l2_answer_);
  l2_answer_ = {};
  if (!answer.ok) {  // down, slow or garbage: memory alone, this request fetches
    route_cache.l2_lookups[static_cast<size_t>(L2LookupResult::kFailed)]->inc();
    return Verdict::kContinue;
  }
  const bool found = answer.entry != nullptr;
  route_cache
      .l2_lookups[static_cast<size_t>(found ? L2LookupResult::kFound : L2LookupResult::kMissing)]
      ->inc();
  if (found) {
    bool served = false;
    const Verdict verdict = useL2Entry(std::move(answer.entry), &served);
    if (served) return verdict;
  }
  switch (answer.lock) {
    case L2LockState::kNotAsked:  // something stored, nothing usable: now the lock
      return lookupL2('2');
    case L2LockState::kTaken:
      l2_lock_owner_ = true;
      return Verdict::kContinue;
    case L2LockState::kPass:
      return Verdict::kContinue;
    case L2LockState::kBusy:
      break;
  }
  return waitForL2Fill();
}

// A usable entry fills memory (when it is newer than what memory holds) and answers; one
// that needs revalidating becomes the copy this request revalidates.
Verdict CachePhase::useL2Entry(std::shared_ptr<const cache::CachedResponse> entry, bool* served) {
  const bool newer = !state_.stale || entry->response_time > state_.stale->response_time;
  CacheResult result = CacheResult::kHit;
  const cache::ServeAction action = cache::decideServe(*entry, state_.request_cc, wallNow());
  switch (action) {
    case cache::ServeAction::kHit:
      break;
    case cache::ServeAction::kStaleHit:
    case cache::ServeAction::kStaleWhileRevalidate:
      result = CacheResult::kStale;
      break;
    case cache::ServeAction::kRevalidate:
      if (newer) state_.stale = std::move(entry);
      state_.revalidating = true;  // the upstream request carries its validators
      return Verdict::kContinue;
    case cache::ServeAction::kGatewayTimeout:
      return Verdict::kContinue;
  }
  if (newer) ex_.route->cache->shared->cache.insert(entry);
  // The waiters on this instance find it in memory (or, refused there, ask the L2 again).
  releaseFill(Outcome::kStored);
  // As from memory: the refresh replays this request's head (not storable with a Range).
  if (action == cache::ServeAction::kStaleWhileRevalidate && !has_range_) refreshInBackground();
  from_l2_ = true;
  *served = true;
  return serve(std::move(entry), result);
}

// Another instance fetches the key: look again every kPollIntervalMs until its entry is
// there, its lock ends, or lock_timeout passes (then this request fetches on its own).
Verdict CachePhase::waitForL2Fill() {
  const int64_t now_ms = ex_.nowMs();
  if (l2_deadline_ms_ == 0) {
    l2_deadline_ms_ = now_ms + ex_.route->cache->shared->config.lock_timeout.count();
    if (!state_.collapsed) ex_.route->cache->collapsed->inc();
    state_.collapsed = true;
  }
  if (now_ms >= l2_deadline_ms_) {
    ex_.route->cache->lock_timeouts->inc();
    return Verdict::kContinue;
  }
  l2_step_ = L2Step::kPolling;
  ex_.armPauseTimer(std::min(kPollIntervalMs, l2_deadline_ms_ - now_ms));
  return Verdict::kPause;
}

// Sent when the response joins memory (a fill, or a 304's freshened copy). Not waited for.
void CachePhase::writeL2(const std::shared_ptr<const cache::CachedResponse>& entry) {
  // A background refresh writes too (it never looks: it revalidates what memory holds).
  if (!entry || entry->partial() || !ex_.route->cache->config->l2) return;
  RouteCache& route_cache = *ex_.route->cache;
  if (entry->bodyBytes().size() > route_cache.config->l2_max_object_size) return;
  const int64_t ttl_ms = l2TtlMs(*entry, wallNow());
  store::Client* client = ex_.worker->store();
  if (ttl_ms <= 0 || client == nullptr || !client->ready()) return;
  const std::string key = l2Key(entry->key);
  const std::string names = cache::l2VaryNames(entry->vary);
  const std::string field = cache::l2VariantField(entry->vary);
  const std::string bytes = cache::encodeL2Entry(*entry);
  const std::string ttl = std::to_string(ttl_ms);
  std::string command;
  store::appendScriptCall(&command, l2StoreScript(), key, {names, field, bytes, ttl, l2_owner_});
  if (!client->send(key, std::move(command), &l2StoreScript(), &discard_replies, 0)) return;
  l2_written_ = true;
  route_cache.l2_writes->inc();
}

// The fetch this request made for the L2 ended without a write: the instances waiting for
// it go on their own at once rather than at lock_timeout.
void CachePhase::endL2Lock() {
  if (!l2_lock_owner_) return;
  l2_lock_owner_ = false;
  store::Client* client = ex_.worker->store();
  if (l2_written_ || client == nullptr || !client->ready()) return;
  const std::string key = l2Key(state_.key);
  const std::string pass_ms = std::to_string(kPassMs);
  std::string command;
  store::appendScriptCall(&command, l2ReleaseScript(), key, {l2_owner_, pass_ms});
  client->send(key, std::move(command), &l2ReleaseScript(), &discard_replies, 0);
}

void CachePhase::resetL2() {
  if (l2_step_ == L2Step::kLookup) {
    if (store::Client* client = ex_.worker->store()) client->cancel(this);
  }
  l2_step_ = L2Step::kIdle;
  l2_checked_ = false;
  l2_lock_owner_ = false;
  l2_written_ = false;
  from_l2_ = false;
  l2_deadline_ms_ = 0;
  l2_owner_.clear();
  l2_answer_ = {};
}

}  // namespace sg::proxy
