#!/usr/bin/env python3
"""Memory per idle PostgreSQL client connection: scalegate against PgBouncer.

Starts PostgreSQL 15 (the integration tests' PostgresServer: a temporary cluster run as the
postgres user on a loopback port), then per pooler (scalegate with `workers: 1`, PgBouncer 1.18),
each in transaction mode with a pool of 8 and max_client_conn above N:
  1. a warm-up: WARMUP connections log in (startup + auth up to ReadyForQuery) and close;
  2. RSS "before" (VmRSS of the pooler process from /proc/PID/status);
  3. N connections log in, in batches, and stay open and idle;
  4. SETTLE seconds later RSS "after", and a check that the pooler closed none of them;
  5. reported: (after - before) / N in KiB per idle client, and scalegate / PgBouncer.
Kernel socket buffers are not in RSS. Every wait is bounded; the poolers and PostgreSQL are
stopped by pid at the end, whatever happens.

Usage: bench/pg_idle_clients.py [--scalegate BIN] [-n 10000] [--batch 200] [--auth trust|md5]
"""
import argparse
import hashlib
import os
import resource
import selectors
import signal
import socket
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scalegate", default=os.environ.get("SCALEGATE_BIN",
                                                         os.path.join(ROOT, "build", "src", "app", "scalegate")))
    p.add_argument("-n", type=int, default=10000, help="idle connections per pooler (10000)")
    p.add_argument("--batch", type=int, default=200, help="logins in flight at a time (200)")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--settle", type=float, default=2.0)
    p.add_argument("--auth", choices=("trust", "md5"), default="trust")
    p.add_argument("--poolers", default="scalegate,pgbouncer")
    p.add_argument("--batch-timeout", type=float, default=20.0)
    a = p.parse_args()
    if a.n < 1 or a.batch < 1:
        p.error("-n and --batch must be positive")
    return a


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            sys.exit("pg_idle_clients: need %d file descriptors, the hard limit is %d" % (needed, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))  # the poolers inherit it


class Login:
    """One client connection driven without blocking: startup, auth (trust or md5), ReadyForQuery."""
    __slots__ = ("sock", "buf", "user", "password", "done", "error")

    def __init__(self, port, user, password):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        self.buf, self.user, self.password = b"", user, password
        self.done, self.error = False, None

    def send_startup(self):
        body = b"user\0%s\0database\0bench\0\0" % self.user.encode()
        self.sock.setblocking(True)
        self.sock.sendall((8 + len(body)).to_bytes(4, "big") + (196608).to_bytes(4, "big") + body)
        self.sock.setblocking(False)

    def on_readable(self):
        data = self.sock.recv(65536)
        if not data:
            self.error = "closed during login"
            return
        self.buf += data
        while len(self.buf) >= 5:
            length = int.from_bytes(self.buf[1:5], "big")
            if len(self.buf) < 1 + length:
                return
            kind, payload, self.buf = self.buf[:1], self.buf[5:1 + length], self.buf[1 + length:]
            self.on_message(kind, payload)

    def on_message(self, kind, payload):
        if kind == b"E":
            self.error = payload.replace(b"\0", b" ").decode("utf-8", "replace")
        elif kind == b"R" and int.from_bytes(payload[:4], "big") == 5:  # md5 with a salt
            inner = hashlib.md5((self.password + self.user).encode()).hexdigest()
            answer = b"md5" + hashlib.md5(inner.encode() + payload[4:8]).hexdigest().encode() + b"\0"
            self.sock.setblocking(True)
            self.sock.sendall(b"p" + (4 + len(answer)).to_bytes(4, "big") + answer)
            self.sock.setblocking(False)
        elif kind == b"R" and int.from_bytes(payload[:4], "big") != 0:
            self.error = "unsupported authentication request %d" % int.from_bytes(payload[:4], "big")
        elif kind == b"Z":
            self.done = True


