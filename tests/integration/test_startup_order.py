"""Start-up order: the admin listener is up before the data plane accepts connections, so a
client (or an orchestrator's probe) that reaches the gateway can always reach /health and
/metrics too. The data plane's listening sockets accept from the moment they are opened, while
the rest of the workers are still being built, so the window used to be real on slow or busy
machines: a large config (maglev tables on many workers) makes it wide."""
import socket
import time

from conftest import http_get, make_config, wait_s


def _connects(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_admin_answers_as_soon_as_the_listener_accepts(upstream, gateway):
    u1 = upstream("u1")
    servers = [u1] + ["127.0.0.1:%d" % (20000 + i) for i in range(40)]
    upstreams = {"pool%d" % i: servers for i in range(6)}
    opts = {name: {"balance": "maglev"} for name in upstreams}
    cfg = make_config(upstreams, workers=8, upstream_opts=opts)
    gw = gateway(cfg, wait=False)
    deadline = time.monotonic() + wait_s(20)
    while not _connects(gw.port):
        assert gw.alive(), gw.logs[-3000:]
        assert time.monotonic() < deadline, "the gateway never listened"
        time.sleep(0.001)
    # The data plane accepts: the admin listener must already be there.
    r = http_get(gw.admin_port, "/health", host="127.0.0.1", timeout=wait_s(10))
    assert r.status in (200, 503), r
    gw.wait_ready()
