"""auth_user + auth_query: users missing from users_file get their secret from PostgreSQL itself.
The users file holds only the lookup user (and the admin); every other login runs
`SELECT usename, passwd FROM pgbouncer.get_auth($1)` as that user through a pooled server (the
name bound as a parameter), then checks the client's password against the SCRAM verifier or
md5 hash returned, and the user's own pool logs in to PostgreSQL with it (SCRAM pass-through,
md5). The lookup user's pool is an ordinary pool: FIFO waiting, SHOW POOLS, PAUSE.

pg_hba of the test cluster: lk_md5 (password stored as md5) logs in with md5, everyone else on
127.0.0.1 with scram-sha-256."""
import asyncio
import os
import socket
import threading
import time

import asyncpg
import pytest

from pg_support import (ADMIN, POOLERS, PostgresServer, free_port, stop_pooler, startup_packet, wait_s,
                        wait_until)

AUTH_USER = ("pgbouncer", "auth_pw")
SCRAM_USER = ("lk_scram", "scram_pw")
MD5_USER = ("lk_md5", "md5_pw2")
GET_AUTH = "SELECT usename, passwd FROM pgbouncer.get_auth($1)"

_ROLES_SQL = """
CREATE ROLE pgbouncer LOGIN PASSWORD 'auth_pw';
CREATE ROLE lk_scram LOGIN PASSWORD 'scram_pw';
CREATE ROLE lk_changing LOGIN PASSWORD 'first_pw';
CREATE ROLE lk_nopw LOGIN;
SET password_encryption = 'md5';
CREATE ROLE lk_md5 LOGIN PASSWORD 'md5_pw2';
"""

# The recommended setup: a SECURITY DEFINER function owned by a superuser, callable only by the
# lookup user, so that user needs no access to pg_shadow itself.
_FUNCTION_SQL = """
CREATE SCHEMA pgbouncer;
GRANT USAGE ON SCHEMA pgbouncer TO pgbouncer;
CREATE FUNCTION pgbouncer.get_auth(p_usename text) RETURNS TABLE(usename name, passwd text)
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = p_usename $$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO pgbouncer;
CREATE FUNCTION pgbouncer.get_auth_slowly(p_usename text) RETURNS TABLE(usename name, passwd text)
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT usename, passwd FROM pg_catalog.pg_shadow, pg_sleep(1) WHERE usename = p_usename $$;
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth_slowly(text) TO pgbouncer;
"""


@pytest.fixture(scope="module")
def pg():
    server = PostgresServer().start()
    try:
        server.sql(_ROLES_SQL, db="postgres")
        server.sql(_FUNCTION_SQL, db="app")
        hba = os.path.join(server.data_dir, "pg_hba.conf")
        with open(hba) as f:
            lines = f.read().splitlines()
        lines.insert(len(lines) - 1, "host all lk_md5 127.0.0.1/32 md5")
        with open(hba, "w") as f:
            f.write("\n".join(lines) + "\n")
        server.sql("SELECT pg_reload_conf()", db="postgres")
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway(pg, tmp_path):
    """Factory: a scalegate whose users file holds only the lookup user and the admin."""
    started = []

    def make(auth="scram-sha-256", auth_query=GET_AUTH, auth_pool_size=None, auth_primary=None, **opts):
        databases = {"app": {"primary": pg.address, "dbname": "app", "pool_size": 4}}
        auth_section = {"type": auth, "auth_user": AUTH_USER[0], "auth_query": auth_query}
        if auth_pool_size is not None or auth_primary is not None:
            # A database entry of its own for the lookups, so its pool size is its own.
            databases["authdb"] = {"primary": auth_primary or pg.address, "dbname": "app",
                                   "pool_size": auth_pool_size or 1}
            auth_section["auth_dbname"] = "authdb"
        users = {AUTH_USER[0]: AUTH_USER[1], ADMIN[0]: ADMIN[1]}
        g = POOLERS["scalegate"](pg, str(tmp_path / ("sg%d" % len(started))), databases=databases,
                                 users=users, **opts)
        auth_section["users_file"] = g.cfg["postgres"]["auth"]["users_file"]
        g.cfg["postgres"]["auth"] = auth_section
        started.append(g)
        g.start()
        return g

    yield make
    for g in started:
        stop_pooler(g)


