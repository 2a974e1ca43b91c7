#!/usr/bin/env python3
"""Idle keep-alive clients for bench/idle_memory.sh.

Opens N connections to HOST:PORT in batches, sends one `GET / HTTP/1.1` (keep-alive) on
each, reads each full response (Content-Length or chunked), and keeps every connection
open. Then it talks to its parent on stdin/stdout, one line each way:

  stdout "ready OK FAILED"    all batches done; OK connections hold a complete 2xx response
  stdin  "check"           -> stdout "open K"  (connections the proxy has not closed)
  stdin  "close" or EOF    -> closes everything and exits 0

Every wait is bounded: a batch gets --batch-timeout seconds, and the connections are held
at most --hold-max seconds (then closed and exit 3), so a lost parent never leaves 10k
sockets behind. --once-and-close skips the conversation (warm-up): open, request, close.
"""
import argparse
import errno
import resource
import selectors
import socket
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("-n", type=int, default=10000, help="connections (10000)")
    p.add_argument("--batch", type=int, default=100,
                   help="connections opened and requested at a time (100)")
    p.add_argument("--batch-timeout", type=float, default=10.0)
    p.add_argument("--hold-max", type=float, default=300.0)
    p.add_argument("--path", default="/")
    p.add_argument("--once-and-close", action="store_true")
    a = p.parse_args()
    if a.n < 1 or a.batch < 1:
        p.error("-n and --batch must be positive")
    return a


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            sys.exit(f"idle_clients: need {needed} file descriptors, the hard limit is {hard}"
                     " (raise it with ulimit -Hn as root, or lower N)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def response_complete(buf):
    """None while incomplete; else the status code. Handles Content-Length and chunked."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    length, chunked = None, False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
    body = buf[end + 4:]
    if chunked:  # a short body: the terminating chunk is enough to know it ended
        return status if body.endswith(b"0\r\n\r\n") else None
    if length is not None:
        return status if len(body) >= length else None
    return status  # no body framing on a keep-alive 2xx: nothing more to wait for


class Conn:
    __slots__ = ("sock", "buf", "sent")

    def __init__(self, sock):
        self.sock, self.buf, self.sent = sock, b"", False


def run_batch(sel, count, args, request):
    """Opens `count` connections and gets one response on each. Returns (kept, failed)."""
    pending = {}
    failed = 0
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((args.host, args.port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            failed += 1
            continue
        c = Conn(s)
        pending[s.fileno()] = c
        sel.register(s, selectors.EVENT_WRITE, c)
    kept = []
    deadline = time.monotonic() + args.batch_timeout
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
            c = key.data
            fd = c.sock.fileno()
            ok = None  # None: keep waiting; True: done and kept; False: failed
            try:
                if not c.sent:
                    if c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        ok = False
                    else:
                        c.sock.send(request)  # a few dozen bytes: one send suffices
                        c.sent = True
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                else:
                    data = c.sock.recv(65536)
                    if not data:
                        ok = False
                    else:
                        c.buf += data
                        status = response_complete(c.buf)
                        if status is not None:
                            ok = 200 <= status < 300
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                ok = False
            if ok is None:
                continue
            sel.unregister(c.sock)
            del pending[fd]
            if ok:
                c.buf = b""
                kept.append(c.sock)
            else:
                c.sock.close()
                failed += 1
    for c in pending.values():  # timed out
        sel.unregister(c.sock)
        c.sock.close()
        failed += 1
    return kept, failed


def count_open(socks):
    """Connections the peer has not closed: not readable (an idle proxy sends nothing)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    readable = len(sel.select(timeout=0))
    sel.close()
    return len(socks) - readable


def main():
    args = parse_args()
    raise_fd_limit(args.n + 64)
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "User-Agent: idle_clients\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    socks, failed = [], 0
    left = args.n
    while left > 0:
        kept, bad = run_batch(sel, min(args.batch, left), args, request)
        socks += kept
        failed += bad
        left -= len(kept) + bad
        if bad and failed > args.n // 100 + 10:  # the proxy is refusing: stop early
            break
    sel.close()
    if args.once_and_close:
        for s in socks:
            s.close()
        print(f"done {len(socks)} {failed}", flush=True)
        return 0 if failed == 0 else 1

    print(f"ready {len(socks)} {failed}", flush=True)
    stop_at = time.monotonic() + args.hold_max
    rc = 3
    in_sel = selectors.DefaultSelector()
    in_sel.register(sys.stdin, selectors.EVENT_READ)
    while time.monotonic() < stop_at:
        if not in_sel.select(timeout=max(0.0, stop_at - time.monotonic())):
            continue
        line = sys.stdin.readline()
        cmd = line.strip()
        if cmd == "check":
            print(f"open {count_open(socks)}", flush=True)
        elif cmd == "close" or line == "":
            rc = 0
            break
    if rc:
        print(f"idle_clients: no 'close' within {args.hold_max}s; closing", file=sys.stderr)
    for s in socks:
        s.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
