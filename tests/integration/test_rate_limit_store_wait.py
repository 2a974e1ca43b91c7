"""Cluster-scope rate limits × clients that leave: a request paused on the store's reply
(exact mode) or on another request's lease call (lease mode) whose client closes must be
forgotten cleanly, and the gateway must go on answering everyone else."""
import socket
import struct
import time

from conftest import wait_until
from http_client import http_get
from redis_support import gateways, redis  # noqa: F401  (fixtures)
from test_rate_limit_cluster import cluster_limit, gateway_config, limited_route, redis_store


def send_and_close_later(port, path):
    """Sends a GET and returns the socket without reading (the caller closes it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(("GET %s HTTP/1.1\r\nHost: gateway.test\r\n\r\n" % path).encode())
    return sock


def reset(sock):
    """Closes with a TCP reset: the gateway sees the client gone at once (a FIN would only be
    noticed when it next reads or writes)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_status(sock, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


def test_clients_leaving_while_paused_on_the_store(upstream, redis, gateways):
    """Redis is stopped (SIGSTOP) with a 1 s store timeout: requests of both modes pause.
    Half their clients close mid-wait; once Redis runs again the others are answered 200,
    the gateway is alive, and new requests are answered at once."""
    u = upstream("u1")
    routes = [limited_route("exact", "/exact/", cluster_limit("1000/s", name="exact")),
              limited_route("lease", "/lease/", cluster_limit("1000/s", name="lease", lease=50))]
    gw = gateways(gateway_config(u, routes, redis_store(redis, timeout="1s"), workers=1))
    assert http_get(gw.port, "/exact/warm").status == 200
    assert http_get(gw.port, "/lease/warm").status == 200
    # the worker's connection and the service registry's sync connection
    ready = gw.metric("scalegate_store_connections_ready")
    assert ready >= 1

    redis.pause()
    try:
        # The lease's first request sends the lease call; the rest wait for that call.
        socks = [send_and_close_later(gw.port, path) for path in ["/exact/a"] * 6 + ["/lease/b"] * 6]
        time.sleep(0.2)
        leaving, staying = socks[0::2], socks[1::2]
        for sock in leaving:
            reset(sock)
        time.sleep(0.1)
    finally:
        redis.resume()
    statuses = [read_status(sock) for sock in staying]
    for sock in staying:
        sock.close()
    assert statuses == [200] * len(staying), statuses
    assert gw.alive(), gw.logs
    for path in ["/exact/after", "/lease/after"]:
        assert http_get(gw.port, path, timeout=5).status == 200
    assert wait_until(lambda: gw.metric("scalegate_store_connections_ready") == ready, timeout=5)


def test_leaving_the_only_lease_waiter_does_not_strand_the_next(upstream, redis, gateways):
    """The request that sent the lease call leaves, and so does every waiter: the call's
    reply is dropped with it, and the next request asks again instead of waiting for a
    reply that will never come."""
    u = upstream("u1")
    routes = [limited_route("lease", "/lease/", cluster_limit("1000/s", name="lease", lease=50))]
    gw = gateways(gateway_config(u, routes, redis_store(redis, timeout="1s"), workers=1))
    redis.pause()
    try:
        socks = [send_and_close_later(gw.port, "/lease/x") for _ in range(4)]
        time.sleep(0.2)
        for sock in socks:
            reset(sock)
        time.sleep(0.1)
    finally:
        redis.resume()
    time.sleep(0.2)
    calls_before = gw.metric("scalegate_rate_limit_store_calls_total", policy="lease")
    for i in range(5):
        assert http_get(gw.port, "/lease/y%d" % i, timeout=5).status == 200
    assert gw.alive(), gw.logs
    # One new lease call serves all five.
    assert gw.metric("scalegate_rate_limit_store_calls_total", policy="lease") == calls_before + 1
