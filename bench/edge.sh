#!/usr/bin/env bash
# The edge benchmark: TLS and HTTP/2 cost, in one run, side by side, through nginx (1 worker),
# HAProxy (1 thread) and scalegate (1 worker), each pinned to CPU 0 and terminating TLS with the
# same self-signed EC P-256 certificate (made here with openssl), in front of one plain-HTTP
# nginx origin pinned to CPU 1. The load generator (h2load) also runs on CPU 1.
#
# Three figures per proxy (medians over ROUNDS rounds; CPU = utime+stime of the proxy's pid and
# child processes from /proc, so only the proxy's own work counts):
#   (a) handshakes_per_cpu_s: full TLS 1.3 handshakes per CPU-second. Batches of BATCH new
#       connections that each send one request and close (h2load --h1 -n BATCH -c BATCH), until
#       HANDSHAKES connections; no resumption (h2load offers no session, the servers keep no
#       session cache and send no tickets). Includes the one request per connection, alike for
#       all. h2load rather than `openssl s_time`: s_time's client costs more CPU than the server
#       and reports no server-side figure; h2load also checks every response is a 2xx.
#   (b) h1_cpu_us_per_req: CPU per request over TLS keep-alive HTTP/1.1 (h2load --h1 -n N -c CONN).
#   (c) h2_cpu_us_per_req: CPU per request over HTTP/2 (ALPN h2), h2load -n N -c CONN -m 10.
# Upstream keep-alive pools hold the h2 run's peak concurrency (UPSTREAM_KEEPALIVE below), so
# no proxy pays for new origin connections in the steady state.
# A round takes each figure of every proxy in turn (hs of each, then h1 of each, then h2), so a
# proxy's figure is taken seconds from its peers'. Then scalegate's figures as ratios to nginx's
# and HAProxy's (and HAProxy's to nginx's): the ratio of the medians, and the median (and range)
# of each round's own ratio.
# A scalegate build without a TLS listener (`scalegate check` refuses the `tls` key) is reported
# as "n/a (no TLS listener in this build)" and the peers are still measured.
#
# Env: HANDSHAKES (2000), BATCH (100), N (20000), CONN (32), ROUNDS (3), WARMUP (2000),
#      H2LOAD_TIMEOUT (60 s per h2load run), SCALEGATE_BIN (build/src/app/scalegate).
#      About 1 minute per proxy with the defaults on 2 busy cores (less on idle ones).
# Exit status: 0 when every measured proxy answered every request with 2xx over TLS 1.3 (and h2
# for (c)), 1 otherwise. Everything listens on loopback; only the processes started here are
# stopped, by pid.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

