"""Real PostgreSQL 15, PgBouncer and scalegate's PostgreSQL listener for the pg_* tests.

PostgresServer: a PostgreSQL 15 cluster (Debian's /usr/lib/postgresql/15/bin) in a temporary
directory owned by the `postgres` user (tests run as root, PostgreSQL refuses to), listening on
127.0.0.1 at a port chosen at run time, its unix socket inside its directory. initdb and the
roles are made once per pytest session into a template directory; every server is a copy of it.
Started with `pg_ctl -w`, stopped by the postmaster's pid (SIGINT = fast shutdown, then SIGKILL).

Roles (pg_hba: first match wins):
  postgres   superuser, trust over the unix socket only (setup, pg_terminate_backend)
  app        app_pw, scram-sha-256; owns database `app` (table `items`)
  md5user    md5_pw, md5 (its password stored as md5)
  trustuser  trust
The users file given to poolers holds these plus `admin`/admin_pw (admin console only).

Targets share one client interface (ClientSide: connect, aconnect, psql, pgbench):
  DirectTarget   PostgreSQL itself (to validate a test's logic)
  ScalegatePg    scalegate with a `postgres:` section (a conftest Gateway: registered, stopped by pid)
  PgBouncer      Debian's PgBouncer 1.18 with the same settings (validates pooler tests; run as postgres)
SCALEGATE_PG_TARGETS (default "scalegate") picks the targets of the parametrized tests. The
direct and PgBouncer runs check the tests themselves, not scalegate, so CI (three builds) leaves
them out: run SCALEGATE_PG_TARGETS=direct,pgbouncer,scalegate after changing a test. PgBouncer
1.18 skips the prepared-statement tests and fails the search_path test (it does not track it).
"""
import atexit
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import (Gateway, _assign_ports, _register, can_connect, free_port, stop_gateway_checked,
                      stop_process, wait_for_port, wait_until)
from environment import SLOW, wait_s  # noqa: F401  (re-exported)

PGBIN = "/usr/lib/postgresql/15/bin"
PSQL = os.path.join(PGBIN, "psql")
PGBENCH = os.path.join(PGBIN, "pgbench")
PGBOUNCER = "/usr/sbin/pgbouncer"
PG_OS_USER = "postgres"

# user -> password (the users file of every pooler; "" = no password, trust)
USERS = {"app": "app_pw", "md5user": "md5_pw", "trustuser": "", "admin": "admin_pw"}
ADMIN = ("admin", "admin_pw")
APP = ("app", "app_pw")

_HBA = """\
local all all trust
local replication postgres trust
host all trustuser 127.0.0.1/32 trust
host all md5user 127.0.0.1/32 md5
host all all 127.0.0.1/32 scram-sha-256
"""

_CONF = """
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 200
password_encryption = 'scram-sha-256'
log_min_messages = warning
log_connections = off
"""

_ROLES_SQL = """
CREATE ROLE app LOGIN PASSWORD 'app_pw';
SET password_encryption = 'md5';
CREATE ROLE md5user LOGIN PASSWORD 'md5_pw';
RESET password_encryption;
CREATE ROLE trustuser LOGIN;
CREATE DATABASE app OWNER app;
"""

_APP_SQL = """
SET ROLE app;
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);
GRANT SELECT, INSERT ON items TO md5user, trustuser;
GRANT USAGE ON SEQUENCE items_id_seq TO md5user, trustuser;
"""


def require_postgres():
    for tool in (os.path.join(PGBIN, "initdb"), os.path.join(PGBIN, "pg_ctl"), PSQL, PGBENCH):
        if not os.access(tool, os.X_OK):
            pytest.fail("%s not found (run scripts/install-deps.sh)" % tool, pytrace=False)
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        pytest.fail("no `postgres` OS user (the postgresql-15 package creates it)", pytrace=False)


def _as_postgres(args, timeout=60.0, **kw):
    """Runs a command as the postgres OS user (PostgreSQL refuses to run as root)."""
    cmd = ["runuser", "-u", PG_OS_USER, "--"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=wait_s(timeout),
                          stdin=subprocess.DEVNULL, **kw)


def _chown_postgres(path):
    pw = pwd.getpwnam(PG_OS_USER)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)


def _make_owned_dir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    _chown_postgres(path)
    return path


