#!/usr/bin/env bash
# Memory per idle keep-alive client connection, in one run: nginx (1 worker), HAProxy
# (nbthread 1) and scalegate (workers: 1), each pinned to CPU 0, in front of one nginx origin
# on CPU 1 (the origin of bench/nginx-origin.conf, on this script's own port).
#
# Per proxy: a warm-up (WARMUP connections, one request each, closed), then RSS "before";
# then bench/idle_clients.py (on CPU 1) opens N connections in batches of BATCH, sends one
# `GET / HTTP/1.1` keep-alive request on each, reads each whole response and keeps them all
# open and idle; SETTLE seconds later, RSS "after", and a check that the proxy closed none.
# Reported: (after - before) / N in KiB per idle connection, the absolute RSS, and the
# ratios scalegate/nginx and scalegate/haproxy.
#
# RSS is VmRSS from /proc/PID/status of the process that holds the client connections: the
# nginx worker (the master only supervises; its RSS is printed apart, not counted), the one
# HAProxy process, the one scalegate process. Kernel socket buffers are not in RSS.
#
# Env: N (10000 connections), BATCH (100), SETTLE (2 s), WARMUP (BATCH connections),
#      IDLE_TIMEOUT (120 s, the client keep-alive timeout set in every proxy),
#      SCALEGATE_BIN (build/src/app/scalegate), BASE_BIN (a second scalegate, shown as
#      scalegate_base, to compare two builds in one run), REQUIRE_SCALEGATE (1: fail when the
#      binary is missing instead of measuring nginx and HAProxy only).
# Ports 18580-18584 on 127.0.0.1 (run.sh uses 18180-18189; the overhead scripts 18280-18499);
# refuses to start when one is taken. Stops only the processes it started, by pid.
# Exit status: 0 when every proxy held all N connections with a 2xx answer, 1 otherwise.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

