"""Response heads over HTTP/2: the head writer gives an HTTP/2 stream its response head as fields
(no HTTP/1.1 text parsed back), so each kind of head the gateway writes is checked here as the
client sees it: relayed heads (hop-by-hop fields dropped, Content-Length kept, chunked and
read-until-close bodies, HEAD, 204 and 304 without a body), the gateway's own fields (defaults,
X-Request-Id, Set-Cookie of sticky sessions), local answers (404), stored heads (cache HIT), and
an interim 100 Continue (sent as its own HEADERS frame) before the client sends its body."""
import json

import h2.events
from conftest import make_config
from h2_client import H2Client, header

H2C = {"h2c": True}


def h2_gateway(gateway, upstreams, routes=None, listener=None, **top):
    lis = dict(listener or {})
    lis["http2"] = dict(H2C)
    return gateway(make_config(upstreams, routes=routes, listener=lis, **top))


def names(response):
    return [k for k, _ in response["headers"]]


def fetch(port, *requests):
    """Each (path, kwargs) on its own stream of one connection; their responses, in order."""
    c = H2Client(port)
    try:
        sids = [c.request(path, **kw) for path, kw in requests]
        return c.wait(sids)
    finally:
        c.close()


def test_relayed_head_loses_hop_by_hop_fields_and_keeps_the_rest(upstream, gateway):
    gw = h2_gateway(gateway, {"u1": [upstream("u1")]})
    (r,) = fetch(gw.port, ("/headers-out", {}))
    assert r["status"] == 200 and r["ended"] and r["reset"] is None, r
    assert bytes(r["body"]) == b"headers-out\n"
    for hop in ("connection", "keep-alive", "proxy-connection", "x-hop", "transfer-encoding"):
        assert hop not in names(r), r["headers"]
    assert header(r, "x-end") == "1" and header(r, "content-type") == "text/plain"
    assert header(r, "content-length") == "12"
    assert all(k == k.lower() for k in names(r)), r["headers"]
    assert header(r, "x-request-id"), r["headers"]  # the gateway's own field
    # The listener's security defaults, lower-cased, once each.
    assert names(r).count("x-content-type-options") == 1, r["headers"]


def test_bodies_framed_every_way_arrive_whole(upstream, gateway):
    gw = h2_gateway(gateway, {"u1": [upstream("u1")]})
    chunked, until_close, sized = fetch(gw.port, ("/chunked?n=5&size=1000", {}), ("/close", {}),
                                        ("/big?bytes=70000", {}))
    assert chunked["status"] == 200 and len(chunked["body"]) == 5000 and chunked["ended"], chunked
    assert "transfer-encoding" not in names(chunked) and "content-length" not in names(chunked)
    assert until_close["status"] == 200 and bytes(until_close["body"]) == b"read until close body\n" * 10
    assert until_close["ended"] and until_close["reset"] is None, until_close
    assert sized["status"] == 200 and len(sized["body"]) == 70000 and sized["ended"], sized
    assert header(sized, "content-length") == "70000"


def test_heads_without_a_body_end_the_stream(upstream, gateway):
    gw = h2_gateway(gateway, {"u1": [upstream("u1")]})
    head, no_content, not_modified, empty = fetch(
        gw.port, ("/text?bytes=300", {"method": "HEAD"}), ("/status/204", {}), ("/status/304", {}),
        ("/text?bytes=0", {}))
    assert head["status"] == 200 and head["ended"] and head["reset"] is None, head
    assert bytes(head["body"]) == b"" and header(head, "content-length") == "300", head
    assert no_content["status"] == 204 and no_content["ended"] and bytes(no_content["body"]) == b""
    assert not_modified["status"] == 304 and not_modified["ended"] and not_modified["reset"] is None
    # Content-Length: 0 is no body either: the stream ends, it is not reset.
    assert empty["status"] == 200 and empty["ended"] and empty["reset"] is None, empty
    assert bytes(empty["body"]) == b"" and header(empty, "content-length") == "0", empty


