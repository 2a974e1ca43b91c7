#!/usr/bin/env bash
# scalegate's PostgreSQL pooling against PgBouncer and direct connections, through the
# reference harness ../shared/bench/pg.sh (it starts PostgreSQL 15 on 127.0.0.1:15432 pinned
# to CPU 1, PgBouncer 1.18 on 16432 pinned to CPU 0 with transaction pooling and a pool of 8,
# and runs pgbench -S on CPU 1; it prints tps and each pooler's own CPU per transaction).
#
# This script builds nothing. It writes a scalegate config (a postgres listener, WORKERS
# workers, pool_size 8, auth trust, database `bench` -> 127.0.0.1:15432 dbname bench user
# postgres), starts scalegate pinned with `taskset -c $CPUS`, writes its pid file, and runs the
# harness with `scalegate=PORT:PIDFILE`, once per client count of CLIENT_SETS. Then, because
# the harness runs no prepared mode (PgBouncer 1.18 cannot), it starts the harness's
# PostgreSQL again the same way and runs `pgbench -S -M prepared` direct and through scalegate
# with the harness's own measurement. It prints a summary per client count: mean tps and
# pooler CPU per transaction (µs) over the harness's rounds, and the ratios to PgBouncer.
#
# Usage: bench/pg.sh [SCALEGATE_BINARY]     (default: build/src/app/scalegate)
# Env:   WORKERS (1), CPUS (0: taskset list for scalegate), CLIENTS (32), CLIENT_SETS
#        ("$CLIENTS 256"), DUR (8 s per pgbench run, read by the harness too), PREPARED (1),
#        REQUIRE_SCALEGATE (1; 0 runs the harness without scalegate when the binary is missing),
#        PG_HARNESS (../shared/bench/pg.sh beside the repository).
# Ports: scalegate 18680 (postgres) and 18681 (admin); the harness uses 15432 and 16432.
# Stops only what it started, by pid. Raw output is kept in the run directory it prints.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BIN=${1:-${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}}
[[ "$BIN" == /* ]] || BIN=$PWD/$BIN
HARNESS=${PG_HARNESS:-$ROOT/../shared/bench/pg.sh}
WORKERS=${WORKERS:-1}
CPUS=${CPUS:-0}
CLIENTS=${CLIENTS:-32}
CLIENT_SETS=${CLIENT_SETS:-$CLIENTS 256}
DUR=${DUR:-8}
PREPARED=${PREPARED:-1}
REQUIRE_SCALEGATE=${REQUIRE_SCALEGATE:-1}
PG_PORT=18680
ADMIN_PORT=18681
PGBIN=/usr/lib/postgresql/15/bin
W=/tmp/anchor-pg # the harness's PostgreSQL directory
export DUR

say() { echo "pg-bench: $*"; }
die() {
  echo "pg-bench: ERROR: $*" >&2
  exit 1
}
port_busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

[[ -f "$HARNESS" ]] || die "reference harness not found at $HARNESS (set PG_HARNESS)"
for tool in taskset pgbench psql pgbouncer "$PGBIN/pg_ctl"; do
  command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/install-deps.sh)"
done
for p in $PG_PORT $ADMIN_PORT 15432 16432; do port_busy "$p" && die "port $p on 127.0.0.1 is taken"; done
WITH_SCALEGATE=1
if [[ ! -x "$BIN" ]]; then
  ((REQUIRE_SCALEGATE)) && die "scalegate binary not found at $BIN"
  say "no scalegate binary at $BIN: running the harness (direct, PgBouncer) only"
  WITH_SCALEGATE=0
fi

RUN_DIR=$(mktemp -d /tmp/sg-pg-bench.XXXXXX)
SG_PID=""
PG_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$PG_PID" ]]; then stop_pid "$PG_PID" INT; fi
  if [[ -n "$SG_PID" ]]; then stop_pid "$SG_PID" TERM; fi
  say "raw output in $RUN_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

alive() { [[ -e /proc/$1 ]] && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }
stop_pid() { # pid signal: that signal, 10 s to exit, then SIGKILL
  kill -"$2" "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do
    alive "$1" || return 0
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
}

write_config() {
  cat >"$RUN_DIR/users.txt" <<'USERS'
"postgres" ""
USERS
  cat >"$RUN_DIR/scalegate.yaml" <<YAML
workers: $WORKERS
postgres:
  listeners:
    - name: main
      address: 127.0.0.1:$PG_PORT
  auth:
    type: trust
    users_file: $RUN_DIR/users.txt
  pool_mode: transaction
  default_pool_size: 8
  max_client_conn: 2000
  databases:
    bench:
      primary: 127.0.0.1:15432
      dbname: bench
      user: postgres
      pool_size: 8
admin:
  address: 127.0.0.1:$ADMIN_PORT
YAML
}

start_scalegate() {
  write_config
  "$BIN" check -c "$RUN_DIR/scalegate.yaml" >"$RUN_DIR/check.out" 2>&1 ||
    die "scalegate refuses the config: $(tail -n 5 "$RUN_DIR/check.out")"
  taskset -c "$CPUS" "$BIN" run -c "$RUN_DIR/scalegate.yaml" >"$RUN_DIR/scalegate.out" 2>&1 &
  SG_PID=$!
  echo "$SG_PID" >"$RUN_DIR/scalegate.pid"
  for _ in $(seq 100); do
    alive "$SG_PID" || die "scalegate exited at start: $(tail -n 20 "$RUN_DIR/scalegate.out")"
    port_busy $PG_PORT && return 0
    sleep 0.1
  done
  die "scalegate does not accept on 127.0.0.1:$PG_PORT"
}

# The harness's own measurement (pooler CPU from /proc/PID/stat, pgbench on CPU 1), for the
# runs it does not do itself.
TCK=$(getconf CLK_TCK)
cpu_of() { [[ -n "$1" ]] || {
  echo 0
  return
}; awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
run_pgbench() { # name port pid clients [pgbench options]
  local name=$1 port=$2 pid=$3 clients=$4 c0 c1 out tx us
  shift 4
  c0=$(cpu_of "$pid")
  out=$(taskset -c 1 pgbench -h 127.0.0.1 -p "$port" -U postgres -S -n -c "$clients" -j 1 -T "$DUR" "$@" bench 2>&1) || true
  c1=$(cpu_of "$pid")
  tx=$(echo "$out" | awk '/number of transactions actually processed/{split($NF,a,"/"); print a[1]}')
  us=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" -v n="${tx:-0}" 'BEGIN{ if (n>0 && b>a) printf "%.1f", (b-a)/t*1e6/n; else print "-" }')
  local failed
  failed=$(echo "$out" | awk '/number of failed transactions/{print $5}')
  echo "$name tps=$(echo "$out" | awk '/^tps/{print $3}') lat_ms=$(echo "$out" | awk '/latency average/{print $4}') pooler_cpu_us_per_tx=$us failed=${failed:-0}"
  echo "$out" >"$RUN_DIR/$name.pgbench.out"
}

prepared_runs() { # clients: PostgreSQL started as the harness does, prepared mode direct and through scalegate
  local clients=$1
  chown -R postgres $W
  su postgres -c "taskset -c 1 $PGBIN/pg_ctl -D $W/data -o '-p 15432 -k $W -c max_connections=300 -c listen_addresses=127.0.0.1' -l $W/log -w start" >/dev/null
  PG_PID=$(head -n 1 $W/data/postmaster.pid)
  for _ in 1 2; do
    run_pgbench direct-prepared 15432 "" "$clients" -M prepared
    ((WITH_SCALEGATE)) && run_pgbench scalegate-prepared $PG_PORT "$SG_PID" "$clients" -M prepared
  done
  stop_pid "$PG_PID" INT
  PG_PID=""
}

summarize() { # file clients: mean per name over the rounds, ratios to PgBouncer
  awk -v clients="$2" '
    / tps=/ {
      name = $1; n[name]++
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[name, kv[1]] = kv[2] }
      tps[name] += v[name, "tps"]
      if (v[name, "pooler_cpu_us_per_tx"] != "-") { cpu[name] += v[name, "pooler_cpu_us_per_tx"]; nc[name]++ }
      if (!(name in seen)) { seen[name] = 1; order[++k] = name }
    }
    END {
      printf "\n== clients=%s (means over rounds) ==\n%-22s %9s %14s %9s %9s  %s\n", clients, "run", "tps", "cpu_us_per_tx", "tps/ref", "cpu/ref", "ref"
      for (j = 1; j <= k; j++) {
        name = order[j]; t = tps[name] / n[name]; c = nc[name] ? cpu[name] / nc[name] : -1
        # scalegate is compared with PgBouncer; in prepared mode (PgBouncer 1.18 cannot) with direct
        base = name; sub(/^scalegate/, "pgbouncer", base)
        if (name ~ /prepared/) base = "direct-prepared"
        tb = (base in n && base != name) ? tps[base] / n[base] : 0
        cb = (base in nc && base != name && nc[base]) ? cpu[base] / nc[base] : 0
        printf "%-22s %9.0f %14s %9s %9s  %s\n", name, t, (c < 0 ? "-" : sprintf("%.1f", c)),
          (tb > 0 ? sprintf("%.2f", t / tb) : "-"), (cb > 0 && c >= 0 ? sprintf("%.2f", c / cb) : "-"),
          (tb > 0 ? base : "")
      }
    }' "$1"
}

((WITH_SCALEGATE)) && start_scalegate
say "scalegate: ${BIN} workers=$WORKERS cpus=$CPUS pid=${SG_PID:--}; clients: $CLIENT_SETS; ${DUR}s per run"
for clients in $CLIENT_SETS; do
  out="$RUN_DIR/clients-$clients.txt"
  say "harness, clients=$clients"
  extra=()
  ((WITH_SCALEGATE)) && extra=("scalegate=$PG_PORT:$RUN_DIR/scalegate.pid")
  CLIENTS=$clients bash "$HARNESS" "${extra[@]}" 2>&1 | tee "$out"
  if ((PREPARED)); then
    say "prepared mode, clients=$clients"
    prepared_runs "$clients" | tee -a "$out"
  fi
  if ((WITH_SCALEGATE)) && ! alive "$SG_PID"; then die "scalegate died during the runs: $(tail -n 20 "$RUN_DIR/scalegate.out")"; fi
  summarize "$out" "$clients" | tee -a "$RUN_DIR/summary.txt"
done
