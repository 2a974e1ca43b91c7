"""Authentication on both sides of the pooler: clients log in with scram-sha-256, md5 or trust
(auth.type), and the pooler logs in to PostgreSQL with whatever the server asks for that user
(app: scram-sha-256, md5user: md5, trustuser: trust), from plaintext passwords or from the
hashed secrets of the users file. Errors carry PostgreSQL's SQLSTATEs.

Directly against PostgreSQL, pg_hba gives each user one method, so the direct runs use the user
whose method the test names (the same users as through the pooler)."""
import asyncio

import asyncpg
import psycopg
import pytest

from pg_support import (USERS, DirectTarget, first_auth_request, pg_server, pooler,  # noqa: F401
                        selected_targets)

# method -> (user, password) whose PostgreSQL login uses that method
METHOD_USER = {"scram-sha-256": ("app", "app_pw"), "md5": ("md5user", "md5_pw"), "trust": ("trustuser", "")}
AUTH_CODE = {"scram-sha-256": 10, "md5": 5, "trust": 0}  # AuthenticationSASL / MD5Password / Ok


@pytest.fixture(params=selected_targets())
def kind(request):
    return request.param


def target_for(kind, pooler, pg_server, **opts):  # noqa: F811
    return DirectTarget(pg_server) if kind == "direct" else pooler(kind, **opts)


def login_error(target, user, password, dbname=None):
    """Logs in with asyncpg (which exposes SQLSTATEs); returns the PostgresError raised, or fails."""
    async def attempt():
        conn = await target.aconnect(user=user, password=password, dbname=dbname)
        await conn.close()

    try:
        asyncio.run(asyncio.wait_for(attempt(), 30))
    except asyncpg.PostgresError as e:
        return e
    pytest.fail("login of %r to %r with password %r succeeded" % (user, dbname or target.dbname, password))


def assert_auth_failed(err, kind):
    """PostgreSQL answers 28P01 "password authentication failed for user ..."; PgBouncer 1.18 (the
    reference) says 08P01 "SASL authentication failed", so only its runs accept that."""
    if kind == "pgbouncer":
        assert err.sqlstate in ("28P01", "08P01") and "authentication failed" in str(err), (err.sqlstate, str(err))
    else:
        assert err.sqlstate == "28P01", (err.sqlstate, str(err))
        assert "password authentication failed" in str(err), str(err)


@pytest.mark.parametrize("method", ["scram-sha-256", "md5", "trust"])
def test_client_is_asked_for_the_configured_method(kind, pooler, pg_server, method):  # noqa: F811
    target = target_for(kind, pooler, pg_server, auth=method)
    user, _ = METHOD_USER[method]
    answer = first_auth_request(target.port, user)
    assert answer[0] == "R", answer
    assert answer[1] == AUTH_CODE[method], answer
    if method == "scram-sha-256":
        mechanisms = answer[2].split(b"\0")
        assert b"SCRAM-SHA-256" in mechanisms and b"SCRAM-SHA-256-PLUS" not in mechanisms
    if method == "md5":
        assert len(answer[2]) == 4  # the salt


@pytest.mark.parametrize("method", ["scram-sha-256", "md5", "trust"])
def test_good_password(kind, pooler, pg_server, method):  # noqa: F811
    target = target_for(kind, pooler, pg_server, auth=method)
    user, password = METHOD_USER[method]
    with target.connect(user=user, password=password, autocommit=True) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (user, "app")
        assert conn.execute("SELECT count(*) >= 0 FROM items").fetchone()[0] is True


@pytest.mark.parametrize("method", ["scram-sha-256", "md5"])
def test_bad_password(kind, pooler, pg_server, method):  # noqa: F811
    target = target_for(kind, pooler, pg_server, auth=method)
    user, password = METHOD_USER[method]
    assert_auth_failed(login_error(target, user, password + "-wrong"), kind)
    with target.connect(user=user, password=password) as conn:  # still fine with the right one
        assert conn.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.parametrize("kind", selected_targets(("scalegate", "pgbouncer")))