def test_local_answer_carries_the_gateway_fields_and_its_body(upstream, gateway):
    routes = [{"name": "api", "match": {"prefix": "/api/"}, "upstream": "u1"}]
    gw = h2_gateway(gateway, {"u1": [upstream("u1")]}, routes=routes,
                    listener={"response_headers": {"X-Frame-Options": "SAMEORIGIN",
                                                   "Referrer-Policy": "no-referrer"}})
    local, relayed = fetch(gw.port, ("/nowhere", {}), ("/api/own-headers", {}))
    assert local["status"] == 404 and local["ended"], local
    assert bytes(local["body"]) == b"404 Not Found\n"
    assert header(local, "content-length") == str(len(b"404 Not Found\n"))
    assert header(local, "server") == "scalegate" and header(local, "x-request-id"), local["headers"]
    assert header(local, "x-frame-options") == "SAMEORIGIN"
    assert header(local, "referrer-policy") == "no-referrer"
    assert "connection" not in names(local), local["headers"]
    # The upstream's own value wins over a default, which is then not added.
    assert relayed["status"] == 200, relayed
    assert names(relayed).count("x-frame-options") == 1 and header(relayed, "x-frame-options") == "SAMEORIGIN"
    assert header(relayed, "referrer-policy") == "no-referrer"


def test_cache_hit_head_is_the_stored_one(upstream, gateway):
    u = upstream("u1")
    routes = [{"name": "cached", "match": {"prefix": "/"}, "upstream": "u1", "cache": {"enabled": True}}]
    gw = h2_gateway(gateway, {"u1": [u]}, routes=routes)
    path = "/text?bytes=1000&cache_control=max-age%3D60"
    (miss,) = fetch(gw.port, (path, {}))
    hit, head_hit = fetch(gw.port, (path, {}), (path, {"method": "HEAD"}))
    assert header(miss, "x-cache") == "MISS" and header(hit, "x-cache") == "HIT", hit["headers"]
    assert bytes(hit["body"]) == bytes(miss["body"]) and header(hit, "content-length") == "1000"
    assert header(hit, "cache-control") == "max-age=60", hit["headers"]
    assert head_hit["status"] == 200 and head_hit["ended"] and bytes(head_hit["body"]) == b""
    assert header(head_hit, "content-length") == "1000", head_hit["headers"]
    assert u.stats()["requests"] == 1


def test_expect_100_continue_gets_an_interim_100_before_the_body(upstream, gateway):
    # RFC 9110 10.1.1: a server that receives 100-continue sends 100 or a final status before
    # it waits for the body (curl over h2 otherwise waits 1 s, its --expect100-timeout).
    gw = h2_gateway(gateway, {"u1": [upstream("u1")]})
    c = H2Client(gw.port, timeout=5)
    try:
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "POST"), (":path", "/echo"), (":scheme", "http"),
                                  (":authority", "g"), ("expect", "100-continue"),
                                  ("content-length", "5")])
        c.flush()
        interim = []
        while not interim:  # the body is not sent yet: a socket timeout (5 s) fails the test
            data = c.sock.recv(65536)
            assert data, "the connection closed"
            interim += [e for e in c.conn.receive_data(data)
                        if isinstance(e, h2.events.InformationalResponseReceived)]
        assert dict(interim[0].headers)[b":status"] == b"100"
        c.responses[sid] = {"status": None, "headers": [], "body": bytearray(), "ended": False,
                            "reset": None}
        c.conn.send_data(sid, b"hello", end_stream=True)
        c.flush()
        (r,) = c.wait([sid])
    finally:
        c.close()
    assert r["status"] == 200 and r["ended"] and r["reset"] is None, r
    assert json.loads(bytes(r["body"]))["body_len"] == 5


def test_sticky_session_cookie_is_a_field(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    routes = [{"name": "r", "match": {"prefix": "/"}, "upstream": "pool"}]
    gw = h2_gateway(gateway, {"pool": [a, b]}, routes=routes,
                    upstream_opts={"pool": {"sticky_cookie": "sg_sticky"}})
    (r,) = fetch(gw.port, ("/echo", {}))
    assert r["status"] == 200, r
    cookie = header(r, "set-cookie")
    assert cookie and cookie.startswith("sg_sticky="), r["headers"]