HANDSHAKES=${HANDSHAKES:-2000}
BATCH=${BATCH:-100}
N=${N:-20000}
CONN=${CONN:-32}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2000}
H2LOAD_TIMEOUT=${H2LOAD_TIMEOUT:-60} # seconds, per h2load run: a stuck proxy fails the run
SCALEGATE_BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
[[ "$SCALEGATE_BIN" == /* ]] || SCALEGATE_BIN=$PWD/$SCALEGATE_BIN

PROXY_CPU=0
LOAD_CPU=1
EXPECTED_BODY="hello from upstream"

say() { echo "edge: $*"; }
die() {
  echo "edge: ERROR: $*" >&2
  exit 1
}

for v in HANDSHAKES BATCH N CONN ROUNDS WARMUP H2LOAD_TIMEOUT; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
((HANDSHAKES % BATCH == 0)) || die "HANDSHAKES ($HANDSHAKES) must be a multiple of BATCH ($BATCH)"
# Idle upstream connections nginx and scalegate keep: at least the h2 run's peak concurrency
# (CONN connections x 10 streams). HAProxy keeps every idle connection by default; a smaller
# pool makes the other two close connections they need again a moment later, so the h2 figure
# measured the origin's TCP setup and teardown (a quarter of the requests opened a connection
# with 128), not the proxies' HTTP/2 work.
UPSTREAM_KEEPALIVE=$((CONN * 10 > 128 ? CONN * 10 : 128))
for tool in nginx haproxy h2load openssl taskset curl pgrep getconf; do
  command -v "$tool" >/dev/null || die "'$tool' not found; run: sudo bash scripts/install-deps.sh"
done
taskset -c "$LOAD_CPU" true 2>/dev/null || die "needs at least 2 CPUs (proxies on CPU $PROXY_CPU, load on CPU $LOAD_CPU)"

# shellcheck source=bench/proc_lib.sh
source "$BENCH_DIR/proc_lib.sh"
ORIGIN_PORT=$(free_port)
declare -A PORT=([nginx]=$(free_port) [haproxy]=$(free_port) [scalegate]=$(free_port))
SCALEGATE_ADMIN_PORT=$(free_port)

RUN_DIR=$(mktemp -d /tmp/scalegate-edge.XXXXXX)
PIDS=()
declare -A PID=()
install_cleanup

# ---- certificate and configurations ------------------------------------------------------------
CERT=$RUN_DIR/cert.pem
KEY=$RUN_DIR/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$KEY" -out "$CERT" >"$RUN_DIR/openssl.out" 2>&1 ||
  die "openssl could not make the certificate: $(cat "$RUN_DIR/openssl.out")"
cat "$CERT" "$KEY" >"$RUN_DIR/haproxy.pem"

# The origin is bench/nginx-origin.conf on this script's own port.
sed "s/127.0.0.1:18180/127.0.0.1:$ORIGIN_PORT/" "$BENCH_DIR/nginx-origin.conf" >"$RUN_DIR/origin.conf"
grep -q "127.0.0.1:$ORIGIN_PORT" "$RUN_DIR/origin.conf" || die "bench/nginx-origin.conf has no 127.0.0.1:18180 to move"

cat >"$RUN_DIR/nginx-tls.conf" <<CONF
worker_processes 1;
daemon off;
pid nginx-tls.pid;
error_log nginx-tls-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive $UPSTREAM_KEEPALIVE; }
  server {
    listen 127.0.0.1:${PORT[nginx]} ssl http2 backlog=4096;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    http2_max_concurrent_streams 128;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF

cat >"$RUN_DIR/haproxy-tls.cfg" <<CONF
global
  nbthread 1
  maxconn 4000
  tune.ssl.cachesize 0
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${PORT[haproxy]} ssl crt $RUN_DIR/haproxy.pem alpn h2,http/1.1 ssl-min-ver TLSv1.3 no-tls-tickets
  default_backend origin
backend origin
  http-reuse always
  server origin 127.0.0.1:$ORIGIN_PORT
CONF

cat >"$RUN_DIR/scalegate-tls.yaml" <<CONF
workers: 1
shutdown_timeout: 5s
listeners:
  - name: tls
    address: 127.0.0.1:${PORT[scalegate]}
    tls:
      certificates: [{ cert: $CERT, key: $KEY }]
      alpn: [h2, http/1.1]
    routes:
      - name: all
        match: { prefix: / }
        upstream: origin
upstreams:
  origin:
    keepalive: $UPSTREAM_KEEPALIVE
    servers:
      - { address: 127.0.0.1:$ORIGIN_PORT }
admin:
  address: 127.0.0.1:$SCALEGATE_ADMIN_PORT
CONF

PROXIES=(nginx haproxy)
SCALEGATE_NOTE=""
if [[ ! -x "$SCALEGATE_BIN" ]]; then
  SCALEGATE_NOTE="n/a (no binary at $SCALEGATE_BIN)"
elif "$SCALEGATE_BIN" check -c "$RUN_DIR/scalegate-tls.yaml" >"$RUN_DIR/scalegate-check.out" 2>&1; then
  PROXIES+=(scalegate)
elif grep -q "tls" "$RUN_DIR/scalegate-check.out"; then
  SCALEGATE_NOTE="n/a (no TLS listener in this build)"
else
  cat "$RUN_DIR/scalegate-check.out" >&2
  die "scalegate check refused the benchmark's TLS configuration"
fi
[[ -z "$SCALEGATE_NOTE" ]] || say "scalegate: $SCALEGATE_NOTE; measuring nginx and haproxy only"

# ---- start -------------------------------------------------------------------------------------
wait_tls_ready() { # name port: until it answers GET / over TLS with the origin's body (10 s at most)
  local name=$1 port=$2 body
  for _ in $(seq 100); do
    alive "${PID[$name]}" || {
      tail -n 20 "$RUN_DIR/$name.out" >&2 || true
      die "$name exited during start-up"
    }
    body=$(curl -sk --max-time 1 "https://127.0.0.1:$port/" 2>/dev/null || true)
    [[ "$body" == "$EXPECTED_BODY" ]] && return 0
    sleep 0.1
  done
  tail -n 20 "$RUN_DIR/$name.out" >&2 || true
  die "$name did not answer on https://127.0.0.1:$port with the origin's body within 10s"
}

start origin "$LOAD_CPU" nginx -p "$RUN_DIR/" -e "$RUN_DIR/origin-error.log" -c "$RUN_DIR/origin.conf"
for _ in $(seq 100); do
  [[ "$(curl -s --max-time 1 "http://127.0.0.1:$ORIGIN_PORT/" 2>/dev/null)" == "$EXPECTED_BODY" ]] && break
  alive "${PID[origin]}" || die "the origin exited during start-up: $(tail -n 5 "$RUN_DIR/origin.out")"
  sleep 0.1
done
start nginx "$PROXY_CPU" nginx -p "$RUN_DIR/" -e "$RUN_DIR/nginx-tls-error.log" -c "$RUN_DIR/nginx-tls.conf"
start haproxy "$PROXY_CPU" haproxy -db -f "$RUN_DIR/haproxy-tls.cfg"
if [[ " ${PROXIES[*]} " == *" scalegate "* ]]; then
  start scalegate "$PROXY_CPU" "$SCALEGATE_BIN" run -c "$RUN_DIR/scalegate-tls.yaml"
fi
for p in "${PROXIES[@]}"; do
  wait_tls_ready "$p" "${PORT[$p]}"
  timeout "$H2LOAD_TIMEOUT" taskset -c "$LOAD_CPU" h2load --h1 -n "$WARMUP" -c "$CONN" -t 1 "https://127.0.0.1:${PORT[$p]}/" >/dev/null 2>&1 || true
done
say "run dir $RUN_DIR; HANDSHAKES=$HANDSHAKES BATCH=$BATCH N=$N CONN=$CONN ROUNDS=$ROUNDS"
say "started: origin pid ${PID[origin]} (CPU $LOAD_CPU)$(for p in "${PROXIES[@]}"; do
  printf ', %s pid %s port %s' "$p" "${PID[$p]}" "${PORT[$p]}"
done) (CPU $PROXY_CPU)"

# ---- measure -------------------------------------------------------------------------------------
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

RESULTS=$RUN_DIR/results.tsv # proxy figure value round
FAILURES=()

# h2load's output is good when every request got a 2xx over TLS 1.3 (and ALPN `protocol`).
check_h2load() { # name figure out expected-2xx protocol
  local ok2xx tls alpn
  ok2xx=$(awk '/^status codes:/ {print $3}' <<<"$3")
  tls=$(awk '/^TLS Protocol:/ {print $3}' <<<"$3" | sort -u | tr '\n' ' ')
  alpn=$(awk '/^Application protocol:/ {print $3}' <<<"$3" | sort -u | tr '\n' ' ')
  if [[ "${ok2xx:-0}" != "$4" || "$tls" != "TLSv1.3 " || "$alpn" != "$5 " ]]; then
    # (called in $(...): the reason goes to stderr, the caller records the failure)
    echo "edge: $1 $2: ${ok2xx:-no} 2xx of $4, TLS '${tls}', ALPN '${alpn}' (want TLSv1.3, $5)" >&2
    tail -n 8 <<<"$3" | sed 's/^/    h2load: /' >&2
    return 1
  fi
}

measure_handshakes() { # name -> handshakes per CPU-second
  local name=$1 url="https://127.0.0.1:${PORT[$1]}/" c0 c1 out i
  c0=$(cpu_ticks "${PID[$name]}")
  for ((i = 0; i < HANDSHAKES / BATCH; i++)); do
    out=$(timeout "$H2LOAD_TIMEOUT" taskset -c "$LOAD_CPU" h2load --h1 -n "$BATCH" -c "$BATCH" -t 1 "$url" 2>&1) || true
    check_h2load "$name" handshakes "$out" "$BATCH" http/1.1 || return 1
  done
  c1=$(cpu_ticks "${PID[$name]}")
  awk -v a="$c0" -v b="$c1" -v t="$TICKS_PER_SEC" -v n="$HANDSHAKES" \
    'BEGIN { if (b > a) printf "%.0f", n / ((b - a) / t); else print "nan" }'
}

measure_requests() { # name figure h2load-args... -> CPU microseconds per request
  local name=$1 figure=$2 url="https://127.0.0.1:${PORT[$1]}/" c0 c1 out protocol=h2
  shift 2
  [[ " $* " == *" --h1 "* ]] && protocol=http/1.1
  c0=$(cpu_ticks "${PID[$name]}")
  out=$(timeout "$H2LOAD_TIMEOUT" taskset -c "$LOAD_CPU" h2load -n "$N" -c "$CONN" -t 1 "$@" "$url" 2>&1) || true
  c1=$(cpu_ticks "${PID[$name]}")
  check_h2load "$name" "$figure" "$out" "$N" "$protocol" || return 1
  awk -v a="$c0" -v b="$c1" -v t="$TICKS_PER_SEC" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / t * 1e6 / n }'
}

measure() { # name round figure: one figure of one proxy, recorded in $RESULTS
  local name=$1 value
  case $3 in
    hs) value=$(measure_handshakes "$name") || value=FAILED ;;
    h1) value=$(measure_requests "$name" h1 --h1) || value=FAILED ;;
    h2) value=$(measure_requests "$name" h2 -m 10) || value=FAILED ;;
  esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$3" "$value" "$2" >>"$ROUND_LOG"
  if [[ $value == FAILED ]]; then
    FAILURES+=("$name $3 round $2")
  else
    printf '%s\t%s\t%s\t%s\n' "$name" "$3" "$value" "$2" >>"$RESULTS"
  fi
}

: >"$RESULTS"
ROUND_LOG=$RUN_DIR/rounds.tsv
: >"$ROUND_LOG"
count=${#PROXIES[@]}
# Figure by figure, the proxies one after another (the order rotates so no proxy always goes
# first): each proxy's figure is taken seconds from its peers', so the ratios of one round see
# the same machine (its load drifts over minutes here).
for ((r = 1; r <= ROUNDS; r++)); do
  for figure in hs h1 h2; do
    for ((i = 0; i < count; i++)); do
      measure "${PROXIES[$(((i + r - 1) % count))]}" "$r" "$figure"
    done
  done
  for p in "${PROXIES[@]}"; do
    printf 'round %d  %-10s handshakes_per_cpu_s=%s h1_cpu_us_per_req=%s h2_cpu_us_per_req=%s\n' "$r" "$p" \
      "$(awk -F'\t' -v p="$p" -v r="$r" '$1 == p && $2 == "hs" && $4 == r {print $3}' "$ROUND_LOG")" \
      "$(awk -F'\t' -v p="$p" -v r="$r" '$1 == p && $2 == "h1" && $4 == r {print $3}' "$ROUND_LOG")" \
      "$(awk -F'\t' -v p="$p" -v r="$r" '$1 == p && $2 == "h2" && $4 == r {print $3}' "$ROUND_LOG")"
  done
done

# ---- report --------------------------------------------------------------------------------------
median() { # proxy figure
  awk -F'\t' -v p="$1" -v f="$2" '$1 == p && $2 == f {print $3}' "$RESULTS" | grep -v nan | sort -g |
    awk '{a[NR] = $1} END {
      if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "n/a"; else printf "%.2fx", a / b }'; }

echo
printf '%-10s %20s %18s %18s\n' proxy handshakes_per_cpu_s h1_cpu_us_per_req h2_cpu_us_per_req
declare -A MED=()
for p in "${PROXIES[@]}"; do
  for f in hs h1 h2; do MED[$p.$f]=$(median "$p" "$f"); done
  printf '%-10s %20s %18s %18s\n' "$p" "${MED[$p.hs]}" "${MED[$p.h1]}" "${MED[$p.h2]}"
done
[[ -z "$SCALEGATE_NOTE" ]] || printf '%-10s %s\n' scalegate "$SCALEGATE_NOTE"
echo "(medians over $ROUNDS round(s); handshakes: $HANDSHAKES new connections of 1 request," \
  "$BATCH at a time; h1/h2: N=$N on $CONN connections, h2 with 10 streams each;" \
  "TLS 1.3, EC P-256; proxies on CPU $PROXY_CPU, origin and load on CPU $LOAD_CPU)"
echo "ratios (handshakes: higher is better; CPU per request: lower is better):"
# The median over the rounds of one round's ratio, and the range, e.g. "0.91x (0.86-0.97)".
round_ratios() { # name reference figure
  awk -F'\t' -v a="$1" -v b="$2" -v f="$3" '$3 == "nan" {next} $2 == f && $1 == a {x[$4] = $3} $2 == f && $1 == b {y[$4] = $3}
    END { for (r in x) if ((r in y) && y[r] > 0) print x[r] / y[r] }' "$RESULTS" | sort -g |
    awk '{v[NR] = $1} END {
      if (NR == 0) { print "n/a"; exit }
      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.2fx (%.2f-%.2f)", m, v[1], v[NR] }'
}
ratios() { # name reference
  printf '  %s/%-8s handshakes_per_cpu_s %s  h1_cpu_us_per_req %s  h2_cpu_us_per_req %s\n' "$1" "$2" \
    "$(ratio "${MED[$1.hs]}" "${MED[$2.hs]}")" "$(ratio "${MED[$1.h1]}" "${MED[$2.h1]}")" \
    "$(ratio "${MED[$1.h2]}" "${MED[$2.h2]}")"
  printf '  %s/%-8s per round: handshakes %s  h1 %s  h2 %s\n' "$1" "$2" \
    "$(round_ratios "$1" "$2" hs)" "$(round_ratios "$1" "$2" h1)" "$(round_ratios "$1" "$2" h2)"
}
if [[ -n "${MED[scalegate.hs]:-}" ]]; then
  ratios scalegate haproxy
  ratios scalegate nginx
else
  echo "  scalegate: $SCALEGATE_NOTE"
fi
ratios haproxy nginx

if ((${#FAILURES[@]})); then
  for f in "${FAILURES[@]}"; do echo "edge: FAILED: $f" >&2; done
  exit 1
fi
