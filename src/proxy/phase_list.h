#pragma once
// The phase list: every phase's state in one exchange, the list of phases each route runs
// (built once at start-up), and the one place that maps a phase to its code. Adding a phase
// means its own files, an entry in phase.h, a member here, and its cases in phase_list.cpp.
#include "proxy/access_log_phase.h"
#include "proxy/breaker_phase.h"
#include "proxy/cache_phase.h"
#include "proxy/compression_phase.h"
#include "proxy/enqueue_phase.h"
#include "proxy/job_api_phase.h"
#include "proxy/phase.h"
#include "proxy/rate_limit_phase.h"
#include "proxy/response_headers_phase.h"
#include "proxy/retry_phase.h"
#include "proxy/route_phase.h"
#include "proxy/tunnel.h"
#include "proxy/upstream_phase.h"

namespace sg::proxy {

class Exchange;
struct ClientResponseContext;
struct Route;
struct SharedListener;

// The state of each phase for the exchange in flight.
struct Phases {
  explicit Phases(Exchange& exchange)
      : route(exchange),
        rate_limit(exchange),
        compression(exchange),
        cache(exchange),
        jobs(exchange),
        enqueue(exchange),
        breaker(exchange),
        upstream(exchange),
        retry(exchange),
        headers(exchange),
        tunnel(exchange),
        log(exchange) {}

  RoutePhase route;
  RateLimitPhase rate_limit;
  CompressionPhase compression;
  CachePhase cache;
  JobApiPhase jobs;
  EnqueuePhase enqueue;
  BreakerPhase breaker;
  UpstreamPhase upstream;
  RetryPhase retry;
  ResponseHeadersPhase headers;
  TunnelPhase tunnel;  // after a 101: raw bytes both ways
  AccessLogPhase log;
};

// The phases `route` runs, in order: only those its configuration turns on.
PhaseList buildPhaseList(const Route& route, const SharedListener& listener);
// The job API's route (/jobs/ on a listener with async routes): one phase that answers.
PhaseList jobApiPhaseList();

Verdict runRequestPhase(RequestPhase phase, Exchange& exchange);
Verdict runResponsePhase(ResponsePhase phase, Exchange& exchange, ClientResponseContext* context);
// A paused phase's event: a completion posted with `value`, or its pause timer.
Verdict resumeRequestPhase(RequestPhase phase, Exchange& exchange, uint64_t value);
Verdict requestPhaseTimedOut(RequestPhase phase, Exchange& exchange);

}  // namespace sg::proxy
