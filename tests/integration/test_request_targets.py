"""Request targets the routes cannot see as paths: CONNECT is refused (origin-form is not a
CONNECT target, and the gateway does not tunnel), and "OPTIONS *" is answered by the gateway
itself with the methods the host's routes accept."""
from conftest import build_request, make_config, raw_request, run_cli, to_yaml


def test_connect_in_origin_form_is_refused_and_not_forwarded(upstream, gateway):
    u = upstream("u1")
    gw = gateway(make_config({"u1": [u]}))
    status, headers, body, closed = raw_request(gw.port, build_request("CONNECT", "/x"))
    assert status == 400 and closed, (status, headers, body)
    assert gw.metric("scalegate_rejected_requests_total", listener="public", reason="bad_target") == 1
    assert u.stats()["requests"] == 0


def test_connect_in_any_form_is_refused(upstream, gateway):
    u = upstream("u1")
    gw = gateway(make_config({"u1": [u]}))
    for target in ("/x", "example.com:443", "http://example.com/"):
        data = b"CONNECT %s HTTP/1.1\r\nHost: example.com:443\r\n\r\n" % target.encode()
        status, headers, body, closed = raw_request(gw.port, data)
        assert status == 400 and closed, (target, status, headers, body)
    assert u.stats()["requests"] == 0


def test_a_route_listing_connect_is_a_config_error(tmp_path):
    routes = [{"name": "tunnel", "match": {"prefix": "/", "methods": ["GET", "connect"]},
               "upstream": "u1"}]
    cfg = make_config({"u1": ["127.0.0.1:1"]}, routes=routes)
    cfg["listeners"][0]["address"] = "127.0.0.1:1"
    path = tmp_path / "scalegate.yaml"
    path.write_text(to_yaml(cfg) + "\n")
    result = run_cli(["check", "-c", str(path)])
    assert result.returncode == 1, result
    assert ("listeners[0].routes[0].match.methods[1]: CONNECT is not supported (the gateway "
            "does not tunnel CONNECT requests)") in result.stdout + result.stderr


def test_options_asterisk_is_answered_with_the_hosts_methods(upstream, gateway):
    u = upstream("u1")
    routes = [
        {"name": "api-read", "match": {"prefix": "/api", "host": "api.test", "methods": ["GET", "HEAD"]},
         "upstream": "u1"},
        {"name": "api-write", "match": {"prefix": "/api", "host": "api.test", "methods": ["POST"]},
         "upstream": "u1"},
        {"name": "www", "match": {"prefix": "/", "host": "www.test"}, "upstream": "u1"},
    ]
    gw = gateway(make_config({"u1": [u]}, routes=routes))
    resp = raw_request(gw.port, build_request("OPTIONS", "*", host="API.test:8080"), close_wait=0.5)
    assert resp.status == 200 and not resp.closed, resp
    assert resp.header("Allow") == "GET, HEAD, POST", resp
    resp = raw_request(gw.port, build_request("OPTIONS", "*", host="www.test"), close_wait=0)
    assert resp.status == 200 and resp.header("Allow") == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    resp = raw_request(gw.port, build_request("OPTIONS", "*", host="other.test"), close_wait=0)
    assert resp.status == 404, resp
    assert u.stats()["requests"] == 0


def test_options_asterisk_keeps_the_connection(upstream, gateway):
    u = upstream("u1")
    gw = gateway(make_config({"u1": [u]}))
    from conftest import Conn
    with Conn(gw.port) as c:
        resp = c.request("OPTIONS", "*")
        assert resp.status == 200 and resp.header("Allow"), resp
        assert c.get("/echo").status == 200