def _pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def _end_pid(pid, first=signal.SIGINT, timeout=10.0):
    """Signals a process that is not our child (pg_ctl daemonizes the postmaster) and waits for it."""
    for sig, limit in ((first, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s(limit)
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.02)


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------
_template = {"dir": None, "error": None}
_template_lock = threading.Lock()
_servers = []
_bouncers = []  # PgBouncers started outside pytest (bench scripts) are stopped at exit too


def _cleanup_at_exit():
    for bouncer in list(_bouncers):
        bouncer.stop()
    for server in list(_servers):
        server.stop()
    if _template["dir"]:
        shutil.rmtree(_template["dir"], ignore_errors=True)


atexit.register(_cleanup_at_exit)


def _template_dir():
    """initdb + roles, once per pytest session (initdb costs seconds; a copy costs milliseconds)."""
    with _template_lock:
        if _template["error"]:
            pytest.fail(_template["error"], pytrace=False)
        if _template["dir"] is None:
            require_postgres()
            base = _make_owned_dir("sg-pg-template-")
            try:
                _build_template(base)
            except Exception as e:  # remembered: every later server would fail the same way
                shutil.rmtree(base, ignore_errors=True)
                _template["error"] = "PostgreSQL template: %s" % e
                raise
            _template["dir"] = base
        return _template["dir"]


def _build_template(base):
    data = os.path.join(base, "data")
    r = _as_postgres([os.path.join(PGBIN, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                      "--locale=C", "--no-sync", "--no-instructions"])
    if r.returncode != 0:
        raise RuntimeError("initdb failed: %s" % (r.stdout + r.stderr)[-2000:])
    with open(os.path.join(data, "postgresql.conf"), "a") as f:
        f.write(_CONF)
    with open(os.path.join(data, "pg_hba.conf"), "w") as f:
        f.write(_HBA)
    _chown_postgres(base)
    server = PostgresServer(data_dir=data, root=base)
    server.start()
    try:
        server.sql(_ROLES_SQL, db="postgres")
        server.sql(_APP_SQL, db="app")
    finally:
        server.stop(remove=False)
    shutil.rmtree(os.path.join(base, "sock"), ignore_errors=True)
    os.unlink(os.path.join(base, "postgres.log"))


class PostgresServer:
    """One PostgreSQL 15 on 127.0.0.1:port. Without data_dir it is a fresh copy of the template.

    For the copy: settings (text) is appended to postgresql.conf, hba (text) replaces pg_hba.conf,
    files ({name: source path}) are copied into the data directory, owned by postgres, mode 0600
    (a server key, for ssl = on)."""

    def __init__(self, data_dir=None, root=None, settings=None, hba=None, files=None):
        self.root = root
        self.data_dir = data_dir
        self.port = None
        self.pid = None
        self.settings = settings
        self.hba = hba
        self.files = files or {}

    @property
    def sock_dir(self):
        return os.path.join(self.root, "sock")

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        try:
            with open(os.path.join(self.root, "postgres.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self, port=None):
        """Starts it (a fresh copy of the template without data_dir) on `port`, else a free one."""
        if self.data_dir is None:
            template = _template_dir()
            self.root = _make_owned_dir("sg-pg-")
            self.data_dir = os.path.join(self.root, "data")
            subprocess.run(["cp", "-a", os.path.join(template, "data"), self.data_dir], check=True)
            self._customize()
        os.makedirs(self.sock_dir, exist_ok=True)
        _chown_postgres(self.sock_dir)
        self.port = port or free_port()
        opts = "-p %d -k %s" % (self.port, self.sock_dir)
        r = _as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data_dir, "-l", os.path.join(self.root, "postgres.log"),
                          "-o", opts, "-w", "-t", str(int(wait_s(30))), "start"], timeout=60)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed (%s): %s\n%s" % (r.returncode, r.stdout + r.stderr,
                                                                      self.log()[-2000:]))
        with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
            self.pid = int(f.readline())
        _servers.append(self)
        return self

    def _customize(self):
        if self.settings:
            with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
                f.write("\n" + self.settings + "\n")
        if self.hba is not None:
            with open(os.path.join(self.data_dir, "pg_hba.conf"), "w") as f:
                f.write(self.hba)
        for name, source in self.files.items():
            target = os.path.join(self.data_dir, name)
            shutil.copyfile(source, target)
            os.chmod(target, 0o600)
        _chown_postgres(self.data_dir)

    def stop(self, remove=True):
        """Fast shutdown by the postmaster's pid (SIGINT), SIGKILL if it lingers."""
        if self.pid is not None:
            _end_pid(self.pid, signal.SIGINT, timeout=10)
            self.pid = None
        if self in _servers:
            _servers.remove(self)
        if remove and self.root:
            shutil.rmtree(self.root, ignore_errors=True)

    def alive(self):
        return self.pid is not None and _pid_alive(self.pid)

    def sql(self, sql, db="app", check=True, timeout=30.0):
        """Runs SQL as the superuser through psql over the unix socket; returns its -At output."""
        # Through stdin: psql then runs each statement on its own (CREATE DATABASE refuses a transaction).
        r = subprocess.run([PSQL, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sock_dir, "-p", str(self.port),
                            "-U", "postgres", "-d", db], input=sql, capture_output=True, text=True,
                           timeout=wait_s(timeout))
        if check and r.returncode != 0:
            raise RuntimeError("psql as superuser failed: %s" % r.stderr.strip())
        return r.stdout.strip()

    def superuser(self, db="app"):
        """A psycopg connection (autocommit) as the superuser over the unix socket."""
        import psycopg
        return psycopg.connect(host=self.sock_dir, port=self.port, user="postgres", dbname=db, autocommit=True)

    def replica(self, apply_delay_ms=None):
        """A hot standby of this server, streaming from it (pg_basebackup -R over the unix
        socket), started on its own port; apply_delay_ms sets recovery_min_apply_delay (reads
        on it then lag that far behind). Stopped by whoever stops servers (stop())."""
        root = _make_owned_dir("sg-pg-replica-")
        data = os.path.join(root, "data")
        r = _as_postgres([os.path.join(PGBIN, "pg_basebackup"), "-D", data, "-h", self.sock_dir, "-p",
                          str(self.port), "-U", "postgres", "-X", "stream", "-R", "-c", "fast", "--no-sync"],
                         timeout=120)
        if r.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError("pg_basebackup failed: %s" % (r.stdout + r.stderr)[-2000:])
        settings = "hot_standby = on\n"
        if apply_delay_ms is not None:
            settings += "recovery_min_apply_delay = '%dms'\n" % apply_delay_ms
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            f.write("\n" + settings)
        _chown_postgres(root)
        standby = PostgresServer(data_dir=data, root=root)
        try:
            standby.start()
        except Exception:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return standby

    def promote(self):
        """Ends this standby's recovery (pg_ctl promote, as a failover tool does) and waits."""
        r = _as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data_dir, "-w", "-t",
                          str(int(wait_s(30))), "promote"], timeout=60)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl promote failed: %s" % (r.stdout + r.stderr)[-2000:])

    def wal_lsn(self):
        """This primary's WAL insert position (pg_lsn text): past every commit made so far, even
        one not yet flushed (the tests' servers run with synchronous_commit off)."""
        return self.sql("SELECT pg_current_wal_insert_lsn()", db="postgres")

    def replayed(self, lsn):
        """Whether this standby has replayed WAL up to `lsn`."""
        return self.sql("SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn" % lsn, db="postgres") == "t"

    def backends(self, user="app", db="app"):
        """Client backends of `user` on `db`: list of (pid, state, query)."""
        out = self.sql("SELECT pid, state, query FROM pg_stat_activity WHERE usename = '%s' AND datname = '%s' "
                       "AND backend_type = 'client backend'" % (user, db), db="postgres")
        return [tuple(line.split("|", 2)) for line in out.splitlines() if line]


