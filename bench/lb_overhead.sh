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
N=${N:-200000}; ROUNDS=${ROUNDS:-3}
BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
DIR=$(mktemp -d /tmp/scalegate-lb.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
TCK=$(getconf CLK_TCK)
ORIGINS=(18280 18281 18282 18283)
declare -A PORT=([round_robin]=18290 [least_request]=18291 [ring_hash]=18292)

for port in "${ORIGINS[@]}"; do
  cat >"$DIR/origin-$port.conf" <<CONF
worker_processes 1; daemon off; pid $DIR/origin-$port.pid; error_log $DIR/origin-$port.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$port reuseport backlog=4096; location / { return 200 "hello from upstream\n"; } } }
CONF
  taskset -c 1 nginx -c "$DIR/origin-$port.conf" & PIDS+=($!)
done
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
  taskset -c 0 "$BIN" run -c "$DIR/$balance.yaml" 2>"$DIR/$balance.log" & PIDS+=($!)
  eval "PID_$balance=$!"
done
sleep 1

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # balance -> "cpu_us rps"
  local pid_var="PID_$1" before after out
  before=$(ticks "${!pid_var}")
  local uris=() u
  for u in $(seq 0 15); do uris+=("http://127.0.0.1:${PORT[$1]}/?u=$u"); done
  out=$(taskset -c 1 h2load --h1 -n "$N" -c 64 -t 1 "${uris[@]}" 2>&1)
  after=$(ticks "${!pid_var}")
  echo "$out" | grep -q "status codes: $N 2xx" || { echo "bench: $1 did not answer all with 2xx" >&2; exit 1; }
  awk -v a="$before" -v b="$after" -v t="$TCK" -v n="$N" -v r="$(echo "$out" | awk '/^finished in/{print $4}')" \
    'BEGIN { printf "%.2f %s\n", (b - a) / t * 1e6 / n, r }'
}
declare -A CPU
for round in $(seq "$ROUNDS"); do
  for balance in round_robin least_request ring_hash; do
    read -r cpu rps < <(measure "$balance")
    CPU[$balance]+="$cpu "
    echo "round $round  $balance  cpu_us_per_req=$cpu rps=$rps"
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
rr=$(median "${CPU[round_robin]}")
for balance in round_robin least_request ring_hash; do
  m=$(median "${CPU[$balance]}")
  awk -v b="$balance" -v m="$m" -v rr="$rr" 'BEGIN { printf "%-14s median cpu_us_per_req=%s  ratio_to_round_robin=%.3f\n", b, m, m / rr }'
done
