#!/usr/bin/env bash
# Reloads under load: RELOADS reloads (SIGHUP, in the process; SIGNAL=USR2 for binary upgrades,
# each a new process) that alternately add a route and change the weights of the upstream's two
# servers, spread over DURATION seconds of h2load traffic (CLIENTS keep-alive connections), then
# h2load's own counts: requests failed and errored must be 0, every status 2xx. With SIGHUP the
# pid must stay the same, and the client connections the gateway accepted over the run are
# reported (CLIENTS when every connection moved across every reload, none re-opened).
#   bench/reload_under_load.sh                 # 60 s, 20 reloads, HTTP/1.1
#   DURATION=20 RELOADS=5 bench/reload_under_load.sh
#   PROTO=h2c bench/reload_under_load.sh       # HTTP/2 with prior knowledge (h2c listener)
# Stops only what it started, by pid (successors are read from the log: each reload's old
# process exits, its successor lives on).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-60}
RELOADS=${RELOADS:-20}
CLIENTS=${CLIENTS:-16}
PROTO=${PROTO:-h1}
SIGNAL=${SIGNAL:-HUP}
BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
RUN_DIR=$(mktemp -d /tmp/scalegate-reload.XXXXXX)
PIDS=()
declare -A PID
say() { echo "reload bench: $*"; }
die() {
  echo "reload bench: $*" >&2
  exit 1
}
# shellcheck source=bench/proc_lib.sh
source "$ROOT/bench/proc_lib.sh"
install_cleanup

ORIGIN1=$(free_port) ORIGIN2=$(free_port) PORT=$(free_port) ADMIN=$(free_port)
for port in "$ORIGIN1" "$ORIGIN2"; do
  cat >"$RUN_DIR/origin-$port.conf" <<CONF
worker_processes 1; daemon off; pid $RUN_DIR/origin-$port.pid; error_log $RUN_DIR/origin-$port.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$port backlog=4096; location / { return 200 "hello from upstream\n"; } } }
CONF
  start "origin-$port" 1 nginx -c "$RUN_DIR/origin-$port.conf"
done

write_config() { # round: even rounds add a route, odd ones change weights
  local round=$1 w1=1 w2=1 extra=""
  ((round % 2 == 1)) && w1=$((1 + round % 5)) && w2=$((5 - round % 5))
  ((round % 2 == 0 && round > 0)) && extra="
      - { name: added-$round, match: { prefix: /added-$round }, upstream: app }"
  local h2c=""
  [[ "$PROTO" == h2c ]] && h2c="
    http2: { h2c: true }"
  cat >"$RUN_DIR/scalegate.yaml" <<CONF
workers: 2
admin: { address: 127.0.0.1:$ADMIN }
listeners:
  - name: public
    address: 127.0.0.1:$PORT$h2c
    routes:$extra
      - { name: all, match: { prefix: / }, upstream: app }
upstreams:
  app:
    servers:
      - { address: 127.0.0.1:$ORIGIN1, weight: $w1 }
      - { address: 127.0.0.1:$ORIGIN2, weight: $w2 }
CONF
}

write_config 0
"$BIN" run -c "$RUN_DIR/scalegate.yaml" >"$RUN_DIR/scalegate.log" 2>&1 &
CURRENT=$!
EXTRA_PIDS=$CURRENT
# On any exit, every successor the log names is stopped too (not only those seen so far).
successors() { grep -o 'process [0-9]* serves now' "$RUN_DIR/scalegate.log" | awk '{print $2}' || true; }
trap 'rc=$?; EXTRA_PIDS="$CURRENT $(successors | tr "\n" " ")"; (exit $rc); cleanup_on_exit' EXIT
EXPECTED_BODY="hello from upstream"
PID[scalegate]=$CURRENT
wait_ready scalegate "$PORT"

H2LOAD_ARGS=(-D "$DURATION" -c "$CLIENTS" -t 1 -m 1)
[[ "$PROTO" == h1 ]] && H2LOAD_ARGS+=(--h1)
[[ "$PROTO" == h2c ]] && H2LOAD_ARGS=(-D "$DURATION" -c "$CLIENTS" -t 1 -m 10)
taskset -c 1 h2load "${H2LOAD_ARGS[@]}" "http://127.0.0.1:$PORT/" >"$RUN_DIR/h2load.out" 2>&1 &
LOAD=$!
gap=$(awk -v d="$DURATION" -v r="$RELOADS" 'BEGIN { printf "%.2f", d / (r + 1) }')
for round in $(seq "$RELOADS"); do
  sleep "$gap"
  write_config "$round"
  kill "-$SIGNAL" "$CURRENT"
  if [[ "$SIGNAL" == HUP ]]; then
    for _ in $(seq 300); do
      served=$(grep -c 'reload: the new configuration serves' "$RUN_DIR/scalegate.log" || true)
      ((served >= round)) && break
      sleep 0.1
    done
    ((served >= round)) || die "reload $round: not served (see $RUN_DIR/scalegate.log)"
    kill -0 "$CURRENT" 2>/dev/null || die "reload $round: the process is gone"
    continue
  fi
  for _ in $(seq 300); do
    next=$(grep -o 'process [0-9]* serves now' "$RUN_DIR/scalegate.log" | sed -n "${round}p" | awk '{print $2}' || true)
    [[ -n "$next" ]] && break
    sleep 0.1
  done
  [[ -n "$next" ]] || die "reload $round: no successor (see $RUN_DIR/scalegate.log)"
  CURRENT=$next
  EXTRA_PIDS="$EXTRA_PIDS $CURRENT"
done
wait "$LOAD" || true
grep -E "^requests:|^status codes:|^finished in" "$RUN_DIR/h2load.out"
if [[ "$SIGNAL" == HUP ]]; then
  accepted=$(curl -s "http://127.0.0.1:$ADMIN/metrics" |
    awk '/^scalegate_connections_total\{listener="public"\}/ { print $2 }')
  gone=$(grep -c 'the old configuration has drained and is gone' "$RUN_DIR/scalegate.log" || true)
  say "same process throughout; client connections accepted over the run: $accepted (clients: $CLIENTS); old configurations gone: $gone of $RELOADS"
fi
failed=$(awk '/^requests:/ { print $10 }' "$RUN_DIR/h2load.out")
errored=$(awk '/^requests:/ { print $12 }' "$RUN_DIR/h2load.out")
say "$RELOADS reloads (SIG$SIGNAL, $PROTO) in ${DURATION}s: failed requests = $failed, errored = $errored"
[[ "$failed" == 0 && "$errored" == 0 ]] || exit 1