# ---------------------------------------------------------------------------
# the client side, shared by every target
# ---------------------------------------------------------------------------
class ClientSide:
    """What a test does to a target: host/port/dbname given by the subclass."""
    kind = "?"
    host = "127.0.0.1"
    dbname = "app"
    port = None

    def connect(self, user=APP[0], password=APP[1], dbname=None, **kw):
        import psycopg
        kw.setdefault("connect_timeout", max(2, int(wait_s(10))))
        return psycopg.connect(host=self.host, port=self.port, user=user, password=password,
                               dbname=dbname or self.dbname, **kw)

    async def aconnect(self, user=APP[0], password=APP[1], dbname=None, **kw):
        import asyncpg
        kw.setdefault("timeout", wait_s(10))
        return await asyncpg.connect(host=self.host, port=self.port, user=user, password=password,
                                     database=dbname or self.dbname, **kw)

    def client_env(self, password):
        env = dict(os.environ)
        env.pop("PGSERVICE", None)
        env["PGPASSWORD"] = password
        env["PGCONNECT_TIMEOUT"] = str(max(2, int(wait_s(10))))
        return env

    def psql(self, sql, user=APP[0], password=APP[1], dbname=None, timeout=30.0, extra=()):
        """`psql -Atc SQL` as a client; returns CompletedProcess (stdout/stderr text)."""
        return subprocess.run([PSQL, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port),
                               "-U", user, "-d", dbname or self.dbname] + list(extra) + ["-c", sql],
                              capture_output=True, text=True, timeout=wait_s(timeout),
                              env=self.client_env(password), stdin=subprocess.DEVNULL)

    def pgbench(self, args, user=APP[0], password=APP[1], dbname=None, timeout=60.0):
        return subprocess.run([PGBENCH, "-h", self.host, "-p", str(self.port), "-U", user] + list(args)
                              + [dbname or self.dbname], capture_output=True, text=True,
                              timeout=wait_s(timeout), env=self.client_env(password), stdin=subprocess.DEVNULL)

    def admin_psql(self, command, user=ADMIN[0], password=ADMIN[1], db="pgbouncer", timeout=15.0):
        """One admin console command through psql (simple query); CompletedProcess."""
        return subprocess.run([PSQL, "-X", "-A", "-F", "\x1f", "-P", "footer=off", "-h", self.host, "-p",
                               str(self.port), "-U", user, "-d", db, "-c", command],
                              capture_output=True, text=True, timeout=wait_s(timeout),
                              env=self.client_env(password), stdin=subprocess.DEVNULL)

    def admin_rows(self, command, **kw):
        """SHOW ... on the admin console -> (column names, rows as dicts by column name)."""
        r = self.admin_psql(command, **kw)
        if r.returncode != 0:
            raise AssertionError("admin %r failed (%s): %s" % (command, r.returncode, r.stderr.strip()))
        return parse_unaligned(r.stdout)


