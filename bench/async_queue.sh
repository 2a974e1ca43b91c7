#!/usr/bin/env bash
# The async-route benchmark (issue 15), in one run, for one job store (STORE):
#
# STORE=sqlite (default): the queue is a SQLite file (`path:`), a fresh one per round.
# STORE=redis: the queue is `store: redis` in a redis-server started here for it (loopback port
#   REDIS_PORT, CPU 1, `--appendonly yes --appendfsync always --save ''`, so a 202 is as durable
#   as SQLite's), a fresh server in its own directory per round (deleted after it, as the SQLite
#   file is); the config names it in the top-level `store: { type: redis, address: ... }`.
#   Its CPU time is not the gateway's: part 3 prints redis-server's CPU per job beside it.
# Every output line names the store.
#
# 1. Durable accepts per second. wrk -t1 -c C (Lua: POST, a 64-byte JSON body,
#    Content-Type: application/json; it counts 202 answers itself) against an async route of a
#    scalegate with `workers: 2`, for DURATION per round, at C = CONNS (256) and C = CONNS2 (64),
#    a fresh queue (file or redis-server) per round. Only 202s count; scalegate_queue_accepted_total is read
#    before and after as a cross-check, and scalegate_queue_delivered_total gives the jobs the
#    dispatcher delivered meanwhile (concurrency 16) to the nginx origin. No CPU pinning
#    here: the gateway, wrk and the origin share both CPUs (the origin and the store's
#    redis-server are pinned to CPU 1).
# 2. The anchor: bench/bullmq_anchor.sh (BullMQ Queue.add against redis-server, default and
#    appendfsync always) with ROUNDS=1 and as many adds in flight (C), right after each
#    scalegate round, so both see the same machine; medians, and the medians of the per-round
#    ratios scalegate ÷ BullMQ.
# 3. Dispatch overhead, scalegate `workers: 1` on CPU 0, origin and h2load on CPU 1:
#    (a) plain: h2load --h1 -n N -c 16 POSTs of the same body through the non-async route; the
#        gateway's utime+stime (/proc/PID/stat, all threads) / N;
#    (b) delivery: gateway run 1 on a fresh queue (file, or redis-server on CPU 1) with
#        `rate: 1/h` (at most one job is delivered), N POSTs to the async route (their CPU / N
#        is printed as accept_us), SIGTERM; run 2 on the same queue (the jobs wait in the file or
#        in Redis), `concurrency: 16`, no rate: once its admin answers, CPU time and
#        delivered_total are read, then again when depth and in_flight are 0 and every job left
#        from run 1 is delivered; CPU difference / jobs delivered in between. It includes the
#        store's work in the gateway (SQLite: its queries and fsyncs; redis: the round trips,
#        not redis-server's own CPU, which is read over the same spans and printed apart as
#        redis_accept_us and redis_deliver_us), the dispatcher and the delivery's proxying.
#    Medians over the rounds and the ratio delivery/plain.
#
# Env: STORE (sqlite | redis), ROUNDS (3), CONNS (256), CONNS2 (64), DURATION (5, seconds per
#      wrk round), N (20000), ANCHOR_N (N), SKIP_ANCHOR (0),
#      SCALEGATE_BIN (build/src/app/scalegate). About 2.5 minutes with the defaults.
# Loopback ports 18790 (gateway), 18791 (origin), 18799 (admin), 18798 (STORE=redis: the
# store's redis-server); the anchor uses 18700.
# It refuses to start when one is taken, stops only what it started (by pid), keeps its logs
# in /tmp/scalegate-overhead.* on failure. Exit status non-zero on any failure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
STORE=${STORE:-sqlite}
N=${N:-20000}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-256}
CONNS2=${CONNS2:-64}
DURATION=${DURATION:-5}
ANCHOR_N=${ANCHOR_N:-$N}
SKIP_ANCHOR=${SKIP_ANCHOR:-0}
SCALEGATE_BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
[[ "$SCALEGATE_BIN" == /* ]] || SCALEGATE_BIN=$PWD/$SCALEGATE_BIN

GATEWAY_PORT=18790
ORIGIN_PORT=18791
ADMIN_PORT=18799
REDIS_PORT=18798 # STORE=redis only
DISPATCH_CONC=16 # the queue's delivery concurrency, and h2load's for the plain comparison
BODY_BYTES=64
DRAIN_TIMEOUT=120 # seconds run 2 may take to deliver every job
EXPECTED_BODY="hello from upstream" # read by wait_ready (proc_lib.sh)

say() { echo "bench[$STORE]: $*"; }
die() {
  echo "bench[$STORE]: ERROR: $*" >&2
  exit 1
}

[[ "$STORE" == sqlite || "$STORE" == redis ]] || die "STORE must be sqlite or redis (got '$STORE')"
for v in N ROUNDS CONNS CONNS2 DURATION ANCHOR_N; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
TOOLS=(nginx wrk h2load taskset curl getconf timeout)
[[ "$STORE" == sqlite ]] || TOOLS+=(/usr/bin/redis-server /usr/bin/redis-cli)
for tool in "${TOOLS[@]}"; do
  command -v "$tool" >/dev/null || die "'$tool' not found; run: sudo bash scripts/install-deps.sh"
done
[[ -x "$SCALEGATE_BIN" ]] || die "scalegate binary not found at $SCALEGATE_BIN (build it, or set SCALEGATE_BIN)"
taskset -c 1 true 2>/dev/null || die "needs at least 2 CPUs"

# overhead_lib.sh: start_origin (nginx on CPU 1) and ticks; proc_lib.sh: start, alive,
# wait_ready, port_busy, stop_started and the EXIT trap (it replaces overhead_lib's).
# shellcheck source=bench/overhead_lib.sh
source "$BENCH_DIR/overhead_lib.sh"
# shellcheck source=bench/proc_lib.sh
source "$BENCH_DIR/proc_lib.sh"
RUN_DIR=$DIR
PIDS=()
declare -A PID=()
FAILURES=()
install_cleanup
PORTS=("$GATEWAY_PORT" "$ORIGIN_PORT" "$ADMIN_PORT")
[[ "$STORE" == sqlite ]] || PORTS+=("$REDIS_PORT")
for p in "${PORTS[@]}"; do
  port_busy "$p" && die "127.0.0.1:$p is already in use (is another benchmark running?)"
done

URL=http://127.0.0.1:$GATEWAY_PORT
BODY_FILE=$RUN_DIR/body.json
body='{"sku":"sku-0042","qty":3,"note":""}'
pad=$(printf '%*s' $((BODY_BYTES - ${#body})) '' | tr ' ' x)
printf '%s' "${body/\"note\":\"\"/\"note\":\"$pad\"}" >"$BODY_FILE"
(($(wc -c <"$BODY_FILE") == BODY_BYTES)) || die "body is not $BODY_BYTES bytes"

LUA=$RUN_DIR/post.lua
cat >"$LUA" <<LUA
-- POST the body; count 202 answers per thread and print one summary line at the end.
wrk.method = "POST"
wrk.body = '$(cat "$BODY_FILE")'
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) accepted = 0; other = 0 end
function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("accepted"); o = o + t:get("other") end
  local e = summary.errors
  io.write(string.format("WRKRESULT accepted=%d other=%d duration_us=%d errors=%d p50_us=%d p99_us=%d\n",
    a, o, summary.duration, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
LUA

write_config() { # file workers queue-file (sqlite) extra-queue-settings
  local store_top="" where="path: $3"
  if [[ "$STORE" == redis ]]; then
    store_top="store: { type: redis, address: 127.0.0.1:$REDIS_PORT }"$'\n'
    where="store: redis"
  fi
  cat >"$1" <<YAML
${store_top}workers: $2
admin: { address: 127.0.0.1:$ADMIN_PORT }
queues:
  orders: { $where, concurrency: $DISPATCH_CONC, max_length: 100000000$4 }
listeners:
  - name: public
    address: 127.0.0.1:$GATEWAY_PORT
    routes:
      - match: { prefix: /api/orders, methods: [POST] }
        upstream: u
        async: { queue: orders }
      - match: { prefix: / }
        upstream: u
upstreams:
  u: { servers: [ { address: 127.0.0.1:$ORIGIN_PORT } ] }
YAML
}

snapshot() { # -> file: the queue metrics, one "name value" a line; fails if admin is down
  curl -sf --max-time 2 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$1.tmp" || return 1
  awk '$1 ~ /^scalegate_queue_[a-z_]+\{queue="orders"\}$/ { sub(/\{.*/, "", $1); print $1, $2 }' \
    "$1.tmp" >"$1"
}
metric() { # file short-name (accepted_total, depth, ...)
  awk -v m="scalegate_queue_$2" '$1 == m { printf "%.0f\n", $2; found = 1 } END { if (!found) print "nan" }' "$1"
}

