// The one place that maps phases to their code. Each route's list is built once, when the
// configuration is loaded (SharedState::buildListeners); a request walks its route's list.
#include "proxy/phase_list.h"

#include "proxy/exchange.h"
#include "proxy/head_writer.h"
#include "proxy/router.h"
#include "proxy/shared_state.h"

namespace sg::proxy {

PhaseList buildPhaseList(const Route& route, const SharedListener& listener) {
  PhaseList list;
  const SharedUpstream& upstream = *route.upstream;
  if (listener.rate_limit || route.rate_limit) list.request.push_back(RequestPhase::kRateLimit);
  if (route.compression != nullptr) list.request.push_back(RequestPhase::kCompression);
  if (route.cache) list.request.push_back(RequestPhase::kCacheLookup);
  // Everything before this decides whether the request is accepted; everything after it
  // runs when the stored request is delivered.
  if (route.config->async) list.request.push_back(RequestPhase::kEnqueue);
  if (upstream.breaker) list.request.push_back(RequestPhase::kBreaker);
  list.request.push_back(RequestPhase::kUpstream);

  if (route.config->retries) list.response.push_back(ResponsePhase::kRetry);
  if (upstream.breaker || upstream.outliers) list.response.push_back(ResponsePhase::kOutcome);
  if (route.cache) list.response.push_back(ResponsePhase::kCacheRevalidation);
  if (route.compression != nullptr) list.response.push_back(ResponsePhase::kCompression);
  if (route.cache) list.response.push_back(ResponsePhase::kCacheStore);
  list.response.push_back(ResponsePhase::kHeaders);
  return list;
}

PhaseList jobApiPhaseList() {
  PhaseList list;
  list.request.push_back(RequestPhase::kJobApi);
  return list;
}

Verdict runRequestPhase(RequestPhase phase, Exchange& exchange) {
  Phases& phases = exchange.phases;
  switch (phase) {
    case RequestPhase::kRateLimit:
      return phases.rate_limit.run();
    case RequestPhase::kCompression:
      return phases.compression.negotiate();
    case RequestPhase::kCacheLookup:
      return phases.cache.lookup();
    case RequestPhase::kJobApi:
      return phases.jobs.run();
    case RequestPhase::kEnqueue:
      return phases.enqueue.run();
    case RequestPhase::kBreaker:
      return phases.breaker.admit();
    case RequestPhase::kUpstream:
      return phases.upstream.forward();
  }
  return Verdict::kContinue;
}

Verdict runResponsePhase(ResponsePhase phase, Exchange& exchange, ClientResponseContext* context) {
  Phases& phases = exchange.phases;
  switch (phase) {
    case ResponsePhase::kRetry:
      return phases.retry.onResponse();
    case ResponsePhase::kOutcome:
      return phases.breaker.onResponse();
    case ResponsePhase::kCacheRevalidation:
      return phases.cache.onResponse();
    case ResponsePhase::kCompression:
      return phases.compression.decide(context);
    case ResponsePhase::kCacheStore:
      return phases.cache.prepareStore();
    case ResponsePhase::kHeaders:
      return phases.headers.run(context);
  }
  return Verdict::kContinue;
}

// Only the phases that pause have cases that do something: the others are never resumed.
Verdict resumeRequestPhase(RequestPhase phase, Exchange& exchange, uint64_t value) {
  switch (phase) {
    case RequestPhase::kCacheLookup:
      return exchange.phases.cache.onResume(value);
    case RequestPhase::kRateLimit:
      return exchange.phases.rate_limit.onStoreReplies();
    case RequestPhase::kJobApi:
      return exchange.phases.jobs.onAnswered();
    case RequestPhase::kEnqueue:
      return exchange.phases.enqueue.onStored();
    case RequestPhase::kCompression:
    case RequestPhase::kBreaker:
    case RequestPhase::kUpstream:
      break;
  }
  return Verdict::kContinue;
}

Verdict requestPhaseTimedOut(RequestPhase phase, Exchange& exchange) {
  switch (phase) {
    case RequestPhase::kCacheLookup:
      return exchange.phases.cache.onWaitTimeout();
    case RequestPhase::kJobApi:
      return exchange.phases.jobs.onTimeout();
    case RequestPhase::kEnqueue:
      return exchange.phases.enqueue.onTimeout();
    case RequestPhase::kRateLimit:
    case RequestPhase::kCompression:
    case RequestPhase::kBreaker:
    case RequestPhase::kUpstream:
      break;
  }
  return Verdict::kContinue;
}

}  // namespace sg::proxy
