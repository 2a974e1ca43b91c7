#!/usr/bin/env bash
# Runs the public HTTP cache test suite (cache-tests.fyi, github.com/http-tests/cache-tests)
# against scalegate's cache, a local nginx (proxy_cache) and a local HAProxy (cache), each set
# up as the suite's docker/ setup configures them, and prints one table beside the suite's
# published results (bench/cache_tests_report.mjs), then scalegate's failing tests.
#
#   bash bench/cache_tests.sh SUITE_DIR [RESULTS_DIR]
#
# SUITE_DIR: a checkout of http-tests/cache-tests (node_modules are installed if missing).
# RESULTS_DIR: where the raw JSON per cache (scalegate.json, nginx.json, haproxy.json), the
# filled-in configs and the logs go (default: a new /tmp/cache-tests.XXXXXX).
# Env: SCALEGATE_BIN (default build/src/app/scalegate), CACHES (default "scalegate nginx
# haproxy"; a cache whose binary is missing is skipped), CT_PORT_BASE (default 18400: suite
# server +0, scalegate +1, nginx +2, haproxy +7, scalegate admin +9), CLI_TIMEOUT (s, 600).
set -euo pipefail

die() { echo "cache_tests: $*" >&2; exit 1; }
log() { echo "cache_tests: $*" >&2; }

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
[ $# -ge 1 ] || die "usage: bash bench/cache_tests.sh SUITE_DIR [RESULTS_DIR]"
SUITE_DIR=$(cd "$1" && pwd) || die "no suite checkout at $1"
[ -f "$SUITE_DIR/test-engine/cli.mjs" ] && [ -f "$SUITE_DIR/tests/index.mjs" ] \
  || die "$SUITE_DIR is not a cache-tests checkout (no test-engine/cli.mjs)"
if [ $# -ge 2 ]; then
  RUN_DIR=$2; mkdir -p "$RUN_DIR"; RUN_DIR=$(cd "$RUN_DIR" && pwd)
else
  RUN_DIR=$(mktemp -d /tmp/cache-tests.XXXXXX)
fi
SCALEGATE_BIN=${SCALEGATE_BIN:-$REPO_DIR/build/src/app/scalegate}
CACHES=${CACHES:-scalegate nginx haproxy}
BASE=${CT_PORT_BASE:-18400}
SUITE_PORT=$BASE
CLI_TIMEOUT=${CLI_TIMEOUT:-600}
declare -A PORT=([scalegate]=$((BASE + 1)) [nginx]=$((BASE + 2)) [haproxy]=$((BASE + 7)))
ADMIN_PORT=$((BASE + 9))

command -v node >/dev/null || die "node is required"
command -v npm >/dev/null || die "npm is required"
if [ ! -d "$SUITE_DIR/node_modules/undici" ]; then
  log "installing the suite's node modules (npm i in $SUITE_DIR)"
  (cd "$SUITE_DIR" && timeout 600 npm i --no-audit --no-fund >"$RUN_DIR/npm-install.log" 2>&1) \
    || { tail -20 "$RUN_DIR/npm-install.log" >&2; die "npm i failed"; }
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # PORT PID NAME: up to 15 s for the port to accept, failing early if PID died
  local i
  for i in $(seq 1 150); do
    port_busy "$1" && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (logs in $RUN_DIR)"
    sleep 0.1
  done
  die "$3 did not listen on 127.0.0.1:$1 within 15 s (logs in $RUN_DIR)"
}

# Every process started here, stopped by pid on any exit.
PIDS=()
cleanup() {
  local p i
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fill() {  # TEMPLATE PORT OUT: the bench/cache-tests config with its placeholders filled in
  sed -e "s,@RUN_DIR@,$RUN_DIR,g" -e "s/@PORT@/$2/g" -e "s/@SUITE_PORT@/$SUITE_PORT/g" \
      -e "s/@ADMIN_PORT@/$ADMIN_PORT/g" "$BENCH_DIR/cache-tests/$1" >"$3"
}

for p in "$SUITE_PORT" "${PORT[@]}" "$ADMIN_PORT"; do
  port_busy "$p" && die "port $p is taken (set CT_PORT_BASE to move every port)"
done

start_server() {  # the suite's server, run as `npm run server` runs it but directly, so its pid is node's
  (cd "$SUITE_DIR" && exec env npm_config_protocol=http npm_config_port="$SUITE_PORT" \
     npm_config_pidfile="$RUN_DIR/server.pid" node test-engine/server/server.mjs) \
    >>"$RUN_DIR/server.log" 2>&1 &
  PIDS+=($!)
  wait_port "$SUITE_PORT" "$!" "the cache-tests server"
}

start_cache() {  # NAME: starts it, echoes nothing; returns 1 if it cannot run here
  local name=$1 port=${PORT[$1]}
  case $name in
    scalegate)
      [ -x "$SCALEGATE_BIN" ] || { log "no scalegate binary at $SCALEGATE_BIN; skipped"; return 1; }
      fill scalegate.yaml "$port" "$RUN_DIR/scalegate.yaml"
      "$SCALEGATE_BIN" check -c "$RUN_DIR/scalegate.yaml" >"$RUN_DIR/scalegate-check.log" 2>&1 \
        || { cat "$RUN_DIR/scalegate-check.log" >&2; die "scalegate check failed"; }
      "$SCALEGATE_BIN" run -c "$RUN_DIR/scalegate.yaml" >"$RUN_DIR/scalegate.log" 2>&1 &
      ;;
    nginx)
      command -v nginx >/dev/null || { log "no nginx; skipped"; return 1; }
      rm -rf "$RUN_DIR/nginx"; mkdir -p "$RUN_DIR/nginx"
      fill nginx.conf "$port" "$RUN_DIR/nginx.conf"
      # nginx opens its compiled-in error log before reading -e/the config: -e keeps it local
      nginx -e "$RUN_DIR/nginx/error.log" -c "$RUN_DIR/nginx.conf" >"$RUN_DIR/nginx.log" 2>&1 &
      ;;
    haproxy)
      command -v haproxy >/dev/null || { log "no haproxy; skipped"; return 1; }
      fill haproxy.cfg "$port" "$RUN_DIR/haproxy.cfg"
      haproxy -db -f "$RUN_DIR/haproxy.cfg" >"$RUN_DIR/haproxy.log" 2>&1 &
      ;;
    *) die "unknown cache $name (scalegate, nginx, haproxy)" ;;
  esac
  PIDS+=($!)
  wait_port "$port" "$!" "$name"
}

