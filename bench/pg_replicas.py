#!/usr/bin/env python3
"""Read replicas through scalegate: `pgbench -S` against a primary with two streaming replicas
(pg_basebackup, all on this machine's loopback), in one run:

  direct       pgbench straight to the primary
  pooling      scalegate, the database with no replicas (pooling alone)
  routing      scalegate, the same database with `replicas: [r1, r2]` (every transaction is
               classified and read-only ones go to a replica)

For each: transactions per second (median of the rounds, taken in turn so drift hits them
alike) and scalegate's CPU per transaction (its utime+stime over the run). The routing/pooling
CPU ratio is the cost of routing with the verdict cache warm (pgbench's literals change every
transaction; the cache key blanks them); the uncached parse cost is route_bench's
(src/pg/route/route_bench), printed at the end when it is built.

All servers share this machine's cores, so replicas add no CPU here: the tps ratio shows what
routing costs and how evenly it spreads, not how far replicas on their own machines scale.

Usage: /usr/bin/python3 bench/pg_replicas.py [--clients 16] [--seconds 8] [--rounds 3]
Env:   SCALEGATE_BIN (default build/src/app/scalegate). Ports are picked at run time; every
process it starts is stopped by pid.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("SCALEGATE_BIN", os.path.join(ROOT, "build", "src", "app", "scalegate"))

from pg_support import APP, PGBIN, PostgresServer, start_pooler, stop_pooler  # noqa: E402

PGBENCH = os.path.join(PGBIN, "pgbench")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pgbench(port, clients, seconds):
    env = dict(os.environ, PGPASSWORD=APP[1])
    r = subprocess.run([PGBENCH, "-h", "127.0.0.1", "-p", str(port), "-U", APP[0], "-n", "-S",
                        "-c", str(clients), "-j", "2", "-T", str(seconds), "app"],
                       capture_output=True, text=True, env=env, timeout=seconds + 60)
    match = re.search(r"tps = ([0-9.]+) \(without initial", r.stdout)
    if r.returncode != 0 or not match:
        raise RuntimeError("pgbench failed: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    processed = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    return float(match.group(1)), int(processed.group(1))


def prepare_primary():
    primary = PostgresServer(settings="max_connections = 300").start()
    primary.sql("SELECT 1")
    r = subprocess.run([PGBENCH, "-i", "-s", "4", "-q", "-h", primary.sock_dir, "-p", str(primary.port),
                        "-U", "postgres", "app"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("pgbench -i failed: %s" % r.stderr[-1000:])
    primary.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO app")
    return primary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    primary = prepare_primary()
    replicas, gateways = [], {}
    workdir = tempfile.mkdtemp(prefix="sg-pg-replicas-")
    try:
        replicas = [primary.replica(), primary.replica()]
        lsn = primary.wal_lsn()
        for r in replicas:
            while not r.replayed(lsn):
                time.sleep(0.1)
        base = {"primary": primary.address, "dbname": "app", "pool_size": 8}
        setups = {"pooling": dict(base),
                  "routing": dict(base, replicas=[r.address for r in replicas])}
        for name, database in setups.items():
            gateways[name] = start_pooler("scalegate", primary, os.path.join(workdir, name),
                                          databases={"app": database})
        ports = {"direct": primary.port}
        ports.update({name: g.port for name, g in gateways.items()})
        results = {name: [] for name in ports}
        for name, port in ports.items():  # warm up: pools filled, verdicts cached
            pgbench(port, args.clients, 2)
        for _ in range(args.rounds):
            for name, port in ports.items():
                pid = gateways[name].proc.pid if name in gateways else None
                before = cpu_seconds(pid) if pid else 0.0
                tps, count = pgbench(port, args.clients, args.seconds)
                cpu = (cpu_seconds(pid) - before) / count * 1e6 if pid else 0.0
                results[name].append((tps, cpu))
        report(results, args, gateways["routing"])
    finally:
        for g in gateways.values():
            stop_pooler(g)
        for r in replicas:
            r.stop()
        primary.stop()


def report(results, args, routing_gateway):
    print("pgbench -S, %d clients, %d s x %d rounds; primary + 2 streaming replicas on one machine"
          % (args.clients, args.seconds, args.rounds))
    med = {name: (statistics.median(t for t, _ in rows), statistics.median(c for _, c in rows))
           for name, rows in results.items()}
    for name, (tps, cpu) in med.items():
        extra = "" if name == "direct" else ", scalegate CPU %.1f us/tx" % cpu
        print("  %-8s %9.0f tps%s" % (name, tps, extra))
    print("  routing/pooling: tps %.2fx, CPU per transaction %.2fx; routing/direct tps %.2fx"
          % (med["routing"][0] / med["pooling"][0], med["routing"][1] / med["pooling"][1],
             med["routing"][0] / med["direct"][0]))
    _, rows = routing_gateway.admin_rows("SHOW STATS")
    _, servers = routing_gateway.admin_rows("SHOW SERVERS")
    roles = {}
    for row in servers:
        if row["state"] != "probe":
            roles[row["role"]] = roles.get(row["role"], 0) + 1
    print("  routing: server connections by role %s" % roles)
    bench = os.path.join(ROOT, "build", "src", "pg", "route", "route_bench")
    if os.path.exists(bench):
        out = subprocess.run([bench, "--benchmark_filter=Classify(Uncached|Cached)/0"],
                             capture_output=True, text=True, timeout=120).stdout
        for line in out.splitlines():
            if line.startswith("BM_Classify"):
                print("  route_bench (point SELECT): " + " ".join(line.split()[:4]))


if __name__ == "__main__":
    main()