def login_error(target, user, password, dbname="app"):
    async def attempt():
        conn = await target.aconnect(user=user, password=password, dbname=dbname)
        await conn.close()

    try:
        asyncio.run(asyncio.wait_for(attempt(), wait_s(30)))
    except asyncpg.PostgresError as e:
        return e
    pytest.fail("login of %r with password %r succeeded" % (user, password))


def pool_row(target, database, user):
    _, rows = target.admin_rows("SHOW POOLS")
    found = [r for r in rows if r["database"] == database and r["user"] == user]
    return found[0] if found else None


def check_queries(target, user, password):
    """Several transactions: in transaction mode each may take another server (server login
    with the looked-up secret)."""
    with target.connect(user=user, password=password) as conn:
        for i in range(3):
            with conn.transaction():
                assert conn.execute("SELECT current_user, %s::int", (i,)).fetchone() == (user, i)


@pytest.mark.parametrize("auth,users", [("scram-sha-256", [SCRAM_USER]), ("md5", [SCRAM_USER, MD5_USER])])
def test_looked_up_users_log_in_and_run_queries(gateway, auth, users):
    """scram-sha-256 listener: SCRAM verifiers. md5 listener: md5 hashes get md5, SCRAM verifiers
    still get SCRAM (a verifier cannot check an md5 answer). psql and psycopg."""
    target = gateway(auth=auth)
    for user, password in users:
        r = target.psql("SELECT current_user", user=user, password=password)
        assert r.returncode == 0 and r.stdout.strip() == user, r.stderr
        check_queries(target, user, password)
    row = pool_row(target, "app", AUTH_USER[0])  # the lookup pool, like any pool
    assert row is not None and int(row["cl_waiting"]) == 0 and int(row["sv_active"]) == 0, row


def test_wrong_password_and_unknown_user_fail_alike(gateway):
    target = gateway()
    wrong = login_error(target, SCRAM_USER[0], "not-the-password")
    unknown = login_error(target, "lk_nobody", "not-the-password")
    assert wrong.sqlstate == unknown.sqlstate == "28P01", (wrong, unknown)
    assert str(wrong).replace(SCRAM_USER[0], "U") == str(unknown).replace("lk_nobody", "U"), (wrong, unknown)
    assert "password authentication failed" in str(wrong)
    check_queries(target, *SCRAM_USER)  # the right password still works


@pytest.mark.parametrize("auth", ["scram-sha-256", "md5"])
def test_user_without_password_is_refused(gateway, auth):
    target = gateway(auth=auth)
    for password in ("", "anything"):
        err = login_error(target, "lk_nopw", password)
        assert err.sqlstate == "28P01", err


def test_changed_password_takes_effect_at_next_login(gateway, pg):
    target = gateway()
    check_queries(target, "lk_changing", "first_pw")
    pg.sql("ALTER ROLE lk_changing PASSWORD 'second_pw'", db="postgres")
    assert login_error(target, "lk_changing", "first_pw").sqlstate == "28P01"
    # Servers logged in with the old password keep working; end them so the pool logs in anew.
    pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'lk_changing'", db="postgres")
    assert wait_until(lambda: int(pool_row(target, "app", "lk_changing")["sv_idle"]) == 0, 10)
    check_queries(target, "lk_changing", "second_pw")
    assert pg.backends(user="lk_changing"), "no server login with the new password"


def test_many_concurrent_logins_through_one_lookup_server(gateway, pg):
    target = gateway(auth_pool_size=1, max_client_conn=200)
    errors, done = [], []

    def login():
        try:
            with target.connect(user=SCRAM_USER[0], password=SCRAM_USER[1], autocommit=True) as conn:
                assert conn.execute("SELECT current_user").fetchone()[0] == SCRAM_USER[0]
            done.append(1)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=login) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(wait_s(60))
    assert not errors, errors[:3]
    assert len(done) == 50
    assert len(pg.backends(user=AUTH_USER[0])) == 1  # pool_size 1: every lookup took its turn
    row = pool_row(target, "authdb", AUTH_USER[0])
    assert int(row["cl_waiting"]) == 0 and int(row["sv_active"]) == 0, row


