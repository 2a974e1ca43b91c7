"""The gateway's own replies to HEAD carry no body (RFC 9110 9.3.2): the bytes of one would
be read by a keep-alive client as the start of the next response."""
from conftest import Conn, make_config


def test_local_replies_to_head_have_no_body(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "echo", "match": {"prefix": "/echo"}, "upstream": "u1"},
              {"name": "limited", "match": {"prefix": "/limited"}, "upstream": "u1",
               "rate_limit": {"rate": "1/m", "burst": 1}}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    with Conn(gw.port) as c:
        assert c.request("HEAD", "/limited/a").status == 200
        for path, status in [("/nowhere", 404), ("/limited/b", 429)]:
            resp = c.request("HEAD", path)
            assert resp.status == status, resp
            assert int(resp.header("content-length")) > 0, resp  # the GET's length, no bytes
            after = c.get("/echo/after")  # parsed right after the HEAD answer's head
            assert after.status == 200 and after.json()["path"] == "/echo/after", after
