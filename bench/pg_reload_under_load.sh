#!/usr/bin/env bash
# PostgreSQL clients across reloads: pgbench (CLIENTS clients, TPC-B-like transactions of five
# statements, no reconnects: pgbench aborts a client whose connection drops) runs DURATION
# seconds through scalegate while RELOADS SIGHUPs, spread over the run, alternately change the
# pool size and add or remove a database entry. Then the same through PgBouncer (its SIGHUP
# reloads its file in place) as the reference, in the same run, against the same PostgreSQL.
# Reported per pooler: transactions, tps, failed transactions, clients aborted; for scalegate
# also that the pid stayed the same, the reloads counted ok and the old configurations gone.
#   bench/pg_reload_under_load.sh                    # 60 s, 20 reloads, 16 clients
#   DURATION=20 RELOADS=5 bench/pg_reload_under_load.sh
# Exit status 0 when no transaction failed and no client was aborted through scalegate.
# Everything listens on loopback ports picked here; only what this script started is stopped,
# by pid.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-60}
RELOADS=${RELOADS:-20}
CLIENTS=${CLIENTS:-16}
BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
PGBIN=/usr/lib/postgresql/15/bin
RUN_DIR=$(mktemp -d /tmp/scalegate-pg-reload.XXXXXX)
PIDS=()
declare -A PID
say() { echo "pg reload bench: $*"; }
die() {
  echo "pg reload bench: $*" >&2
  exit 1
}
# shellcheck source=bench/proc_lib.sh
source "$ROOT/bench/proc_lib.sh"
install_cleanup
for tool in pgbench psql pgbouncer setpriv "$PGBIN/initdb" "$BIN"; do
  command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/install-deps.sh)"
done
chmod 755 "$RUN_DIR"
AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups)

PG_PORT=$(free_port) SG_PORT=$(free_port) ADMIN=$(free_port) BOUNCER_PORT=$(free_port)
mkdir "$RUN_DIR/data" && chown postgres: "$RUN_DIR/data"
"${AS_POSTGRES[@]}" "$PGBIN/initdb" -D "$RUN_DIR/data" -A trust -U postgres >"$RUN_DIR/initdb.out" 2>&1 ||
  die "initdb failed: $(tail -n 5 "$RUN_DIR/initdb.out")"
start postgres 1 "${AS_POSTGRES[@]}" "$PGBIN/postgres" -D "$RUN_DIR/data" -p "$PG_PORT" -k "$RUN_DIR/data" \
  -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off
for _ in $(seq 100); do
  alive "${PID[postgres]}" || die "PostgreSQL exited: $(tail -n 5 "$RUN_DIR/postgres.out")"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SELECT 1" postgres >/dev/null 2>&1 && break
  sleep 0.1
done
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE bench" postgres
pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s 4 -q bench >"$RUN_DIR/init.out" 2>&1 ||
  die "pgbench -i failed: $(tail -n 5 "$RUN_DIR/init.out")"

write_scalegate() { # round: odd rounds a pool of 9 (else 8); even rounds an extra database
  local pool=8 extra=""
  (($1 % 2 == 1)) && pool=9
  (($1 % 2 == 0 && $1 > 0)) && extra="
    extra-$1: { primary: 127.0.0.1:$PG_PORT, dbname: bench, user: postgres }"
  cat >"$RUN_DIR/scalegate.yaml" <<YAML
workers: 2
admin: { address: 127.0.0.1:$ADMIN }
postgres:
  listeners: [{ name: main, address: 127.0.0.1:$SG_PORT }]
  auth: { type: trust, users_file: $RUN_DIR/users.txt }
  pool_mode: transaction
  default_pool_size: $pool
  max_client_conn: 1000
  databases:
    bench: { primary: 127.0.0.1:$PG_PORT, dbname: bench, user: postgres }$extra
YAML
}
write_bouncer() { # round: as write_scalegate
  local pool=8 extra=""
  (($1 % 2 == 1)) && pool=9
  (($1 % 2 == 0 && $1 > 0)) && extra="extra$1 = host=127.0.0.1 port=$PG_PORT dbname=bench user=postgres"
  cat >"$RUN_DIR/pgbouncer.ini" <<INI
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench user=postgres
$extra
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $RUN_DIR/users.txt
pool_mode = transaction
default_pool_size = $pool
max_client_conn = 1000
logfile = $RUN_DIR/bouncer/pgbouncer.log
INI
  chown postgres: "$RUN_DIR/pgbouncer.ini"
}
mkdir "$RUN_DIR/bouncer" && chown postgres: "$RUN_DIR/bouncer"
echo '"postgres" ""' >"$RUN_DIR/users.txt"
chmod 644 "$RUN_DIR/users.txt"

