#!/usr/bin/env bash
# Protection overhead in one run (issue 4: <= 1.10x): CPU time per proxied request of a bare
# route against the same route with a circuit breaker (with every max_* cap set) and a
# token-bucket rate limit keyed by client IP (set high enough never to refuse), and the
# same with gzip compression of a small JSON-free text body skipped by min_size (so only the
# decision is paid). Metrics are always on. One nginx origin on CPU 1; each scalegate has one
# worker pinned to CPU 0; h2load on CPU 1.
# Env: N (200000 requests per measurement), ROUNDS (3), SCALEGATE_BIN. Loopback only; stops
# only the processes it started, by pid.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/overhead_lib.sh"
ORIGIN=18380
declare -A PORT=([bare]=18390 [protected]=18391 [compressing]=18392)
declare -A ROUTE_EXTRA=(
  [bare]=""
  [protected]="        rate_limit: { algorithm: token_bucket, key: ip, rate: 1000000000/s }"
  [compressing]="        rate_limit: { algorithm: token_bucket, key: ip, rate: 1000000000/s }
        compression: { min_size: 1KiB }"
)
declare -A UPSTREAM_EXTRA=(
  [bare]=""
  [protected]="    circuit_breaker: { max_connections: 10000, max_pending: 10000, max_requests: 10000, max_retries: 100 }"
  [compressing]="    circuit_breaker: { max_connections: 10000, max_pending: 10000, max_requests: 10000, max_retries: 100 }"
)

start_origin "$ORIGIN"
for name in bare protected compressing; do
  cat >"$DIR/$name.yaml" <<CONF
workers: 1
listeners:
  - name: bench
    address: 127.0.0.1:${PORT[$name]}
    routes:
      - match: { prefix: / }
        upstream: origin
${ROUTE_EXTRA[$name]}
upstreams:
  origin:
${UPSTREAM_EXTRA[$name]}
    servers:
      - address: 127.0.0.1:$ORIGIN
CONF
  start_scalegate "$name" "${PORT[$name]}" "$DIR/$name.yaml"
done
sleep 1
compare "bare protected compressing"
