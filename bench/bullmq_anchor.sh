#!/usr/bin/env bash
# The anchor of the durable-queue benchmark (issue 15): BullMQ's Queue.add from Node against
# this machine's redis-server, in jobs per second, with Redis as BullMQ users run it by
# default (no AOF: an acknowledged job can be lost) and made durable (appendonly yes,
# appendfsync always: what a 202 from scalegate promises).
#
# BullMQ comes from npm (bench/bullmq/package.json, installed into bench/bullmq/node_modules
# on first use). redis-server on CPU 1, node on CPU 0; N jobs (64-byte bodies) with C adds in
# flight, ROUNDS rounds per Redis setting, medians printed.
# Env: N (20000), C (64), ROUNDS (3), BODY (64). Port 18700 on loopback; only the processes
# started here are stopped, by pid.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${N:-20000}
C=${C:-64}
ROUNDS=${ROUNDS:-3}
BODY=${BODY:-64}
REDIS_PORT=18700

say() { echo "bench: $*"; }
die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}

for v in N C ROUNDS BODY; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number (got '${!v}')"
done
for tool in node npm taskset /usr/bin/redis-server /usr/bin/redis-cli; do
  command -v "$tool" >/dev/null || die "'$tool' not found; run: sudo bash scripts/install-deps.sh"
done
taskset -c 1 true 2>/dev/null || die "needs at least 2 CPUs"

# shellcheck source=bench/proc_lib.sh
source "$BENCH_DIR/proc_lib.sh"
port_busy "$REDIS_PORT" && die "127.0.0.1:$REDIS_PORT is already in use"
RUN_DIR=$(mktemp -d /tmp/scalegate-bullmq.XXXXXX)
PIDS=()
declare -A PID=()
FAILURES=()
install_cleanup

if [[ ! -d "$BENCH_DIR/bullmq/node_modules/bullmq" ]]; then
  say "installing bullmq from npm into bench/bullmq/node_modules"
  (cd "$BENCH_DIR/bullmq" && npm install --no-audit --no-fund --silent) || die "npm install bullmq failed"
fi

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

run_setting() { # name redis-args...: ROUNDS runs of add.mjs against a fresh redis-server
  local name=$1
  shift
  local rates=()
  start "redis-$name" 1 /usr/bin/redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
    --dir "$RUN_DIR" "$@"
  for _ in $(seq 100); do
    [[ "$(redis-cli -p "$REDIS_PORT" PING 2>/dev/null)" == PONG ]] && break
    sleep 0.1
  done
  for round in $(seq "$ROUNDS"); do
    local line
    line=$(taskset -c 0 node "$BENCH_DIR/bullmq/add.mjs" "$REDIS_PORT" "$N" "$C" "$BODY") ||
      die "add.mjs failed ($name, round $round)"
    echo "round $round $name $line"
    rates+=("$(echo "$line" | sed -E 's/.*"per_second":([0-9.]+).*/\1/')")
  done
  stop_started
  PIDS=()
  printf '%s\n' "${rates[@]}" | median >"$RUN_DIR/$name.median"
}

say "N=$N C=$C ROUNDS=$ROUNDS BODY=$BODY; run dir $RUN_DIR"
run_setting default
run_setting durable --appendonly yes --appendfsync always
printf '\n%-28s %12s\n' "redis setting" "adds/s"
printf '%-28s %12.0f\n' "default (no AOF)" "$(cat "$RUN_DIR/default.median")"
printf '%-28s %12.0f\n' "appendfsync always" "$(cat "$RUN_DIR/durable.median")"
echo "(medians over $ROUNDS round(s); BullMQ Queue.add, $C in flight, node on CPU 0, redis-server on CPU 1)"
