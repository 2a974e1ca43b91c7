// Rate limits (docs/life-of-a-request.md, "Rate limit"): the listener's limit, then the
// route's, each checked against a limiter shared by all workers, or (scope: cluster) by the
// store shared by every instance.
#include "proxy/rate_limit_phase.h"

#include <algorithm>
#include <array>
#include <utility>

#include "proxy/client_connection.h"
#include "proxy/exchange.h"
#include "proxy/request_key.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"
#include "ratelimit/cluster_script.h"
#include "ratelimit/headers.h"
#include "store/client.h"
#include "store/script.h"

namespace sg::proxy {

namespace {

// Unspent leased quota is dropped after this: it was taken from the store, so holding it
// longer only starves the other instances.
constexpr int64_t kLeaseLifetimeUs = 1'000'000;

}  // namespace

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

// A key header sent on several lines is refused: which line is the key would be a guess,
// and a guess other than the upstream's lets a client put a fresh key in front of the
// real one and get a bucket of its own.
bool RateLimitPhase::ambiguousKey() const {
  for (const SharedLimit* limit : limits_) {
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
  limits_[0] = ex_.listener->rate_limit.get();
  limits_[1] = ex_.route->rate_limit.get();
  // A refresh is the gateway's own request; a delivery was counted when it was accepted.
  if (ex_.refresh() || ex_.client->delivery() || (limits_[0] == nullptr && limits_[1] == nullptr))
    return Verdict::kContinue;
  if (ambiguousKey()) {
    ex_.consumeHead();
    ex_.countReject(0, RejectReason::kAmbiguousKey);
    ex_.reject(400, true);
    return Verdict::kAnswered;
  }
  for (size_t i = 0; i < kLimits; ++i) {
    SharedLimit* limit = limits_[i];
    if (limit == nullptr) continue;
    if (limit->cluster) {
      decideCluster(i, limitKey(*limit));
    } else {
      decisions_[i] = limit->limiter->check(limitKey(*limit), ex_.started_us);
    }
  }
  return waiting_ > 0 ? Verdict::kPause : finish();
}

// Lease mode spends quota this worker holds, or waits for the lease call already in flight
// for the key; otherwise the store decides; a store that cannot take the call leaves it to
// the fallback limiter.
void RateLimitPhase::decideCluster(size_t index, std::string_view key) {
  SharedLimit& limit = *limits_[index];
  keys_[index].assign(key);
  if (limit.config->lease > 1) {
    if (!decideLeased(index)) ++waiting_;
    return;
  }
  if (askStore(index, key, 1)) {
    ++waiting_;
  } else {
    decideByFallback(index);
  }
}

LeaseSlot& RateLimitPhase::leaseSlot(size_t index) {
  auto& leases = limits_[index]->cluster->leases[ex_.worker->index()];
  if (leases.size() >= limits_[index]->config->max_keys) {  // bounded, like the key table
    std::erase_if(leases, [](const auto& entry) {
      return !entry.second.fetching && entry.second.waiters.empty();
    });
  }
  return leases[keys_[index]];
}

// True when decided now (from the lease, by the fallback); false when it waits for a reply.
bool RateLimitPhase::decideLeased(size_t index) {
  LeaseSlot& slot = leaseSlot(index);
  if (decideFromLease(index, slot)) return true;
  if (slot.fetching) {
    slot.waiters.emplace_back(this, static_cast<uint8_t>(index));
    lease_waiter_[index] = true;
    return false;
  }
  if (askStore(index, keys_[index], limits_[index]->cluster->lease_share)) return false;
  decideByFallback(index);
  return true;
}

void RateLimitPhase::onLeaseAnswered(size_t index) {
  lease_waiter_[index] = false;
  if (decideLeased(index)) oneDecided();
}

// The call's waiters decide in turn from what it brought; when it is spent, the next one
// asks again and the rest wait for that call. The slot may move (others insert keys), so it
// is looked up again each time.
void RateLimitPhase::wakeLeaseWaiters(size_t index) {
  std::vector<std::pair<RateLimitPhase*, uint8_t>> waiters;
  waiters.swap(leaseSlot(index).waiters);
  for (auto [phase, at] : waiters) phase->onLeaseAnswered(at);
}

void RateLimitPhase::oneDecided() {
  if (--waiting_ == 0) ex_.onCompletion(0);
}

bool RateLimitPhase::decideFromLease(size_t index, LeaseSlot& slot) {
  const int64_t now = ex_.started_us;
  if (now < slot.refused_until_us) {
    decisions_[index] = slot.decision;
    decisions_[index].retry_after_us = slot.refused_until_us - now;
    decisions_[index].retry_after_seconds =
        static_cast<uint32_t>((decisions_[index].retry_after_us + 999'999) / 1'000'000);
    return true;
  }
  if (slot.tokens == 0 || now >= slot.expires_us) return false;
  --slot.tokens;
  decisions_[index] = slot.decision;
  decisions_[index].remaining = slot.decision.remaining + slot.tokens;
  return true;
}

bool RateLimitPhase::askStore(size_t index, std::string_view key, uint64_t want) {
  store::Client* client = ex_.worker->store();
  if (client == nullptr || !client->ready()) {
    if (store::StoreStats* stats = ex_.worker->shared().storeStats()) stats->unavailable->inc();
    return false;
  }
  SharedLimit& limit = *limits_[index];
  const ratelimit::Limits& limits = limit.limiter->limitsFor(key);
  args_.clear();
  ratelimit::appendClusterArgs(limit.config->algorithm, limits, want, args_);
  std::array<std::string_view, ratelimit::kClusterArgCount> args;
  std::copy(args_.begin(), args_.end(), args.begin());
  const std::string redis_key = ratelimit::clusterKey(limit.config->name, key);
  std::string command;
  store::appendScriptCall(&command, clusterLimitScript(), redis_key, args.data(), args.size());
  if (!client->send(redis_key, std::move(command), &clusterLimitScript(), this, index))
    return false;
  limit.cluster->store_calls->inc();
  wanted_[index] = want;
  asked_[index] = true;
  if (want > 1) leaseSlot(index).fetching = true;
  return true;
}

void RateLimitPhase::decideByFallback(size_t index) {
  SharedLimit& limit = *limits_[index];
  limit.cluster->fallbacks->inc();
  if (store::StoreStats* stats = ex_.worker->shared().storeStats()) stats->fallbacks->inc();
  decisions_[index] = limit.cluster->fallback->check(limitKey(limit), ex_.started_us);
}

void RateLimitPhase::onReply(uint64_t cookie, const store::Reply& reply) {
  const size_t index = static_cast<size_t>(cookie);
  if (index >= kLimits || limits_[index] == nullptr || !asked_[index]) return;
  asked_[index] = false;
  takeResult(index, reply);
  if (wanted_[index] > 1) wakeLeaseWaiters(index);
  oneDecided();
}

// The script's four integers become the decision; anything else (an error, a timeout, a
// lost connection, a reply the script cannot have sent) is decided by the fallback.
void RateLimitPhase::takeResult(size_t index, const store::Reply& reply) {
  SharedLimit& limit = *limits_[index];
  std::array<int64_t, 4> values{};
  bool shaped = reply.isArray() && reply.size() == values.size();
  for (size_t i = 0; shaped && i < values.size(); ++i) {
    shaped = reply.element(i).isInteger();
    values[i] = reply.element(i).integer();
  }
  const auto result = shaped ? ratelimit::decodeClusterReply(values, wanted_[index]) : std::nullopt;
  if (!result) {
    if (wanted_[index] > 1)
      limit.cluster->leases[ex_.worker->index()][keys_[index]].fetching = false;
    return decideByFallback(index);
  }
  const ratelimit::Limits& limits = limit.limiter->limitsFor(keys_[index]);
  ratelimit::Outcome outcome = result->outcome;
  outcome.allowed = result->granted > 0;  // a partly granted lease admits this request
  if (outcome.allowed) outcome.retry_us = 0;
  decisions_[index] = ratelimit::toDecision(outcome, limits, limit.limiter->tierFor(keys_[index]));
  if (wanted_[index] > 1) keepLease(index, result->granted, decisions_[index]);
}

void RateLimitPhase::keepLease(size_t index, uint64_t granted,
                               const ratelimit::Decision& decision) {
  LeaseSlot& slot = leaseSlot(index);
  slot.fetching = false;
  slot.decision = decision;
  if (granted == 0) {
    slot.refused_until_us = ex_.started_us + decision.retry_after_us;
    return;
  }
  slot.tokens += granted - 1;  // one admits this request
  slot.expires_us = ex_.started_us + kLeaseLifetimeUs;
  decisions_[index].remaining = decision.remaining + slot.tokens;
}

// A lease call this request made is abandoned with it: its waiters must not wait for a
// reply that will never come, so the next of them asks again.
void RateLimitPhase::reset() {
  if (waiting_ == 0) return;
  waiting_ = 0;
  if (store::Client* client = ex_.worker->store()) client->cancel(this);
  for (size_t i = 0; i < kLimits; ++i) {
    if (lease_waiter_[i]) {
      lease_waiter_[i] = false;
      std::erase_if(leaseSlot(i).waiters,
                    [this](const auto& waiter) { return waiter.first == this; });
    }
    if (std::exchange(asked_[i], false) && wanted_[i] > 1) {
      leaseSlot(i).fetching = false;
      wakeLeaseWaiters(i);
    }
  }
}

// Counts one limit's decision; returns the seconds a refused request must wait, or 0 when
// it may go on (shadow refusals go on).
uint32_t RateLimitPhase::count(size_t index) {
  SharedLimit& limit = *limits_[index];
  const ratelimit::Decision& decision = decisions_[index];
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

Verdict RateLimitPhase::finish() {
  policy_.clear();
  state_.clear();
  uint32_t retry_after = 0;
  for (size_t i = 0; i < kLimits; ++i) {
    if (limits_[i] != nullptr) retry_after = std::max(retry_after, count(i));
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