def test_trust_lets_any_password_in(kind, pooler):  # noqa: F811
    target = pooler(kind, auth="trust")
    for user, password in (("app", "not-the-password"), ("md5user", ""), ("trustuser", "x")):
        with target.connect(user=user, password=password) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == user


@pytest.mark.parametrize("kind", selected_targets(("scalegate", "pgbouncer")))
@pytest.mark.parametrize("client_method", ["scram-sha-256", "md5"])
def test_server_login_follows_the_server(kind, pooler, client_method):  # noqa: F811
    """One client method; the pooler logs in to PostgreSQL with scram (app) and md5 (md5user)."""
    target = pooler(kind, auth=client_method)
    for user in ("app", "md5user"):
        with target.connect(user=user, password=USERS[user], autocommit=True) as conn:
            for _ in range(3):  # several transactions, maybe several server logins
                assert conn.execute("SELECT current_user").fetchone()[0] == user


def shadow_secret(pg, user):
    return pg.sql("SELECT passwd FROM pg_shadow WHERE usename = '%s'" % user, db="postgres")


@pytest.mark.parametrize("kind", selected_targets(("scalegate", "pgbouncer")))
def test_users_file_with_a_scram_verifier(kind, pooler, pg_server):  # noqa: F811
    """No plaintext: the pooler checks the client's proof against the verifier and logs in to
    PostgreSQL with the client key recovered from it (the server holds the same verifier)."""
    verifier = shadow_secret(pg_server, "app")
    assert verifier.startswith("SCRAM-SHA-256$")
    target = pooler(kind, auth="scram-sha-256", users={"app": verifier, "admin": USERS["admin"]})
    with target.connect(autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "app"
    assert_auth_failed(login_error(target, "app", "app_pw-wrong"), kind)


@pytest.mark.parametrize("kind", selected_targets(("scalegate", "pgbouncer")))
def test_users_file_with_an_md5_secret(kind, pooler, pg_server):  # noqa: F811
    secret = shadow_secret(pg_server, "md5user")
    assert secret.startswith("md5") and len(secret) == 35
    target = pooler(kind, auth="md5", users={"md5user": secret, "admin": USERS["admin"]})
    with target.connect(user="md5user", password="md5_pw", autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "md5user"
    assert_auth_failed(login_error(target, "md5user", "bad"), kind)


def test_unknown_database(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server)
    err = login_error(target, "app", "app_pw", dbname="nosuchdb")
    if kind == "direct":
        assert err.sqlstate == "3D000" and "does not exist" in str(err), (err.sqlstate, str(err))
    else:
        # PgBouncer: FATAL "no such database: nosuchdb" (08P01); 3D000 is PostgreSQL's own code
        assert err.sqlstate in ("3D000", "08P01"), (err.sqlstate, str(err))
        assert "no such database" in str(err) and "nosuchdb" in str(err), str(err)


def test_user_not_in_users_file(kind, pooler, pg_server):  # noqa: F811
    """A user PostgreSQL does not know (directly) or the users file does not list (pooler)."""
    target = target_for(kind, pooler, pg_server)
    err = login_error(target, "ghost", "boo")
    assert_auth_failed(err, kind)
    assert "ghost" in str(err) or kind == "pgbouncer", str(err)


def test_psycopg_reports_login_failure(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server)
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        target.connect(password="nope")


def test_failed_logins_leave_no_pool(pooler):  # noqa: F811
    """A pool is made once a client has logged in: made-up user names that fail leave nothing
    behind (each would otherwise add a pool, and its metrics, for good)."""
    target = pooler("scalegate")
    for i in range(5):
        assert_auth_failed(login_error(target, "ghost%d" % i, "boo"), "scalegate")
        assert_auth_failed(login_error(target, "app", "wrong"), "scalegate")
    _, rows = target.admin_rows("SHOW POOLS")
    assert not [r for r in rows if r["user"].startswith("ghost")], rows
    assert not [r for r in rows if r["database"] == "app" and r["user"] == "app"], rows
    with target.connect(autocommit=True) as conn:  # the real user still gets its pool
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    _, rows = target.admin_rows("SHOW POOLS")
    assert [r for r in rows if r["database"] == "app" and r["user"] == "app"], rows
