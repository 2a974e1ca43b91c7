"""TLS to upstream servers (upstream key `tls`): verification against a CA, the reasons a
handshake fails (expired certificate, wrong host) in the log with a 502, verify: false, client
certificates, keep-alive pools of TLS connections, session resumption, health checks over TLS,
large bodies both ways. Certificates are made at test time with the openssl CLI; the upstream is
upstream_server.py serving HTTPS (--tls-cert)."""
import http.client
import os
import ssl
import subprocess
import time

import pytest

from conftest import Conn, build_request, make_config, run_cli, start_upstream, wait_s, wait_until


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def new_key_and_csr(d, name, cn):
    key, csr = os.path.join(d, name + ".key"), os.path.join(d, name + ".csr")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
    return key, csr


def sign(d, name, csr, ca, days, san):
    """A certificate for csr signed by ca (days may be negative: already expired)."""
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san if san else "basicConstraints=CA:FALSE\n")
    pem = os.path.join(d, name + ".pem")
    openssl("x509", "-req", "-in", csr, "-CA", ca["pem"], "-CAkey", ca["key"], "-CAcreateserial",
            "-out", pem, "-days", str(days), "-extfile", ext)
    return pem


def make_ca(d, name):
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", pem, "-subj", "/CN=" + name, "-days", "2")
    return {"key": key, "pem": pem}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    ca, client_ca, other_ca = make_ca(d, "ca"), make_ca(d, "client-ca"), make_ca(d, "other-ca")
    out = {"dir": d, "ca": ca["pem"], "client_ca": client_ca["pem"]}
    key, csr = new_key_and_csr(d, "server", "upstream.test")
    out["server"] = (sign(d, "server", csr, ca, 2, "DNS:upstream.test,IP:127.0.0.1"), key)
    out["expired"] = (sign(d, "expired", csr, ca, -1, "DNS:upstream.test,IP:127.0.0.1"), key)
    out["untrusted"] = (sign(d, "untrusted", csr, other_ca, 2, "DNS:upstream.test,IP:127.0.0.1"), key)
    ckey, ccsr = new_key_and_csr(d, "client", "scalegate")
    out["client"] = (sign(d, "client", ccsr, client_ca, 2, None), ckey)
    return out


@pytest.fixture
def tls_upstream():
    started = []

    def make(name, cert_and_key, client_ca=None, extra=()):
        args = ["--tls-cert", cert_and_key[0], "--tls-key", cert_and_key[1]] + list(extra)
        if client_ca:
            args += ["--tls-client-ca", client_ca]
        u = start_upstream(name, extra_args=args)
        started.append(u)
        return u

    yield make
    for u in started:
        u.kill()


def tls_stats(u, certs, client=False):
    """The upstream's /stats over TLS (not counted as traffic by it; its certificate may be
    expired, so it is not checked)."""
    context = ssl.create_default_context(cafile=certs["ca"])
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client:
        context.load_cert_chain(*certs["client"])
    conn = http.client.HTTPSConnection("127.0.0.1", u.port, context=context, timeout=10)
    try:
        conn.request("GET", "/stats")
        import json
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def tls_config(u, tls, **opts):
    opts["tls"] = tls
    return make_config({"secure": [u]}, workers=1, upstream_opts={"secure": opts})


def handshakes(gw, result):
    return gw.metric("scalegate_upstream_tls_handshakes_total", upstream="secure", result=result)


def test_trusted_ca_gives_200_and_one_pooled_connection_carries_every_request(
        certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["server"])
    gw = gateway(tls_config(u, {"ca": certs["ca"]}))
    for i in range(10):
        r = gw.get("/echo/%d" % i)  # a new client connection each time; one upstream connection
        assert r.status == 200, r
        assert r.header("X-Upstream") == "s"
    st = tls_stats(u, certs)
    assert st["requests"] == 10 and st["connections"] == 1, st
    assert handshakes(gw, "full") == 1
    assert handshakes(gw, "failed") == 0


def test_sni_names_the_host_to_check(certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["server"])
    gw = gateway(tls_config(u, {"ca": certs["ca"], "sni": "upstream.test"}))
    r = gw.get("/echo")
    assert r.status == 200, r


