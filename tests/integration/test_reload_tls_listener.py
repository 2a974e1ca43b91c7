"""Reload (POST /admin/reload, SIGHUP) crossed with TLS listeners: certificate files replaced on
disk are what serves after the reload (the new configuration in the same process, or a
successor process), a broken key file keeps the running configuration and its certificate, and
an idle plain-HTTP keep-alive connection is not served as HTTPS when its listener now has `tls`
(in-process: it is not moved to the new configuration, and closed idle)."""
import os
import shutil
import signal

import pytest
from conftest import Conn, NoResponse, make_config, wait_until
from test_reload_upgrade import HOW, Reloader, successors, write  # noqa: F401
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


@pytest.mark.parametrize("how", HOW)
def test_replaced_certificate_files_are_served_and_a_broken_key_keeps_the_old_one(
        gateway, upstream, certs, successors, tmp_path, how):
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(certs("server.crt"), live / "site.crt")
    shutil.copy(certs("server.key"), live / "site.key")
    tls = {"certificates": [{"cert": str(live / "site.crt"), "key": str(live / "site.key")}]}
    gw = gateway(make_config({"app": [upstream("u1")]}, listener={"tls": tls}))
    reloads = Reloader(how, gw, successors)
    assert served_name(gw.port, certs) == "localhost"

    shutil.copy(certs("wild.crt"), live / "site.crt")  # the certificate is renewed on disk
    shutil.copy(certs("wild.key"), live / "site.key")
    reloads.reload(admin=True)
    assert served_name(gw.port, certs) == "other.test"

    (live / "site.key").write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    os.kill(reloads.pid, signal.SIGHUP)
    assert wait_until(lambda: "the running configuration stays" in gw.logs)
    assert "cannot load the private key" in gw.logs, gw.logs[-2000:]
    assert served_name(gw.port, certs) == "other.test"

    shutil.copy(certs("server.key"), live / "site.key")  # a key of another certificate
    r = gw.admin_request("POST", "/admin/reload")
    assert r.status == 400 and "does not match the certificate" in r.body.decode(), r
    assert served_name(gw.port, certs) == "other.test"
    assert gw.metric("scalegate_reloads_total", result="invalid_config") == 1  # the SIGHUP
    if reloads.in_process:
        assert gw.alive() and gw.metric("scalegate_reloads_total", result="ok") == 1


@pytest.mark.parametrize("how", HOW)
def test_an_idle_plain_connection_is_not_served_as_https_when_the_listener_gains_tls(
        gateway, upstream, certs, successors, how):
    # Before: the successor took the plain connection over and served its next request with
    # X-Forwarded-Proto: https (and the listener's HTTPS-only headers) over plaintext.
    u = upstream("u1")
    cfg = make_config({"app": [u]})
    gw = gateway(cfg)
    reloads = Reloader(how, gw, successors)
    idle = Conn(gw.port)
    assert idle.get("/echo").status == 200
    tls = {"certificates": [{"cert": certs("server.crt"), "key": certs("server.key")}]}
    write(gw, dict(cfg, listeners=[dict(cfg["listeners"][0], tls=tls)]))
    reloads.reload(admin=True)
    reloads.wait_old_gone()
    assert idle.wait_closed(10)  # closed idle, as any keep-alive connection may be
    with pytest.raises((NoResponse, OSError)):
        idle.get("/echo")
    idle.close()
    assert u.stats()["requests"] == 1
    if not reloads.in_process:
        assert wait_until(lambda: "took over 0 idle connection(s)" in gw.logs), gw.logs[-2000:]
    assert served_name(gw.port, certs) == "localhost"
