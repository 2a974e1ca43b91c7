"""Admin API bearer token (`admin: {token | token_file, public_read}`): every admin endpoint
without a token (401 + WWW-Authenticate), with a wrong one (403) and with the right one (the
endpoint's own answer); refusals change nothing and are counted; public_read opens reads only;
without a token the admin listener may only be on loopback."""
import collections
import json

from conftest import free_port, make_config, metric_value, run_cli, wait_until

TOKEN = "itest-admin-token-0123456789abcdef"
RIGHT = {"Authorization": "Bearer " + TOKEN}
WRONG = {"Authorization": "Bearer " + TOKEN[:-1] + "X"}
QUEUE = "jobs"

Endpoint = collections.namedtuple("Endpoint", "method path body status")

# Every endpoint the admin listener serves, with the status it answers given the right token on
# the gateway admin_gateway() starts. {server} is upstream "pool"'s first server, {queue} the
# queue. Components that add endpoints add rows here; the walk below needs nothing else.
ENDPOINTS = [
    Endpoint("GET", "/metrics", None, 200),
    Endpoint("HEAD", "/metrics", None, 200),
    Endpoint("GET", "/health", None, 200),
    Endpoint("HEAD", "/health", None, 200),
    Endpoint("GET", "/admin/cache", None, 200),
    Endpoint("DELETE", "/admin/cache?prefix=/nothing", None, 200),
    Endpoint("POST", "/admin/cache/warm", None, 202),
    Endpoint("GET", "/admin/queues", None, 200),
    Endpoint("GET", "/admin/queues/{queue}/dead", None, 200),
    Endpoint("DELETE", "/admin/queues/{queue}/dead", None, 200),
    Endpoint("POST", "/admin/queues/{queue}/dead/replay", None, 200),
    Endpoint("POST", "/admin/upstreams/pool/servers/{server}/drain", None, 200),
    Endpoint("POST", "/admin/upstreams/pool/servers/{server}/disable", None, 200),
    Endpoint("POST", "/admin/upstreams/pool/servers/{server}/enable", None, 200),
    Endpoint("PUT", "/admin/upstreams/pool/servers/{server}/weight", {"weight": 3}, 200),
    Endpoint("GET", "/admin/stats?points=5", None, 200),
    Endpoint("GET", "/admin/autoscale", None, 200),
    Endpoint("GET", "/admin/autoscale/dyn", None, 200),
    Endpoint("PUT", "/admin/registry/web/i1", {"address": "127.0.0.1:9"}, 201),
    Endpoint("PUT", "/admin/registry/web/i1/heartbeat", None, 200),
    Endpoint("GET", "/admin/registry", None, 200),
    Endpoint("GET", "/admin/registry/web", None, 200),
    Endpoint("GET", "/admin/registry/web/i1", None, 200),
    Endpoint("DELETE", "/admin/registry/web/i1", None, 200),
    Endpoint("PUT", "/admin/upstreams/dyn/servers/127.0.0.1:10", {"weight": 2}, 201),
    Endpoint("GET", "/admin/upstreams/dyn/servers", None, 200),
    Endpoint("DELETE", "/admin/upstreams/dyn/servers/127.0.0.1:10", None, 202),
    # POST would start a reload (test_reload_upgrade.py): the method check is behind auth too.
    Endpoint("GET", "/admin/reload", None, 405),
    Endpoint("GET", "/nowhere", None, 404),
]

READS = ("GET", "HEAD")