def test_expired_certificate_is_a_502_with_the_reason_in_the_log(certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["expired"])
    gw = gateway(tls_config(u, {"ca": certs["ca"]}))
    r = gw.get("/echo")
    assert r.status == 502, r
    assert wait_until(lambda: "certificate has expired" in gw.logs, timeout=5), gw.logs[-2000:]
    assert "connect failed (tls)" in gw.logs
    assert handshakes(gw, "failed") >= 1
    assert tls_stats(u, certs)["requests"] == 0


def test_wrong_host_is_a_502_with_the_reason_in_the_log(certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["server"])
    gw = gateway(tls_config(u, {"ca": certs["ca"], "sni": "other.test"}))
    r = gw.get("/echo")
    assert r.status == 502, r
    assert wait_until(lambda: "hostname mismatch" in gw.logs, timeout=5), gw.logs[-2000:]


def test_untrusted_issuer_is_a_502_and_verify_false_accepts_it(certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["untrusted"])
    gw = gateway(tls_config(u, {"ca": certs["ca"]}))
    assert gw.get("/echo").status == 502
    assert wait_until(lambda: "unable to get local issuer certificate" in gw.logs, timeout=5), \
        gw.logs[-2000:]
    gw2 = gateway(tls_config(u, {"verify": False}))
    r = gw2.get("/echo")
    assert r.status == 200, r


def test_client_certificate_required_by_the_upstream(certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["server"], client_ca=certs["client_ca"])
    with_cert = gateway(tls_config(u, {"ca": certs["ca"], "client_cert": {
        "cert": certs["client"][0], "key": certs["client"][1]}}))
    r = with_cert.get("/echo")
    assert r.status == 200, r
    without = gateway(tls_config(u, {"ca": certs["ca"]}))
    r = without.get("/echo")
    assert r.status == 502, r
    # TLS 1.3: the server refuses the missing certificate after the client's handshake is done,
    # so the request meets the alert on its first read (a reset, not a failed connect).
    assert tls_stats(u, certs, client=True)["requests"] == 1  # only the one with the certificate
    assert wait_until(lambda: "connection failed (tls)" in without.logs, timeout=5), without.logs


def test_a_reconnect_resumes_the_saved_session(certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["server"])
    gw = gateway(tls_config(u, {"ca": certs["ca"]}, keepalive=0))  # no pooling: a connection each
    for i in range(4):
        assert gw.get("/echo/%d" % i).status == 200
    st = tls_stats(u, certs)
    assert st["connections"] == 4, st
    assert handshakes(gw, "full") == 1
    assert handshakes(gw, "resumed") == 3
    assert st["tls_resumed"] == 3, st


def test_bodies_over_a_megabyte_both_ways(certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["server"])
    cfg = tls_config(u, {"ca": certs["ca"]})
    cfg["listeners"][0]["max_body_size"] = "16MiB"
    gw = gateway(cfg)
    body = os.urandom(3 * 1024 * 1024 + 17)
    with Conn(gw.port, timeout=30) as c:
        r = c.request("POST", "/echo", body=body)
        assert r.status == 200, r
        import hashlib
        assert r.json()["body_len"] == len(body)
        assert r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
        r = c.get("/big?bytes=%d" % (5 * 1024 * 1024))
        assert r.status == 200, r
        assert len(r.body) == 5 * 1024 * 1024
        assert r.body[:20] == b"01234567890123456789"


def test_an_idle_pooled_connection_the_server_closes_is_dropped(certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["server"])
    gw = gateway(tls_config(u, {"ca": certs["ca"]}))
    assert gw.get("/close").status == 200  # the server closes after this response
    for i in range(3):
        assert gw.get("/echo/%d" % i).status == 200
    st = tls_stats(u, certs)
    assert st["connections"] == 2, st


