#!/usr/bin/env bash
# What an L2 cache hit (Redis) costs against a proxied miss and an L1 (memory) hit, in one run.
#
# One nginx origin (a 1 KiB file, Cache-Control: max-age=3600, for every path) and one
# redis-server on CPU 1, one scalegate (workers: 1, CPU 0, `cache: {memory: 64KiB}`: the
# smallest L1, about 40 such entries) with three routes:
#   /miss/  no cache: every request proxied to the origin (the "proxied miss")
#   /l2/    cache {l2: true} over KEYS distinct URLs: the L1 keeps none of them for long, so
#           a request is an L1 miss answered from Redis (X-Cache: HIT; layer=l2)
#   /l1/    cache without l2, one URL: every request an L1 hit (for scale)
# The L2 is filled first (one request per key). The load is wrk -t1 -c CONN (CPU 1) with a
# Lua script choosing each request's path (a random key for /l2/) and stopping after N
# responses: h2load -i walks one URL list in the same order on every connection, so its
# clients would ask for the same key together and all but one would be L1 hits. Per route and
# round: utime+stime from /proc/PID/stat before and after of the gateway, redis-server and the
# origin (nginx and its worker), divided by the route's requests as the gateway counted them
# (scalegate_requests_total); for /l2/ the share of them /metrics counted as L2 hits. Then
# medians and the ratios l2/miss (gateway CPU) and (gateway+redis of l2)/(gateway+origin of miss).
#
# Env: N (20000 requests per measurement), ROUNDS (3), CONN (64), KEYS (20000),
#      SCALEGATE_BIN (build/src/app/scalegate). Needs 2 CPUs, nginx, wrk, redis-server.
# Everything listens on loopback (ports 18690-18699); only the processes started here are
# stopped, by pid. Exit status non-zero when a request got a non-2xx answer, a tool failed, or
# fewer than 90% of the /l2/ requests were L2 hits.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