# name port pid write_fn: pgbench through it with RELOADS SIGHUPs (each after rewriting the file)
run() {
  local name=$1 port=$2 pid=$3 write=$4 pause out
  pause=$(awk -v d="$DURATION" -v r="$RELOADS" 'BEGIN { printf "%.3f", d / (r + 1) }')
  out="$RUN_DIR/$name.pgbench"
  pgbench -h 127.0.0.1 -p "$port" -U postgres -n -c "$CLIENTS" -j 2 -T "$DURATION" bench >"$out" 2>&1 &
  local bench=$!
  for ((i = 1; i <= RELOADS; i++)); do
    sleep "$pause"
    "$write" "$i"
    kill -HUP "$pid"
  done
  local rc=0
  wait "$bench" || rc=$?
  alive "$pid" || die "$name died: $(tail -n 20 "$RUN_DIR/$name.out")"
  local tx tps failed aborted
  tx=$(awk '/number of transactions actually processed/ {split($NF, a, "/"); print a[1]}' "$out")
  tps=$(awk '/^tps/ {printf "%.0f", $3}' "$out")
  failed=$(awk '/number of failed transactions/ {print $5}' "$out")
  aborted=$(grep -c "aborted" "$out" || true)
  printf '%-10s transactions=%s tps=%s failed=%s aborted_lines=%s pgbench_exit=%s\n' \
    "$name" "${tx:-0}" "${tps:-0}" "${failed:-?}" "$aborted" "$rc" | tee -a "$RUN_DIR/summary"
  [[ $rc == 0 && "${failed:-1}" == 0 && $aborted == 0 ]]
}

write_scalegate 0
"$BIN" check -c "$RUN_DIR/scalegate.yaml" >"$RUN_DIR/check.out" 2>&1 ||
  die "scalegate refuses the config: $(tail -n 5 "$RUN_DIR/check.out")"
start scalegate 0 "$BIN" run -c "$RUN_DIR/scalegate.yaml"
for _ in $(seq 100); do
  alive "${PID[scalegate]}" || die "scalegate exited: $(tail -n 5 "$RUN_DIR/scalegate.out")"
  port_busy "$SG_PORT" && break
  sleep 0.1
done
sg_pid=${PID[scalegate]}
say "$CLIENTS clients, ${DURATION}s, $RELOADS reloads each; PostgreSQL on $PG_PORT"
ok=0
run scalegate "$SG_PORT" "$sg_pid" write_scalegate || ok=1
reloads=$(curl -s "http://127.0.0.1:$ADMIN/metrics" |
  awk '/^scalegate_reloads_total\{result="ok"\}/ {print $2}')
for _ in $(seq 100); do
  (($(grep -c "old configuration has drained and is gone" "$RUN_DIR/scalegate.out") >= RELOADS)) && break
  sleep 0.1
done
gone=$(grep -c "old configuration has drained and is gone" "$RUN_DIR/scalegate.out" || true)
say "scalegate: pid $sg_pid alive=$(alive "$sg_pid" && echo yes || echo no), reloads ok=$reloads," \
  "old configurations gone=$gone of $RELOADS"
[[ "$reloads" == "$RELOADS" ]] || ok=1

write_bouncer 0
start pgbouncer 0 "${AS_POSTGRES[@]}" pgbouncer "$RUN_DIR/pgbouncer.ini"
for _ in $(seq 100); do
  alive "${PID[pgbouncer]}" || die "PgBouncer exited: $(tail -n 5 "$RUN_DIR/pgbouncer.out")"
  port_busy "$BOUNCER_PORT" && break
  sleep 0.1
done
run pgbouncer "$BOUNCER_PORT" "${PID[pgbouncer]}" write_bouncer || true
exit "$ok"