settled() { # file: a snapshot taken once accepted_total stops moving (3 s at most)
  local last=x now
  for _ in $(seq 30); do
    snapshot "$1" || return 1
    now=$(metric "$1" accepted_total)
    [[ "$now" == "$last" ]] && return 0
    last=$now
    sleep 0.1
  done
}

start_gateway() { # name cpus config
  start "$1" "$2" "$SCALEGATE_BIN" run -c "$3"
  wait_ready "$1" "$GATEWAY_PORT"
}

start_redis() { # name dir: the store's redis-server (STORE=redis) on CPU 1, fresh, data in dir
  mkdir -p "$2"
  start "$1" 1 /usr/bin/redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly yes --appendfsync always --dir "$2" --daemonize no
  for _ in $(seq 100); do
    [[ "$(redis-cli -p "$REDIS_PORT" PING 2>/dev/null)" == PONG ]] && return 0
    alive "${PID[$1]}" || die "$1 exited during start-up: $(tail -n 5 "$RUN_DIR/$1.out")"
    sleep 0.1
  done
  die "$1 did not answer PING on 127.0.0.1:$REDIS_PORT within 10 s"
}

stop_proc() { # name: SIGTERM, 10 s to exit (then SIGKILL and a failure); forgets its pid
  local name=$1 pid=${PID[$1]} rc=0 p keep=()
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    FAILURES+=("$name did not exit within 10 s of SIGTERM")
  fi
  wait "$pid" 2>/dev/null || rc=$?
  ((rc == 0)) || FAILURES+=("$name exited with status $rc after SIGTERM")
  for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  unset "PID[$name]"
}

