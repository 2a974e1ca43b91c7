"""Sharding through scalegate's PostgreSQL listener, end to end (the issue's acceptance test):
an application-shaped workload on 3 shard databases, every result equal to the answer of one
`reference` database that holds the same rows in tables PARTITION BY HASH (customer_id).

One PostgreSQL 15 holds the databases shard0..shard2 and `reference` (owned by the app user):
  customers(customer_id bigint PK, region, name, created)   sharded by customer_id
  orders(order_id, customer_id, product_id, amount numeric(12,2), status, placed timestamptz,
         PK (customer_id, order_id))                         sharded by customer_id
  products(product_id PK, name, price)                       unsharded: a copy on every shard
In `reference` customers and orders have 3 hash partitions (<table>_p0..p2, REMAINDER 0..2), so
PostgreSQL's own hash places each row; shard N is loaded with exactly partition N's rows.
scalegate's hash function is PostgreSQL's (`scalegate pg shard-of`, checked here for every key).

The expected side is always computed from `reference` (never from the shard databases through
scalegate). Results are compared exactly: column names and type OIDs, rows (in order where the
query orders them, ties broken; as multisets where it does not), and the command tag.

SCALEGATE_PG_TARGETS=direct runs the workload against a copy of reference instead of the
gateway, to check the test itself."""
import asyncio
import collections
import datetime
import decimal
import random
import subprocess

import asyncpg
import psycopg
import pytest

from environment import gateway_bin, wait_s
from pg_support import APP, PostgresServer, selected_targets, start_pooler, stop_pooler

SHARDS = 3
SEED = 20261203
CUSTOMERS = 700
PRODUCTS = 20
REGIONS = ["apac", "eu", "latam", "us"]
STATUSES = ["cancelled", "new", "paid", "shipped"]
NEW_CUSTOMER_IDS = 5_000_000_000_000  # ids of customers the tests insert start here
NEW_ORDER_IDS = 9_000_000  # and their orders' ids here
SELF_CHECK_COPY = "reference_copy"

# SCALEGATE_PG_TARGETS=direct checks the test itself: the "gateway" side is then a copy of
# reference (one unsharded database), and the tests that need sharding's own behaviour (hints,
# refusals) are skipped.
SELF_CHECK = selected_targets() == ["direct"]
SHARDING_ONLY = pytest.mark.skipif(SELF_CHECK, reason="a copy of reference neither shards nor refuses")


COLUMNS = {
    "customers": "customer_id bigint NOT NULL, region text NOT NULL, name text NOT NULL, "
                 "created date NOT NULL, PRIMARY KEY (customer_id)",
    "orders": "order_id bigint NOT NULL, customer_id bigint NOT NULL, product_id int NOT NULL, "
              "amount numeric(12,2) NOT NULL, status text NOT NULL, placed timestamptz NOT NULL, "
              "PRIMARY KEY (customer_id, order_id)",
}
PRODUCTS_COLUMNS = "product_id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL"
ORDER_COLUMNS = "order_id, customer_id, product_id, amount, status, placed"


# ---------------------------------------------------------------------------
# the data set: deterministic (seeded), loaded into reference, split into the shards
# ---------------------------------------------------------------------------
def make_rows():
    """customers, orders, products as lists of tuples."""
    rng = random.Random(SEED)
    ids = list(range(1, 61)) + [-1, -2, -3, -9_000_000_000] + rng.sample(range(100, 10**12), CUSTOMERS - 64)
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    customers, orders = [], []
    for i, cid in enumerate(ids):
        created = datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randint(0, 1800))
        customers.append((cid, rng.choice(REGIONS), "customer %04d" % i, created))
        for _ in range(rng.randint(0, 8)):
            amount = decimal.Decimal(rng.randint(100, 500_000)).scaleb(-2)
            placed = start + datetime.timedelta(seconds=rng.randint(0, 365 * 86400))
            orders.append((len(orders) + 1, cid, rng.randint(1, PRODUCTS), amount, rng.choice(STATUSES), placed))
    products = [(p, "product %02d" % p, decimal.Decimal(rng.randint(100, 20_000)).scaleb(-2))
                for p in range(1, PRODUCTS + 1)]
    return customers, orders, products


