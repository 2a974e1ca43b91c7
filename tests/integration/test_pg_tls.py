"""TLS on both sides of scalegate's PostgreSQL listener, with certificates made by the openssl
command at run time: a CA, a server certificate (SAN IP:127.0.0.1, DNS:localhost), a client
certificate (CN=app), another CA, and a server certificate for the wrong host.

Client side (client_tls): psql, psycopg and asyncpg with sslmode require/verify-full, the `tls`
column of SHOW CLIENTS, plain clients refused by require and accepted by prefer/allow, client
certificates for verify-full, plaintext after the SSLRequest, garbage and a stalled handshake.
Server side (server_tls): a PostgreSQL with ssl=on that accepts only `hostssl` (pg_stat_ssl shows
the proxy's backend encrypted), verify-full with the right CA, a wrong CA and a wrong host, and
require against a server without TLS. Both sides at once: transaction pooling with prepared
statements, a large COPY each way, a cancel."""
import asyncio
import os
import ssl
import subprocess
import threading
import time

import pytest
from conftest import parse_metrics, wait_until

from pg_support import (APP, POOLERS, PostgresServer, error_fields, first_auth_request, pg_server, read_message,  # noqa: F401
                        socket_to, start_pooler, startup_packet, stop_pooler, wait_s)

SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")

_SSL_HBA = """\
local all all trust
hostssl all trustuser 127.0.0.1/32 trust
hostssl all md5user 127.0.0.1/32 md5
hostssl all all 127.0.0.1/32 scram-sha-256
"""


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_cert(cwd, name, subject, ca, san=None):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject,
            "-keyout", name + ".key", "-out", name + ".csr", cwd=cwd)
    ext = name + ".ext"
    with open(os.path.join(cwd, ext), "w") as f:
        f.write("basicConstraints=CA:FALSE\n" + ("subjectAltName=%s\n" % san if san else ""))
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial",
            "-days", "2", "-extfile", ext, "-out", name + ".crt", cwd=cwd)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=%s" % ca, "-keyout", ca + ".key", "-out", ca + ".crt", cwd=d)
    make_cert(d, "server", "/CN=localhost", "ca", "IP:127.0.0.1,DNS:localhost")
    make_cert(d, "wronghost", "/CN=db.example", "ca", "DNS:db.example")
    make_cert(d, "client", "/CN=app", "ca")
    return lambda name: os.path.join(d, name)