median_of() { # values...
  printf '%s\n' "$@" | grep -v nan | sort -g |
    awk '{v[NR] = $1} END { if (NR == 0) print "nan"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "n/a"; else printf "%.2fx", a / b }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "nan"; else printf "%.2f", a / b }'; }
us_per() { awk -v a="$1" -v b="$2" -v t="$TCK" -v n="$3" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / t * 1e6 / n; else print "nan" }'; }

# ---- 1. durable accepts per second ----------------------------------------------------------
declare -A RATE=() P50=() P99=() DELIV=() EXTRA=()
accept_round() { # conns round
  local c=$1 r=$2 q out line a0 a1 d0 d1 accepted other dur errs p50 p99 rate
  q=$RUN_DIR/accept-c$c-r$r
  mkdir -p "$q"
  write_config "$q/gw.yaml" 2 "$q/orders.db" ""
  [[ "$STORE" == sqlite ]] || start_redis "redis-accept-c$c-r$r" "$q/redis"
  start_gateway "gw-accept-c$c-r$r" 0,1 "$q/gw.yaml"
  timeout 30 taskset -c 0,1 wrk -t1 -c"$c" -d1s -s "$LUA" "$URL/api/orders" >/dev/null 2>&1 || true # warm-up
  # The warm-up's last requests may still be committing: wait, so they count before m0.
  settled "$q/m0" || die "admin /metrics did not answer"
  out=$(timeout $((DURATION + 60)) taskset -c 0,1 wrk -t1 -c"$c" -d"${DURATION}s" --timeout 10s \
    -s "$LUA" "$URL/api/orders" 2>&1) || FAILURES+=("wrk failed (c=$c round $r)")
  snapshot "$q/m1" || die "admin /metrics did not answer"
  settled "$q/m2" || die "admin /metrics did not answer"
  echo "$out" >"$q/wrk.out"
  stop_proc "gw-accept-c$c-r$r"
  [[ "$STORE" == sqlite ]] || stop_proc "redis-accept-c$c-r$r"
  # tens of MB a round; the next rounds should not share the disk with them
  rm -rf "$q"/orders.db* "$q/redis"
  line=$(grep '^WRKRESULT' <<<"$out") || die "wrk printed no result (c=$c round $r): $(tail -n 3 <<<"$out")"
  read -r accepted other dur errs p50 p99 < <(sed -E 's/[a-z0-9_]+=//g; s/^WRKRESULT //' <<<"$line")
  a0=$(metric "$q/m0" accepted_total) a1=$(metric "$q/m2" accepted_total)
  d0=$(metric "$q/m0" delivered_total) d1=$(metric "$q/m1" delivered_total)
  rate=$(awk -v a="$accepted" -v d="$dur" 'BEGIN { printf "%.0f", a / (d / 1e6) }')
  ((other == 0 && errs == 0)) || FAILURES+=("c=$c round $r: $other non-202 answers, $errs socket errors")
  # The gateway may commit up to c requests wrk no longer waited for when its time ran out.
  ((a1 - a0 >= accepted && a1 - a0 <= accepted + c)) ||
    FAILURES+=("c=$c round $r: accepted_total grew by $((a1 - a0)), wrk saw $accepted 202s")
  p50=$(awk -v v="$p50" 'BEGIN { printf "%.2f", v / 1000 }') p99=$(awk -v v="$p99" 'BEGIN { printf "%.2f", v / 1000 }')
  printf 'round %d  store=%s c=%-4d accepts/s=%s 202s=%d non202=%d accepted_total+=%d p50_ms=%s p99_ms=%s delivered=%d depth_end=%s\n' \
    "$r" "$STORE" "$c" "$rate" "$accepted" "$other" $((a1 - a0)) "$p50" "$p99" $((d1 - d0)) "$(metric "$q/m1" depth)"
  RATE[$c]+="$rate " P50[$c]+="$p50 " P99[$c]+="$p99 "
  DELIV[$c]+="$(awk -v d=$((d1 - d0)) -v t="$dur" 'BEGIN { printf "%.0f", d / (t / 1e6) }') "
  EXTRA[$c]+="$((a1 - a0 - accepted)) "
}

