"""X-Forwarded-For and Forwarded (RFC 7239) as the upstream receives them, byte for byte:
one line each, the client's address appended, and Forwarded believed only from the
listener's trusted_proxies."""
import socket
import time

import pytest

from conftest import build_request, free_port, make_config, raw_request as raw_request_waiting_for_close, wait_s
from raw_upstream import RawUpstream, header_lines

OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def raw_request(*args, **kwargs):
    """These tests never look at whether the gateway closed: no wait for it."""
    kwargs.setdefault("close_wait", 0)
    return raw_request_waiting_for_close(*args, **kwargs)


@pytest.fixture
def raw_upstream():
    up = RawUpstream(lambda head: OK_RESPONSE)
    yield up
    up.stop()


def send(port, fields, host="gateway.test"):
    r = raw_request(port, b"GET /x HTTP/1.1\r\nHost: " + host.encode() + b"\r\n" + fields
                    + b"\r\n")
    assert r.status == 200, r


def test_several_forwarded_for_lines_merged_with_client_appended(gateway, raw_upstream):
    gw = gateway(make_config({"app": [raw_upstream.address]}))
    send(gw.port, b"X-Forwarded-For: 192.0.2.1\r\nAccept: */*\r\n"
                  b"x-forwarded-for: 198.51.100.2, 203.0.113.3\r\n")
    head = raw_upstream.heads[0]
    assert header_lines(head, "X-Forwarded-For") == [
        "192.0.2.1, 198.51.100.2, 203.0.113.3, 127.0.0.1"], head


def test_forwarded_from_untrusted_peer_replaced_by_own_element(gateway, raw_upstream):
    gw = gateway(make_config({"app": [raw_upstream.address]}))
    send(gw.port, b"Forwarded: for=192.0.2.1;proto=https\r\nforwarded: for=10.1.1.1\r\n")
    head = raw_upstream.heads[0]
    assert header_lines(head, "Forwarded") == [
        "for=127.0.0.1;host=gateway.test;proto=http"], head
    # Without a Forwarded header from the client, the element is added all the same.
    send(gw.port, b"", host="example.com:8080")
    assert header_lines(raw_upstream.heads[1], "Forwarded") == [
        'for=127.0.0.1;host="example.com:8080";proto=http'], raw_upstream.heads[1]


def test_forwarded_from_trusted_peer_continued(gateway, raw_upstream):
    cfg = make_config({"app": [raw_upstream.address]},
                      listener={"trusted_proxies": ["127.0.0.0/8"]})
    gw = gateway(cfg)
    send(gw.port, b"Forwarded: for=192.0.2.1;proto=https\r\nAccept: */*\r\n"
                  b"Forwarded: for=\"[2001:db8::5]\"\r\n")
    head = raw_upstream.heads[0]
    assert header_lines(head, "Forwarded") == [
        'for=192.0.2.1;proto=https, for="[2001:db8::5]", '
        "for=127.0.0.1;host=gateway.test;proto=http"], head


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_forwarded_for_ipv6_client_is_bracketed_and_quoted(gateway, raw_upstream):
    port = free_port()
    cfg = make_config({"app": [raw_upstream.address]}, listener={"address": "[::1]:%d" % port})
    gw = gateway(cfg, wait=False)
    deadline = time.monotonic() + wait_s(10)
    while True:
        try:
            with socket.create_connection(("::1", port), timeout=0.5):
                break
        except OSError:
            assert gw.alive() and time.monotonic() < deadline, gw.logs[-2000:]
            time.sleep(0.05)
    with socket.create_connection(("::1", port), timeout=wait_s(10)) as s:
        s.sendall(build_request("GET", "/x", [("Connection", "close")]))
        data = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
    assert data.startswith(b"HTTP/1.1 200"), data
    head = raw_upstream.heads[0]
    assert header_lines(head, "Forwarded") == [
        'for="[::1]";host=gateway.test;proto=http'], head
    assert header_lines(head, "X-Forwarded-For") == ["::1"], head
