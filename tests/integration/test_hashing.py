"""Hash-based balancing (hash, ring_hash, maglev on a header, cookie or query value; ip_hash)
and the sticky cookie."""
import collections
import socket
import threading
import time

import pytest

from conftest import Conn, make_config, wait_s


class SourceConn(Conn):
    """A client connection from a chosen loopback source address (127.0.0.0/8 is all local)."""

    def __init__(self, port, source_ip, timeout=15.0):
        self.port = port
        self.timeout = wait_s(timeout)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=self.timeout,
                                             source_address=(source_ip, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False


def served_by(gw, path, headers=None):
    with Conn(gw.port) as c:  # a fresh connection each time: it may land on any worker
        r = c.get(path, headers=headers)
    assert r.status == 200, r
    return r.header("X-Upstream")


def three(upstream):
    return [upstream("a"), upstream("b"), upstream("c")]


def key_map(gw, keys, make_request, repeats=3):
    """key -> server, checking every repeat of a key lands on the same server."""
    out = {}
    for k in keys:
        got = {served_by(gw, *make_request(k, i)) for i in range(repeats)}
        assert len(got) == 1, "key %r went to %s" % (k, sorted(got))
        out[k] = got.pop()
    return out


@pytest.mark.parametrize("balance", ["hash", "ring_hash", "maglev"])
def test_header_hash_is_consistent_and_spread(upstream, gateway, balance):
    ups = three(upstream)
    gw = gateway(make_config({"pool": ups}, workers=2,
                             upstream_opts={"pool": {"balance": balance, "hash_on": "header:X-User"}}))
    keys = ["user-%d" % i for i in range(20)]
    m = key_map(gw, keys, lambda k, i: ("/echo/%d" % i, {"X-User": k}))
    spread = collections.Counter(m.values())
    assert len(spread) >= 2, "20 keys all went to one server: %s" % spread
    # the header name is case-insensitive and other headers do not matter
    for k in keys[:5]:
        assert served_by(gw, "/other", {"x-user": k, "X-Noise": "zz"}) == m[k]
    # without the header the request is still served
    assert served_by(gw, "/echo/nokey") in {"a", "b", "c"}


@pytest.mark.parametrize("hash_on, make", [
    ("cookie:uid", lambda k, i: ("/echo/%d" % i, {"Cookie": "x=1; uid=%s; y=2" % k})),
    ("query:user", lambda k, i: ("/echo/%d?a=%d&user=%s" % (i, i, k), None)),
])
def test_cookie_and_query_hash(upstream, gateway, hash_on, make):
    ups = three(upstream)
    gw = gateway(make_config({"pool": ups}, workers=2,
                             upstream_opts={"pool": {"balance": "ring_hash", "hash_on": hash_on}}))
    m = key_map(gw, ["k%d" % i for i in range(20)], make)
    assert len(set(m.values())) >= 2, m


def test_ring_hash_minimal_disruption(upstream, gateway):
    """Taking one server out moves only its keys; keys on the other servers stay put, and
    they go back when it returns."""
    ups = three(upstream)
    gw = gateway(make_config({"pool": ups}, workers=1,
                             upstream_opts={"pool": {"balance": "ring_hash", "hash_on": "header:X-User"}}))
    keys = ["user-%d" % i for i in range(30)]
    req = lambda k, i: ("/echo/%d" % i, {"X-User": k})  # noqa: E731
    before = key_map(gw, keys, req, repeats=1)
    victim = collections.Counter(before.values()).most_common(1)[0][0]
    vaddr = next(u.address for u in ups if u.name == victim)
    gw.server_action("pool", vaddr, "disable")
    after = key_map(gw, keys, req, repeats=2)
    for k in keys:
        if before[k] == victim:
            assert after[k] != victim
        else:
            assert after[k] == before[k], "key %s moved from %s to %s" % (k, before[k], after[k])
    gw.server_action("pool", vaddr, "enable")
    assert key_map(gw, keys, req, repeats=1) == before


def test_maglev_mostly_stable_when_a_server_leaves(upstream, gateway):
    ups = [upstream("s%d" % i) for i in range(4)]
    gw = gateway(make_config({"pool": ups}, workers=1,
                             upstream_opts={"pool": {"balance": "maglev", "hash_on": "header:X-User"}}))
    keys = ["user-%d" % i for i in range(40)]
    req = lambda k, i: ("/echo/%d" % i, {"X-User": k})  # noqa: E731
    before = key_map(gw, keys, req, repeats=1)
    victim = ups[0]
    gw.server_action("pool", victim.address, "disable")
    after = key_map(gw, keys, req, repeats=1)
    others = [k for k in keys if before[k] != victim.name]
    stayed = sum(1 for k in others if after[k] == before[k])
    assert all(after[k] != victim.name for k in keys)
    assert stayed >= len(others) * 0.6, "only %d of %d keys stayed" % (stayed, len(others))


def test_ip_hash_single_client_one_server(upstream, gateway):
    ups = three(upstream)
    gw = gateway(make_config({"pool": ups}, workers=2, upstream_opts={"pool": {"balance": "ip_hash"}}))
    seen = collections.Counter(served_by(gw, "/echo/%d" % i, {"X-User": "u%d" % i}) for i in range(20))
    assert len(seen) == 1, "requests from 127.0.0.1 went to %s" % seen


@pytest.mark.parametrize("balance, extra", [("ip_hash", {}), ("ring_hash", {"hash_on": "ip"})])
def test_ip_hash_spreads_source_addresses(upstream, gateway, balance, extra):
    ups = three(upstream)
    opts = {"balance": balance}
    opts.update(extra)
    gw = gateway(make_config({"pool": ups}, workers=2, upstream_opts={"pool": opts}))
    try:
        with SourceConn(gw.port, "127.0.0.2") as c:
            c.get("/echo")
    except OSError as e:
        pytest.skip("cannot connect from 127.0.0.2: %s" % e)
    mapping = {}
    for n in range(2, 32):
        ip = "127.0.%d.%d" % (n % 7, n)
        got = set()
        for i in range(2):
            with SourceConn(gw.port, ip) as c:
                r = c.get("/echo/%d" % i)
                assert r.status == 200, r
                got.add(r.header("X-Upstream"))
        assert len(got) == 1, "%s went to %s" % (ip, got)
        mapping[ip] = got.pop()
    assert len(set(mapping.values())) >= 2, "30 source addresses all went to one server"


# ---------------------------------------------------------------------------
# sticky cookie
# ---------------------------------------------------------------------------
def set_cookie(resp, name="SGID"):
    """(name=value, full header) of the Set-Cookie for `name`, or (None, None)."""
    for v in resp.header_list("Set-Cookie"):
        if v.split("=", 1)[0].strip() == name:
            return v.split(";", 1)[0].strip(), v
    return None, None


def test_sticky_cookie(upstream, gateway):
    ups = three(upstream)
    gw = gateway(make_config({"pool": ups}, workers=2,
                             upstream_opts={"pool": {"balance": "round_robin", "sticky_cookie": "SGID"}}))
    with Conn(gw.port) as c:
        r = c.get("/echo/first")
    assert r.status == 200
    first = r.header("X-Upstream")
    cookie, full = set_cookie(r)
    assert cookie, "no sticky Set-Cookie in %r" % r.headers
    attrs = [a.strip().lower() for a in full.split(";")[1:]]
    assert "path=/" in attrs and "httponly" in attrs, full
    value = cookie.split("=", 1)[1]
    assert value and all(ups_.address not in value and str(ups_.port) not in value for ups_ in ups), \
        "cookie value is not opaque: %s" % full

    for i in range(20):
        conn = Conn(gw.port)  # new connections: any worker must honour it
        with conn:
            r = conn.get("/echo/%d" % i, headers={"Cookie": "other=1; " + cookie})
        assert r.status == 200
        assert r.header("X-Upstream") == first, "request %d with %s went to %s, not %s" % (
            i, cookie, r.header("X-Upstream"), first)
        assert set_cookie(r) == (None, None), "cookie re-set although it was valid: %r" % r.headers

    # the pinned server is disabled: the request goes elsewhere with a new cookie
    addr = next(u.address for u in ups if u.name == first)
    gw.server_action("pool", addr, "disable")
    with Conn(gw.port) as c:
        r = c.get("/echo/after", headers={"Cookie": cookie})
    assert r.status == 200
    moved_to = r.header("X-Upstream")
    assert moved_to != first
    new_cookie, _ = set_cookie(r)
    assert new_cookie and new_cookie != cookie, r.headers
    # and the new cookie sticks to the new server
    for i in range(5):
        with Conn(gw.port) as c:
            assert c.get("/echo/n%d" % i, headers={"Cookie": new_cookie}).header("X-Upstream") == moved_to


def test_sticky_cookie_invalid_value_gets_a_fresh_cookie(upstream, gateway):
    ups = three(upstream)
    gw = gateway(make_config({"pool": ups}, workers=1,
                             upstream_opts={"pool": {"balance": "round_robin", "sticky_cookie": "SGID"}}))
    for bogus in ("SGID=", "SGID=nonsense", "SGID=%s" % ups[0].address):
        with Conn(gw.port) as c:
            r = c.get("/echo", headers={"Cookie": bogus})
        assert r.status == 200, r
        cookie, _ = set_cookie(r)
        assert cookie and cookie != bogus, "no fresh cookie for %r: %r" % (bogus, r.headers)
    # the cookie is passed upstream untouched (the gateway does not strip it)
    with Conn(gw.port) as c:
        r = c.get("/echo", headers={"Cookie": "SGID=nonsense; keep=me"})
    assert "keep=me" in r.json()["headers"].get("cookie", "")


@pytest.mark.parametrize("factor", [None, 150])
def test_hash_balance_factor_bounds_load(upstream, gateway, factor):
    """Six overlapping slow requests with one key: without a balance factor they all go to the
    key's server; with hash_balance_factor 150 a loaded server passes the key on."""
    ups = three(upstream)
    opts = {"balance": "ring_hash", "hash_on": "header:X-User"}
    if factor:
        opts["hash_balance_factor"] = factor
    gw = gateway(make_config({"pool": ups}, workers=1, upstream_opts={"pool": opts}))
    results = []
    lock = threading.Lock()

    def one(i):
        with Conn(gw.port, timeout=30) as c:
            r = c.get("/slow?ms=2500&i=%d" % i, headers={"X-User": "same-key"})
        with lock:
            results.append((r.status, r.header("X-Upstream")))

    threads = []
    for i in range(6):
        t = threading.Thread(target=one, args=(i,), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(0.1)  # let each request reach its server before the next is picked
    for t in threads:
        t.join(wait_s(30))
    assert len(results) == 6 and all(s == 200 for s, _ in results), results
    servers = collections.Counter(n for _, n in results)
    if factor:
        assert len(servers) >= 2, "bounded load kept all six on one server: %s" % servers
        assert max(servers.values()) <= 4, servers
    else:
        assert len(servers) == 1, servers