def create_schema(pg, db, partitioned):
    ddl = ["SET ROLE app;", "CREATE TABLE products (%s);" % PRODUCTS_COLUMNS]
    for table, columns in COLUMNS.items():
        if not partitioned:
            ddl.append("CREATE TABLE %s (%s);" % (table, columns))
            continue
        ddl.append("CREATE TABLE %s (%s) PARTITION BY HASH (customer_id);" % (table, columns))
        ddl += ["CREATE TABLE %s_p%d PARTITION OF %s FOR VALUES WITH (MODULUS %d, REMAINDER %d);"
                % (table, r, table, SHARDS, r) for r in range(SHARDS)]
    pg.sql("\n".join(ddl), db=db)


def copy_in(conn, table, rows=None, data=None):
    with conn.cursor() as cur:
        with cur.copy("COPY %s FROM STDIN" % table) as copy:
            if data is not None:
                copy.write(data)
            for row in rows or ():
                copy.write_row(row)


def copy_out(conn, query):
    data = bytearray()
    with conn.cursor() as cur:
        with cur.copy("COPY (%s) TO STDOUT" % query) as copy:
            for chunk in copy:
                data += chunk
    return bytes(data)


def load(pg):
    """reference gets every row; shard N gets partition N's rows (PostgreSQL's hash decides)."""
    dbs = ["reference"] + ["shard%d" % n for n in range(SHARDS)]
    pg.sql("".join("CREATE DATABASE %s OWNER app;\n" % db for db in dbs), db="postgres")
    customers, orders, products = make_rows()
    create_schema(pg, "reference", partitioned=True)
    with pg.superuser("reference") as ref:
        for table, rows in (("customers", customers), ("orders", orders), ("products", products)):
            copy_in(ref, table, rows)
        for n in range(SHARDS):
            create_schema(pg, "shard%d" % n, partitioned=False)
            with pg.superuser("shard%d" % n) as shard:
                for table in COLUMNS:
                    copy_in(shard, table, data=copy_out(ref, "SELECT * FROM %s_p%d" % (table, n)))
                copy_in(shard, "products", data=copy_out(ref, "SELECT * FROM products"))
                shard.execute("ANALYZE")
        ref.execute("ANALYZE")


def sharded_database(pg, **extra):
    shards = [{"primary": pg.address, "dbname": "shard%d" % n} for n in range(SHARDS)]
    sharding = {"key": "customer_id", "function": "hash", "tables": list(COLUMNS)}
    return dict({"shards": shards, "sharding": sharding, "pool_size": 4},
                **extra)


class World:
    """The server, the gateway in front of the shards, and 4 keys of each shard (customers with
    at least 3 orders, so a test that deletes one still reads some)."""

    def __init__(self, pg, gateway):
        self.pg, self.gateway = pg, gateway
        with pg.superuser("reference") as ref:
            self.keys = {n: [r[0] for r in ref.execute(
                "SELECT customer_id FROM customers_p%d WHERE customer_id IN "
                "(SELECT customer_id FROM orders GROUP BY customer_id HAVING count(*) >= 3) "
                "ORDER BY customer_id LIMIT 4" % n)] for n in range(SHARDS)}

    def reference(self, dbname="reference"):
        return psycopg.connect(host="127.0.0.1", port=self.pg.port, user=APP[0], password=APP[1],
                               dbname=dbname, autocommit=True)

    async def areference(self, dbname="reference"):
        return await asyncpg.connect(host="127.0.0.1", port=self.pg.port, user=APP[0], password=APP[1],
                                     database=dbname, timeout=wait_s(10))

    def gateway_connect(self, dbname="orders"):
        if SELF_CHECK:
            return self.reference(SELF_CHECK_COPY)
        return self.gateway.connect(dbname=dbname, autocommit=True)

    async def gateway_aconnect(self, dbname="orders"):
        if SELF_CHECK:
            return await self.areference(SELF_CHECK_COPY)
        return await self.gateway.aconnect(dbname=dbname)

    def shard_of(self, key):
        """Which partition PostgreSQL's hash gives `key` (asked of reference, not of scalegate)."""
        with self.reference() as ref:
            for n in range(SHARDS):
                if ref.execute("SELECT satisfies_hash_partition('customers'::regclass, %s, %s, %s::bigint)",
                               (SHARDS, n, key)).fetchone()[0]:
                    return n
        raise AssertionError("no partition for %r" % key)

    def new_keys_by_shard(self, start):
        """New customer ids from `start` upward, the first of each shard: {shard: id}."""
        found, key = {}, start
        while len(found) < SHARDS:
            found.setdefault(self.shard_of(key), key)
            key += 1
        return found


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    pg = PostgresServer().start()
    gateway = None
    try:
        load(pg)
        if SELF_CHECK:
            pg.sql("CREATE DATABASE %s TEMPLATE reference OWNER app" % SELF_CHECK_COPY, db="postgres")
        databases = {"orders": sharded_database(pg),
                     "orders_deny": sharded_database(pg, cross_shard="deny"),
                     "orders_unordered": sharded_database(pg, cross_shard="allow_unordered")}
        gateway = start_pooler("scalegate", pg, str(tmp_path_factory.mktemp("sharding")), databases=databases)
        yield World(pg, gateway)
    finally:
        if gateway is not None:
            stop_pooler(gateway)
        pg.stop()


