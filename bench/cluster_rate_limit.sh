#!/usr/bin/env bash
# Cluster-scope rate limit cost and accuracy (issue 14), in one run.
#
# One nginx origin (answers "hello from upstream") and one redis-server on CPU 1, one
# scalegate (workers: 1, CPU 0) with three routes, each limited on key global at a rate that
# never refuses:
#   /local/  scope: local                    (the baseline)
#   /exact/  scope: cluster (lease 1)        one Redis script call per request, pipelined
#   /lease/  scope: cluster, lease: 100      one script call per 100 requests
# Per route and round: h2load --h1 -n N -c CONN (CPU 1); the gateway's and redis-server's
# utime+stime from /proc/PID/stat before and after, divided by N, and the store commands
# per request from /metrics. Then the medians and the ratios cluster/local (issue targets:
# exact <= 1.30x, lease <= 1.05x). Finally the accuracy figures: the integration test's
# scenario (3 instances share 100/s burst 100 for 10 s, exact and lease: 20), run through
# pytest -s (ACCURACY=0 skips it).
#
# Env: N (50000 requests per measurement), ROUNDS (3), CONN (64), ACCURACY (1),
#      SCALEGATE_BIN (build/src/app/scalegate). Needs 2 CPUs, nginx, h2load, redis-server.
# Everything listens on loopback (ports 18680-18689); only the processes started here are
# stopped, by pid. Exit status non-zero when a request got a non-2xx answer or a tool failed.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

