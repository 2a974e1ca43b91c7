"""The access log's bytes_sent is the size of the response the client gets, also for the
answers the gateway writes itself (404, 429...) and for cache hits, whose lines are written
before their bytes leave."""
import json
import socket

from conftest import make_config, wait_until


def whole_response(port, path):
    """Bytes of one response on a connection the gateway closes (Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n" % path.encode())
        data = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                return data
            data += piece


def read_entries(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def test_bytes_sent_of_local_replies_and_cache_hits(upstream, gateway, tmp_path):
    u1 = upstream("u1")
    log_path = str(tmp_path / "access.log")
    routes = [{"name": "cached", "match": {"prefix": "/big"}, "upstream": "u1",
               "cache": {"enabled": True, "default_ttl": "60s"}},
              {"name": "echo", "match": {"prefix": "/echo"}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes, access_log={"enabled": True, "path": log_path}))
    paths = ["/nowhere", "/big?bytes=70000", "/big?bytes=70000", "/echo/x"]  # 404, miss, hit, proxied
    sizes = [len(whole_response(gw.port, p)) for p in paths]
    entries = wait_until(lambda: (lambda e: e if len(e) >= len(paths) else None)(read_entries(log_path)),
                         timeout=10)
    assert entries and len(entries) == len(paths), entries
    got = [(e["path"], e["status"], e["bytes_sent"]) for e in entries]
    want = [(p, s, n) for p, s, n in zip(paths, [404, 200, 200, 200], sizes)]
    assert got == want