class Background(threading.Thread):
    """Runs fn() on a thread; .result() joins and re-raises its exception."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.value, self.error = fn, None, None
        self.start()

    def run(self):
        try:
            self.value = self.fn()
        except BaseException as e:  # handed to the test by result(), or read as .error
            self.error = e

    def result(self, timeout=30):
        self.join(wait_s(timeout))
        assert not self.is_alive(), "background client did not finish"
        if self.error:
            raise self.error
        return self.value


def connection_closed(conn):
    """True once a query on psycopg connection `conn` fails because the connection is gone."""
    import psycopg
    try:
        conn.execute("SELECT 1")
        return False
    except psycopg.OperationalError:
        return True


def parse_unaligned(text):
    """psql -A -F \\x1f output with a header line -> (columns, [dict])."""
    lines = [line for line in text.split("\n") if line != ""]
    if not lines:
        return [], []
    columns = lines[0].split("\x1f")
    rows = []
    for line in lines[1:]:
        values = line.split("\x1f")
        if len(values) != len(columns):  # a command tag or a notice, not a row
            continue
        rows.append(dict(zip(columns, values)))
    return columns, rows


def pgbench_summary(output):
    """tps (float or None), failed transactions (int, 0 when pgbench does not print the line),
    processed transactions (int or None) from pgbench's report."""
    tps = re.search(r"^tps = ([0-9.]+)", output, re.M)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    done = re.search(r"number of transactions actually processed: (\d+)", output)
    return (float(tps.group(1)) if tps else None, int(failed.group(1)) if failed else 0,
            int(done.group(1)) if done else None)


class DirectTarget(ClientSide):
    kind = "direct"

    def __init__(self, pg):
        self.pg = pg
        self.port = pg.port

    def stop(self):
        pass


def users_file_text(users=None):
    users = USERS if users is None else users
    return "".join('"%s" "%s"\n' % (u, p.replace('"', '""')) for u, p in users.items())


