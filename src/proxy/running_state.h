#pragma once
// The running state a successor process takes over on reload and binary upgrade (as HAProxy's
// server-state file does across reloads): for each upstream whose configuration did not change
// (same name, same YAML), each server's health (active check verdict, passive failures, outlier
// ejection), its admin state and weight as set through the admin API, the round-robin position
// and the circuit breaker (open, or its rolling window); the in-memory cache; the session
// ticket keys of each TLS listener whose `tls` block did not change; and the keys of each
// local rate limit whose configuration did not change. Monotonic
// times are machine-wide (CLOCK_MONOTONIC), so deadlines keep their meaning in the successor.
// Servers added at run time (discovery, registry) are not carried: their sources fill them.
#include <cstdint>
#include <string>
#include <string_view>

namespace sg::proxy {

class SharedState;

struct CarriedState {
  size_t upstreams = 0;        // upstreams whose state was taken over
  size_t servers = 0;          // servers whose health and admin state were taken over
  size_t changed = 0;          // upstreams left fresh: their configuration changed
  size_t cache_entries = 0;    // cache entries taken over
  size_t cache_refused = 0;    // cache entries the (new) cache did not keep
  size_t cache_unowned = 0;    // cache entries of routes that no longer cache (dropped)
  size_t ticket_keys = 0;      // TLS listeners whose session ticket keys were taken over
  size_t rate_limit_keys = 0;  // keys of local rate limits taken over (same limit config)
};

// "the state of N upstream(s) (M servers), K cache entries (...) ...": for the log line.
std::string describe(const CarriedState& carried);

// The state of `shared` now, as bytes for importRunningState.
std::string exportRunningState(SharedState& shared, int64_t now_ms);

// Applies `bytes` from exportRunningState to `shared`, before its workers and health checks
// start. False with *error when the bytes are not a valid export; what was applied stays.
bool importRunningState(SharedState& shared, std::string_view bytes, int64_t now_ms,
                        CarriedState* carried, std::string* error);

}  // namespace sg::proxy
