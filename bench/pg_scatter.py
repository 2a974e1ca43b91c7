#!/usr/bin/env python3
"""Scatter-gather cost: the newest orders across 3 shards against the same query on one table,
both through scalegate (`pgbench -f` with a custom script, all on this machine's loopback):

  direct     pgbench straight to PostgreSQL, the unsharded table (for scale)
  pooling    scalegate, database `single`: one unsharded `orders` table (pooling alone)
  scatter    scalegate, database `orders`: 3 shard databases (hash on customer_id); the query
             has no key, so it runs on every shard and the 3 sorted answers are merged

The query: SELECT order_id, customer_id, amount, placed FROM orders ORDER BY placed DESC,
order_id DESC LIMIT 10 (an index on (placed, order_id) everywhere: each shard reads 10 rows).
For each: latency with one client (median and p99 of every transaction, from pgbench's
per-transaction log) and tps with --clients, medians over rounds taken in turn so drift hits
them alike. The shard databases sit on the same server as the unsharded table, so the scatter
figures show what fanning out and merging cost, not what spreading data over machines gains.

When the gateway refuses the sharded query, the scatter side is skipped with the gateway's
message and the others still run.

Usage: /usr/bin/python3 bench/pg_scatter.py [--rows 300000] [--clients 16] [--seconds 8] [--rounds 3]
Env:   SCALEGATE_BIN (default build/src/app/scalegate). Ports are picked at run time; every
process it starts is stopped by pid.
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("SCALEGATE_BIN", os.path.join(ROOT, "build", "src", "app", "scalegate"))

from pg_support import APP, PGBIN, PostgresServer, start_pooler, stop_pooler  # noqa: E402

PGBENCH = os.path.join(PGBIN, "pgbench")
SHARDS = 3
QUERY = ("SELECT order_id, customer_id, amount, placed FROM orders "
         "ORDER BY placed DESC, order_id DESC LIMIT 10")

TABLE = """
CREATE TABLE orders (order_id bigint NOT NULL, customer_id bigint NOT NULL, amount numeric(12,2) NOT NULL,
                     placed timestamptz NOT NULL, PRIMARY KEY (customer_id, order_id));
CREATE INDEX orders_placed ON orders (placed, order_id);
"""

# Rows made by the server: customer ids spread over 50,000 customers, times over a year.
FILL = """
INSERT INTO orders
SELECT g, 1 + (hashint8(g) & 65535) %% 50000, ((hashint8(g + 7) & 1048575) / 100.0)::numeric(12,2),
       timestamptz '2025-01-01 00:00:00+00' + ((hashint8(g + 13) & 33554431) * interval '1 second')