@pytest.fixture(scope="module")
def ssl_pg(certs):
    """A PostgreSQL that speaks TLS and accepts TCP clients only over it (hostssl)."""
    server = PostgresServer(settings="ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
                            hba=_SSL_HBA,
                            files={"server.crt": certs("server.crt"), "server.key": certs("server.key"),
                                   "wronghost.crt": certs("wronghost.crt"),
                                   "wronghost.key": certs("wronghost.key")}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway(tmp_path):
    """Factory: gateway(pg, **postgres keys) -> a started scalegate in front of pg."""
    started = []

    def make(pg, **opts):
        g = start_pooler("scalegate", pg, str(tmp_path / ("sg%d" % len(started))), **opts)
        started.append(g)
        return g

    yield make
    for g in started:
        stop_pooler(g)


def client_tls(certs, mode="require", **extra):
    return dict({"cert": certs("server.crt"), "key": certs("server.key"), "mode": mode}, **extra)


def tls_of(gw, section, user="app"):
    """The tls column of SHOW CLIENTS/SERVERS for `user`'s rows (the admin's own row left out)."""
    _, rows = gw.admin_rows("SHOW " + section)
    return [row["tls"] for row in rows if row["user"] == user]


def expect_error(exc_info, text):
    """libpq's connection errors carry no SQLSTATE: the text is checked (raw sockets check codes)."""
    assert text in str(exc_info.value), str(exc_info.value)


def plain_startup_error(port):
    """A plain StartupMessage's answer, read on a raw socket: the ErrorResponse's fields."""
    kind, fields, _ = first_auth_request(port, "app")
    assert kind == "E", (kind, fields)
    return fields


# ---------------------------------------------------------------------------
# client side
# ---------------------------------------------------------------------------
def test_require_with_psql_and_psycopg(gateway, pg_server, certs):  # noqa: F811
    gw = gateway(pg_server, client_tls=client_tls(certs))
    r = gw.psql("SELECT 1", dbname="dbname=app sslmode=require")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    r = gw.psql("SELECT 2", dbname="dbname=app sslmode=verify-full sslrootcert=%s" % certs("ca.crt"))
    assert r.returncode == 0 and r.stdout.strip() == "2", r.stderr
    with gw.connect(sslmode="verify-full", sslrootcert=certs("ca.crt")) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 40 + 2").fetchone()[0] == 42
        tls = tls_of(gw, "CLIENTS")
        assert len(tls) == 1 and tls[0].startswith("TLSv1.3/TLS_"), tls
    # localhost: the certificate's DNS name.
    import psycopg
    with psycopg.connect(host="localhost", port=gw.port, user=APP[0], password=APP[1], dbname="app",
                         sslmode="verify-full", sslrootcert=certs("ca.crt")) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    # A plain client gets PgBouncer's refusal.
    with pytest.raises(psycopg.OperationalError) as exc_info:
        gw.connect(sslmode="disable")
    expect_error(exc_info, "SSL required")
    assert plain_startup_error(gw.port)["C"] == "28000"
    # Another CA: the client refuses the proxy.
    with pytest.raises(psycopg.OperationalError) as exc_info:
        gw.connect(sslmode="verify-ca", sslrootcert=certs("other-ca.crt"))
    assert "certificate verify failed" in str(exc_info.value)
    assert gw.connect(sslmode="require").execute("SELECT 1").fetchone()[0] == 1


def test_prefer_and_allow_serve_plain_clients_too(gateway, pg_server, certs):  # noqa: F811
    for mode in ("prefer", "allow"):
        gw = gateway(pg_server, client_tls=client_tls(certs, mode))
        with gw.connect(sslmode="disable") as plain:
            assert not plain.pgconn.ssl_in_use
            assert plain.execute("SELECT 1").fetchone()[0] == 1
            assert tls_of(gw, "CLIENTS") == [""]
        with gw.connect(sslmode="prefer") as encrypted:
            assert encrypted.pgconn.ssl_in_use
            assert encrypted.execute("SELECT 1").fetchone()[0] == 1


def test_without_client_tls_an_ssl_request_gets_n(gateway, pg_server):  # noqa: F811
    gw = gateway(pg_server)
    with socket_to(gw.port) as s:
        s.sendall(SSL_REQUEST)
        assert s.recv(1) == b"N"
    with gw.connect(sslmode="prefer") as conn:
        assert not conn.pgconn.ssl_in_use


def test_verify_full_wants_a_client_certificate(gateway, pg_server, certs):  # noqa: F811
    import psycopg
    gw = gateway(pg_server, client_tls=client_tls(certs, "verify-full", ca=certs("ca.crt")))
    with gw.connect(sslmode="verify-full", sslrootcert=certs("ca.crt"), sslcert=certs("client.crt"),
                    sslkey=certs("client.key")) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    with pytest.raises(psycopg.OperationalError):
        gw.connect(sslmode="require", sslcert="/nonexistent/client.crt", sslkey="/nonexistent/client.key")
    with pytest.raises(psycopg.OperationalError) as exc_info:
        gw.connect(sslmode="disable")
    expect_error(exc_info, "SSL required")


def test_plaintext_after_the_ssl_request_is_refused(gateway, pg_server, certs):  # noqa: F811
    gw = gateway(pg_server, client_tls=client_tls(certs), auth="trust")
    with socket_to(gw.port) as s:
        s.sendall(SSL_REQUEST + startup_packet("app", "app"))  # CVE-2021-23214: injected plaintext
        kind, payload = read_message(s)
        assert kind == b"E"
        fields = error_fields(payload)
        assert fields["C"] == "08P01" and "unencrypted data after SSL request" in fields["M"]
        assert s.recv(1) == b""
    assert gw.connect(sslmode="require").execute("SELECT 1").fetchone()[0] == 1


def test_garbage_instead_of_a_client_hello_closes(gateway, pg_server, certs):  # noqa: F811
    gw = gateway(pg_server, client_tls=client_tls(certs), auth="trust")
    with gw.connect(sslmode="require") as bystander:
        for _ in range(3):
            with socket_to(gw.port) as s:
                s.sendall(SSL_REQUEST)
                assert s.recv(1) == b"S"
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
                s.settimeout(wait_s(5))
                data = b""
                while True:
                    try:
                        chunk = s.recv(4096)  # perhaps a TLS alert, then the close
                    except ConnectionResetError:  # closed with our garbage unread
                        break
                    if not chunk:
                        break
                    data += chunk
                assert not data.startswith(b"E"), data
        assert bystander.execute("SELECT 1").fetchone()[0] == 1
    assert gw.connect(sslmode="require").execute("SELECT 1").fetchone()[0] == 1
    assert "TLS handshake failed" in gw.logs
    failures = [v for name, _, v in parse_metrics(gw.metrics_text())
                if name == "scalegate_pg_tls_handshake_failures_total"]
    assert failures == [3.0]


def test_stalled_handshake_ends_at_client_login_timeout(gateway, pg_server, certs):  # noqa: F811
    gw = gateway(pg_server, client_tls=client_tls(certs), auth="trust", client_login_timeout="1s")
    with socket_to(gw.port, timeout=10) as s:
        s.sendall(SSL_REQUEST)
        assert s.recv(1) == b"S"
        started = time.monotonic()
        s.settimeout(wait_s(10))
        assert s.recv(1) == b""
        assert time.monotonic() - started < wait_s(8)
    assert gw.connect(sslmode="require").execute("SELECT 1").fetchone()[0] == 1


# ---------------------------------------------------------------------------
# server side
# ---------------------------------------------------------------------------
def backend_ssl(conn):
    return conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()


def test_server_tls_require_reaches_a_hostssl_only_server(gateway, ssl_pg):
    gw = gateway(ssl_pg, server_tls="require")
    with gw.connect() as conn:
        used, version = backend_ssl(conn)
        assert used is True and version.startswith("TLSv1.")
        tls = tls_of(gw, "SERVERS")
        assert len(tls) == 1 and tls[0].startswith("TLSv1.3/"), tls
    r = gw.psql("SELECT count(*) FROM items")
    assert r.returncode == 0, r.stderr


def test_server_tls_prefer_falls_back_to_plain(gateway, pg_server):  # noqa: F811
    gw = gateway(pg_server, server_tls="prefer")
    with gw.connect() as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is False
        assert tls_of(gw, "SERVERS") == [""]


def test_server_tls_require_against_a_server_without_tls(gateway, pg_server):  # noqa: F811
    import psycopg
    gw = gateway(pg_server, server_tls="require")
    with pytest.raises(psycopg.OperationalError) as exc_info:
        gw.connect()
    expect_error(exc_info, "does not support TLS")


def test_server_tls_verify_full(gateway, ssl_pg, certs):
    import psycopg
    gw = gateway(ssl_pg, server_tls={"mode": "verify-full", "ca": certs("other-ca.crt")})
    with pytest.raises(psycopg.OperationalError) as exc_info:
        gw.connect()
    expect_error(exc_info, "certificate")
    assert gw.admin_rows("SHOW VERSION")[1], "the gateway keeps serving"
    # RELOAD reads the file again: the right CA takes effect for new connections.
    gw.reconfigure(server_tls={"mode": "verify-full", "ca": certs("ca.crt")})
    assert gw.admin_psql("RELOAD").returncode == 0
    with gw.connect() as conn:
        assert backend_ssl(conn)[0] is True
    # The server now shows a certificate for another host: verify-full refuses it, verify-ca not.
    ssl_pg.sql("ALTER SYSTEM SET ssl_cert_file = 'wronghost.crt';"
               "ALTER SYSTEM SET ssl_key_file = 'wronghost.key'; SELECT pg_reload_conf();", db="postgres")
    try:
        time.sleep(0.5)
        assert gw.admin_psql("RECONNECT").returncode == 0
        wait_until(lambda: not tls_of(gw, "SERVERS"), timeout=wait_s(10))
        # The pool knows its server's parameters: the client logs in and its query gets the error.
        with gw.connect() as conn:
            with pytest.raises(psycopg.OperationalError) as exc_info:
                conn.execute("SELECT 1")
            expect_error(exc_info, "IP address mismatch")
        gw.reconfigure(server_tls={"mode": "verify-ca", "ca": certs("ca.crt")})
        assert gw.admin_psql("RELOAD").returncode == 0
        with gw.connect() as conn:
            assert backend_ssl(conn)[0] is True
    finally:
        ssl_pg.sql("ALTER SYSTEM RESET ssl_cert_file; ALTER SYSTEM RESET ssl_key_file; SELECT pg_reload_conf();",
                   db="postgres")
        time.sleep(0.5)


def test_reload_that_changes_server_tls_replaces_the_servers(gateway, ssl_pg, certs):
    gw = gateway(ssl_pg, server_tls="require", pool_size=1)
    with gw.connect(autocommit=True) as conn:
        before = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == before  # the same server
        gw.reconfigure(server_tls={"mode": "verify-full", "ca": certs("ca.crt")})
        assert gw.admin_psql("RELOAD").returncode == 0
        after = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert after != before
        assert backend_ssl(conn)[0] is True


# ---------------------------------------------------------------------------
# both sides
# ---------------------------------------------------------------------------
@pytest.fixture
def both_sides(gateway, ssl_pg, certs):
    return gateway(ssl_pg, client_tls=client_tls(certs), pool_mode="transaction", pool_size=2,
                   server_tls={"mode": "verify-full", "ca": certs("ca.crt")})


def test_transaction_pooling_with_prepared_statements(both_sides, certs):
    conns = [both_sides.connect(sslmode="verify-full", sslrootcert=certs("ca.crt"), prepare_threshold=0,
                                autocommit=True) for _ in range(4)]
    try:
        for i in range(20):
            for n, conn in enumerate(conns):
                value = conn.execute("SELECT %s::int * 2 AS v", (i * 10 + n,)).fetchone()[0]
                assert value == (i * 10 + n) * 2
                with conn.transaction():
                    conn.execute("SELECT %s::text || 'x'", ("a",)).fetchone()
                    assert backend_ssl(conn)[0] is True
    finally:
        for conn in conns:
            conn.close()

    async def with_asyncpg():
        context = ssl.create_default_context(cafile=certs("ca.crt"))
        conn = await both_sides.aconnect(ssl=context)
        try:
            statement = await conn.prepare("SELECT $1::int + 1")
            for i in range(20):
                assert await statement.fetchval(i) == i + 1
            assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
        finally:
            await conn.close()

    asyncio.run(with_asyncpg())


def test_large_copy_both_ways(both_sides):
    rows = 200_000
    line = "x" * 90
    with both_sides.connect(sslmode="require") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS tls_copy (id int, body text)")
        conn.execute("TRUNCATE tls_copy")
        with conn.cursor().copy("COPY tls_copy FROM STDIN") as copy:
            for i in range(rows):
                copy.write("%d\t%s\n" % (i, line))
        conn.commit()
        assert conn.execute("SELECT count(*), sum(id) FROM tls_copy").fetchone() == (rows, rows * (rows - 1) // 2)
        received = 0
        count = 0
        with conn.cursor().copy("COPY tls_copy TO STDOUT") as copy:
            for block in copy:
                received += len(block)
                count += bytes(block).count(b"\n")
        assert count == rows
        assert received > rows * 90
        conn.execute("DROP TABLE tls_copy")
        conn.commit()


def test_cancel_over_tls(both_sides):
    import psycopg
    with both_sides.connect(sslmode="require", autocommit=True) as conn:
        result = {}

        def run():
            try:
                conn.execute("SELECT pg_sleep(30)")
                result["v"] = "finished"
            except psycopg.errors.QueryCanceled:
                result["v"] = "cancelled"

        worker = threading.Thread(target=run)
        started = time.monotonic()
        worker.start()
        time.sleep(0.5)
        conn.cancel()
        worker.join(wait_s(20))
        assert result.get("v") == "cancelled"
        assert time.monotonic() - started < wait_s(15)
        assert conn.execute("SELECT 1").fetchone()[0] == 1


# ---------------------------------------------------------------------------
# raw TLS clients: a slow reader and a cancel request sent inside TLS
# ---------------------------------------------------------------------------
def tls_socket(port):
    """A socket to the proxy after SSLRequest, 'S' and the handshake (the certificate unchecked)."""
    raw = socket_to(port, timeout=10)
    raw.sendall(SSL_REQUEST)
    assert raw.recv(1) == b"S"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(raw)


def tls_login(port, user="app"):
    """Logs in over TLS (trust); returns (socket, (cancel pid, cancel secret))."""
    s = tls_socket(port)
    s.sendall(startup_packet(user, "app"))
    key = None
    while True:
        kind, payload = read_message(s)
        assert kind != b"E", error_fields(payload)
        if kind == b"K":
            key = payload[:8]
        if kind == b"Z":
            return s, key


def query_message(sql):
    body = sql.encode() + b"\0"
    return b"Q" + (len(body) + 4).to_bytes(4, "big") + body


@pytest.fixture
def trusting_both_sides(gateway, ssl_pg, certs):
    return gateway(ssl_pg, client_tls=client_tls(certs), auth="trust", pool_size=2,
                   server_tls={"mode": "verify-full", "ca": certs("ca.crt")})


def test_slow_reader_of_a_large_result(trusting_both_sides):
    """The client reads nothing for a while: the proxy stops reading the server (its TLS session
    may hold decrypted bytes then) and must carry on when the client catches up."""
    s, _ = tls_login(trusting_both_sides.port)
    with s:
        rows = 40_000
        s.sendall(query_message("SELECT g, repeat('y', 500) FROM generate_series(1, %d) g" % rows))
        time.sleep(1.0)
        s.settimeout(wait_s(30))
        count = 0
        while True:
            kind, payload = read_message(s)
            assert kind != b"E", error_fields(payload)
            if kind == b"D":
                count += 1
            if kind == b"Z":
                break
        assert count == rows
        s.sendall(query_message("SELECT 1"))
        assert read_message(s)[0] == b"T"


def test_cancel_request_inside_tls(trusting_both_sides):
    s, key = tls_login(trusting_both_sides.port)
    with s:
        s.sendall(query_message("SELECT pg_sleep(30)"))
        time.sleep(0.5)
        with tls_socket(trusting_both_sides.port) as c:
            c.sendall((16).to_bytes(4, "big") + (80877102).to_bytes(4, "big") + key)
            assert c.recv(1) == b""
        s.settimeout(wait_s(15))
        fields = None
        while True:
            kind, payload = read_message(s)
            if kind == b"E":
                fields = error_fields(payload)
            if kind == b"Z":
                break
        assert fields is not None and fields["C"] == "57014", fields


def test_auth_query_lookup_over_tls_on_both_sides(ssl_pg, certs, tmp_path):
    """auth_query × TLS: a client that logs in over TLS and is not in users_file is looked up on
    a TLS server connection of the auth pool, then its own pool logs in to the hostssl-only server
    with the looked-up verifier (SCRAM pass-through) over TLS."""
    ssl_pg.sql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lookup') THEN "
               "CREATE ROLE lookup LOGIN PASSWORD 'lookup_pw'; END IF; END $$;"
               "GRANT pg_read_all_settings TO lookup;", db="postgres")
    ssl_pg.sql("CREATE SCHEMA IF NOT EXISTS lk; GRANT USAGE ON SCHEMA lk TO lookup;"
               "CREATE OR REPLACE FUNCTION lk.get_auth(p text) RETURNS TABLE(usename name, passwd text) "
               "LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS "
               "$$ SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = p $$;"
               "REVOKE ALL ON FUNCTION lk.get_auth(text) FROM PUBLIC;"
               "GRANT EXECUTE ON FUNCTION lk.get_auth(text) TO lookup;", db="app")
    g = POOLERS["scalegate"](
        ssl_pg, str(tmp_path / "sg"), users={"lookup": "lookup_pw", "admin": "admin_pw"},
        client_tls=client_tls(certs), server_tls={"mode": "verify-full", "ca": certs("ca.crt")})
    g.cfg["postgres"]["auth"].update(auth_user="lookup", auth_query="SELECT usename, passwd FROM lk.get_auth($1)")
    try:
        g.start()
        with g.connect(sslmode="verify-full", sslrootcert=certs("ca.crt"), autocommit=True) as conn:
            for i in range(3):
                assert conn.execute("SELECT current_user, %s::int", (i,)).fetchone() == ("app", i)
            assert backend_ssl(conn)[0] is True
        assert all(t.startswith("TLSv1.") for t in tls_of(g, "SERVERS", user="lookup")), tls_of(g, "SERVERS", "lookup")
        with pytest.raises(Exception, match="authentication failed"):
            g.connect(password="wrong", sslmode="verify-full", sslrootcert=certs("ca.crt"))
    finally:
        stop_pooler(g)