say "run dir $RUN_DIR; ROUNDS=$ROUNDS CONNS=$CONNS,$CONNS2 DURATION=${DURATION}s N=$N; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
start_origin "$ORIGIN_PORT"
PID[origin]=${PIDS[-1]}
wait_ready origin "$ORIGIN_PORT"
# ---- 2. the BullMQ anchor, one round after each scalegate round at the same C -------------
# Interleaved, so the two see the same machine (this one is shared and its fsyncs vary a lot).
declare -A A_DEF=() A_ALW=() R_DEF=() R_ALW=()
anchor_round() { # conns round
  local c=$1 r=$2 f=$RUN_DIR/anchor-c$1-r$2.out d a sg
  N=$ANCHOR_N C=$c ROUNDS=1 timeout 300 bash "$BENCH_DIR/bullmq_anchor.sh" >"$f" 2>&1 ||
    FAILURES+=("bullmq_anchor.sh failed (C=$c round $r; see $f)")
  d=$(awk '/^default \(no AOF\)/ { print $NF }' "$f")
  a=$(awk '/^appendfsync always/ { print $NF }' "$f")
  if [[ -z "$d" || -z "$a" ]]; then
    FAILURES+=("no figures in the anchor's output (C=$c round $r)")
    return 0
  fi
  sg=${RATE[$c]% }
  sg=${sg##* } # this round's scalegate figure
  printf 'round %d  store=%s c=%-4d bullmq_default/s=%s bullmq_always/s=%s  scalegate/default=%s scalegate/always=%s\n' \
    "$r" "$STORE" "$c" "$d" "$a" "$(ratio "$sg" "$d")" "$(ratio "$sg" "$a")"
  A_DEF[$c]+="$d " A_ALW[$c]+="$a "
  R_DEF[$c]+="$(div "$sg" "$d") " R_ALW[$c]+="$(div "$sg" "$a") "
}

say "1+2. durable accepts/s: scalegate workers: 2 and wrk -t1 unpinned (CPUs 0-1), origin nginx on CPU 1;"
say "     then bench/bullmq_anchor.sh (N=$ANCHOR_N, ROUNDS=1, same C): node on CPU 0, redis-server on CPU 1"
for ((r = 1; r <= ROUNDS; r++)); do
  for c in "$CONNS" "$CONNS2"; do
    accept_round "$c" "$r"
    [[ "$SKIP_ANCHOR" == 1 ]] || anchor_round "$c" "$r"
  done
done

# ---- 3. CPU per delivered job against CPU per proxied request -------------------------------
PLAIN=() ACCEPT=() DELIVER=() R_ACCEPT=() R_DELIVER=()
redis_ticks() { # round: CPU ticks of that round's redis-server (0 with STORE=sqlite)
  if [[ "$STORE" == redis ]]; then ticks "${PID[redis-dispatch-r$1]}"; else echo 0; fi
}
dispatch_round() { # round
  local r=$1 q out c0 c1 d_run1 expected d0 d1 dep inf wall0 wall1 ok=0 rc0 rc1 redis_note=""
  q=$RUN_DIR/dispatch-r$r
  mkdir -p "$q"
  write_config "$q/run1.yaml" 1 "$q/orders.db" ", rate: 1/h"
  write_config "$q/run2.yaml" 1 "$q/orders.db" ""
  # STORE=redis: one redis-server for both runs of the round (run 2 delivers what run 1 stored).
  [[ "$STORE" == sqlite ]] || start_redis "redis-dispatch-r$r" "$q/redis"
  start_gateway "gw-run1-r$r" 0 "$q/run1.yaml"
  local pid=${PID[gw-run1-r$r]} h2=(timeout 300 taskset -c 1 h2load --h1 -c "$DISPATCH_CONC" -t 1 -d "$BODY_FILE" -H 'content-type: application/json')
  "${h2[@]}" -n 2000 "$URL/plain" >/dev/null 2>&1 || true # warm-up
  c0=$(ticks "$pid")
  out=$("${h2[@]}" -n "$N" "$URL/plain" 2>&1) || true
  c1=$(ticks "$pid")
  grep -q "status codes: $N 2xx" <<<"$out" || FAILURES+=("round $r: plain POSTs were not all 2xx: $(grep 'status codes' <<<"$out")")
  PLAIN+=("$(us_per "$c0" "$c1" "$N")")
  c0=$(ticks "$pid") rc0=$(redis_ticks "$r")
  out=$("${h2[@]}" -n "$N" "$URL/api/orders" 2>&1) || true
  c1=$(ticks "$pid") rc1=$(redis_ticks "$r")
  R_ACCEPT+=("$(us_per "$rc0" "$rc1" "$N")")
  grep -q "status codes: $N 2xx" <<<"$out" || FAILURES+=("round $r: async POSTs were not all 202: $(grep 'status codes' <<<"$out")")
  ACCEPT+=("$(us_per "$c0" "$c1" "$N")")
  snapshot "$q/run1" || die "admin /metrics did not answer"
  d_run1=$(metric "$q/run1" delivered_total)
  (($(metric "$q/run1" accepted_total) == N)) || FAILURES+=("round $r: run 1 accepted_total is not $N")
  stop_proc "gw-run1-r$r"
  expected=$((N - d_run1))

  start "gw-run2-r$r" 0 "$SCALEGATE_BIN" run -c "$q/run2.yaml"
  pid=${PID[gw-run2-r$r]}
  # Ready: the admin shows the queue's metrics (it answers a little before they exist). The
  # dispatcher may have delivered some jobs by then; they are left out of the division.
  for _ in $(seq 400); do
    alive "$pid" || die "gw-run2-r$r exited during start-up: $(tail -n 5 "$RUN_DIR/gw-run2-r$r.out")"
    if snapshot "$q/s0" 2>/dev/null && [[ "$(metric "$q/s0" delivered_total)" != nan ]]; then
      c0=$(ticks "$pid") rc0=$(redis_ticks "$r") wall0=$(date +%s.%N)
      ok=1
      break
    fi
    sleep 0.025
  done
  ((ok)) || die "gw-run2-r$r's admin did not answer within 10 s"
  d0=$(metric "$q/s0" delivered_total)
  ok=0
  for _ in $(seq $((DRAIN_TIMEOUT * 10))); do
    snapshot "$q/s1" || die "admin /metrics did not answer"
    d1=$(metric "$q/s1" delivered_total) dep=$(metric "$q/s1" depth) inf=$(metric "$q/s1" in_flight)
    if [[ "$dep" == 0 && "$inf" == 0 ]] && ((d1 >= expected)); then
      c1=$(ticks "$pid") rc1=$(redis_ticks "$r") wall1=$(date +%s.%N)
      ok=1
      break
    fi
    sleep 0.1
  done
  ((ok)) || die "round $r: run 2 did not deliver $expected jobs within ${DRAIN_TIMEOUT}s (delivered $d1, depth $dep, in flight $inf)"
  ((d1 == expected)) || FAILURES+=("round $r: run 2 delivered $d1 jobs, $expected were left")
  (($(metric "$q/s1" retried_total) == 0)) || FAILURES+=("round $r: run 2 retried jobs")
  stop_proc "gw-run2-r$r"
  DELIVER+=("$(us_per "$c0" "$c1" $((d1 - d0)))")
  R_DELIVER+=("$(us_per "$rc0" "$rc1" $((d1 - d0)))")
  if [[ "$STORE" == redis ]]; then
    stop_proc "redis-dispatch-r$r"
    rm -rf "$q/redis"
    redis_note=" redis_accept_us=${R_ACCEPT[-1]} redis_deliver_us=${R_DELIVER[-1]}"
  fi
  printf 'round %d  store=%s plain_us=%s accept_us=%s deliver_us=%s%s (run 1 delivered %d; run 2 delivered %d, %d before the first CPU read; %.0f jobs/s)\n' \
    "$r" "$STORE" "${PLAIN[-1]}" "${ACCEPT[-1]}" "${DELIVER[-1]}" "$redis_note" "$d_run1" "$d1" "$d0" \
    "$(awk -v n=$((d1 - d0)) -v a="$wall0" -v b="$wall1" 'BEGIN { print n / (b - a) }')"
}

say "3. dispatch overhead: scalegate workers: 1 on CPU 0, origin nginx and h2load on CPU 1"
for ((r = 1; r <= ROUNDS; r++)); do dispatch_round "$r"; done

# ---- report ---------------------------------------------------------------------------------
# Every line names the store (a "store" column in the tables), so two runs' outputs can sit side by side.
L="[store: $STORE]"
echo
echo "== 1. $L durable accepts/s (POST ${BODY_BYTES}-byte JSON, 202 only; scalegate workers: 2; medians of $ROUNDS x ${DURATION}s)"
if [[ "$STORE" == redis ]]; then
  echo "   $L CPUs: scalegate and wrk -t1 unpinned on the 2 cores, origin nginx and redis-server (appendfsync always) on CPU 1 (delivery runs meanwhile)"
else
  echo "   $L CPUs: scalegate and wrk -t1 unpinned on the 2 cores, origin nginx on CPU 1 (delivery runs meanwhile)"
fi
printf '%-6s %-6s %11s %8s %8s %12s %20s\n' store conns accepts/s p50_ms p99_ms delivered/s "accepted_total-202s"
for c in "$CONNS" "$CONNS2"; do
  # shellcheck disable=SC2086 # (word lists of per-round values)
  printf '%-6s %-6s %11.0f %8.2f %8.2f %12.0f %20s\n' "$STORE" "$c" "$(median_of ${RATE[$c]})" "$(median_of ${P50[$c]})" \
    "$(median_of ${P99[$c]})" "$(median_of ${DELIV[$c]})" "${EXTRA[$c]% }"
done
echo
echo "== 2. $L anchor: BullMQ Queue.add (bench/bullmq_anchor.sh), as many adds in flight, N=$ANCHOR_N, one round after each scalegate round"
echo "   $L CPUs: node on CPU 0, redis-server on CPU 1; default = no AOF, always = appendonly yes + appendfsync always"
echo "   $L adds/s: medians of $ROUNDS; ratios: medians of the per-round ratios (each scalegate round against the anchor round after it)"
printf '%-6s %-9s %11s %16s %15s %12s %11s\n' store in_flight scalegate/s bullmq_default/s bullmq_always/s sg/default sg/always
for c in "$CONNS" "$CONNS2"; do
  # shellcheck disable=SC2086 # (word lists of per-round values)
  printf '%-6s %-9s %11.0f %16s %15s %11sx %10sx\n' "$STORE" "$c" "$(median_of ${RATE[$c]})" "$(median_of ${A_DEF[$c]:-nan})" \
    "$(median_of ${A_ALW[$c]:-nan})" "$(median_of ${R_DEF[$c]:-nan})" "$(median_of ${R_ALW[$c]:-nan})"
done
echo
echo "== 3. $L gateway CPU per job, workers: 1 on CPU 0 (medians of $ROUNDS; N=$N, $DISPATCH_CONC concurrent)"
PLAIN_M=$(median_of "${PLAIN[@]}") ACCEPT_M=$(median_of "${ACCEPT[@]}") DELIVER_M=$(median_of "${DELIVER[@]}")
if [[ "$STORE" == redis ]]; then
  R_ACCEPT_M=$(median_of "${R_ACCEPT[@]}") R_DELIVER_M=$(median_of "${R_DELIVER[@]}")
  printf '%-6s %-62s %8s\n' "$STORE" "plain proxied POST (us)" "$PLAIN_M" \
    "$STORE" "async accept: store + 202 (us)" "$ACCEPT_M" \
    "$STORE" "delivery: claim + proxy + settle, Redis round trips incl. (us)" "$DELIVER_M" \
    "$STORE" "redis-server CPU (CPU 1), not in the above: per accept (us)" "$R_ACCEPT_M" \
    "$STORE" "redis-server CPU (CPU 1), not in the above: per delivery (us)" "$R_DELIVER_M"
else
  printf '%-6s %-62s %8s\n' "$STORE" "plain proxied POST (us)" "$PLAIN_M" \
    "$STORE" "async accept: store + 202 (us)" "$ACCEPT_M" \
    "$STORE" "delivery: claim + proxy + settle, SQLite incl. (us)" "$DELIVER_M"
fi
echo "$STORE delivery/plain: $(ratio "$DELIVER_M" "$PLAIN_M")   (accept+delivery)/plain: $(ratio "$(awk -v a="$ACCEPT_M" -v d="$DELIVER_M" 'BEGIN { print a + d }')" "$PLAIN_M")"
if [[ "$STORE" == redis ]]; then
  echo "$STORE with redis-server's CPU: delivery/plain: $(ratio "$(awk -v a="$DELIVER_M" -v d="$R_DELIVER_M" 'BEGIN { print a + d }')" "$PLAIN_M")" \
    "  (accept+delivery)/plain: $(ratio "$(awk -v a="$ACCEPT_M" -v d="$DELIVER_M" -v b="$R_ACCEPT_M" -v e="$R_DELIVER_M" 'BEGIN { print a + d + b + e }')" "$PLAIN_M")"
fi
say "loadavg at the end $(cut -d' ' -f1-3 /proc/loadavg)"

if ((${#FAILURES[@]})); then
  for f in "${FAILURES[@]}"; do echo "bench[$STORE]: FAILED: $f" >&2; done
  exit 1
fi