# ---------------------------------------------------------------------------
# scalegate
# ---------------------------------------------------------------------------
class ScalegatePg(Gateway, ClientSide):
    """scalegate with a `postgres:` listener in front of a PostgresServer (started through
    conftest's Gateway: registered, stopped by pid, its logs checked for sanitizer reports).

    settings: extra keys of the `postgres:` section (pool_mode, query_wait_timeout, ...).
    databases: {name: entry}; default {"app": primary=pg, dbname=app, pool_size=pool_size}.
    """
    kind = "scalegate"

    def __init__(self, pg, tmpdir, auth="scram-sha-256", pool_size=2, databases=None, workers=2,
                 users=None, **settings):
        os.makedirs(tmpdir, exist_ok=True)
        users_path = os.path.join(tmpdir, "users.txt")
        with open(users_path, "w") as f:
            f.write(users_file_text(users))
        section = {
            "listeners": [{"name": "main", "address": "127.0.0.1:%d" % free_port()}],
            "auth": {"type": auth, "users_file": users_path},
            "pool_mode": "transaction",
            "default_pool_size": pool_size,
            "admin_users": [ADMIN[0]],
        }
        section.update(settings)
        if databases is None:
            databases = {"app": {"primary": pg.address, "dbname": "app", "pool_size": pool_size}}
        section["databases"] = databases
        cfg = {"workers": workers, "postgres": section}
        _assign_ports(cfg)
        Gateway.__init__(self, cfg, tmpdir)
        self.pg = pg

    @property
    def ports(self):
        ports = {lis["name"]: int(lis["address"].rsplit(":", 1)[1]) for lis in self.cfg.get("listeners", [])}
        for lis in self.cfg["postgres"]["listeners"]:
            ports["pg:" + lis["name"]] = int(lis["address"].rsplit(":", 1)[1])
        return ports

    @property
    def port(self):
        return self.ports["pg:" + self.cfg["postgres"]["listeners"][0]["name"]]

    def stop(self, sig=signal.SIGTERM, timeout=None):
        return Gateway.stop(self, sig, timeout)

    def vm_rss_kib(self):
        return vm_rss_kib(self.pid)

    def reconfigure(self, databases=None, **settings):
        """Rewrites the configuration file (RELOAD reads it)."""
        self.cfg["postgres"].update(settings)
        if databases is not None:
            self.cfg["postgres"]["databases"] = databases
        self.write_config()


# ---------------------------------------------------------------------------
# PgBouncer (the reference)
# ---------------------------------------------------------------------------
def _seconds(value):
    """A scalegate duration ("2s", "500ms", "1m", 0) -> PgBouncer's seconds (float)."""
    if isinstance(value, (int, float)):
        return value
    m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)?", str(value))
    n = float(m.group(1))
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


_DURATION_KEYS = {"query_wait_timeout", "idle_transaction_timeout", "server_idle_timeout", "server_lifetime",
                  "client_idle_timeout", "client_login_timeout", "server_check_delay", "server_connect_timeout",
                  "reserve_pool_timeout"}