def open_idle(port, count, batch, timeout, user="postgres", password="bench_pw"):
    """Logs `count` connections in, `batch` at a time; returns (open sockets, failures)."""
    held, failures = [], 0
    sel = selectors.DefaultSelector()
    for start in range(0, count, batch):
        pending = []
        for _ in range(min(batch, count - start)):
            c = Login(port, user, password)
            sel.register(c.sock, selectors.EVENT_WRITE, c)
            pending.append(c)
        deadline = time.monotonic() + timeout
        waiting = set(pending)
        while waiting and time.monotonic() < deadline:
            for key, events in sel.select(timeout=0.5):
                c = key.data
                try:
                    if events & selectors.EVENT_WRITE:
                        c.send_startup()
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                    else:
                        c.on_readable()
                except OSError as e:
                    c.error = str(e)
                if c.done or c.error:
                    sel.unregister(c.sock)
                    waiting.discard(c)
        for c in pending:
            if c in waiting:
                sel.unregister(c.sock)
                c.error = "login timed out"
            if c.done and not c.error:
                held.append(c.sock)
            else:
                failures += 1
                if failures <= 3:
                    print("  login failed: %s" % c.error, file=sys.stderr)
                c.sock.close()
    sel.close()
    return held, failures


def still_open(socks):
    """Sockets the peer has not closed (a closed one reads EOF at once)."""
    alive = 0
    for s in socks:
        try:
            alive += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def measure(name, pooler, args):
    warm, failed = open_idle(pooler.port, args.warmup, args.batch, args.batch_timeout)
    for s in warm:
        s.close()
    if failed:
        raise SystemExit("%s: %d of %d warm-up logins failed" % (name, failed, args.warmup))
    time.sleep(0.5)
    before = pooler.vm_rss_kib()
    started = time.monotonic()
    held, failed = open_idle(pooler.port, args.n, args.batch, args.batch_timeout)
    opened_s = time.monotonic() - started
    try:
        time.sleep(args.settle)
        after = pooler.vm_rss_kib()
        alive = still_open(held)
    finally:
        for s in held:
            s.close()
    per_conn = (after - before) / max(1, len(held))
    print("%-10s idle=%d failed=%d still_open=%d rss_before_kib=%d rss_after_kib=%d per_conn_kib=%.2f "
          "login_s=%.1f" % (name, len(held), failed, alive, before, after, per_conn, opened_s), flush=True)
    return per_conn, len(held) == args.n and alive == args.n


def main():
    args = parse_args()
    # SIGTERM (a `timeout`, a CI stop) unwinds like Ctrl-C, so PostgreSQL and the poolers are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    os.environ["SCALEGATE_BIN"] = args.scalegate
    raise_fd_limit(args.n + args.batch + 1024)
    import pg_support as ps  # after SCALEGATE_BIN is set

    poolers = [p.strip() for p in args.poolers.split(",") if p.strip()]
    if "scalegate" in poolers and not os.access(args.scalegate, os.X_OK):
        print("pg_idle_clients: no scalegate binary at %s: measuring PgBouncer only" % args.scalegate)
        poolers.remove("scalegate")
    pg = ps.PostgresServer().start()
    results, ok = {}, True
    try:
        pg.sql("CREATE DATABASE bench", db="postgres")
        pg.sql("ALTER ROLE postgres PASSWORD 'bench_pw'", db="postgres")
        users = {"postgres": "bench_pw", "admin": "admin_pw"}
        db = {"bench": {"primary": pg.address, "dbname": "bench", "user": "postgres", "password": "bench_pw",
                        "pool_size": 8}}
        for name in poolers:
            tmp = tempfile.mkdtemp(prefix="sg-pg-idle-")
            opts = dict(auth=args.auth, pool_size=8, databases=db, users=users, max_client_conn=args.n + 100)
            if name == "scalegate":
                opts["workers"] = 1
            pooler = ps.POOLERS[name](pg, tmp, **opts)
            try:
                pooler.start()
                results[name], complete = measure(name, pooler, args)
                ok = ok and complete
            finally:
                ps.stop_pooler(pooler)
    finally:
        pg.stop()
    if "scalegate" in results and "pgbouncer" in results and results["pgbouncer"] > 0:
        print("scalegate/pgbouncer per idle client: %.2f" % (results["scalegate"] / results["pgbouncer"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
