#!/usr/bin/env bash
# Balancer overhead in one run: CPU time per proxied request of scalegate with
# `balance: round_robin`, `least_request` and `ring_hash` (hash_on: query:u) over four
# nginx origins (h2load cycles through 16 URIs, /?u=0../?u=15, so every balancer spreads the
# load over all origins), each scalegate pinned to CPU 0 with one worker, load and origins on CPU 1.
# Prints per round and the medians, and the ratios to round_robin (issue 3: <= 1.05x).
# Env: N (200000 requests per measurement), ROUNDS (3), SCALEGATE_BIN. Loopback only; stops
# only the processes it started, by pid.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/overhead_lib.sh"
ORIGINS=(18280 18281 18282 18283)
declare -A PORT=([round_robin]=18290 [least_request]=18291 [ring_hash]=18292)

for port in "${ORIGINS[@]}"; do start_origin "$port"; done
for balance in "${!PORT[@]}"; do
  servers=$(for p in "${ORIGINS[@]}"; do printf '      - { address: 127.0.0.1:%s }\n' "$p"; done)
  cat >"$DIR/$balance.yaml" <<CONF
workers: 1
listeners:
  - name: bench
    address: 127.0.0.1:${PORT[$balance]}
    routes:
      - match: { prefix: / }
        upstream: origins
upstreams:
  origins:
    balance: $balance
    hash_on: query:u
    servers:
$servers
CONF
  start_scalegate "$balance" "${PORT[$balance]}" "$DIR/$balance.yaml"
done
sleep 1
compare "round_robin least_request ring_hash" $(for u in $(seq 0 15); do echo "/?u=$u"; done)
