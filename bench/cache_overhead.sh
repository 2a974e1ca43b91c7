#!/usr/bin/env bash
# Cache overhead in one run (target: a cache HIT costs <= 0.50x the CPU per request of a
# proxied MISS). One scalegate (one worker, pinned to CPU 0) with three routes to the same
# nginx origin (CPU 1):
#   /hit/     cache: {force_ttl: 1h}  -> every request after the first is served from the cache
#   /miss/    no cache                -> plain proxying (the baseline)
#   /bypass/  cache: {enabled: true}, the origin answers Cache-Control: no-store
#             -> every request goes upstream through the cache's lookup/miss path
# Before measuring it checks that /hit/ answers X-Cache: HIT (and that /bypass/ does not), and
# aborts otherwise. Then, for ROUNDS rounds (the order rotates each round, so drift hits all
# alike), it drives each route with the same h2load (HTTP/1.1 keep-alive, CONN connections,
# DURATION seconds, CPU 1) and computes the gateway's CPU microseconds per request: the
# utime+stime delta of its pid (all threads) from /proc/PID/stat, divided by the responses
# completed. Prints every round (with cpu0_other: how much of CPU 0 other processes took, a
# sign of a noisy round), a table of medians and the ratios to /miss/, and the line
# `hit/miss CPU per request: 0.53x (by round: ...; target <= 0.50x: NOT met)`.
# Env: DURATION (seconds per measurement, 5), ROUNDS (5), CONN (64), WARMUP (seconds of load on
#      each route before the first round, 2), BODY_SIZE (0: the origin's usual 20-byte
#      "hello from upstream\n"; N: a body of N bytes), VARIANTS ("hit miss bypass"; "miss"
#      alone tests the mechanics without a cache), NOISE (10: rounds where other processes took more than 10% of CPU 0
#      are flagged), SCALEGATE_BIN (build/src/app/scalegate).
# Exit status: 0 when every request answered 2xx; 1 on a failed request, a missing tool, a busy
# port, or a /hit/ route that does not answer X-Cache: HIT. Loopback only; stops only the
# processes it started, by pid; logs are kept in /tmp/scalegate-overhead.* when it fails.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-5}
source "$ROOT/bench/overhead_lib.sh"
DURATION=${DURATION:-5}
CONN=${CONN:-64}
WARMUP=${WARMUP:-2}
BODY_SIZE=${BODY_SIZE:-0}
NOISE=${NOISE:-10}
read -r -a VARIANTS <<<"${VARIANTS:-hit miss bypass}"
ORIGIN=18480
GATEWAY=18490
ADMIN=18499

die() {
  echo "bench/cache: ERROR: $*" >&2
  exit 1
}

alive() { # running (not gone, not a zombie waiting to be reaped)
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ "${s:0:1}" != Z ]]
}

# The library's EXIT trap kills and removes everything; this one also waits for the processes
# to go (KILL after 5 s) and keeps the logs when something failed.
# shellcheck disable=SC2317  # (called through the EXIT trap)
cleanup() {
  local rc=$? pid
  trap - EXIT
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if ((rc == 0)); then rm -rf "$DIR"; else echo "bench/cache: logs kept in $DIR" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for v in DURATION ROUNDS CONN WARMUP NOISE; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ "$BODY_SIZE" =~ ^[0-9]+$ ]] || die "BODY_SIZE must be a number of bytes (got '$BODY_SIZE')"
for v in "${VARIANTS[@]}"; do
  [[ "$v" =~ ^(hit|miss|bypass)$ ]] || die "unknown variant '$v' (VARIANTS: hit, miss, bypass)"
done
for tool in nginx h2load curl taskset timeout getconf awk; do
  command -v "$tool" >/dev/null || die "'$tool' not found; run: bash scripts/install-deps.sh"
done
[[ -x "$BIN" ]] || die "no scalegate binary at $BIN (build it, or set SCALEGATE_BIN)"
taskset -c 1 true 2>/dev/null || die "needs at least 2 CPUs (gateway on CPU 0, origin and load on CPU 1)"
for p in $ORIGIN $GATEWAY $ADMIN; do
  if (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "127.0.0.1:$p is already in use (is another benchmark running?)"
  fi
done

# The origin: one nginx worker, the same body on every path; /bypass/ adds no-store.
BODY='hello from upstream\n' # nginx turns the \n into a newline
((BODY_SIZE == 0)) || BODY="$(printf '%*s' $((BODY_SIZE - 1)) '' | tr ' ' x)\\n"
cat >"$DIR/origin.conf" <<CONF
worker_processes 1; daemon off; pid $DIR/origin.pid; error_log $DIR/origin.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; default_type text/plain;
  server { listen 127.0.0.1:$ORIGIN reuseport backlog=4096;
    location / { return 200 "$BODY"; }
    location /bypass/ { add_header Cache-Control no-store always; return 200 "$BODY"; } } }
