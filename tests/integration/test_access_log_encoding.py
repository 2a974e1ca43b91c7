"""The JSON-lines access log stays valid JSON in UTF-8 whatever bytes a client sends. Field
values may carry obs-text (bytes 0x80-0xFF) and request targets may carry quotes and
backslashes; the log writes every byte >= 0x80 as \\u0080-\\u00ff, so a field decodes to the
Latin-1 reading of the bytes received and `.encode("latin-1")` gives them back exactly."""
import json

from conftest import Conn, make_config, wait_until

HOSTILE_IDS = [
    b"\xff\xfe\x80\x81",                # not UTF-8 at all
    b"caf\xc3\xa9-\xe2\x82\xac",       # valid UTF-8 (logged byte by byte as well)
    b"\xc3",                            # a truncated sequence
    b"\xed\xa0\x80",                    # an encoded surrogate (invalid UTF-8)
    b"quote\"back\\slash\ttab",        # JSON specials
]
HOSTILE_PATHS = [b'/echo/"q"', b"/echo/%ff%c3", b"/echo/{}|^`?q=\"\\u0000"]


def read_lines(path):
    try:
        with open(path, "rb") as f:
            return [l for l in f.read().split(b"\n") if l]
    except FileNotFoundError:
        return []


def parse_strict(raw):
    """A line must be UTF-8 and one JSON object."""
    text = raw.decode("utf-8")  # strict: raises on any byte that is not UTF-8
    return json.loads(text)


def request(conn, method, path, request_id):
    head = b"%s %s HTTP/1.1\r\nHost: gateway.test\r\nX-Request-Id: %s\r\n\r\n" % (method, path, request_id)
    conn.send(head)
    return conn.read_response(method.decode())


def test_every_line_is_utf8_json_with_hostile_bytes(upstream, gateway, tmp_path):
    u1 = upstream("u1")
    log_path = str(tmp_path / "access.log")
    routes = [{"name": "echo", "match": {"prefix": "/echo"}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes, access_log={"enabled": True, "path": log_path}))
    sent = []
    with Conn(gw.port) as c:
        for rid in HOSTILE_IDS:
            for path in HOSTILE_PATHS + [b"/nowhere/\"x\""]:  # proxied, and a local 404
                resp = request(c, b"GET", path, rid)
                assert resp.status in (200, 404), resp
                sent.append((path, rid))
        resp = request(c, b"M-S'E!A#R$C%H&*+.^_`|~", b"/echo/method", HOSTILE_IDS[0])
        assert resp.status is not None, resp
        sent.append((b"/echo/method", HOSTILE_IDS[0]))
    lines = wait_until(lambda: (lambda l: l if len(l) >= len(sent) else None)(read_lines(log_path)), timeout=10)
    assert lines and len(lines) == len(sent), "%d log lines for %d requests" % (len(lines or []), len(sent))
    entries = []
    for raw in lines:
        try:
            entries.append(parse_strict(raw))
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError("access log line is not UTF-8 JSON (%s): %r" % (e, raw))
    for entry, (path, rid) in zip(entries, sent):
        assert entry["request_id"].encode("latin-1") == rid, entry
        assert entry["path"].encode("latin-1") == path, entry
    assert entries[-1]["method"] == "M-S'E!A#R$C%H&*+.^_`|~"


def test_rejected_request_line_logs_no_earlier_request(upstream, gateway, tmp_path):
    """A request refused while parsing (400) is logged with empty method and path, not with
    the previous request's on the same connection."""
    u1 = upstream("u1")
    log_path = str(tmp_path / "access.log")
    gw = gateway(make_config({"u1": [u1]}, access_log={"enabled": True, "path": log_path}))
    with Conn(gw.port) as c:
        assert request(c, b"GET", b"/echo/first", b"first-id").status == 200
        c.send(b"GET /echo/second HTTP/1.1\r\nHost: gateway.test\r\nX-Request-Id: \xff\x01\r\n\r\n")
        assert c.read_response().status == 400
    lines = wait_until(lambda: (lambda l: l if len(l) >= 2 else None)(read_lines(log_path)), timeout=10)
    assert lines and len(lines) == 2, lines
    first, rejected = (parse_strict(l) for l in lines)
    assert first["path"] == "/echo/first" and first["request_id"] == "first-id", first
    assert rejected["status"] == 400, rejected
    assert rejected["path"] != "/echo/first" and rejected["request_id"] != first["request_id"], rejected
