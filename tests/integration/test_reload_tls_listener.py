"""Reload (POST /admin/reload, SIGHUP) crossed with TLS listeners: certificate files replaced on
disk are what the successor serves, a broken key file keeps the running process and its
certificate, and an idle plain-HTTP keep-alive connection is not served as HTTPS by a successor
whose listener now has `tls`."""
import os
import shutil
import signal

import pytest
from conftest import Conn, NoResponse, make_config, wait_s, wait_until
from test_reload_upgrade import admin_reload, successors, wait_for_successor, write  # noqa: F401
from tls_support import client_context, get, make_certs, tls_connect


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("certs")))


def served_name(port, certs):
    """The common name of the certificate the listener presents (no SNI check), after a GET."""
    context = client_context(certs)
    context.check_hostname = False
    with tls_connect(port, context) as sock:
        subject = dict(field[0] for field in sock.getpeercert()["subject"])
        assert get(sock, "/echo")[0] == 200
    return subject["commonName"]


def test_replaced_certificate_files_are_served_and_a_broken_key_keeps_the_old_one(
        gateway, upstream, certs, successors, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(certs("server.crt"), live / "site.crt")
    shutil.copy(certs("server.key"), live / "site.key")
    tls = {"certificates": [{"cert": str(live / "site.crt"), "key": str(live / "site.key")}]}
    gw = successors.watch(gateway(make_config({"app": [upstream("u1")]}, listener={"tls": tls})))
    assert served_name(gw.port, certs) == "localhost"

    shutil.copy(certs("wild.crt"), live / "site.crt")  # the certificate is renewed on disk
    shutil.copy(certs("wild.key"), live / "site.key")
    assert admin_reload(gw).status == 202
    successor = wait_for_successor(gw, 1)
    successors.append(successor)
    assert gw.proc.wait(timeout=wait_s(20)) == 0
    assert served_name(gw.port, certs) == "other.test"

    (live / "site.key").write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    os.kill(successor, signal.SIGHUP)
    assert wait_until(lambda: "the running configuration stays" in gw.logs, timeout=wait_s(10))
    assert "cannot load the private key" in gw.logs, gw.logs[-2000:]
    assert served_name(gw.port, certs) == "other.test"

    shutil.copy(certs("server.key"), live / "site.key")  # a key of another certificate
    r = gw.admin_request("POST", "/admin/reload")
    assert r.status == 400 and "does not match the certificate" in r.body.decode(), r
    assert served_name(gw.port, certs) == "other.test"


def test_an_idle_plain_connection_is_not_served_as_https_when_the_listener_gains_tls(
        gateway, upstream, certs, successors):
    # Before: the successor took the plain connection over and served its next request with
    # X-Forwarded-Proto: https (and the listener's HTTPS-only headers) over plaintext.
    u = upstream("u1")
    cfg = make_config({"app": [u]})
    gw = successors.watch(gateway(cfg))
    idle = Conn(gw.port)
    assert idle.get("/echo").status == 200
    tls = {"certificates": [{"cert": certs("server.crt"), "key": certs("server.key")}]}
    write(gw, dict(cfg, listeners=[dict(cfg["listeners"][0], tls=tls)]))
    assert admin_reload(gw).status == 202
    successors.append(wait_for_successor(gw, 1))
    assert gw.proc.wait(timeout=wait_s(20)) == 0
    with pytest.raises((NoResponse, OSError)):
        idle.get("/echo")  # closed idle, as any keep-alive connection may be
    idle.close()
    assert u.stats()["requests"] == 1
    assert wait_until(lambda: "took over 0 idle connection(s)" in gw.logs), gw.logs[-2000:]
    assert served_name(gw.port, certs) == "localhost"
