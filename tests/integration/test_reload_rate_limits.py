"""Reload crossed with local rate limits: what serves after a reload (the new configuration in
the same process, or a successor process) takes each limit's keys over when the limit (same
listener and route) is configured the same, so a reload grants no client a fresh burst; a limit
whose configuration changed starts fresh."""
import re

import pytest

from conftest import http_get, make_config
from test_reload_upgrade import HOW, Reloader, successors, write  # noqa: F401

CARRIED_KEYS = re.compile(r"(?:reload: carried|took) over the state of .*, (\d+) rate-limit keys;")


def listener_limit(burst):
    return {"algorithm": "token_bucket", "rate": "2/m", "burst": burst}


def limited_config(upstream):
    routes = [{"name": "limited", "match": {"prefix": "/limited/"}, "upstream": "u1",
               "rate_limit": {"algorithm": "gcra", "rate": "1/m", "burst": 1, "key": "route"}},
              {"name": "default", "match": {"prefix": "/"}, "upstream": "u1"}]
    return make_config({"u1": [upstream]}, routes=routes, listener={"rate_limit": listener_limit(3)})


def carried_keys(gw):
    return [m.group(1) for m in CARRIED_KEYS.finditer(gw.logs)]


@pytest.mark.parametrize("how", HOW)
def test_spent_keys_stay_spent_across_a_reload_and_a_changed_limit_starts_fresh(
        gateway, upstream, successors, how):
    u = upstream("u1")
    gw = gateway(limited_config(u))
    reloads = Reloader(how, gw, successors)
    assert http_get(gw.port, "/limited/a").status == 200  # the route's one request a minute
    assert [http_get(gw.port, "/x").status for _ in range(3)] == [200, 200, 429]

    reloads.reload(admin=True)
    reloads.wait_old_gone()
    # Before: the limiters after a reload started empty, so each client had its burst again.
    assert http_get(gw.port, "/x").status == 429
    assert http_get(gw.port, "/limited/b").status == 429
    assert carried_keys(gw) == ["2"], gw.logs[-2000:]

    # The listener's limit changes, the route's does not.
    write(gw, dict(gw.cfg, listeners=[dict(gw.cfg["listeners"][0], rate_limit=listener_limit(4))]))
    reloads.reload(admin=True)
    reloads.wait_old_gone()
    assert carried_keys(gw) == ["2", "1"], gw.logs[-2000:]
    assert http_get(gw.port, "/x").status == 200
    assert http_get(gw.port, "/limited/c").status == 429
    assert u.stats()["requests"] == 4