def test_failing_lookup_query_is_a_clear_error(gateway):
    target = gateway(auth_query="SELECT usename, passwd FROM pgbouncer.no_such_function($1)")
    err = login_error(target, SCRAM_USER[0], SCRAM_USER[1])
    assert err.sqlstate == "28000", err
    assert "auth_query" in str(err) and SCRAM_USER[0] in str(err), str(err)
    assert wait_until(lambda: "no_such_function" in target.logs, 5), target.logs[-2000:]
    # users_file users still log in (including the lookup user itself), and the admin console.
    check_queries(target, *AUTH_USER)
    assert pool_row(target, "app", AUTH_USER[0]) is not None


def test_database_down_during_lookup_is_a_clear_error(gateway):
    closed = free_port()
    target = gateway(auth_primary="127.0.0.1:%d" % closed, auth_pool_size=1)
    started = time.monotonic()
    err = login_error(target, SCRAM_USER[0], SCRAM_USER[1])
    assert time.monotonic() - started < wait_s(10)
    assert err.sqlstate == "08006", err
    assert "auth_query" in str(err) and "Connection refused" in str(err), str(err)
    check_queries(target, *AUTH_USER)  # listed users do not need the lookup


def test_client_leaving_while_its_lookup_waits(gateway, pg):
    target = gateway(auth_pool_size=1)
    check_queries(target, *SCRAM_USER)  # the lookup pool exists now
    assert target.admin_psql("PAUSE authdb").returncode == 0
    sockets = []
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", target.port), timeout=wait_s(5))
            s.sendall(startup_packet(SCRAM_USER[0], "app"))
            sockets.append(s)
        assert wait_until(lambda: int(pool_row(target, "authdb", AUTH_USER[0])["cl_waiting"]) == 3, 10)
    finally:
        for s in sockets:
            s.close()
    assert wait_until(lambda: int(pool_row(target, "authdb", AUTH_USER[0])["cl_waiting"]) == 0, 10)
    assert target.admin_psql("RESUME authdb").returncode == 0
    row = pool_row(target, "authdb", AUTH_USER[0])
    assert int(row["sv_active"]) == 0 and int(row["sv_idle"]) <= 1, row
    _, servers = target.admin_rows("SHOW SERVERS")
    assert not [s for s in servers if s["database"] == "authdb" and s["state"] != "idle"], servers
    check_queries(target, *SCRAM_USER)


def test_client_leaving_while_its_lookup_runs(gateway, pg):
    """Gone mid-query: the server (replies still pending) is closed, not handed to the next."""
    target = gateway(auth_pool_size=1, auth_query="SELECT usename, passwd FROM pgbouncer.get_auth_slowly($1)")
    s = socket.create_connection(("127.0.0.1", target.port), timeout=wait_s(5))
    s.sendall(startup_packet(SCRAM_USER[0], "app"))
    assert wait_until(lambda: int(pool_row(target, "authdb", AUTH_USER[0])["sv_active"]) == 1, 10)
    s.close()
    assert wait_until(lambda: int(pool_row(target, "authdb", AUTH_USER[0])["sv_active"]) == 0, 10)
    check_queries(target, *SCRAM_USER)


def test_admin_console_user_looked_up_in_auth_dbname(gateway):
    """An admin_users entry missing from users_file is looked up too (in auth_dbname: the admin
    console has no database of its own); users_file admins are unchanged."""
    target = gateway(auth_pool_size=1, admin_users=[ADMIN[0], SCRAM_USER[0]])
    r = target.admin_psql("SHOW POOLS", user=SCRAM_USER[0], password=SCRAM_USER[1])
    assert r.returncode == 0 and "authdb" in r.stdout, r.stderr
    r = target.admin_psql("SHOW POOLS", user=SCRAM_USER[0], password="not-the-password")
    assert r.returncode != 0 and "password authentication failed" in r.stderr, r.stderr
    assert target.admin_rows("SHOW VERSION")[1], "the users_file admin no longer logs in"