def admin_gateway(upstream, gateway, tmp_path, **admin):
    """A gateway with a cached route that warms one URL, an async route with a queue, an
    upstream "dyn" fed by the registry's service "web" and autoscaled (advice), and an admin
    listener with `admin` keys (address filled in)."""
    u = upstream("a")
    routes = [
        {"name": "orders", "match": {"prefix": "/orders", "methods": ["POST"]}, "upstream": "pool",
         "async": {"queue": QUEUE}},
        {"name": "cached", "match": {"prefix": "/"}, "upstream": "pool",
         "cache": {"default_ttl": "300s", "warm": {"urls": ["/text/warm?bytes=5"]}}},
    ]
    admin = dict(admin)
    admin["address"] = "127.0.0.1:%d" % free_port()
    cfg = make_config({"pool": [u]}, routes=routes, queues={QUEUE: {"path": str(tmp_path / "q.db")}},
                      admin=admin)
    # run-time servers from the registry, with autoscaling advice
    cfg["upstreams"]["dyn"] = {"discovery": {"registry": "web"}, "servers": [{"address": u.address}],
                               "autoscale": {"max": 3, "target": {"rps_per_server": 5}}}
    return u, gateway(cfg)


def call(gw, endpoint, server, headers=None):
    path = endpoint.path.format(server=server, queue=QUEUE)
    body = json.dumps(endpoint.body) if endpoint.body is not None else None
    return gw.admin_request(endpoint.method, path, body=body, headers=headers)


def metrics(gw):
    r = gw.admin_request("GET", "/metrics", headers=RIGHT)
    assert r.status == 200, r
    return r.body.decode()


def check_refusal(r, status, method):
    """A 401/403 refusal: JSON error body (none for HEAD), the challenge on 401 only."""
    assert r.status == status, r
    challenge = r.header("WWW-Authenticate")
    if status == 401:
        assert challenge == 'Bearer realm="scalegate"', r
    else:
        assert challenge is None, r
    assert "json" in (r.header("Content-Type") or ""), r
    if method != "HEAD":
        assert "error" in r.json(), r


def refusals(gw):
    """scalegate_admin_auth_failures_total for reason missing and wrong."""
    text = metrics(gw)
    return tuple(metric_value(text, "scalegate_admin_auth_failures_total", reason=reason)
                 for reason in ("missing", "wrong"))


def wait_for_startup_warm(gw):
    done = lambda: metric_value(metrics(gw), "scalegate_cache_warm_requests_total") == 1  # noqa: E731
    assert wait_until(done), metrics(gw)


def test_every_endpoint_without_wrong_and_right_token(upstream, gateway, tmp_path):
    u, gw = admin_gateway(upstream, gateway, tmp_path, token=TOKEN)
    wait_for_startup_warm(gw)  # else POST /admin/cache/warm could meet it running (409)
    before = refusals(gw)  # the start-up readiness probe asked /health without a token
    failures = []
    for endpoint in ENDPOINTS:
        for headers, expected in ((None, 401), (WRONG, 403), (RIGHT, endpoint.status)):
            r = call(gw, endpoint, u.address, headers)
            if r.status != expected:
                failures.append("%s %s with %s: %s, expected %s"
                                % (endpoint.method, endpoint.path, headers, r.status, expected))
            elif expected in (401, 403):
                check_refusal(r, expected, endpoint.method)
    assert not failures, "\n".join(failures)
    after = refusals(gw)
    assert (after[0] - before[0], after[1] - before[1]) == (len(ENDPOINTS), len(ENDPOINTS))
    assert TOKEN not in gw.logs


def test_refused_actions_change_nothing(upstream, gateway, tmp_path):
    u, gw = admin_gateway(upstream, gateway, tmp_path, token=TOKEN)
    base = "/admin/upstreams/pool/servers/%s/" % u.address
    for headers in (None, WRONG):
        assert gw.admin_request("POST", base + "drain", headers=headers).status in (401, 403)
        r = gw.admin_request("PUT", base + "weight", body='{"weight": 7}', headers=headers)
        assert r.status in (401, 403)
    r = gw.admin_request("GET", "/health", headers=RIGHT)
    server = r.json()["upstreams"]["pool"]["servers"][0]
    assert server["state"] == "up" and server["weight"] == 1, server
    assert gw.get("/text/x?bytes=3").status == 200