N=${N:-50000}
ROUNDS=${ROUNDS:-3}
CONN=${CONN:-64}
ACCURACY=${ACCURACY:-1}
SCALEGATE_BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
[[ "$SCALEGATE_BIN" == /* ]] || SCALEGATE_BIN=$PWD/$SCALEGATE_BIN

ORIGIN_PORT=18680
REDIS_PORT=18681
GATEWAY_PORT=18682
ADMIN_PORT=18689
GATEWAY_CPU=0
LOAD_CPU=1 # origin, redis-server, h2load
EXPECTED_BODY="hello from upstream"
ROUTES=(local exact lease)

say() { echo "bench: $*"; }
die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}

for v in N ROUNDS CONN; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
for tool in nginx h2load taskset curl getconf /usr/bin/redis-server /usr/bin/redis-cli; do
  command -v "$tool" >/dev/null || die "'$tool' not found; run: sudo bash scripts/install-deps.sh"
done
[[ -x "$SCALEGATE_BIN" ]] || die "scalegate binary not found at $SCALEGATE_BIN (build it, or set SCALEGATE_BIN)"
taskset -c "$LOAD_CPU" true 2>/dev/null || die "needs at least 2 CPUs"

# shellcheck source=bench/proc_lib.sh
source "$BENCH_DIR/proc_lib.sh"
for p in "$ORIGIN_PORT" "$REDIS_PORT" "$GATEWAY_PORT" "$ADMIN_PORT"; do
  if port_busy "$p"; then
    die "127.0.0.1:$p is already in use (is another benchmark running?)"
  fi
done

RUN_DIR=$(mktemp -d /tmp/scalegate-cluster-rl.XXXXXX)
PIDS=()
declare -A PID=()
FAILURES=()

install_cleanup

TICKS_PER_SEC=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of one process, threads included
  local line fields
  line=$(cat "/proc/$1/stat") || die "process $1 is gone"
  read -r -a fields <<<"${line##*) }" # fields[0] is field 3 (state); utime is 14, stime 15
  echo $((fields[11] + fields[12]))
}

store_commands() { # the gateway's scalegate_store_commands_total (0 when absent)
  curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk '/^scalegate_store_commands_total[{ ]/ {s += $NF} END {printf "%d", s}'
}

# ---- configs ---------------------------------------------------------------------------------
cat >"$RUN_DIR/origin.conf" <<CONF
worker_processes 1; daemon off; pid $RUN_DIR/origin.pid; error_log $RUN_DIR/origin.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$ORIGIN_PORT backlog=4096; location / { return 200 "$EXPECTED_BODY\n"; } } }
CONF
# A rate this high never refuses within a run, and stays inside the cluster script's exact
# arithmetic (fitsClusterArithmetic).
LIMIT="key: global, rate: 10000000/s, burst: 10000000"
cat >"$RUN_DIR/scalegate.yaml" <<CONF
workers: 1
store: { type: redis, address: 127.0.0.1:$REDIS_PORT, timeout: 250ms }
admin: { address: 127.0.0.1:$ADMIN_PORT }
listeners:
  - name: bench
    address: 127.0.0.1:$GATEWAY_PORT
    routes:
      - name: local
        match: { prefix: /local/ }
        upstream: origin
        rate_limit: { name: local, $LIMIT }
      - name: exact
        match: { prefix: /exact/ }
        upstream: origin
        rate_limit: { name: exact, $LIMIT, scope: cluster }
      - name: lease
        match: { prefix: /lease/ }
        upstream: origin
        rate_limit: { name: lease, $LIMIT, scope: cluster, lease: 100 }
      - name: ready
        match: { prefix: / }
        upstream: origin
upstreams:
  origin:
    servers:
      - address: 127.0.0.1:$ORIGIN_PORT
CONF
if ! "$SCALEGATE_BIN" check -c "$RUN_DIR/scalegate.yaml" >"$RUN_DIR/check.out" 2>&1; then
  cat "$RUN_DIR/check.out" >&2
  die "scalegate check rejected the bench config"
fi

# ---- start -----------------------------------------------------------------------------------
say "run dir $RUN_DIR; N=$N ROUNDS=$ROUNDS CONN=$CONN"
start origin "$LOAD_CPU" nginx -p "$RUN_DIR/" -c "$RUN_DIR/origin.conf"
wait_ready origin "$ORIGIN_PORT"
start redis "$LOAD_CPU" /usr/bin/redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
  --appendonly no --dir "$RUN_DIR" --daemonize no
for _ in $(seq 100); do
  [[ "$(/usr/bin/redis-cli -p "$REDIS_PORT" PING 2>/dev/null)" == PONG ]] && break
  alive "${PID[redis]}" || die "redis-server exited during start-up: $(tail -n 5 "$RUN_DIR/redis.out")"
  sleep 0.1
done
start scalegate "$GATEWAY_CPU" "$SCALEGATE_BIN" run -c "$RUN_DIR/scalegate.yaml"
wait_ready scalegate "$GATEWAY_PORT"
for r in "${ROUTES[@]}"; do # warm-up: connections, the script loaded in Redis
  taskset -c "$LOAD_CPU" h2load --h1 -n 5000 -c "$CONN" -t 1 "http://127.0.0.1:$GATEWAY_PORT/$r/" >/dev/null 2>&1 || true
done
say "started: origin pid ${PID[origin]}, redis-server pid ${PID[redis]} (CPU $LOAD_CPU)," \
  "scalegate pid ${PID[scalegate]} (CPU $GATEWAY_CPU)"

# ---- measure ---------------------------------------------------------------------------------
RESULTS=$RUN_DIR/results.tsv
: >"$RESULTS"
measure() { # route round
  local route=$1 round=$2 out g0 g1 r0 r1 c0 c1 ok2xx rps
  g0=$(cpu_ticks "${PID[scalegate]}")
  r0=$(cpu_ticks "${PID[redis]}")
  c0=$(store_commands)
  out=$(taskset -c "$LOAD_CPU" h2load --h1 -n "$N" -c "$CONN" -t 1 "http://127.0.0.1:$GATEWAY_PORT/$route/" 2>&1) || true
  g1=$(cpu_ticks "${PID[scalegate]}")
  r1=$(cpu_ticks "${PID[redis]}")
  c1=$(store_commands)
  ok2xx=$(awk '/^status codes:/ {print $3}' <<<"$out")
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
  if [[ "${ok2xx:-0}" != "$N" || -z "$rps" ]]; then
    FAILURES+=("$route round $round: h2load got ${ok2xx:-no} 2xx of $N")
    echo "$out" | tail -n 8 | sed 's/^/    h2load: /' >&2
    return 0
  fi
  awk -v route="$route" -v round="$round" -v g="$((g1 - g0))" -v r="$((r1 - r0))" -v c="$((c1 - c0))" \
    -v t="$TICKS_PER_SEC" -v n="$N" -v rps="$rps" -v res="$RESULTS" 'BEGIN {
      gw = g / t * 1e6 / n; rd = r / t * 1e6 / n; cmd = c / n
      printf "round %d  %-6s gateway_cpu_us_per_req=%.2f redis_cpu_us_per_req=%.2f store_cmds_per_req=%.4f rps=%s\n",
        round, route, gw, rd, cmd, rps
      printf "%s\t%.4f\t%.4f\t%.5f\t%s\n", route, gw, rd, cmd, rps >> res }'
}
for ((round = 1; round <= ROUNDS; round++)); do
  for ((i = 0; i < ${#ROUTES[@]}; i++)); do # the order rotates so no route always goes first
    measure "${ROUTES[$(((i + round - 1) % ${#ROUTES[@]}))]}" "$round"
  done
done

median() { # route column (2 gateway cpu, 3 redis cpu, 4 commands/request, 5 rps)
  awk -F'\t' -v r="$1" -v c="$2" '$1 == r {print $c}' "$RESULTS" | sort -g |
    awk '{a[NR] = $1} END {
      if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo
printf '%-7s %22s %20s %19s %10s\n' route gateway_cpu_us_per_req redis_cpu_us_per_req store_cmds_per_req rps
declare -A GW=()
for r in "${ROUTES[@]}"; do
  GW[$r]=$(median "$r" 2)
  printf '%-7s %22s %20s %19s %10s\n' "$r" "${GW[$r]}" "$(median "$r" 3)" "$(median "$r" 4)" "$(median "$r" 5)"
done
echo "(medians over $ROUNDS round(s); h2load N=$N, $CONN connections; gateway on CPU $GATEWAY_CPU," \
  "origin, redis-server and h2load on CPU $LOAD_CPU)"
for pair in "exact 1.30" "lease 1.05"; do
  read -r r target <<<"$pair"
  awk -v a="${GW[$r]}" -v b="${GW[local]}" -v r="$r" -v t="$target" 'BEGIN {
    if (a == "nan" || b == "nan" || b == 0) { printf "%s/local gateway cpu_us_per_req n/a\n", r; exit }
    x = a / b; printf "%s/local gateway cpu_us_per_req %.3fx (issue target <= %.2fx: %s)\n", r, x, t, x <= t ? "met" : "NOT met" }'
done
awk -v c="$(median exact 4)" 'BEGIN { if (c != "nan" && c < 0.9)
  print "bench: WARNING: the exact route sent " c " store commands per request; is scope: cluster in effect?" }'

# ---- accuracy (the integration test's scenario) ----------------------------------------------
if [[ "$ACCURACY" == 1 ]]; then
  echo
  say "accuracy: 3 instances share 100/s burst 100 for 10 s (tests/integration, pytest -s)"
  if SCALEGATE_BIN="$SCALEGATE_BIN" /usr/bin/python3 -m pytest -q -s -p no:cacheprovider \
    "$ROOT/tests/integration/test_rate_limit_cluster.py" -k accuracy >"$RUN_DIR/accuracy.out" 2>&1; then
    grep '^accuracy:' "$RUN_DIR/accuracy.out" || true
  else
    grep '^accuracy:' "$RUN_DIR/accuracy.out" || tail -n 30 "$RUN_DIR/accuracy.out" >&2
    FAILURES+=("accuracy test failed (see $RUN_DIR/accuracy.out)")
  fi
fi

if ((${#FAILURES[@]})); then
  for f in "${FAILURES[@]}"; do echo "bench: FAILED: $f" >&2; done
  exit 1
fi