def test_a_missing_ca_file_is_reported_by_check_with_its_position(tmp_path):
    path = tmp_path / "scalegate.yaml"
    path.write_text("listeners:\n  - name: public\n    address: 127.0.0.1:18080\n"
                    "    routes:\n      - match: { prefix: / }\n        upstream: secure\n"
                    "upstreams:\n  secure:\n    tls:\n      ca: /nonexistent/ca.pem\n"
                    "    servers:\n      - address: 127.0.0.1:18443\n")
    result = run_cli(["check", "-c", str(path)])
    assert result.returncode != 0
    assert "scalegate.yaml:10:11" in result.stderr + result.stdout, result
    assert "/nonexistent/ca.pem" in result.stderr + result.stdout


def test_health_checks_speak_tls_keep_a_good_server_up_and_mark_a_broken_one_down(
        certs, tls_upstream, gateway):
    good, broken = tls_upstream("good", certs["server"]), tls_upstream("broken", certs["expired"])
    check = {"type": "http", "path": "/health", "interval": "200ms", "timeout": "150ms",
             "rise": 1, "fall": 2, "expect": [200]}
    cfg = make_config({"secure": [good, broken]}, workers=1,
                      upstream_opts={"secure": {"tls": {"ca": certs["ca"]}, "health_check": check}})
    gw = gateway(cfg)
    assert wait_until(lambda: gw.server_state("secure", broken.address) == "failed_check",
                      timeout=10), gw.server_state("secure", broken.address)
    assert wait_until(lambda: tls_stats(good, certs)["health_hits"] >= 3, timeout=10)
    assert gw.server_state("secure", good.address) == "up"
    assert "certificate has expired" in gw.logs
    for i in range(6):
        r = gw.get("/echo/%d" % i)
        assert r.status == 200 and r.header("X-Upstream") == "good", r


def test_websocket_tunnel_over_upstream_tls(certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["server"])
    gw = gateway(tls_config(u, {"ca": certs["ca"]}))
    with Conn(gw.port) as c:
        c.send(build_request("GET", "/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]))
        r = c.read_head()
        assert r.status == 101, r
        for payload in (b"hello tunnel", os.urandom(1024 * 1024 + 5)):
            c.send(payload)
            got = bytearray(c.buf)
            c.buf.clear()
            deadline = time.monotonic() + wait_s(20)
            while len(got) < len(payload) and time.monotonic() < deadline:
                c.sock.settimeout(max(0.1, deadline - time.monotonic()))
                chunk = c.sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            assert bytes(got) == payload, "echo mismatch (%d of %d bytes)" % (len(got), len(payload))


def test_a_server_that_resets_mid_response_fails_the_request_not_the_gateway(
        certs, tls_upstream, gateway):
    u = tls_upstream("s", certs["server"])
    gw = gateway(tls_config(u, {"ca": certs["ca"]}, response_timeout="5s"))
    with Conn(gw.port, timeout=20) as c:
        c.send(build_request("GET", "/partial?bytes=70000"))
        r = c.read_head()
        assert r.status == 200, r
        time.sleep(0.2)
        u.kill()  # the stalled response is cut
        assert c.wait_closed(timeout=10)
    u2 = tls_upstream("s2", certs["server"])
    gw2 = gateway(tls_config(u2, {"ca": certs["ca"]}))
    assert gw2.get("/echo").status == 200
    assert gw.alive()


def test_a_request_with_a_body_is_retried_on_another_tls_server(certs, tls_upstream, gateway):
    bad = tls_upstream("bad", certs["server"], extra=["--status", "503"])
    good = tls_upstream("good", certs["server"])
    routes = [{"name": "all", "match": {"prefix": "/"}, "upstream": "secure",
               "retries": {"attempts": 2, "on": ["5xx"]}, "retry_non_idempotent": True}]
    cfg = make_config({"secure": [bad, good]}, routes=routes, workers=1,
                      upstream_opts={"secure": {"tls": {"ca": certs["ca"]}}})
    gw = gateway(cfg)
    import hashlib
    for i in range(4):
        body = os.urandom(20000 + i)
        with Conn(gw.port) as c:
            r = c.request("POST", "/echo/%d" % i, body=body)
        assert r.status == 200 and r.header("X-Upstream") == "good", r
        assert r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert tls_stats(bad, certs)["requests"] >= 1  # some tries went there first, then again