# ---------------------------------------------------------------------------
# comparing answers
# ---------------------------------------------------------------------------
Answer = collections.namedtuple("Answer", "columns rows tag")


def answer(conn, sql, params=None, prepare=None):
    """columns (name, type OID), rows, command tag of one statement."""
    with conn.cursor() as cur:
        cur.execute(sql, params, prepare=prepare)
        columns = [(d.name, d.type_code) for d in cur.description] if cur.description else None
        return Answer(columns, cur.fetchall() if cur.description else [], cur.statusmessage)


def unordered(a):
    return Answer(a.columns, collections.Counter(a.rows), a.tag)


class Sides:
    """`reference` (the expected side) and scalegate's sharded database (connected on first use,
    autocommit, so BEGIN/COMMIT are the test's own statements)."""

    def __init__(self, world, dbname="orders"):
        self.world, self.dbname = world, dbname
        self.ref = world.reference()
        self._gw = None

    @property
    def gw(self):
        if self._gw is None:
            self._gw = self.world.gateway_connect(self.dbname)
        return self._gw

    def close(self):
        for conn in (self.ref, self._gw):
            if conn is not None:
                conn.close()

    def same(self, sql, params=None, ref_sql=None, ordered=True, prepare=None):
        """The statement answers through scalegate what `ref_sql` (default: the same) answers on
        reference; ordered=False compares the rows as multisets."""
        expected = answer(self.ref, ref_sql or sql, params, prepare)
        assert expected.rows, "reference answers no rows to %r: a weak check" % sql
        got = answer(self.gw, sql, params, prepare)
        if ordered:
            assert got == expected, sql
        else:
            assert unordered(got) == unordered(expected), sql
        return expected

    def write(self, sql, params=None):
        """A write through scalegate answers as on reference; reference's write commits only
        when scalegate's succeeded, so a refused write leaves both sides alike."""
        with self.ref.transaction():
            expected = answer(self.ref, sql, params)
            got = answer(self.gw, sql, params)
        assert got == expected, sql
        return expected

    def refused(self, sql, sqlstate, params=None, text=None):
        """scalegate refuses the statement with this SQLSTATE (and message part)."""
        gw = self.gw  # connected outside the raises block: a failed login is not the refusal
        with pytest.raises(psycopg.Error) as caught:
            gw.execute(sql, params)
        assert caught.value.sqlstate == sqlstate, "%r: %s %s" % (sql, caught.value.sqlstate, caught.value)
        if text:
            assert text in str(caught.value)


@pytest.fixture
def sides(world):
    s = Sides(world)
    yield s
    s.close()


def run_async(coro):
    return asyncio.run(asyncio.wait_for(coro, wait_s(60)))


async def async_answer(stmt, *args):
    """asyncpg prepared statement -> (columns (name, type OID), rows as tuples)."""
    return [(a.name, a.type.oid) for a in stmt.get_attributes()], [tuple(r) for r in await stmt.fetch(*args)]