N=${N:-10000}
BATCH=${BATCH:-100}
SETTLE=${SETTLE:-2}
WARMUP=${WARMUP:-$BATCH}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-120}
REQUIRE_SCALEGATE=${REQUIRE_SCALEGATE:-0}
SCALEGATE_BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
BASE_BIN=${BASE_BIN:-}
[[ "$SCALEGATE_BIN" == /* ]] || SCALEGATE_BIN=$PWD/$SCALEGATE_BIN
[[ -z "$BASE_BIN" || "$BASE_BIN" == /* ]] || BASE_BIN=$PWD/$BASE_BIN

PROXY_CPU=0
LOAD_CPU=1 # origin and clients
ORIGIN_PORT=18580
declare -A PORT=([nginx]=18581 [haproxy]=18582 [scalegate]=18583 [scalegate_base]=18584)
EXPECTED_BODY="hello from upstream"
CLIENT=$BENCH_DIR/idle_clients.py

say() { echo "idle_memory: $*"; }
die() {
  echo "idle_memory: ERROR: $*" >&2
  exit 1
}

for v in N BATCH SETTLE WARMUP IDLE_TIMEOUT; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
((IDLE_TIMEOUT > SETTLE + 30)) || die "IDLE_TIMEOUT ($IDLE_TIMEOUT) must exceed SETTLE + 30 s"
for tool in nginx haproxy python3 taskset timeout curl pgrep; do
  command -v "$tool" >/dev/null || die "'$tool' not found; run: sudo bash scripts/install-deps.sh"
done
[[ -r "$CLIENT" ]] || die "missing $CLIENT"
python3 -c 'import selectors, resource' 2>/dev/null || die "python3 lacks the selectors/resource modules"
taskset -c "$LOAD_CPU" true 2>/dev/null || die "needs at least 2 CPUs (proxies on CPU $PROXY_CPU, clients on CPU $LOAD_CPU)"

PROXIES=(nginx haproxy)
if [[ -x "$SCALEGATE_BIN" ]]; then
  PROXIES+=(scalegate)
elif [[ "$REQUIRE_SCALEGATE" == 1 ]]; then
  die "scalegate binary not found at $SCALEGATE_BIN"
else
  say "note: no scalegate binary at $SCALEGATE_BIN; measuring nginx and haproxy only"
fi
if [[ -n "$BASE_BIN" ]]; then
  [[ -x "$BASE_BIN" ]] || die "BASE_BIN=$BASE_BIN is not an executable"
  PROXIES+=(scalegate_base)
fi
declare -A SG_BIN=([scalegate]=$SCALEGATE_BIN [scalegate_base]=$BASE_BIN)

# Every proxy holds N client sockets plus up to BATCH+128 upstream ones; the client holds N.
# The N/8 is for nginx, which starts closing idle keep-alive connections when fewer than 1/16
# of its worker_connections are free.
NEED_FDS=$((N + N / 8 + BATCH + 1024))
HARD_FDS=$(ulimit -Hn)
if [[ "$HARD_FDS" != unlimited ]] && ((HARD_FDS < NEED_FDS)); then
  die "N=$N needs $NEED_FDS file descriptors per process; the hard limit is $HARD_FDS (raise it as root, or lower N)"
fi
ulimit -n "$NEED_FDS" || die "cannot raise the open-file limit to $NEED_FDS"

# shellcheck source=bench/proc_lib.sh
source "$BENCH_DIR/proc_lib.sh"
for p in "$ORIGIN_PORT" "${PORT[@]}"; do
  if port_busy "$p"; then die "127.0.0.1:$p is already in use (is another benchmark running?)"; fi
done

RUN_DIR=$(mktemp -d /tmp/scalegate-idle-memory.XXXXXX)
PIDS=()
declare -A PID=()
CLIENT_PID=""

install_cleanup


# ---- configs: those of run.sh (bench/*.conf, haproxy.cfg, scalegate.yaml) on this script's
# ports, with room for N connections and a client keep-alive timeout of IDLE_TIMEOUT --------
cat >"$RUN_DIR/origin.conf" <<CONF
worker_processes 1;
daemon off;
pid origin.pid;
error_log origin-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
    location / { return 200 "$EXPECTED_BODY\n"; }
  }
}
CONF
cat >"$RUN_DIR/nginx-proxy.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $NEED_FDS;
daemon off;
pid nginx-proxy.pid;
error_log nginx-proxy-error.log warn;
events { worker_connections $NEED_FDS; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout ${IDLE_TIMEOUT}s;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:${PORT[nginx]} backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
cat >"$RUN_DIR/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn $((N + 512))
  # HAProxy sizes its fd needs as 2 x maxconn (a server side for every client); idle clients
  # have none, so the fd limit given to every proxy is enough.
  ulimit-n $NEED_FDS
  no strict-limits
defaults
  mode http
  timeout connect 5s
  timeout client ${IDLE_TIMEOUT}s
  timeout server 30s
  timeout http-keep-alive ${IDLE_TIMEOUT}s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${PORT[haproxy]}
  default_backend origin
backend origin
  http-reuse always
  server origin 127.0.0.1:$ORIGIN_PORT
CONF
for sg in scalegate scalegate_base; do
  cat >"$RUN_DIR/$sg.yaml" <<CONF
workers: 1
shutdown_timeout: 5s
listeners:
  - name: bench
    address: 127.0.0.1:${PORT[$sg]}
    idle_timeout: ${IDLE_TIMEOUT}s
    routes:
      - name: all
        match: { prefix: / }
        upstream: origin
upstreams:
  origin:
    keepalive: 128
    servers:
      - { address: 127.0.0.1:$ORIGIN_PORT }
CONF
done

# ---- start -----------------------------------------------------------------------------------
say "run dir $RUN_DIR; N=$N BATCH=$BATCH SETTLE=${SETTLE}s WARMUP=$WARMUP IDLE_TIMEOUT=${IDLE_TIMEOUT}s"
start origin "$LOAD_CPU" nginx -p "$RUN_DIR/" -e "$RUN_DIR/origin-error.log" -c "$RUN_DIR/origin.conf"
wait_ready origin "$ORIGIN_PORT"
for p in "${PROXIES[@]}"; do
  case $p in
    nginx) start nginx "$PROXY_CPU" nginx -p "$RUN_DIR/" -e "$RUN_DIR/nginx-proxy-error.log" -c "$RUN_DIR/nginx-proxy.conf" ;;
    haproxy) start haproxy "$PROXY_CPU" haproxy -db -f "$RUN_DIR/haproxy.cfg" ;;
    *)
      if ! "${SG_BIN[$p]}" check -c "$RUN_DIR/$p.yaml" >"$RUN_DIR/$p-check.out" 2>&1; then
        cat "$RUN_DIR/$p-check.out" >&2
        die "$p (${SG_BIN[$p]}) check -c $RUN_DIR/$p.yaml failed"
      fi
      start "$p" "$PROXY_CPU" "${SG_BIN[$p]}" run -c "$RUN_DIR/$p.yaml"
      ;;
  esac
done
for p in "${PROXIES[@]}"; do wait_ready "$p" "${PORT[$p]}"; done

declare -A RSS_PID=()
for p in "${PROXIES[@]}"; do RSS_PID[$p]=${PID[$p]}; done
if [[ -n "${PID[nginx]:-}" ]]; then
  workers=$(pgrep -P "${PID[nginx]}" || true)
  [[ "$workers" =~ ^[0-9]+$ ]] || die "expected one nginx worker under pid ${PID[nginx]}, found: ${workers:-none}"
  RSS_PID[nginx]=$workers
fi
say "started: origin pid ${PID[origin]} (CPU $LOAD_CPU)$(for p in "${PROXIES[@]}"; do
  printf ', %s pid %s port %s' "$p" "${RSS_PID[$p]}" "${PORT[$p]}"
done) (CPU $PROXY_CPU)"

rss_kib() { # pid -> VmRSS in KiB
  local v
  v=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status" 2>/dev/null) || true
  [[ -n "$v" ]] || die "cannot read VmRSS of pid $1 (did it exit?)"
  echo "$v"
}

# ---- measure ---------------------------------------------------------------------------------
READY_TIMEOUT=$((30 + N / 200)) # seconds for all N connections (about 4 s per 10k here)
HOLD_MAX=$((READY_TIMEOUT + SETTLE + 60))
RESULTS=$RUN_DIR/results.tsv
FAILURES=()
: >"$RESULTS"

measure() { # name
  local name=$1 port=${PORT[$1]} pid=${RSS_PID[$1]} out before after line ok=0 bad=0 open=0
  out=$(taskset -c "$LOAD_CPU" timeout 60 python3 "$CLIENT" --port "$port" -n "$WARMUP" \
    --batch "$BATCH" --once-and-close 2>&1) || true
  [[ "$out" == "done $WARMUP 0" ]] || say "warning: $name warm-up: ${out:-no output}"
  sleep 1 # let the closes of the warm-up connections be processed
  before=$(rss_kib "$pid")

  coproc CLIENT_CO { exec taskset -c "$LOAD_CPU" python3 "$CLIENT" --port "$port" -n "$N" \
    --batch "$BATCH" --hold-max "$HOLD_MAX" 2>"$RUN_DIR/client-$name.err"; }
  CLIENT_PID=$CLIENT_CO_PID
  EXTRA_PIDS=$CLIENT_PID # stopped by cleanup_on_exit if the script ends early
  local to=${CLIENT_CO[1]} from=${CLIENT_CO[0]}
  if read -r -t "$READY_TIMEOUT" -u "$from" line && [[ "$line" =~ ^ready\ ([0-9]+)\ ([0-9]+)$ ]]; then
    ok=${BASH_REMATCH[1]}
    bad=${BASH_REMATCH[2]}
    sleep "$SETTLE"
    after=$(rss_kib "$pid")
    echo check >&"$to"
    if read -r -t 30 -u "$from" line && [[ "$line" =~ ^open\ ([0-9]+)$ ]]; then
      open=${BASH_REMATCH[1]}
    fi
    echo close >&"$to"
  else
    after=$(rss_kib "$pid")
    say "$name: the client did not report within ${READY_TIMEOUT}s (got '${line:-}')"
  fi
  for _ in $(seq 100); do alive "$CLIENT_PID" || break; sleep 0.1; done
  kill -KILL "$CLIENT_PID" 2>/dev/null || true
  wait "$CLIENT_PID" 2>/dev/null || true
  CLIENT_PID=""
  EXTRA_PIDS=""
  sed 's/^/    client: /' "$RUN_DIR/client-$name.err" >&2

  if ((ok != N || open != N)); then
    FAILURES+=("$name: $ok of $N connections got a 2xx answer ($bad failed), $open still open after ${SETTLE}s")
  fi
  awk -v n="$N" -v p="$name" -v b="$before" -v a="$after" -v o="$open" \
    'BEGIN { printf "%s\t%d\t%d\t%.2f\t%d\n", p, b, a, (a - b) / n, o }' >>"$RESULTS"
  sleep 1 # the proxy processes the N closes before the next one is measured
}

for p in "${PROXIES[@]}"; do
  measure "$p"
done

# ---- report ----------------------------------------------------------------------------------
echo
printf '%-15s %16s %15s %16s %8s\n' proxy rss_before_kib rss_after_kib kib_per_idle_conn held
declare -A PER=()
while IFS=$'\t' read -r p b a k o; do
  PER[$p]=$k
  printf '%-15s %16s %15s %16s %8s\n' "$p" "$b" "$a" "$k" "$o/$N"
done <"$RESULTS"
echo "(VmRSS of the nginx worker, the HAProxy process, the scalegate process; N=$N idle keep-alive" \
  "connections after one GET each, opened $BATCH at a time; RSS read ${SETTLE}s after the last)"
if [[ -n "${PID[nginx]:-}" ]]; then
  echo "(nginx master, not counted: $(rss_kib "${PID[nginx]}") KiB; nginx fills its table of" \
    "$NEED_FDS worker_connections at start-up, so that part of a connection is in 'before')"
fi
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "n/a"; else printf "%.2fx", a / b }'; }
for sg in scalegate scalegate_base; do
  [[ -n "${PER[$sg]:-}" ]] || continue
  for ref in nginx haproxy; do
    printf '%s/%-8s kib_per_idle_conn %s\n' "$sg" "$ref" "$(ratio "${PER[$sg]}" "${PER[$ref]}")"
  done
done
if [[ -n "${PER[scalegate]:-}" && -n "${PER[scalegate_base]:-}" ]]; then
  printf 'scalegate/scalegate_base kib_per_idle_conn %s\n' "$(ratio "${PER[scalegate]}" "${PER[scalegate_base]}")"
fi

STATUS=0
if ((${#FAILURES[@]})); then
  for f in "${FAILURES[@]}"; do echo "idle_memory: FAILED: $f" >&2; done
  STATUS=1
fi
exit "$STATUS"
