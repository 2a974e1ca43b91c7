#!/usr/bin/env bash
# Runs the shared reference harness (../shared/bench/cpu_per_req.sh) with scalegate measured
# beside its nginx and HAProxy: scalegate is started here pinned to CPU 0, listening on
# 127.0.0.1:18084 and proxying the harness's origin on 127.0.0.1:18080 (bench/scalegate-ref.yaml),
# its pid written to a file that is passed as scalegate=18084:PIDFILE. With PROTECTED=1 a second
# scalegate, with a rate limit and a circuit breaker on the route (bench/scalegate-ref-protected.yaml),
# is measured too, as scalegate_protected on 18085: the protection overhead in the same run.
# Every scalegate started here is stopped by pid at the end.
# Env: SCALEGATE_BIN (build/src/app/scalegate), REFERENCE (../shared/bench/cpu_per_req.sh),
#      PROTECTED (0), and the harness's own N, CONN, ROUNDS.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
SCALEGATE_BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
REFERENCE=${REFERENCE:-$ROOT/../shared/bench/cpu_per_req.sh}
PROTECTED=${PROTECTED:-0}

die() {
  echo "bench/reference: ERROR: $*" >&2
  exit 1
}
[[ -x "$SCALEGATE_BIN" ]] || die "no scalegate binary at $SCALEGATE_BIN (build first)"
[[ -f "$REFERENCE" ]] || die "reference harness not found at $REFERENCE"

# shellcheck source=bench/proc_lib.sh
source "$BENCH_DIR/proc_lib.sh"

WORK=$(mktemp -d /tmp/scalegate-ref.XXXXXX)
PIDS=()
# shellcheck disable=SC2317  # (called through the EXIT trap)
stop() {
  local rc=$?
  # shellcheck disable=SC2119  # (no pids beyond PIDS)
  stop_started
  if ((rc == 0)); then rm -rf "$WORK"; else echo "bench/reference: scalegate logs kept in $WORK" >&2; fi
}
trap stop EXIT

ARGS=()
start() { # name port config
  local name=$1 port=$2 config=$3 pid
  if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "127.0.0.1:$port is already in use"; fi
  "$SCALEGATE_BIN" check -c "$config"
  taskset -c 0 "$SCALEGATE_BIN" run -c "$config" >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  echo "$pid" >"$WORK/$name.pid"
  echo "bench/reference: $name pid $pid on 127.0.0.1:$port (CPU 0), log $WORK/$name.log"
  ARGS+=("$name=$port:$WORK/$name.pid")
}

start scalegate 18084 "$BENCH_DIR/scalegate-ref.yaml"
[[ "$PROTECTED" == 1 ]] && start scalegate_protected 18085 "$BENCH_DIR/scalegate-ref-protected.yaml"
sleep 1
for pid in "${PIDS[@]}"; do
  alive "$pid" || { cat "$WORK"/*.log >&2; die "a scalegate exited during start-up"; }
done

bash "$REFERENCE" "${ARGS[@]}"
