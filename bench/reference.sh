#!/usr/bin/env bash
# Runs the shared reference harness (../shared/bench/cpu_per_req.sh) with scalegate measured
# beside its nginx and HAProxy: scalegate is started here pinned to CPU 0, listening on
# 127.0.0.1:18084 and proxying the harness's origin on 127.0.0.1:18080 (bench/scalegate-ref.yaml),
# its pid written to a file that is passed as scalegate=18084:PIDFILE. It is stopped by pid at the end.
# Env: SCALEGATE_BIN (build/src/app/scalegate), REFERENCE (../shared/bench/cpu_per_req.sh),
#      and the harness's own N, CONN, ROUNDS.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
SCALEGATE_BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
REFERENCE=${REFERENCE:-$ROOT/../shared/bench/cpu_per_req.sh}
PORT=18084

die() {
  echo "bench/reference: ERROR: $*" >&2
  exit 1
}
[[ -x "$SCALEGATE_BIN" ]] || die "no scalegate binary at $SCALEGATE_BIN (build first)"
[[ -f "$REFERENCE" ]] || die "reference harness not found at $REFERENCE"
if (: <"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "127.0.0.1:$PORT is already in use"; fi

alive() { # running (not gone, not a zombie waiting to be reaped)
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ "${s:0:1}" != Z ]]
}

PIDFILE=$(mktemp /tmp/scalegate-ref.XXXXXX.pid)
LOG=${PIDFILE%.pid}.log
SG_PID=
# shellcheck disable=SC2317  # (called through the EXIT trap)
stop() {
  local rc=$?
  if [[ -n "$SG_PID" ]]; then
    kill -TERM "$SG_PID" 2>/dev/null || true
    for _ in $(seq 50); do alive "$SG_PID" || break; sleep 0.1; done
    kill -KILL "$SG_PID" 2>/dev/null || true
    wait "$SG_PID" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  if ((rc == 0)); then rm -f "$LOG"; else echo "bench/reference: scalegate log kept in $LOG" >&2; fi
}
trap stop EXIT

"$SCALEGATE_BIN" check -c "$BENCH_DIR/scalegate-ref.yaml"
taskset -c 0 "$SCALEGATE_BIN" run -c "$BENCH_DIR/scalegate-ref.yaml" >"$LOG" 2>&1 &
SG_PID=$!
echo "$SG_PID" >"$PIDFILE"
echo "bench/reference: scalegate pid $SG_PID on 127.0.0.1:$PORT (CPU 0), log $LOG"
sleep 1
alive "$SG_PID" || { cat "$LOG" >&2; die "scalegate exited during start-up"; }

bash "$REFERENCE" "scalegate=$PORT:$PIDFILE"
