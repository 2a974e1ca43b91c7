#pragma once
// The phase contract of the request pipeline (docs/life-of-a-request.md). An exchange runs
// its route's request phases in order when a request head arrives, and its response phases
// in order when the upstream's final response head arrives. Each phase is one type in its
// own file, with its own state; the list of phases per route is built once at start-up
// (phase_list.h), so a request never looks a phase up by name.
#include <cstdint>
#include <vector>

namespace sg::proxy {

// What a phase did with the exchange.
enum class Verdict : uint8_t {
  kContinue,  // on to the next phase
  kAnswered,  // the phase answered the request, or took the exchange over: the list stops
  // The phase waits for an event on the worker's loop: a timer (Exchange::armPauseTimer), a
  // socket, or a completion posted from any thread (Worker::completions()). When it comes,
  // the phase's resume or timeout hook runs (phase_list.cpp) and says what happens next:
  // kContinue runs the phases after it, kAnswered ends the list, kPause waits again.
  kPause,
};

// Request phases, in the order they run. Routing and target checks come first for every
// request (route_phase.cpp): the list belongs to the route they find.
enum class RequestPhase : uint8_t {
  kRateLimit,    // rate_limit_phase.cpp: listener then route limits (429)
  kCompression,  // compression_phase.cpp: Accept-Encoding negotiated
  kCacheLookup,  // cache_phase.cpp: hit, stale, revalidate, or wait for another's fetch
  kJobApi,       // job_api_phase.cpp: /jobs/{id} on a listener with async routes (alone)
  kEnqueue,      // enqueue_phase.cpp: an async route stores the request and answers 202
  kBreaker,      // breaker_phase.cpp: circuit breaker and max_requests (503)
  kUpstream,     // upstream_phase.cpp: pick a server, connect, forward (always last)
};

// Response phases, in the order they run on the final response head.
enum class ResponsePhase : uint8_t {
  kRetry,              // retry_phase.cpp: a listed status is retried instead of relayed
  kOutcome,            // breaker_phase.cpp: outlier detection and the breaker's outcome
  kCacheRevalidation,  // cache_phase.cpp: a 304 or stale-if-error answered from the cache
  kCompression,        // compression_phase.cpp: whether this body is compressed
  kCacheStore,         // cache_store_phase.cpp: whether and how this response is stored
  kHeaders,            // response_headers_phase.cpp: X-Cache, sticky cookie, extra headers
};

struct PhaseList {
  std::vector<RequestPhase> request;
  std::vector<ResponsePhase> response;
};

}  // namespace sg::proxy
