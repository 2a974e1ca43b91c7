"""round_robin over several workers: the workers share the upstream's position, so sequential
requests, each on its own connection and so on whichever worker accepts it, take the servers in
strict rotation (a newcomer curling three times sees demo-1, demo-2, demo-3)."""
from conftest import Conn, make_config

N = 30


def sequence(gw, n):
    """X-Upstream of n sequential requests, each on a fresh connection."""
    out = []
    for i in range(n):
        with Conn(gw.port) as c:
            r = c.get("/echo/%d" % i)
            assert r.status == 200, "request %d: %r" % (i, r)
            out.append(r.header("X-Upstream"))
    return out


def assert_rotation(seq, servers):
    first = seq[:len(servers)]
    assert sorted(first) == sorted(servers), seq
    expected = [first[i % len(first)] for i in range(len(seq))]
    assert seq == expected, "not a strict rotation: %s" % seq


def two_worker_gateway(upstream, gateway):
    ups = [upstream("a"), upstream("b"), upstream("c")]
    cfg = make_config({"pool": ups}, workers=2, upstream_opts={"pool": {"balance": "round_robin"}})
    return ups, gateway(cfg)


def test_sequential_requests_rotate_across_workers(upstream, gateway):
    ups, gw = two_worker_gateway(upstream, gateway)
    assert_rotation(sequence(gw, N), ["a", "b", "c"])
    for u in ups:
        assert u.stats()["requests"] == N // 3


def test_rotation_skips_a_disabled_server_across_workers(upstream, gateway):
    ups, gw = two_worker_gateway(upstream, gateway)
    r = gw.server_action("pool", ups[1].address, "disable")
    assert r.status == 200, r
    assert_rotation(sequence(gw, 20), ["a", "c"])
    assert gw.server_action("pool", ups[1].address, "enable").status == 200
    assert_rotation(sequence(gw, N), ["a", "b", "c"])
