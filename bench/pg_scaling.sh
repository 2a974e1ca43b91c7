#!/usr/bin/env bash
# How scalegate's PostgreSQL pooling scales with cores and workers: bench/pg.sh (the reference
# harness's select-only pgbench, CLIENTS clients) with scalegate pinned to CPUS=0 and CPUS=0,1,
# each with WORKERS=1 and WORKERS=2. PgBouncer (one thread, CPU 0) runs in every round as the
# fixed point. Prints one line per combination: scalegate's mean tps and CPU per transaction,
# and PgBouncer's in the same harness run.
#
# On this 2-core machine PostgreSQL and pgbench share CPU 1, so a second core for scalegate is
# shared with them: the figure to read is CPU per transaction and whether tps holds or grows.
#
# Usage: bench/pg_scaling.sh [SCALEGATE_BINARY]    Env: CLIENTS (32), DUR (8)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:-}
CLIENTS=${CLIENTS:-32}
OUT=$(mktemp -d /tmp/sg-pg-scaling.XXXXXX)

mean_of() { # file name field: mean of name's field over the harness's rounds
  awk -v name="$2" -v field="$3" '$1 == name {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == field && kv[2] != "-") { s += kv[2]; n++ } } }
    END { if (n) printf "%.1f", s / n; else print "-" }' "$1"
}

printf "%-6s %-8s %12s %16s %14s %18s\n" cpus workers sg_tps sg_cpu_us_per_tx pgb_tps pgb_cpu_us_per_tx
for cpus in 0 0,1; do
  for workers in 1 2; do
    log="$OUT/cpus-${cpus/,/+}-workers-$workers.txt"
    CPUS=$cpus WORKERS=$workers CLIENT_SETS=$CLIENTS PREPARED=0 bash "$BENCH_DIR/pg.sh" ${BIN:+"$BIN"} >"$log" 2>&1 ||
      {
        echo "pg_scaling: bench/pg.sh failed for cpus=$cpus workers=$workers (log: $log)" >&2
        exit 1
      }
    printf "%-6s %-8s %12s %16s %14s %18s\n" "$cpus" "$workers" \
      "$(mean_of "$log" scalegate tps)" "$(mean_of "$log" scalegate pooler_cpu_us_per_tx)" \
      "$(mean_of "$log" pgbouncer tps)" "$(mean_of "$log" pgbouncer pooler_cpu_us_per_tx)"
  done
done
echo "pg_scaling: logs in $OUT"
