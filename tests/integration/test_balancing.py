"""Balancing: round robin, smooth weighted round robin, backup servers, passive failure
marking and retries when a server dies mid-load."""
import collections
import threading

import pytest

from conftest import Conn, NoResponse, IncompleteBody, make_config, metric_value, wait_s, wait_until


def names_for(gw, n, path="/echo"):
    out = []
    with Conn(gw.port) as c:
        for i in range(n):
            r = c.get("%s/%d" % (path, i))
            assert r.status == 200, "request %d: %r" % (i, r)
            out.append(r.header("X-Upstream"))
    return out


def test_round_robin_even_split(upstream, gateway):
    ups = [upstream("a"), upstream("b"), upstream("c")]
    gw = gateway(make_config({"pool": ups}, workers=1, upstream_opts={"pool": {"balance": "round_robin"}}))
    seq = names_for(gw, 30)
    counts = collections.Counter(seq)
    assert counts == {"a": 10, "b": 10, "c": 10}, "distribution %s, sequence %s" % (counts, seq)
    # strict rotation: every window of 3 consecutive picks covers all servers
    for i in range(0, 30, 3):
        assert sorted(seq[i:i + 3]) == ["a", "b", "c"], seq
    for u in ups:
        assert u.stats()["requests"] == 10


def test_round_robin_across_connections(upstream, gateway):
    ups = [upstream("a"), upstream("b"), upstream("c")]
    gw = gateway(make_config({"pool": ups}, workers=1))
    seq = []
    for i in range(12):
        with Conn(gw.port) as c:
            seq.append(c.get("/echo").header("X-Upstream"))
    assert collections.Counter(seq) == {"a": 4, "b": 4, "c": 4}, seq


def test_weighted_round_robin_smooth_sequence(upstream, gateway):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    servers = [{"address": a, "weight": 5}, {"address": b, "weight": 1}, {"address": c, "weight": 1}]
    gw = gateway(make_config({"pool": servers}, workers=1,
                             upstream_opts={"pool": {"balance": "weighted_round_robin"}}))
    seq = names_for(gw, 14)
    expected = list("aabacaa") * 2
    assert seq == expected, "smooth WRR 5,1,1 sequence %s, want %s" % ("".join(seq), "".join(expected))


def test_backup_only_used_when_primaries_down(upstream, gateway):
    p1, p2, bk = upstream("p1"), upstream("p2"), upstream("bk")
    servers = [{"address": p1}, {"address": p2}, {"address": bk, "backup": True}]
    gw = gateway(make_config({"pool": servers}, workers=1,
                             upstream_opts={"pool": {"max_fails": 1, "fail_timeout": "10s"}}))
    seq = names_for(gw, 20)
    assert "bk" not in seq, seq
    assert bk.stats()["requests"] == 0
    assert collections.Counter(seq) == {"p1": 10, "p2": 10}
    p1.kill()
    p2.kill()
    seq = names_for(gw, 20)
    assert seq == ["bk"] * 20, "after killing both primaries: %s" % seq


def test_dead_server_marked_down_and_requests_succeed(upstream, gateway):
    u1, u2 = upstream("u1"), upstream("u2")
    gw = gateway(make_config({"u": [u1, u2]}, workers=1,
                             upstream_opts={"u": {"max_fails": 1, "fail_timeout": "5s"}}))
    assert sorted(names_for(gw, 4)) == ["u1", "u1", "u2", "u2"]
    dead_addr = u2.address
    u2.kill()
    seq = names_for(gw, 20)  # every request succeeds (asserted in names_for)
    assert set(seq) == {"u1"}, seq
    text = gw.metrics_text()
    assert metric_value(text, "scalegate_upstream_server_up", upstream="u", server=dead_addr) == 0, \
        "dead server not reported down:\n%s" % "\n".join(l for l in text.splitlines() if "server_up" in l)
    assert metric_value(text, "scalegate_upstream_server_up", upstream="u", server=u1.address) == 1


@pytest.mark.timeout_s(120)
def test_kill_one_of_three_mid_load_no_failed_gets(upstream, gateway):
    """Three clients keep keep-alive GETs in flight (each held 5 ms by the upstream) while one
    of three upstreams is SIGKILLed: requests in flight on it and pooled connections to it
    must all be retried elsewhere, so no GET fails."""
    ups = [upstream("a"), upstream("b"), upstream("c")]
    gw = gateway(make_config({"pool": ups}, workers=2,
                             upstream_opts={"pool": {"max_fails": 1, "fail_timeout": "10s"}}))
    clients, per_client = 3, 150
    done = collections.Counter()
    failures = []
    seen_after_kill = collections.Counter()
    killed = threading.Event()
    lock = threading.Lock()

    def load(client):
        c = Conn(gw.port, timeout=30)
        try:
            for i in range(per_client):
                try:
                    r = c.get("/slow?ms=5&client=%d&i=%d" % (client, i))
                    with lock:
                        if r.status != 200:
                            failures.append((client, i, r.status, r.body[:200]))
                        elif killed.is_set():
                            seen_after_kill[r.header("X-Upstream")] += 1
                    if c.eof or "close" in (r.header("Connection") or "").lower():
                        c.close()
                        c = Conn(gw.port, timeout=30)
                except (OSError, NoResponse, IncompleteBody) as e:
                    with lock:
                        failures.append((client, i, "error", repr(e)))
                    c.close()
                    c = Conn(gw.port, timeout=30)
                with lock:
                    done[client] = i + 1
        finally:
            c.close()

    threads = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    ok = wait_until(lambda: sum(done.values()) >= 120 or not any(t.is_alive() for t in threads),
                    timeout=60)
    assert ok and sum(done.values()) >= 120, "load stalled at %s; failures %s" % (done, failures[:5])
    victim = ups[1]
    victim.kill()
    killed.set()
    for t in threads:
        t.join(wait_s(90))
    assert not any(t.is_alive() for t in threads), "load did not finish (done %s)" % done
    assert sum(done.values()) == clients * per_client
    assert sum(done.values()) - 120 > 50, "the kill did not land mid-load"
    assert not failures, "%d failed GETs after killing one upstream: %s" % (len(failures), failures[:10])
    assert seen_after_kill["a"] > 0 and seen_after_kill["c"] > 0, seen_after_kill
