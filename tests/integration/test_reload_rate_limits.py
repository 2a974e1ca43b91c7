"""Reload crossed with local rate limits: the successor takes each limit's keys over when the
limit (same listener and route) is configured the same, so a reload grants no client a fresh
burst; a limit whose configuration changed starts fresh."""
import re

from conftest import http_get, make_config, wait_s, wait_until
from test_reload_upgrade import (admin_reload, process_alive, successors,  # noqa: F401
                                 wait_for_successor, write)

TOOK_OVER_KEYS = re.compile(r"took over the state of .*, (\d+) rate-limit keys;")


def listener_limit(burst):
    return {"algorithm": "token_bucket", "rate": "2/m", "burst": burst}


def limited_config(upstream):
    routes = [{"name": "limited", "match": {"prefix": "/limited/"}, "upstream": "u1",
               "rate_limit": {"algorithm": "gcra", "rate": "1/m", "burst": 1, "key": "route"}},
              {"name": "default", "match": {"prefix": "/"}, "upstream": "u1"}]
    return make_config({"u1": [upstream]}, routes=routes, listener={"rate_limit": listener_limit(3)})


def reload_to(gw, successors, count):
    assert admin_reload(gw).status == 202
    successors.append(wait_for_successor(gw, count))


def test_spent_keys_stay_spent_across_a_reload_and_a_changed_limit_starts_fresh(
        gateway, upstream, successors):
    u = upstream("u1")
    gw = successors.watch(gateway(limited_config(u)))
    assert http_get(gw.port, "/limited/a").status == 200  # the route's one request a minute
    assert [http_get(gw.port, "/x").status for _ in range(3)] == [200, 200, 429]

    reload_to(gw, successors, 1)
    assert gw.proc.wait(timeout=wait_s(20)) == 0
    # Before: the successor's limiters started empty, so each client had its burst again.
    assert http_get(gw.port, "/x").status == 429
    assert http_get(gw.port, "/limited/b").status == 429
    assert TOOK_OVER_KEYS.search(gw.logs).group(1) == "2", gw.logs[-2000:]

    # The listener's limit changes, the route's does not.
    write(gw, dict(gw.cfg, listeners=[dict(gw.cfg["listeners"][0], rate_limit=listener_limit(4))]))
    reload_to(gw, successors, 2)
    assert wait_until(lambda: not process_alive(successors[0]), timeout=wait_s(20))
    assert [m.group(1) for m in TOOK_OVER_KEYS.finditer(gw.logs)][-1] == "1", gw.logs[-2000:]
    assert http_get(gw.port, "/x").status == 200
    assert http_get(gw.port, "/limited/c").status == 429
    assert u.stats()["requests"] == 4