def all_keys(world):
    return [k for n in range(SHARDS) for k in world.keys[n]]


# ---------------------------------------------------------------------------
# the data split (runs now)
# ---------------------------------------------------------------------------
def shard_of_tool(config, keys):
    r = subprocess.run([gateway_bin(), "pg", "shard-of", "-c", config, "-d", "orders"],
                       input="".join("%d\n" % k for k in keys), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [int(line) for line in r.stdout.split()]


def test_shards_hold_exactly_the_reference_partitions_and_scalegate_hashes_alike(world):
    pg = world.pg
    with pg.superuser("reference") as ref:
        for table, key_order in (("customers", "customer_id"), ("orders", "customer_id, order_id")):
            every = ref.execute("SELECT * FROM %s ORDER BY %s" % (table, key_order)).fetchall()
            union = []
            for n in range(SHARDS):
                part = ref.execute("SELECT * FROM %s_p%d ORDER BY %s" % (table, n, key_order)).fetchall()
                with pg.superuser("shard%d" % n) as shard:
                    rows = shard.execute("SELECT * FROM %s ORDER BY %s" % (table, key_order)).fetchall()
                assert rows == part, "shard%d.%s is not partition %d of reference" % (n, table, n)
                assert len(rows) > len(every) / SHARDS / 2, "the hash should spread %s" % table
                keys = sorted({r[1 if table == "orders" else 0] for r in rows})
                assert shard_of_tool(world.gateway.config_path, keys) == [n] * len(keys), \
                    "scalegate's shard of some keys of shard%d.%s differs" % (n, table)
                union += rows
            assert sorted(union) == sorted(every)
        assert len(every) > 2000, "a few thousand orders"
        products = ref.execute("SELECT * FROM products ORDER BY product_id").fetchall()
        for n in range(SHARDS):
            with pg.superuser("shard%d" % n) as shard:
                assert shard.execute("SELECT * FROM products ORDER BY product_id").fetchall() == products
    assert all(len(world.keys[n]) == 4 for n in range(SHARDS))


# ---------------------------------------------------------------------------
# one shard: by key
# ---------------------------------------------------------------------------
ORDERS_OF = "SELECT %s FROM orders WHERE customer_id = %%s ORDER BY order_id" % ORDER_COLUMNS


def test_point_reads_by_literal_key_in_simple_protocol(world, sides):
    for key in all_keys(world):
        sides.same("SELECT * FROM customers WHERE customer_id = %d" % key)
        sides.same("SELECT %s FROM orders WHERE customer_id = %d ORDER BY order_id" % (ORDER_COLUMNS, key))
        sides.same("SELECT count(*), sum(amount) FROM orders WHERE %d = customer_id" % key)


def test_point_reads_with_bound_key_parameter(world, sides):
    for key in all_keys(world):
        sides.same(ORDERS_OF, (key,))
        sides.same("SELECT name, region FROM customers WHERE customer_id = %s::bigint", (str(key),))


def test_one_prepared_statement_runs_on_every_shard_by_its_key(world, sides):
    for _ in range(2):  # the second round runs the statement prepared on the server
        for key in all_keys(world):
            sides.same(ORDERS_OF, (key,), prepare=True)


def test_asyncpg_prepared_statements_with_keys_on_every_shard(world):
    keys = all_keys(world)
    customer = "SELECT * FROM customers WHERE customer_id = $1"
    orders = "SELECT %s FROM orders WHERE customer_id = $1 AND status <> $2 ORDER BY order_id" % ORDER_COLUMNS

    async def answers(conn):
        out = []
        for sql, args in ((customer, ()), (orders, ("cancelled",))):
            stmt = await conn.prepare(sql)  # prepared before any key is known
            out += [await async_answer(stmt, key, *args) for key in keys]
        out.append(await async_answer(await conn.prepare(
            "SELECT customer_id, count(*) FROM orders WHERE customer_id = ANY($1::bigint[]) "
            "GROUP BY customer_id ORDER BY customer_id"), keys))
        return out

    async def check():
        ref = await world.areference()
        try:
            expected = await answers(ref)
        finally:
            await ref.close()
        assert all(rows for _, rows in expected)
        gw = await world.gateway_aconnect()
        try:
            assert await answers(gw) == expected
        finally:
            await gw.close()

    run_async(check())


def test_in_list_and_any_array_across_shards(world, sides):
    keys = [world.keys[n][0] for n in range(SHARDS)]
    sides.same("SELECT %s FROM orders WHERE customer_id IN (%d, %d, %d) ORDER BY customer_id, order_id"
               % ((ORDER_COLUMNS,) + tuple(keys)))
    sides.same("SELECT * FROM customers WHERE customer_id IN (%d, %d) ORDER BY name" % tuple(keys[:2]))
    sides.same("SELECT %s FROM orders WHERE customer_id = ANY(%%s) ORDER BY placed, order_id" % ORDER_COLUMNS,
               (keys,))
    sides.same("SELECT customer_id, sum(amount) FROM orders WHERE customer_id = ANY(%s) "
               "GROUP BY customer_id ORDER BY customer_id", (all_keys(world),))


def test_join_customers_and_orders_by_key(world, sides):
    for key in all_keys(world)[::2]:
        sides.same("SELECT c.name, c.region, o.order_id, o.amount FROM customers c "
                   "JOIN orders o ON o.customer_id = c.customer_id WHERE c.customer_id = %s "
                   "ORDER BY o.order_id", (key,))
        sides.same("SELECT c.name, p.name AS product, o.amount FROM orders o JOIN customers c USING (customer_id) "
                   "JOIN products p ON p.product_id = o.product_id WHERE o.customer_id = %d "
                   "ORDER BY o.order_id" % key)


# ---------------------------------------------------------------------------
# every shard: scatter-gather
# ---------------------------------------------------------------------------
def test_scatter_order_by_limit(sides):
    sides.same("SELECT %s FROM orders ORDER BY placed DESC, order_id DESC LIMIT 10" % ORDER_COLUMNS)
    sides.same("SELECT order_id, customer_id, amount FROM orders ORDER BY amount, order_id LIMIT 10")
    sides.same("SELECT customer_id, name, created FROM customers ORDER BY created DESC, customer_id LIMIT 10")
    sides.same("SELECT order_id, amount FROM orders WHERE status = %s ORDER BY amount DESC, order_id LIMIT %s",
               ("paid", 10))


def test_scatter_limit_offset(sides):
    sides.same("SELECT order_id, customer_id, placed FROM orders ORDER BY order_id LIMIT 10 OFFSET 25")
    sides.same("SELECT order_id, placed FROM orders ORDER BY placed, order_id LIMIT %s OFFSET %s", (7, 100))
    sides.same("SELECT customer_id FROM customers ORDER BY customer_id OFFSET 690")


def test_scatter_aggregates(sides):
    sides.same("SELECT count(*), sum(amount), avg(amount), min(amount), max(amount), min(placed), "
               "max(placed) FROM orders")
    sides.same("SELECT count(*), min(created), max(name) FROM customers")
    sides.same("SELECT count(*), sum(amount), avg(amount) FROM orders WHERE status = 'paid'")


def test_scatter_group_by_region_and_status(sides):
    sides.same("SELECT region, count(*), min(created), max(created) FROM customers GROUP BY region ORDER BY region")
    sides.same("SELECT c.region, count(*), sum(o.amount), avg(o.amount) FROM customers c "
               "JOIN orders o ON o.customer_id = c.customer_id GROUP BY c.region ORDER BY c.region")
    sides.same("SELECT status, count(*) AS n, max(amount) FROM orders GROUP BY status ORDER BY n DESC, status")


def test_scatter_join_with_unsharded_products(sides):
    sides.same("SELECT p.name, count(*), sum(o.amount) FROM orders o JOIN products p USING (product_id) "
               "GROUP BY p.name ORDER BY p.name")
    sides.same("SELECT o.order_id, p.name, o.amount FROM orders o JOIN products p ON p.product_id = o.product_id "
               "ORDER BY o.amount DESC, o.order_id LIMIT 10")


def test_scatter_without_order_by_returns_every_row(sides):
    sides.same("SELECT customer_id, name FROM customers WHERE region = 'eu'", ordered=False)


def test_unsharded_products_read_once_not_once_per_shard(sides):
    # products is on every shard: read alone it must come from one of them (sharding.tables
    # lists the sharded tables; products is not among them).
    sides.same("SELECT * FROM products ORDER BY product_id")
    sides.same("SELECT * FROM products WHERE product_id = %s", (7,))


# ---------------------------------------------------------------------------
# hints and cross_shard policies
# ---------------------------------------------------------------------------
@SHARDING_ONLY
def test_comment_hint_shard_reads_that_shard_only(sides):
    for n in range(SHARDS):
        sides.same("/* scalegate: shard=%d */ SELECT customer_id, name FROM customers ORDER BY customer_id" % n,
                   ref_sql="SELECT customer_id, name FROM customers_p%d ORDER BY customer_id" % n)
    sides.same("/* scalegate: shard=1 */ SELECT count(*), sum(amount) FROM orders",
               ref_sql="SELECT count(*), sum(amount) FROM orders_p1")


@SHARDING_ONLY
def test_set_scalegate_shard_reads_that_shard_until_reset(sides):
    sides.gw.execute("SET scalegate.shard = 2")
    sides.same("SELECT count(*), sum(amount) FROM orders", ref_sql="SELECT count(*), sum(amount) FROM orders_p2")
    sides.same("SELECT customer_id FROM customers ORDER BY customer_id LIMIT 5",
               ref_sql="SELECT customer_id FROM customers_p2 ORDER BY customer_id LIMIT 5")
    sides.gw.execute("RESET scalegate.shard")
    sides.same("SELECT count(*), sum(amount) FROM orders")


@SHARDING_ONLY
def test_cross_shard_deny_refuses_keyless_queries_only(world):
    s = Sides(world, "orders_deny")
    try:
        key = world.keys[1][0]
        s.same(ORDERS_OF, (key,))
        s.same("SELECT 1 AS one")
        assert s.ref.execute("SELECT count(*) FROM orders").fetchone()[0] > 0
        s.refused("SELECT count(*) FROM orders", "0A000")
        s.refused("SELECT * FROM customers ORDER BY customer_id LIMIT 3", "0A000")
    finally:
        s.close()


def test_cross_shard_allow_unordered_runs_refused_selects_on_every_shard(world):
    s = Sides(world, "orders_unordered")
    try:
        # A window partitioned by the key is whole on each shard: the concatenation is right.
        s.same("SELECT customer_id, order_id, rank() OVER (PARTITION BY customer_id ORDER BY amount DESC, order_id) "
               "FROM orders", ordered=False)
        s.same("SELECT customer_id, count(*) FROM orders GROUP BY customer_id HAVING count(*) > 5", ordered=False)
    finally:
        s.close()


# ---------------------------------------------------------------------------
# refused statements
# ---------------------------------------------------------------------------
@SHARDING_ONLY
def test_window_function_across_shards_refused(sides):
    sql = "SELECT order_id, rank() OVER (ORDER BY amount DESC) FROM orders"
    assert sides.ref.execute(sql).fetchall()
    sides.refused(sql, "0A000", text="across shards")


@SHARDING_ONLY
def test_transaction_touching_two_shards_refused_and_rolled_back(world, sides):
    a, b = world.keys[0][1], world.keys[2][1]
    before = ORDERS_OF.replace("%s", "%d")
    sides.gw.execute("BEGIN")
    sides.gw.execute("UPDATE orders SET status = 'moved' WHERE customer_id = %s", (a,))
    sides.refused("UPDATE orders SET status = 'moved' WHERE customer_id = %s", "0A000", (b,))
    sides.gw.execute("ROLLBACK")
    for key in (a, b):  # reference never ran the updates
        sides.same(before % key)


@SHARDING_ONLY
def test_multi_row_insert_spanning_shards_refused_one_shard_accepted(world, sides):
    new = world.new_keys_by_shard(NEW_CUSTOMER_IDS)
    sql = "INSERT INTO customers (customer_id, region, name, created) VALUES %s"
    row = "(%d, 'eu', 'new %d', '2026-01-01')"
    sides.refused(sql % ", ".join(row % (new[n], n) for n in (0, 1)), "0A000", text="one INSERT per shard")
    for n in (0, 1):
        sides.same("SELECT count(*) FROM customers WHERE customer_id = %d" % new[n])  # reference: 0 too
    # two rows of one shard: one INSERT is fine
    other = next(k for k in range(new[2] + 1, new[2] + 100) if world.shard_of(k) == 2)
    sides.write(sql % ", ".join(row % (k, i) for i, k in enumerate((new[2], other))) + " RETURNING *")
    sides.same("SELECT * FROM customers WHERE customer_id IN (%d, %d) ORDER BY customer_id" % (new[2], other))


@SHARDING_ONLY
def test_insert_without_column_list_refused(world, sides):
    key = world.new_keys_by_shard(NEW_CUSTOMER_IDS + 1000)[1]
    sides.refused("INSERT INTO customers VALUES (%d, 'us', 'no columns', '2026-01-01')" % key, "0A000")
    sides.same("SELECT count(*) FROM customers WHERE customer_id = %d" % key)


# ---------------------------------------------------------------------------
# writes by key, then reads
# ---------------------------------------------------------------------------
def test_single_row_inserts_on_every_shard_then_read(world, sides):
    new = world.new_keys_by_shard(NEW_CUSTOMER_IDS + 2000)
    for n, key in new.items():
        sides.write("INSERT INTO customers (customer_id, region, name, created) "
                    "VALUES (%d, 'latam', 'inserted %d', '2026-02-0%d')" % (key, n, n + 1))
        sides.write("INSERT INTO orders (order_id, customer_id, product_id, amount, status, placed) "
                    "VALUES (%s, %s, %s, %s, 'new', %s) RETURNING *",
                    (NEW_ORDER_IDS + n, key, n + 1, decimal.Decimal("12.34") * (n + 1),
                     datetime.datetime(2026, 3, 1, 12, n, tzinfo=datetime.timezone.utc)))
        sides.same(ORDERS_OF, (key,))
        sides.same("SELECT * FROM customers WHERE customer_id = %s", (key,))
    sides.same("SELECT count(*), sum(amount) FROM orders")


def test_updates_and_deletes_by_key_then_read(world, sides):
    for n in range(SHARDS):
        key = world.keys[n][2]
        sides.write("UPDATE orders SET amount = amount + 1.50, status = 'paid' WHERE customer_id = %s "
                    "RETURNING order_id, amount, status", (key,))
        sides.write("UPDATE customers SET region = 'eu' WHERE customer_id = %d" % key)
        sides.write("DELETE FROM orders WHERE customer_id = %s AND order_id = "
                    "(SELECT min(order_id) FROM orders WHERE customer_id = %s) RETURNING order_id", (key, key))
        sides.same(ORDERS_OF, (key,))
    sides.same("SELECT region, count(*) FROM customers GROUP BY region ORDER BY region")


def test_transaction_on_one_customer_commits_then_reads(world, sides):
    key = world.keys[1][3]
    with sides.ref.transaction():
        steps = [("UPDATE orders SET status = 'shipped' WHERE customer_id = %s AND status <> 'cancelled'", (key,)),
                 ("INSERT INTO orders (order_id, customer_id, product_id, amount, status, placed) "
                  "VALUES (%s, %s, 3, 99.99, 'new', '2026-04-01 10:00:00+00')", (NEW_ORDER_IDS + 100, key)),
                 ("SELECT count(*), sum(amount) FROM orders WHERE customer_id = %s", (key,))]
        expected = [answer(sides.ref, sql, params) for sql, params in steps]
        sides.gw.execute("BEGIN")
        got = [answer(sides.gw, sql, params) for sql, params in steps]
        sides.gw.execute("COMMIT")
    assert got == expected
    sides.same(ORDERS_OF, (key,))
    sides.same("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status")


def test_transaction_rolled_back_leaves_the_shard_unchanged(world, sides):
    key = world.keys[0][3]
    sides.gw.execute("BEGIN")
    sides.gw.execute("DELETE FROM orders WHERE customer_id = %s", (key,))
    assert sides.gw.execute("SELECT count(*) FROM orders WHERE customer_id = %s", (key,)).fetchone()[0] == 0
    sides.gw.execute("ROLLBACK")
    sides.same(ORDERS_OF, (key,))