class PgBouncer(ClientSide):
    """Debian's PgBouncer 1.18 with the settings a ScalegatePg would get (run as postgres)."""
    kind = "pgbouncer"

    def __init__(self, pg, tmpdir, auth="scram-sha-256", pool_size=2, databases=None, workers=None,
                 users=None, **settings):
        self.pg = pg
        self.dir = _make_owned_dir("sg-pgbouncer-")
        self.port = free_port()
        self.proc = None
        self.users_path = os.path.join(self.dir, "users.txt")
        with open(self.users_path, "w") as f:
            f.write(users_file_text(users))
        self.auth, self.pool_size = auth, pool_size
        self.databases = databases if databases is not None else {
            "app": {"primary": pg.address, "dbname": "app", "pool_size": pool_size}}
        self.settings = dict(settings)
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        self.write_config()

    def write_config(self):
        lines = ["[databases]"]
        for name, db in self.databases.items():
            host, port = db["primary"].rsplit(":", 1)
            extra = "".join(" %s=%s" % (k, db[k]) for k in ("dbname", "user", "password", "pool_size",
                                                              "reserve_pool", "max_db_connections") if k in db)
            lines.append("%s = host=%s port=%s%s" % (name, host, port, extra))
        lines += ["[pgbouncer]", "listen_addr = 127.0.0.1", "listen_port = %d" % self.port,
                  "unix_socket_dir =", "auth_type = %s" % self.auth, "auth_file = %s" % self.users_path,
                  "pool_mode = transaction", "default_pool_size = %d" % self.pool_size,
                  "admin_users = %s" % ADMIN[0], "logfile = %s" % os.path.join(self.dir, "pgbouncer.log"),
                  "ignore_startup_parameters = extra_float_digits"]
        for key, value in self.settings.items():
            if key in _DURATION_KEYS:
                value = _seconds(value)
            elif isinstance(value, list):
                value = ",".join(value)
            lines.append("%s = %s" % (key, value))
        with open(self.ini, "w") as f:
            f.write("\n".join(lines) + "\n")
        _chown_postgres(self.dir)

    def reconfigure(self, databases=None, **settings):
        """Rewrites the configuration file (RELOAD reads it)."""
        self.settings.update(settings)
        if databases is not None:
            self.databases = databases
        self.write_config()

    def start(self):
        pw = pwd.getpwnam(PG_OS_USER)
        self.proc = subprocess.Popen([PGBOUNCER, self.ini], user=pw.pw_uid, group=pw.pw_gid,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _register(self.proc)
        _bouncers.append(self)
        if not wait_for_port(self.port, 10, self.proc):
            raise AssertionError("pgbouncer did not start:\n%s" % self.logs[-3000:])
        return self

    @property
    def pid(self):
        return self.proc.pid

    @property
    def logs(self):
        try:
            with open(os.path.join(self.dir, "pgbouncer.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=None):
        if self.proc is not None:
            stop_process(self.proc, sig, timeout=wait_s(timeout or 10))
        if self in _bouncers:
            _bouncers.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def vm_rss_kib(self):
        return vm_rss_kib(self.pid)


# ---------------------------------------------------------------------------
# fixtures and small helpers
# ---------------------------------------------------------------------------
POOLERS = {"scalegate": ScalegatePg, "pgbouncer": PgBouncer}


def selected_targets(allowed=("direct", "scalegate", "pgbouncer")):
    wanted = os.environ.get("SCALEGATE_PG_TARGETS", "scalegate").split(",")
    return [t.strip() for t in wanted if t.strip() in allowed]


def start_pooler(kind, pg, tmpdir, **opts):
    pooler = POOLERS[kind](pg, tmpdir, **opts)
    try:
        pooler.start()
    except BaseException:
        stop_pooler(pooler)
        raise
    return pooler


def stop_pooler(pooler):
    if isinstance(pooler, ScalegatePg):
        stop_gateway_checked(pooler)
    elif pooler is not None:
        pooler.stop()


@pytest.fixture(scope="module")
def pg_server():
    """One PostgreSQL per test module (a copy of the session's template)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pooler(pg_server, tmp_path):
    """Factory: pooler(kind, **opts) -> a started ScalegatePg or PgBouncer in front of pg_server
    (opts: pool_size, auth, workers, databases, users, and `postgres:` keys such as pool_mode);
    stopped at the end of the test."""
    started = []

    def make(kind="scalegate", **opts):
        p = start_pooler(kind, pg_server, str(tmp_path / ("%s%d" % (kind, len(started)))), **opts)
        started.append(p)
        return p

    yield make
    errors = []
    for p in started:
        try:
            stop_pooler(p)
        except BaseException as e:  # keep stopping the others; report the first failure
            errors.append(e)
    if errors:
        raise errors[0]


def make_target(kind, pg, tmp_path_factory, **opts):
    if kind == "direct":
        return DirectTarget(pg)
    return start_pooler(kind, pg, str(tmp_path_factory.mktemp(kind)), **opts)


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


from pg_wire_client import (  # noqa: E402,F401  (re-exported for the tests)
    FLUSH,
    RawClient,
    SYNC,
    TERMINATE,
    bind_msg,
    close_msg,
    data_rows,
    describe_msg,
    error_fields,
    execute_msg,
    first_auth_request,
    kinds,
    parse_msg,
    query_msg,
    read_message,
    recv_exact,
    socket_to,
    startup_packet,
    wait_pg_port,
)