FROM generate_series(1, %d) g;
"""


def prepare(rows):
    """`single` holds every row; shard N the rows PostgreSQL's hash partitioning puts in
    partition N (satisfies_hash_partition against a helper table PARTITION BY HASH)."""
    pg = PostgresServer(settings="max_connections = 300").start()
    dbs = ["single"] + ["shard%d" % n for n in range(SHARDS)]
    pg.sql("".join("CREATE DATABASE %s OWNER app;\n" % db for db in dbs), db="postgres")
    pg.sql("SET ROLE app;" + TABLE + FILL % rows
           + "CREATE TABLE shard_key (k bigint) PARTITION BY HASH (k);"
           + "".join("CREATE TABLE shard_key_%d PARTITION OF shard_key FOR VALUES WITH (MODULUS %d, REMAINDER %d);"
                     % (n, SHARDS, n) for n in range(SHARDS)), db="single")
    counts = []
    with pg.superuser("single") as single:
        for n in range(SHARDS):
            pg.sql("SET ROLE app;" + TABLE, db="shard%d" % n)
            with pg.superuser("shard%d" % n) as shard:
                with single.cursor().copy(
                        "COPY (SELECT * FROM orders WHERE satisfies_hash_partition('shard_key'::regclass, %d, %d, "
                        "customer_id)) TO STDOUT" % (SHARDS, n)) as out, \
                        shard.cursor().copy("COPY orders FROM STDIN") as into:
                    for chunk in out:
                        into.write(chunk)
                shard.execute("VACUUM ANALYZE orders")
                counts.append(shard.execute("SELECT count(*) FROM orders").fetchone()[0])
        single.execute("VACUUM ANALYZE orders")
    if sum(counts) != rows or min(counts) == 0:
        raise RuntimeError("the shards hold %s rows of %d" % (counts, rows))
    print("rows per shard: %s" % counts)
    return pg


def databases(pg):
    shards = [{"primary": pg.address, "dbname": "shard%d" % n} for n in range(SHARDS)]
    return {"single": {"primary": pg.address, "dbname": "single", "pool_size": 8},
            "orders": {"shards": shards, "sharding": {"key": "customer_id", "function": "hash"},
                       "pool_size": 8}}


def scatter_refusal(gateway, pg):
    """None when the sharded database answers the query as `single` does; else why not."""
    import psycopg
    with pg.superuser("single") as single:
        expected = single.execute(QUERY).fetchall()
    try:
        with gateway.connect(dbname="orders", autocommit=True) as conn:
            got = conn.execute(QUERY).fetchall()
    except psycopg.Error as e:
        return "the gateway refused it: %s" % str(e).strip()
    if got != expected:
        return "its answer differs from the unsharded table's: %r != %r" % (got[:2], expected[:2])
    return None


def pgbench(port, dbname, clients, seconds, workdir, log=False):
    """tps, and the per-transaction latencies in microseconds when log is set."""
    script = os.path.join(workdir, "newest_orders.sql")
    with open(script, "w") as f:
        f.write(QUERY + ";\n")
    prefix = os.path.join(workdir, "tx_%s_%d" % (dbname, port))
    for old in glob.glob(prefix + ".*"):
        os.unlink(old)
    env = dict(os.environ, PGPASSWORD=APP[1])
    r = subprocess.run([PGBENCH, "-h", "127.0.0.1", "-p", str(port), "-U", APP[0], "-n", "-f", script,
                        "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds)]
                       + (["-l", "--log-prefix", prefix] if log else []) + [dbname],
                       capture_output=True, text=True, env=env, timeout=seconds + 60, cwd=workdir)
    match = re.search(r"tps = ([0-9.]+) \(without initial", r.stdout)
    if r.returncode != 0 or not match:
        raise RuntimeError("pgbench failed: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    latencies = []
    for path in glob.glob(prefix + ".*"):
        with open(path) as f:
            latencies += [int(line.split()[2]) for line in f if line.strip()]
    return float(match.group(1)), latencies


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="sg-pg-scatter-")
    pg = prepare(args.rows)
    gateway = None
    try:
        gateway = start_pooler("scalegate", pg, os.path.join(workdir, "scalegate"), databases=databases(pg))
        sides = {"direct": (pg.port, "single"), "pooling": (gateway.port, "single"),
                 "scatter": (gateway.port, "orders")}
        refusal = scatter_refusal(gateway, pg)
        if refusal:
            print("scatter side skipped: %s" % refusal)
            del sides["scatter"]
        results = {name: {"latency": [], "p99": [], "tps": []} for name in sides}
        for port, db in sides.values():  # warm up: pools filled, plans cached
            pgbench(port, db, args.clients, 2, workdir)
        for _ in range(args.rounds):
            for name, (port, db) in sides.items():
                _, latencies = pgbench(port, db, 1, args.seconds, workdir, log=True)
                results[name]["latency"].append(statistics.median(latencies))
                results[name]["p99"].append(percentile(latencies, 0.99))
                results[name]["tps"].append(pgbench(port, db, args.clients, args.seconds, workdir)[0])
        report(results, args)
    finally:
        if gateway is not None:
            stop_pooler(gateway)
        pg.stop()


def report(results, args):
    print("%s\n%d rows; latency: 1 client, tps: %d clients; %d s x %d rounds (medians)"
          % (QUERY, args.rows, args.clients, args.seconds, args.rounds))
    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    for name, m in med.items():
        print("  %-8s latency median %7.0f us, p99 %7.0f us; %8.0f tps"
              % (name, m["latency"], m["p99"], m["tps"]))
    if "scatter" in med:
        s, p = med["scatter"], med["pooling"]
        print("  scatter/pooling: latency %.2fx, tps %.2fx" % (s["latency"] / p["latency"], s["tps"] / p["tps"]))


if __name__ == "__main__":
    main()