def test_scheme_case_and_spaces_are_accepted(upstream, gateway, tmp_path):
    _, gw = admin_gateway(upstream, gateway, tmp_path, token=TOKEN)
    for value in ("bearer " + TOKEN, "BEARER   " + TOKEN):
        assert gw.admin_request("GET", "/health", headers={"Authorization": value}).status == 200
    for value in ("Basic " + TOKEN, "Bearer", TOKEN):
        r = gw.admin_request("GET", "/health", headers={"Authorization": value})
        check_refusal(r, 401, "GET")


def test_public_read_opens_reads_and_keeps_writes_closed(upstream, gateway, tmp_path):
    u, gw = admin_gateway(upstream, gateway, tmp_path, token=TOKEN, public_read=True)
    wait_for_startup_warm(gw)
    failures = []
    for endpoint in ENDPOINTS:
        if endpoint.method in READS:
            cases = ((None, endpoint.status),)
        else:
            cases = ((None, 401), (WRONG, 403), (RIGHT, endpoint.status))
        for headers, expected in cases:
            r = call(gw, endpoint, u.address, headers)
            if r.status != expected:
                failures.append("%s %s with %s: %s, expected %s"
                                % (endpoint.method, endpoint.path, headers, r.status, expected))
    assert not failures, "\n".join(failures)


def test_token_file_relative_to_the_config(upstream, gateway, tmp_path):
    # The gateway's config is written to tmp_path/gw1/scalegate.yaml; the file sits beside it.
    (tmp_path / "gw1").mkdir()
    (tmp_path / "gw1" / "admin.token").write_text(TOKEN + "\n")
    _, gw = admin_gateway(upstream, gateway, tmp_path, token_file="admin.token")
    assert gw.admin_request("GET", "/health").status == 401
    assert gw.admin_request("GET", "/health", headers=RIGHT).status == 200


def test_dashboard_page_needs_no_token(upstream, gateway, tmp_path):
    _, gw = admin_gateway(upstream, gateway, tmp_path, token=TOKEN)
    # Whatever serves the page answers (404 on a build without it), never a refusal.
    assert gw.admin_request("GET", "/dashboard").status not in (401, 403)
    assert gw.admin_request("GET", "/dashboard/../metrics").status == 401
    assert gw.admin_request("POST", "/dashboard").status == 401


def write_config(tmp_path, admin_yaml):
    port = free_port()
    text = ("listeners:\n  - name: public\n    address: 127.0.0.1:%d\n    routes:\n"
            "      - upstream: pool\nupstreams:\n  pool:\n    servers:\n"
            "      - address: 127.0.0.1:9\nadmin:\n%s" % (port, admin_yaml))
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return str(path)


def test_check_refuses_wildcard_admin_without_token(tmp_path):
    path = write_config(tmp_path, "  address: 0.0.0.0:9901\n")
    for command in ("check", "run"):
        r = run_cli([command, "-c", path])
        assert r.returncode != 0, r
        assert ("%s:11:12: admin.address: 0.0.0.0:9901 is not a loopback address: without "
                "admin.token (or admin.token_file) the admin API may only listen on 127.0.0.0/8 or "
                "[::1]" % path) in r.stderr, r.stderr


def test_check_accepts_wildcard_admin_with_token(tmp_path):
    path = write_config(tmp_path, "  address: 0.0.0.0:9901\n  token: %s\n" % TOKEN)
    r = run_cli(["check", "-c", path])
    assert r.returncode == 0, r.stdout + r.stderr
    assert TOKEN not in r.stdout + r.stderr


def test_check_refuses_short_token(tmp_path):
    path = write_config(tmp_path, "  address: 127.0.0.1:9901\n  token: zq7x9\n")
    r = run_cli(["check", "-c", path])
    assert r.returncode != 0
    assert "admin.token: the token is 5 bytes; an admin token needs at least 16" in r.stderr, r.stderr
    assert "zq7x9" not in r.stderr
