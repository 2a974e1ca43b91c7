"""Lingering close: when the gateway closes a client connection that still has unread
request bytes (the upstream answered before the upload ended, or the gateway refused the
request mid-body), it shuts its write side and drops what the client still sends instead of
closing at once. A plain close with unread bytes makes the kernel send a reset, which
throws away whatever part of the response has not reached the client yet."""
import socket
import threading
import time

import pytest

from conftest import Conn, make_config, wait_s
from scripted_upstream import ScriptedUpstream

RESPONSE = 300 * 1000
UPLOAD = 32 * 1024 * 1024


def answer_early_and_stall(ex):
    """Answers at once without reading the body, then keeps the connection unread."""
    ex.respond(200, b"r" * RESPONSE)
    time.sleep(wait_s(3))
    return False


def upload_without_reading(port, head, size):
    """Sends head + body from a thread while nothing is read: a small receive buffer keeps
    most of the response in the gateway's send buffer until the upload is over."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(wait_s(20))
    failure = []

    def send():
        try:
            sock.sendall(head)
            sock.sendall(b"x" * size)
        except OSError as e:
            failure.append(e)
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    sender.join(wait_s(30))
    return sock, failure


def read_all(sock):
    data = b""
    try:
        while True:
            piece = sock.recv(65536)
            if not piece:
                return data, None
            data += piece
    except OSError as e:
        return data, e


@pytest.mark.timeout_s(120)
def test_early_response_reaches_a_client_still_uploading(gateway):
    server = ScriptedUpstream(answer_early_and_stall)
    gw = gateway(make_config({"app": [server.address]}, workers=1,
                             listener={"max_body_size": "64MiB"}))
    try:
        for _ in range(3):
            sock, failure = upload_without_reading(
                gw.port, b"PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % UPLOAD,
                UPLOAD)
            with sock:
                data, error = read_all(sock)
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), (head, error)
            assert b"Connection: close" in head
            assert len(body) == RESPONSE, "got %d of %d body bytes (%r, upload: %r)" % (
                len(body), RESPONSE, error, failure)
            assert failure == [], "the upload was cut: %r" % failure
    finally:
        server.stop()


def test_refusal_mid_upload_reaches_the_client(upstream, gateway):
    """413 for a chunked upload over max_body_size, found mid-body: the client gets it whole
    after its upload, and the next connection is served as usual."""
    u = upstream("u1")
    gw = gateway(make_config({"u1": [u]}, workers=1, listener={"max_body_size": "1MiB"}))
    chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
    sock, failure = upload_without_reading(
        gw.port, b"PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2,
        8 * 1024 * 1024)
    with sock:
        data, error = read_all(sock)
    assert data.startswith(b"HTTP/1.1 413 "), (data[:200], error)
    assert failure == []
    with Conn(gw.port) as c:
        assert c.get("/echo").status == 200