CONF
taskset -c 1 nginx -c "$DIR/origin.conf" 2>"$DIR/origin.log" &
PIDS+=($!)

cat >"$DIR/scalegate.yaml" <<CONF
workers: 1
listeners:
  - name: bench
    address: 127.0.0.1:$GATEWAY
    routes:
      - name: hit
        match: { prefix: /hit/ }
        upstream: origin
        cache: { force_ttl: 1h }
      - name: bypass
        match: { prefix: /bypass/ }
        upstream: origin
        cache: { enabled: true }
      - name: miss
        match: { prefix: /miss/ }
        upstream: origin
upstreams:
  origin:
    keepalive: 128
    servers:
      - address: 127.0.0.1:$ORIGIN
admin:
  address: 127.0.0.1:$ADMIN
CONF
"$BIN" check -c "$DIR/scalegate.yaml" >"$DIR/check.log" 2>&1 || {
  cat "$DIR/check.log" >&2
  die "$BIN does not accept the config (no route 'cache' support in this binary?)"
}
start_scalegate gateway "$GATEWAY" "$DIR/scalegate.yaml"

url() { echo "http://127.0.0.1:$GATEWAY/$1/item"; }

# Ready when /miss/ answers 200 through the gateway (so the origin is up too), at most 10 s.
for i in $(seq 100); do
  alive "${SG_PID[gateway]}" || { cat "$DIR/gateway.log" >&2; die "scalegate exited during start-up"; }
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$(url miss)" || true)" == 200 ]] && break
  ((i == 100)) && die "no 200 from $(url miss) within 10 s"
  sleep 0.1
done

declare -A XCACHE
xcache() { # variant -> the X-Cache value of a GET (empty when absent)
  curl -s --max-time 2 -D - -o /dev/null "$(url "$1")" |
    awk 'tolower($1) == "x-cache:" { sub(/\r$/, "", $2); print $2 }'
}
for v in "${VARIANTS[@]}"; do
  case $v in
    hit)
      xcache hit >/dev/null # fills the entry
      got=$(xcache hit)
      [[ "$got" == HIT ]] ||
        die "GET $(url hit) answered X-Cache: '${got:-<none>}' after a first GET, not HIT:" \
          "this binary does not serve route 'cache' from the cache (yet)"
      ;;
    bypass)
      xcache bypass >/dev/null
      got=$(xcache bypass)
      [[ "$got" != HIT ]] || die "GET $(url bypass) is a HIT although the origin says no-store"
      ;;
    miss) got=$(xcache miss) ;;
  esac
  XCACHE[$v]=${got:-<none>}
done