RAN=()
for name in $CACHES; do
  # a fresh server and cache per run, so no cache sees another's leftovers
  start_server
  start_cache "$name" || { cleanup; continue; }
  log "running the suite against $name (127.0.0.1:${PORT[$name]})"
  started=$(date +%s)
  # the client is `npm run --silent cli`; its JSON goes to a file, its noise to a log
  if ! (cd "$SUITE_DIR" && timeout "$CLI_TIMEOUT" npm run --silent cli --base="http://127.0.0.1:${PORT[$name]}") \
       >"$RUN_DIR/$name.json.tmp" 2>"$RUN_DIR/$name.cli.log"; then
    tail -20 "$RUN_DIR/$name.cli.log" >&2
    die "the suite's client failed or timed out against $name"
  fi
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$RUN_DIR/$name.json.tmp" \
    || die "the client's output for $name is not JSON (see $RUN_DIR/$name.json.tmp)"
  mv "$RUN_DIR/$name.json.tmp" "$RUN_DIR/$name.json"
  log "$name done in $(( $(date +%s) - started )) s"
  RAN+=("$name")
  cleanup
done
cleanup
[ ${#RAN[@]} -gt 0 ] || die "no cache could be run"

node "$BENCH_DIR/cache_tests_report.mjs" "$SUITE_DIR" "$RUN_DIR" "${RAN[@]}" | tee "$RUN_DIR/report.txt"
log "raw results, configs and logs: $RUN_DIR"
