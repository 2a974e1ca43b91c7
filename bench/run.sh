#!/usr/bin/env bash
# The project's own comparison harness: the same HTTP/1.1 keep-alive load, in one run, through
# nginx (1 worker), HAProxy (1 thread) and scalegate (1 worker), each pinned to CPU 0, in front
# of one nginx origin pinned to CPU 1. The load generators also run on CPU 1.
#
# Per proxy and round:
#   h2load --h1 -n N -c CONN -t 1   -> requests/s, and the proxy's CPU time per request
#                                      (utime+stime of its pid and child processes, from /proc)
#   wrk -t1 -cCONN -dWRK_DURATION --latency -> p50 and p99 latency
# Then a table of medians over the rounds and the ratios scalegate/nginx and scalegate/haproxy.
#
# Env: N (200000), ROUNDS (3), CONN (64), WRK_DURATION (3s), WARMUP (5000 requests per proxy),
#      SCALEGATE_BIN (build/src/app/scalegate), REQUIRE_SCALEGATE (0: skip scalegate with a note
#      when the binary is missing; 1: fail instead).
# Exit status: 0 when every measured proxy answered every request with 2xx, 1 otherwise.
# Everything listens on loopback; only the processes started here are stopped, by pid.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

N=${N:-200000}
ROUNDS=${ROUNDS:-3}
CONN=${CONN:-64}
WRK_DURATION=${WRK_DURATION:-3s}
WARMUP=${WARMUP:-5000}
REQUIRE_SCALEGATE=${REQUIRE_SCALEGATE:-0}
SCALEGATE_BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
[[ "$SCALEGATE_BIN" == /* ]] || SCALEGATE_BIN=$PWD/$SCALEGATE_BIN

PROXY_CPU=0 # every proxy
LOAD_CPU=1  # origin, h2load and wrk
ORIGIN_PORT=18180
declare -A PORT=([nginx]=18181 [haproxy]=18182 [scalegate]=18183)
SCALEGATE_ADMIN_PORT=18189
EXPECTED_BODY="hello from upstream"

say() { echo "bench: $*"; }
die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}

for v in N ROUNDS CONN WARMUP; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
for tool in nginx haproxy h2load wrk taskset curl pgrep getconf; do
  command -v "$tool" >/dev/null || die "'$tool' not found; run: sudo bash scripts/install-deps.sh"
done
taskset -c "$LOAD_CPU" true 2>/dev/null || die "needs at least 2 CPUs (proxies on CPU $PROXY_CPU, load on CPU $LOAD_CPU)"

PROXIES=(nginx haproxy)
if [[ -x "$SCALEGATE_BIN" ]]; then
  PROXIES+=(scalegate)
elif [[ "$REQUIRE_SCALEGATE" == 1 ]]; then
  die "scalegate binary not found at $SCALEGATE_BIN"
else
  say "note: no scalegate binary at $SCALEGATE_BIN; measuring nginx and haproxy only"
fi

# shellcheck source=bench/proc_lib.sh
source "$BENCH_DIR/proc_lib.sh"
for p in "$ORIGIN_PORT" "${PORT[@]}" "$SCALEGATE_ADMIN_PORT"; do
  if port_busy "$p"; then
    die "127.0.0.1:$p is already in use (is another benchmark running?)"
  fi
done

RUN_DIR=$(mktemp -d /tmp/scalegate-bench.XXXXXX)
PIDS=()
declare -A PID=()
STATUS=0

install_cleanup

TICKS_PER_SEC=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of a process (its threads included) and of its child processes
  local total=0 p line fields
  for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
    line=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    read -r -a fields <<<"${line##*) }" # fields[0] is field 3 (state); utime is 14, stime 15
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

to_ms() { # wrk latency ("452.00us", "1.20ms", "1.01s") -> milliseconds
  awk -v v="$1" 'BEGIN {
    u = v; sub(/^[0-9.]+/, "", u); x = v + 0
    if (u == "us") x /= 1000; else if (u == "s") x *= 1000; else if (u == "m") x *= 60000
    printf "%.3f", x }'
}

RESULTS=$RUN_DIR/results.tsv
FAILURES=()

measure() { # name round
  local name=$1 round=$2 port=${PORT[$1]} url out c0 c1 rps done2xx cpu w p50 p99 ok=1
  url="http://127.0.0.1:$port/"
  c0=$(cpu_ticks "${PID[$name]}")
  out=$(taskset -c "$LOAD_CPU" h2load --h1 -n "$N" -c "$CONN" -t 1 "$url" 2>&1) || true
  c1=$(cpu_ticks "${PID[$name]}")
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
  done2xx=$(awk '/^status codes:/ {print $3}' <<<"$out")
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TICKS_PER_SEC" -v n="$N" \
    'BEGIN {printf "%.2f", (b - a) / t * 1e6 / n}')
  w=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONN" -d"$WRK_DURATION" --latency "$url" 2>&1) || true
  p50=$(awk '$1 == "50%" {print $2}' <<<"$w")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$w")
  if [[ -z "$rps" || "${done2xx:-0}" != "$N" ]]; then
    ok=0
    FAILURES+=("$name round $round: h2load got ${done2xx:-no} 2xx of $N")
    echo "$out" | tail -n 8 | sed 's/^/    h2load: /' >&2
  fi
  if [[ -z "$p50" || -z "$p99" ]] || grep -qE 'Non-2xx|Socket errors' <<<"$w"; then
    ok=0
    FAILURES+=("$name round $round: wrk saw errors or printed no latency")
    echo "$w" | grep -E 'Non-2xx|Socket errors|Requests/sec|rror' | sed 's/^/    wrk: /' >&2 || true
  fi
  [[ -n "$p50" ]] && p50=$(to_ms "$p50") || p50=nan
  [[ -n "$p99" ]] && p99=$(to_ms "$p99") || p99=nan
  printf 'round %d  %-10s cpu_us_per_req=%s rps=%s p50_ms=%s p99_ms=%s%s\n' \
    "$round" "$name" "$cpu" "${rps:-nan}" "$p50" "$p99" "$( ((ok)) || echo '  FAILED')"
  ((ok)) && printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$cpu" "$rps" "$p50" "$p99" >>"$RESULTS"
  return 0
}

median() { # proxy column(2=cpu 3=rps 4=p50 5=p99)
  awk -F'\t' -v p="$1" -v c="$2" '$1 == p {print $c}' "$RESULTS" | sort -g |
    awk '{a[NR] = $1} END {
      if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "n/a"; else printf "%.2fx", a / b }'; }

# ---- start -----------------------------------------------------------------------------------
say "run dir $RUN_DIR; N=$N ROUNDS=$ROUNDS CONN=$CONN WRK_DURATION=$WRK_DURATION"
start origin "$LOAD_CPU" nginx -p "$RUN_DIR/" -e "$RUN_DIR/origin-error.log" -c "$BENCH_DIR/nginx-origin.conf"
wait_ready origin "$ORIGIN_PORT"
start nginx "$PROXY_CPU" nginx -p "$RUN_DIR/" -e "$RUN_DIR/nginx-proxy-error.log" -c "$BENCH_DIR/nginx-proxy.conf"
start haproxy "$PROXY_CPU" haproxy -db -f "$BENCH_DIR/haproxy.cfg"
if [[ " ${PROXIES[*]} " == *" scalegate "* ]]; then
  if ! "$SCALEGATE_BIN" check -c "$BENCH_DIR/scalegate.yaml" >"$RUN_DIR/scalegate-check.out" 2>&1; then
    cat "$RUN_DIR/scalegate-check.out" >&2
    die "scalegate check -c bench/scalegate.yaml failed"
  fi
  start scalegate "$PROXY_CPU" "$SCALEGATE_BIN" run -c "$BENCH_DIR/scalegate.yaml"
fi
for p in "${PROXIES[@]}"; do
  wait_ready "$p" "${PORT[$p]}"
  taskset -c "$LOAD_CPU" h2load --h1 -n "$WARMUP" -c "$CONN" -t 1 "http://127.0.0.1:${PORT[$p]}/" >/dev/null 2>&1 || true
done
say "started: origin pid ${PID[origin]} (CPU $LOAD_CPU)$(for p in "${PROXIES[@]}"; do
  printf ', %s pid %s port %s' "$p" "${PID[$p]}" "${PORT[$p]}"
done) (CPU $PROXY_CPU)"

# ---- measure (the order rotates every round so no proxy always goes first) ------------------
: >"$RESULTS"
count=${#PROXIES[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  for ((i = 0; i < count; i++)); do
    measure "${PROXIES[$(((i + r - 1) % count))]}" "$r"
  done
done

# ---- report ----------------------------------------------------------------------------------
echo
printf '%-10s %15s %10s %9s %9s\n' proxy cpu_us_per_req rps p50_ms p99_ms
declare -A MED_CPU=() MED_RPS=()
for p in "${PROXIES[@]}"; do
  MED_CPU[$p]=$(median "$p" 2)
  MED_RPS[$p]=$(median "$p" 3)
  printf '%-10s %15s %10s %9s %9s\n' "$p" "${MED_CPU[$p]}" "${MED_RPS[$p]}" "$(median "$p" 4)" "$(median "$p" 5)"
done
echo "(medians over $ROUNDS round(s); h2load N=$N, wrk $WRK_DURATION, $CONN connections;" \
  "proxies on CPU $PROXY_CPU, origin and load on CPU $LOAD_CPU)"
if [[ -n "${MED_CPU[scalegate]:-}" ]]; then
  for ref in nginx haproxy; do
    printf 'scalegate/%-8s cpu_us_per_req %s  rps %s\n' "$ref" \
      "$(ratio "${MED_CPU[scalegate]}" "${MED_CPU[$ref]}")" "$(ratio "${MED_RPS[scalegate]}" "${MED_RPS[$ref]}")"
  done
fi

if ((${#FAILURES[@]})); then
  for f in "${FAILURES[@]}"; do echo "bench: FAILED: $f" >&2; done
  STATUS=1
fi
exit "$STATUS"