measure() { # variant -> M_CPU (us per request), M_RPS, M_N (responses); not in a subshell, so die stops the run
  local v=$1 before after out done_ ok cpu0_before cpu0_after
  cpu0_before=$(cpu0_ticks)
  before=$(ticks "${SG_PID[gateway]}")
  out=$(timeout $((DURATION + 30)) taskset -c 1 h2load --h1 -D "$DURATION" -c "$CONN" -t 1 "$(url "$v")" 2>&1) ||
    { echo "$out" >&2; die "h2load on /$v/ failed or timed out"; }
  after=$(ticks "${SG_PID[gateway]}")
  cpu0_after=$(cpu0_ticks)
  # requests: 123 total, 123 started, 123 done, 123 succeeded, 0 failed, 0 errored, 0 timeout
  read -r done_ ok < <(echo "$out" | awk '/^requests:/ { print $6, $8 }')
  if ! ((done_ > 0 && ok == done_)) || ! grep -q "status codes: $done_ 2xx" <<<"$out"; then
    echo "$out" >&2
    die "/$v/ did not answer every request with 2xx"
  fi
  M_RPS=$(echo "$out" | awk '/^finished in/ { printf "%.0f", $4 }')
  M_CPU=$(awk -v a="$before" -v b="$after" -v t="$TCK" -v n="$done_" 'BEGIN { printf "%.2f", (b - a) / t * 1e6 / n }')
  M_N=$done_
  # CPU 0 was busy with something else than the gateway for this share of the round.
  M_OTHER=$(awk -v b="$cpu0_before" -v a="$cpu0_after" -v g=$((after - before)) '
    BEGIN { split(b, x); split(a, y); o = (y[1] - x[1]) - g; if (o < 0) o = 0; printf "%.0f", 100 * o / (y[2] - x[2]) }')
}

cpu0_ticks() { # "busy total" jiffies of CPU 0 (busy: everything but idle and iowait)
  awk '$1 == "cpu0" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

hit_counts() { # from /metrics: "HIT-responses all-2xx-responses" on route hit (empty when absent)
  curl -s --max-time 2 "http://127.0.0.1:$ADMIN/metrics" | awk '
    /^scalegate_cache_responses_total\{/ && /route="hit"/ && /result="hit"/ { h += $NF; fh = 1 }
    /^scalegate_requests_total\{/ && /route="hit"/ && /class="2xx"/ { r += $NF; fr = 1 }
    END { if (fh && fr) printf "%d %d\n", h, r }'
}

body_label='20 bytes ("hello from upstream")'
((BODY_SIZE == 0)) || body_label="$BODY_SIZE bytes"
echo "bench/cache: $BIN, pid ${SG_PID[gateway]}; ${#VARIANTS[@]} variants x $ROUNDS rounds x ${DURATION}s, $CONN connections, body $body_label"
for v in "${VARIANTS[@]}"; do
  timeout $((WARMUP + 30)) taskset -c 1 h2load --h1 -D "$WARMUP" -c "$CONN" -t 1 "$(url "$v")" >/dev/null 2>&1 ||
    die "warm-up of /$v/ failed"
done
read -r hits_before reqs_before < <(hit_counts) || true

declare -A CPUS RPSS ROUND_CPU
declare -i NOISY=0
for round in $(seq "$ROUNDS"); do
  order=("${VARIANTS[@]:$(((round - 1) % ${#VARIANTS[@]}))}" "${VARIANTS[@]:0:$(((round - 1) % ${#VARIANTS[@]}))}")
  for v in "${order[@]}"; do
    measure "$v"
    CPUS[$v]+="$M_CPU "
    ROUND_CPU[$v,$round]=$M_CPU
    RPSS[$v]+="$M_RPS "
    noisy=""
    if ((M_OTHER > NOISE)); then noisy="  <- noisy: CPU 0 busy with other processes"; NOISY+=1; fi
    printf 'round %d  %-7s cpu_us_per_req=%-7s rps=%-7s requests=%-8s cpu0_other=%s%%%s\n' \
      "$round" "$v" "$M_CPU" "$M_RPS" "$M_N" "$M_OTHER" "$noisy"
  done
done
read -r hits_after reqs_after < <(hit_counts) || true

base=""
[[ " ${VARIANTS[*]} " == *" miss "* ]] && base=$(median "${CPUS[miss]}")
echo
printf '%-8s %-9s %14s %10s %12s   %s\n' variant x-cache cpu_us_per_req rps ratio_to_miss "cpu_us_per_req by round"
for v in "${VARIANTS[@]}"; do
  m=$(median "${CPUS[$v]}")
  awk -v v="$v" -v x="${XCACHE[$v]}" -v m="$m" -v r="$(median "${RPSS[$v]}")" -v b="$base" -v all="${CPUS[$v]}" \
    'BEGIN { printf "%-8s %-9s %14.2f %10.0f %12s   %s\n", v, x, m, r, (b == "" ? "-" : sprintf("%.3f", m / b)), all }'
done
if [[ -n "${hits_after:-}" && -n "${hits_before:-}" && -n "${CPUS[hit]:-}" ]]; then
  # Also counts the requests h2load still had in flight when a -D window closed.
  echo "hit route, from /metrics: $((hits_after - hits_before)) of $((reqs_after - reqs_before)) responses during the rounds were X-Cache: HIT"
fi
((NOISY == 0)) || echo "note: in $NOISY measurements other processes took more than $NOISE% of CPU 0; run again on a quiet machine"
echo
per_round() { # variant -> its CPU per request over miss's, round by round
  local round
  for round in $(seq "$ROUNDS"); do
    awk -v a="${ROUND_CPU[$1,$round]}" -v b="${ROUND_CPU[miss,$round]}" 'BEGIN { printf " %.2f", a / b }'
  done
}
if [[ -n "$base" && -n "${CPUS[hit]:-}" ]]; then
  awk -v m="$(median "${CPUS[hit]}")" -v b="$base" -v rounds="$(per_round hit)" 'BEGIN {
    r = m / b
    printf "hit/miss CPU per request: %.3fx (by round:%s; target <= 0.50x: %s)\n", r, rounds, (r <= 0.5 ? "met" : "NOT met") }'
fi
if [[ -n "${CPUS[hit]:-}" && -n "${CPUS[bypass]:-}" ]]; then
  # The same route answered from the cache against answered by the upstream (X-Cache: MISS).
  awk -v h="$(median "${CPUS[hit]}")" -v b="$(median "${CPUS[bypass]}")" \
    'BEGIN { printf "hit/cache-miss CPU per request: %.3fx (a HIT against a proxied X-Cache: MISS)\n", h / b }'
fi
if [[ -n "$base" && -n "${CPUS[bypass]:-}" ]]; then
  awk -v m="$(median "${CPUS[bypass]}")" -v b="$base" -v rounds="$(per_round bypass)" \
    'BEGIN { printf "bypass/miss CPU per request: %.2fx (by round:%s; no-store responses through the cache)\n", m / b, rounds }'
fi