N=${N:-20000}
ROUNDS=${ROUNDS:-3}
CONN=${CONN:-64}
KEYS=${KEYS:-20000}
SCALEGATE_BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
[[ "$SCALEGATE_BIN" == /* ]] || SCALEGATE_BIN=$PWD/$SCALEGATE_BIN

ORIGIN_PORT=18690
REDIS_PORT=18691
GATEWAY_PORT=18692
ADMIN_PORT=18699
GATEWAY_CPU=0
LOAD_CPU=1 # origin, redis-server, wrk
ROUTES=(miss l2 l1)
MIN_L2_FRACTION=0.90
LOAD_TIMEOUT=120 # seconds: the most one load may take (each is also bounded by its response count)

say() { echo "bench: $*"; }
die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}

for v in N ROUNDS CONN KEYS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
((N >= CONN && KEYS >= CONN)) || die "N and KEYS must be at least CONN ($CONN)"
for tool in nginx wrk taskset curl getconf /usr/bin/redis-server /usr/bin/redis-cli; do
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

RUN_DIR=$(mktemp -d /tmp/scalegate-cache-l2.XXXXXX)
PIDS=()
declare -A PID=()
FAILURES=()

install_cleanup

TICKS_PER_SEC=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of a process and its children (nginx's worker), threads included
  local pid line fields sum=0
  for pid in "$1" $(pgrep -P "$1" 2>/dev/null); do
    line=$(cat "/proc/$pid/stat") || die "process $pid is gone"
    read -r -a fields <<<"${line##*) }" # fields[0] is field 3 (state); utime is 14, stime 15
    sum=$((sum + fields[11] + fields[12]))
  done
  echo "$sum"
}

metrics() { curl -sf --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" || die "/metrics did not answer"; }
# metric NAME 'LABEL="v"'...: the sum of NAME's series carrying every given label (0 when none)
metric() {
  local name=$1
  shift
  metrics | awk -v name="$name" -v want="$*" '
    index($0, name "{") == 1 || index($0, name " ") == 1 {
      n = split(want, w, " "); ok = 1
      for (i = 1; i <= n; i++) if (index($0, w[i]) == 0) ok = 0
      if (ok) s += $NF }
    END { printf "%d", s }'
}

cpu0_ticks() { # "busy total" jiffies of the gateway's CPU (busy: everything but idle and iowait)
  awk -v cpu="cpu$GATEWAY_CPU" '$1 == cpu { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# ---- configs ---------------------------------------------------------------------------------
mkdir -p "$RUN_DIR/www"
chmod 711 "$RUN_DIR" # nginx's worker (user nobody when run as root) reads www/
# 1 KiB of text, no trailing newline (wait_ready compares it with $(curl ...))
yes 'scalegate L2 benchmark body ' | tr -d '\n' | head -c 1024 >"$RUN_DIR/www/body.txt" || true
[[ $(stat -c %s "$RUN_DIR/www/body.txt") == 1024 ]] || die "could not write the 1 KiB body"
EXPECTED_BODY=$(cat "$RUN_DIR/www/body.txt")
cat >"$RUN_DIR/origin.conf" <<CONF
worker_processes 1; daemon off; pid $RUN_DIR/origin.pid; error_log $RUN_DIR/origin.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; open_file_cache max=16; open_file_cache_valid 1h;
  server { listen 127.0.0.1:$ORIGIN_PORT backlog=4096; root $RUN_DIR/www;
    location / { try_files /body.txt =404; add_header Cache-Control "max-age=3600"; } } }
CONF
cat >"$RUN_DIR/scalegate.yaml" <<CONF
workers: 1
store: { type: redis, address: 127.0.0.1:$REDIS_PORT, timeout: 250ms }
cache: { memory: 64KiB, policy: lru }
admin: { address: 127.0.0.1:$ADMIN_PORT }
listeners:
  - name: bench
    address: 127.0.0.1:$GATEWAY_PORT
    routes:
      - name: miss
        match: { prefix: /miss/ }
        upstream: origin
      - name: l2
        match: { prefix: /l2/ }
        upstream: origin
        cache: { l2: true }
      - name: l1
        match: { prefix: /l1/ }
        upstream: origin
        cache: { enabled: true }
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

# The load: wrk (one thread, CONN connections) with a Lua script that picks each request's
# path: for /l2/ a key drawn at random from KEYS (the L1 holds about 40 of them, so a request
# meets its key in the L1 about 40/KEYS of the time), for the fill every key in turn, for the
# other routes one path. (h2load -i would not do: every client of an h2load walks the same URL
# list from its start, so CONN clients would ask for the same key together and all but one
# would be answered by the L1.) The script stops the thread after the given number of
# responses and prints a line; this script then interrupts wrk, which prints its summary.
cat >"$RUN_DIR/load.lua" <<'LUA'
local n = tonumber(os.getenv("LOAD_N"))
local mode = os.getenv("LOAD_MODE") -- random | sequence | fixed
local keys = tonumber(os.getenv("LOAD_KEYS"))
local path = os.getenv("LOAD_PATH")
local threads = {}
count, bad, next_key = 0, 0, 0
function setup(thread) table.insert(threads, thread) end
function request()
  if mode == "random" then return wrk.format("GET", string.format("%s%06d", path, math.random(0, keys - 1))) end
  if mode == "sequence" then
    next_key = next_key + 1
    return wrk.format("GET", string.format("%s%06d", path, (next_key - 1) % keys))
  end
  return wrk.format("GET", path)
end
function response(status)
  count = count + 1
  if status < 200 or status > 299 then bad = bad + 1 end
  if count == n then
    io.write("load: reached\n"); io.stdout:flush()
    wrk.thread:stop()
  end
end
function done(summary)
  local c, b = 0, 0
  for _, t in ipairs(threads) do c = c + t:get("count"); b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format("load: responses=%d non2xx=%d socket_errors=%d\n", c, b,
    e.connect + e.read + e.write + e.timeout))
end
LUA
BASE="http://127.0.0.1:$GATEWAY_PORT"

# load MODE PATH COUNT OUT: COUNT responses at least (wrk on CPU 1); prints "responses non2xx
# socket_errors wall_ms", or fails.
load() {
  local mode=$1 path=$2 count=$3 out=$4 pid t0 t1 i
  t0=$(date +%s%N)
  LOAD_N=$count LOAD_MODE=$mode LOAD_KEYS=$KEYS LOAD_PATH=$path taskset -c "$LOAD_CPU" \
    wrk -t 1 -c "$CONN" -d "${LOAD_TIMEOUT}s" -s "$RUN_DIR/load.lua" "$BASE/" >"$out" 2>&1 &
  pid=$!
  for ((i = 0; i < LOAD_TIMEOUT * 20; i++)); do # wrk sleeps out -d: interrupt it once done
    grep -q '^load: reached' "$out" && break
    alive "$pid" || break
    sleep 0.05
  done
  t1=$(date +%s%N)
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" || die "wrk failed (see $out)"
  grep -q '^load: reached' "$out" || die "wrk did not get $count responses in ${LOAD_TIMEOUT}s (see $out)"
  awk -v ms="$(((t1 - t0) / 1000000))" -F'[= ]' '/^load: responses=/ {print $3, $5, $7, ms; found = 1}
    END { if (!found) exit 1 }' "$out" || die "no summary from wrk (see $out)"
}

# ---- start -----------------------------------------------------------------------------------
say "run dir $RUN_DIR; N=$N ROUNDS=$ROUNDS CONN=$CONN KEYS=$KEYS"
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
say "started: origin pid ${PID[origin]}, redis-server pid ${PID[redis]} (CPU $LOAD_CPU)," \
  "scalegate pid ${PID[scalegate]} (CPU $GATEWAY_CPU)"

# ---- fill the L2, check every route answers as it should --------------------------------------
w0=$(metric scalegate_cache_l2_writes_total 'route="l2"')
res=$(load sequence /l2/k "$KEYS" "$RUN_DIR/fill.out")
read -r ok bad errs ms <<<"$res"
((bad == 0 && errs == 0)) || die "filling the L2: $bad non-2xx answers, $errs socket errors (see $RUN_DIR/fill.out)"
writes=$(($(metric scalegate_cache_l2_writes_total 'route="l2"') - w0))
stored=$(/usr/bin/redis-cli -p "$REDIS_PORT" DBSIZE)
say "L2 filled: $ok requests in $ms ms, $writes L2 writes, $stored keys in redis-server"
((stored >= KEYS)) || die "redis-server holds $stored keys after the fill, expected $KEYS"

xcache() { curl -s -o /dev/null -D - --max-time 5 "$BASE$1" | awk -F': ' 'tolower($1) == "x-cache" {sub(/\r$/, "", $2); print $2}'; }
[[ "$(curl -s --max-time 5 "$BASE/miss/x")" == "$EXPECTED_BODY" ]] || die "/miss/x did not answer the origin's body"
[[ -z "$(xcache /miss/x)" ]] || die "/miss/x answered with an X-Cache header: is the route cached?"
xcache /l1/x >/dev/null
[[ "$(xcache /l1/x)" == HIT ]] || die "a second GET /l1/x did not answer X-Cache: HIT"
got=$(xcache /l2/k000000)
[[ "$got" == "HIT; layer=l2" ]] || die "GET /l2/k000000 after the fill answered X-Cache: '$got', expected 'HIT; layer=l2'"
for r in miss l1; do # warm-up: the origin pool and the processes' pages
  res=$(load fixed "/$r/x" $((CONN * 50)) "$RUN_DIR/warm-$r.out")
  read -r ok bad errs ms <<<"$res"
  ((bad == 0 && errs == 0)) || die "warm-up of /$r/: $bad non-2xx answers, $errs socket errors"
done

# ---- measure ---------------------------------------------------------------------------------
RESULTS=$RUN_DIR/results.tsv
: >"$RESULTS"
L2_REQ=0
L2_HITS=0
measure() { # route round: the denominators are the gateway's own counts for the route
  local route=$1 round=$2 out=$RUN_DIR/run-$1-$2.out g0 g1 r0 r1 o0 o1 h0 h1 q0 q1 k0 k1 res ok bad errs ms
  local mode=fixed path=/$1/x c0 c1
  [[ "$route" == l2 ]] && mode=random path=/l2/k
  h0=$(metric scalegate_cache_hits_total "route=\"$route\"" 'layer="l2"')
  q0=$(metric scalegate_requests_total "route=\"$route\"")
  k0=$(metric scalegate_requests_total "route=\"$route\"" 'class="2xx"')
  c0=$(cpu0_ticks)
  g0=$(cpu_ticks "${PID[scalegate]}")
  r0=$(cpu_ticks "${PID[redis]}")
  o0=$(cpu_ticks "${PID[origin]}")
  res=$(load "$mode" "$path" "$N" "$out")
  g1=$(cpu_ticks "${PID[scalegate]}")
  r1=$(cpu_ticks "${PID[redis]}")
  o1=$(cpu_ticks "${PID[origin]}")
  c1=$(cpu0_ticks)
  h1=$(metric scalegate_cache_hits_total "route=\"$route\"" 'layer="l2"')
  q1=$(metric scalegate_requests_total "route=\"$route\"")
  k1=$(metric scalegate_requests_total "route=\"$route\"" 'class="2xx"')
  read -r ok bad errs ms <<<"$res"
  local n=$((q1 - q0))
  if ((bad != 0 || errs != 0 || k1 - k0 != n || n < N)); then
    FAILURES+=("$route round $round: $bad non-2xx answers and $errs socket errors at the client;" \
      "$((k1 - k0)) 2xx of $n requests at the gateway (see $out)")
    return 0
  fi
  if [[ "$route" == l2 ]]; then
    L2_REQ=$((L2_REQ + n))
    L2_HITS=$((L2_HITS + h1 - h0))
  fi
  awk -v route="$route" -v round="$round" -v g="$((g1 - g0))" -v r="$((r1 - r0))" -v o="$((o1 - o0))" \
    -v h="$((h1 - h0))" -v t="$TICKS_PER_SEC" -v n="$n" -v ms="$ms" -v res="$RESULTS" -v c0="$c0" -v c1="$c1" 'BEGIN {
      gw = g / t * 1e6 / n; rd = r / t * 1e6 / n; og = o / t * 1e6 / n; rps = n / (ms / 1000)
      split(c0, x); split(c1, y); other = (y[1] - x[1]) - g; if (other < 0) other = 0
      # cpu0_other: the share of the gateway CPU other processes took (high: a noisy round)
      printf "round %d  %-5s requests=%d gateway_us=%.2f redis_us=%.2f origin_us=%.2f l2_hits=%.4f rps=%.0f cpu0_other=%.0f%%\n",
        round, route, n, gw, rd, og, h / n, rps, 100 * other / (y[2] - x[2] > 0 ? y[2] - x[2] : 1)
      printf "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.0f\n", route, gw, rd, og, h / n, rps >> res }'
}
for ((round = 1; round <= ROUNDS; round++)); do
  for ((i = 0; i < ${#ROUTES[@]}; i++)); do # the order rotates so no route always goes first
    measure "${ROUTES[$(((i + round - 1) % ${#ROUTES[@]}))]}" "$round"
  done
done

median() { # route column (2 gateway, 3 redis, 4 origin, 5 l2 hit share, 6 rps)
  awk -F'\t' -v r="$1" -v c="$2" '$1 == r {print $c}' "$RESULTS" | sort -g |
    awk '{a[NR] = $1} END {
      if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo
printf '%-6s %12s %10s %10s %16s %10s %8s\n' route gateway_us redis_us origin_us redis+origin_us l2_hits rps
declare -A GW=() RD=() OG=()
for r in "${ROUTES[@]}"; do
  GW[$r]=$(median "$r" 2)
  RD[$r]=$(median "$r" 3)
  OG[$r]=$(median "$r" 4)
  awk -v r="$r" -v g="${GW[$r]}" -v d="${RD[$r]}" -v o="${OG[$r]}" -v h="$(median "$r" 5)" -v rps="$(median "$r" 6)" \
    'BEGIN { printf "%-6s %12.2f %10.2f %10.2f %16.2f %10.4f %8s\n", r, g, d, o, d + o, h, rps }'
done
echo "(CPU µs per request, medians over $ROUNDS round(s) of $N requests, wrk -t1 -c$CONN;" \
  "gateway on CPU $GATEWAY_CPU, origin, redis-server and wrk on CPU $LOAD_CPU)"
awk -v gl2="${GW[l2]}" -v gm="${GW[miss]}" -v g1="${GW[l1]}" -v rl2="${RD[l2]}" -v om="${OG[miss]}" 'BEGIN {
  printf "l2/miss gateway CPU per request: %.3fx\n", gl2 / gm
  printf "l2/miss (gateway+redis)/(gateway+origin) CPU per request: %.3fx\n", (gl2 + rl2) / (gm + om)
  printf "l1/miss gateway CPU per request: %.3fx\n", g1 / gm }'
if ((L2_REQ > 0)); then
  awk -v h="$L2_HITS" -v n="$L2_REQ" -v min="$MIN_L2_FRACTION" 'BEGIN {
    printf "l2 hit fraction (scalegate_cache_hits_total{layer=\"l2\"} / requests): %d/%d = %.4f (need >= %.2f)\n",
      h, n, h / n, min }'
  if ! awk -v h="$L2_HITS" -v n="$L2_REQ" -v min="$MIN_L2_FRACTION" 'BEGIN { exit !(h / n >= min) }'; then
    FAILURES+=("only $L2_HITS of $L2_REQ /l2/ requests were L2 hits (< $MIN_L2_FRACTION): the L1 kept the working set")
  fi
fi
say "l2 lookups: found $(metric scalegate_cache_l2_lookups_total 'route="l2"' 'result="found"')," \
  "missing $(metric scalegate_cache_l2_lookups_total 'route="l2"' 'result="missing"')," \
  "failed $(metric scalegate_cache_l2_lookups_total 'route="l2"' 'result="failed"') (whole run, fill included)"

if ((${#FAILURES[@]})); then
  for f in "${FAILURES[@]}"; do echo "bench: FAILED: $f" >&2; done
  exit 1
fi
