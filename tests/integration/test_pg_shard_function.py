"""Sharding functions (src/pg/shard, not yet wired into routing) against a real PostgreSQL 15:
for tables PARTITION BY HASH (bigint, integer, text, char(n), uuid, date, timestamp, boolean,
and two columns), BY RANGE (bigint, text COLLATE "C") and BY LIST (text with a default,
char(n), bigint), with
3 partitions named t_0..t_2 (hash: REMAINDER 0..2), every row's shard from scalegate equals the
partition PostgreSQL put it in (tableoid), for keys in text and in binary format.

Scalegate's side is `scalegate pg shard-of -c CONFIG` (keys on stdin in COPY text format, one
shard per line), with the sharding written in the configuration file as users write it. Also:
`scalegate pg reshard-plan` against a 6-partition table, and config refusals via `check`."""
import json
import random
import subprocess
import uuid

import pytest

from environment import gateway_bin
from pg_support import pg_server  # noqa: F401

ROWS = 2000
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1

CONFIG = """postgres:
  listeners:
    - {{ name: main, address: 127.0.0.1:0 }}
  auth:
    type: trust
  databases:
    orders:
      shards:
        - {{ primary: 127.0.0.1:5432, dbname: orders_0 }}
        - {{ primary: 127.0.0.1:5432, dbname: orders_1 }}
        - {{ primary: 127.0.0.1:5433, dbname: orders_2 }}
      sharding:
{sharding}
"""


def write_config(tmp_path, sharding, name="scalegate.yaml"):
    lines = "".join("        %s\n" % line for line in sharding.strip().splitlines())
    path = tmp_path / name
    path.write_text(CONFIG.format(sharding=lines.rstrip("\n")))
    return str(path)


def scalegate(args, stdin=""):
    return subprocess.run([gateway_bin()] + args, input=stdin, capture_output=True, text=True,
                          timeout=60)


def shard_of(config, keys_text, binary=False):
    r = scalegate(["pg", "shard-of", "-c", config] + (["--binary"] if binary else []), keys_text)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def copy_out(conn, query):
    """COPY (query) TO STDOUT in text format: the lines, as PostgreSQL escapes them."""
    data = bytearray()
    with conn.cursor() as cur:
        with cur.copy("COPY (%s) TO STDOUT" % query) as copy:
            for chunk in copy:
                data += chunk
    return data.decode("utf-8").splitlines()


def make_partitioned(conn, table, columns, partition_by, bounds):
    """Table `table` PARTITION BY partition_by, with partition table_i FOR VALUES bounds[i]."""
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS %s" % table)
        cur.execute("CREATE TABLE %s (%s) PARTITION BY %s" % (table, columns, partition_by))
        for i, bound in enumerate(bounds):
            cur.execute("CREATE TABLE %s_%d PARTITION OF %s %s" % (table, i, table, bound))


def insert(conn, table, rows):
    with conn.cursor() as cur:
        with cur.copy("COPY %s FROM STDIN" % table) as copy:
            for row in rows:
                copy.write_row(row)


def check_table(conn, config, table, key_sql, send_sql=None):
    """Every row's shard (keys as text, and as binary when send_sql is given) is its partition."""
    rows = copy_out(conn, "SELECT tableoid::regclass::text, %s FROM %s" % (key_sql, table))
    assert len(rows) >= 100, "too few rows in %s" % table
    expected = [int(line.split("\t", 1)[0].rsplit("_", 1)[1]) for line in rows]
    keys = "".join(line.split("\t", 1)[1] + "\n" for line in rows)
    got = shard_of(config, keys)
    wrong = [(rows[i], got[i]) for i in range(len(rows)) if got[i] != str(expected[i])]
    assert not wrong, "%d of %d rows of %s on another shard, e.g. %r" % (len(wrong), len(rows), table,
                                                                          wrong[:5])
    assert len(set(expected)) == 3, "the rows of %s should fill all three partitions" % table
    if send_sql:
        hex_rows = copy_out(conn, "SELECT %s FROM %s" % (send_sql, table))
        got = shard_of(config, "".join(line + "\n" for line in hex_rows), binary=True)
        assert got == [str(e) for e in expected], "binary keys of %s" % table


HASH_BOUNDS = ["FOR VALUES WITH (MODULUS 3, REMAINDER %d)" % r for r in range(3)]


def bigints(rng):
    values = [0, 1, -1, INT64_MIN, INT64_MAX, 2**31, -2**31 - 1]
    while len(values) < ROWS:
        bits = rng.choice([8, 16, 31, 40, 63])
        values.append(rng.randint(-2**bits, 2**bits - 1))
    return values


def texts(rng):
    alphabet = "abcxyzABC019 -_.émöçß✓日本語🙂\t\\\n"
    values = ["", " ", "a", "eu", "hello", "12345678901", "123456789012", "1234567890123"]
    while len(values) < ROWS:
        values.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))))
    return values


@pytest.fixture(scope="module")
def conn(pg_server):
    c = pg_server.superuser()
    with c.cursor() as cur:
        cur.execute("SHOW server_encoding")
        assert cur.fetchone()[0] == "UTF8"
    yield c
    c.close()


def test_hash_bigint(conn, tmp_path):
    make_partitioned(conn, "hb", "k bigint", "HASH (k)", HASH_BOUNDS)
    insert(conn, "hb", [(v,) for v in bigints(random.Random(1))])
    config = write_config(tmp_path, "key: customer_id\nfunction: hash")  # type: bigint by default
    check_table(conn, config, "hb", "k", "encode(int8send(k), 'hex')")


def test_hash_integer_sent_as_int4_and_int8(conn, tmp_path):
    make_partitioned(conn, "hi", "k integer", "HASH (k)", HASH_BOUNDS)
    rng = random.Random(2)
    insert(conn, "hi", [(rng.randint(-2**31, 2**31 - 1),) for _ in range(500)])
    config = write_config(tmp_path, "key: id\ntype: integer")
    check_table(conn, config, "hi", "k", "encode(int4send(k), 'hex')")
    # A client may bind an int8 parameter for an integer column: same shard.
    check_table(conn, config, "hi", "k", "encode(int8send(k::bigint), 'hex')")


def test_hash_text_with_unicode_and_escapes(conn, tmp_path):
    make_partitioned(conn, "htx", "k text", "HASH (k)", HASH_BOUNDS)
    insert(conn, "htx", [(v,) for v in texts(random.Random(3))])
    config = write_config(tmp_path, "key: region\ntype: text")
    check_table(conn, config, "htx", "k", "encode(textsend(k), 'hex')")


def test_hash_and_list_character(conn, tmp_path):
    """char(n): trailing spaces do not count, in the hash as in comparisons."""
    make_partitioned(conn, "hc", "k char(12)", "HASH (k)", HASH_BOUNDS)
    rng = random.Random(10)
    insert(conn, "hc", [("".join(rng.choice("ab é✓") for _ in range(rng.randint(0, 12))),)
                        for _ in range(ROWS)])
    check_table(conn, write_config(tmp_path, "key: code\ntype: character"), "hc", "k",
                "encode(bpcharsend(k), 'hex')")
    make_partitioned(conn, "lc", "k char(4)", "LIST (k)", [
        "FOR VALUES IN ('eu', 'uk')", "FOR VALUES IN ('us')", "DEFAULT"])
    insert(conn, "lc", [(rng.choice(["eu", "uk ", "us", "jp", "", "eu  "]),) for _ in range(500)])
    config = write_config(tmp_path, "key: region\ntype: bpchar\nfunction: list\n"
                                    "lists: {eu: 0, uk: 0, us: 1}\ndefault: 2", "list.yaml")
    check_table(conn, config, "lc", "k")
    assert shard_of(config, "us   \n") == ["1"]


def test_hash_uuid(conn, tmp_path):
    make_partitioned(conn, "hu", "k uuid", "HASH (k)", HASH_BOUNDS)
    rng = random.Random(4)
    insert(conn, "hu", [(uuid.UUID(int=rng.getrandbits(128)),) for _ in range(ROWS)])
    config = write_config(tmp_path, "key: id\ntype: uuid")
    check_table(conn, config, "hu", "k", "encode(uuid_send(k), 'hex')")


def test_hash_date_timestamp_boolean(conn, tmp_path):
    make_partitioned(conn, "hd", "k date", "HASH (k)", HASH_BOUNDS)
    make_partitioned(conn, "hts", "k timestamp", "HASH (k)", HASH_BOUNDS)
    make_partitioned(conn, "hbo", "k boolean, n int", "HASH (k)", HASH_BOUNDS)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO hd SELECT date '1950-01-01' + g * 17 FROM generate_series(0, 1999) g")
        cur.execute("INSERT INTO hd VALUES ('infinity'), ('-infinity')")
        cur.execute("INSERT INTO hts SELECT timestamp '1960-02-29 13:14:15.123456' + g * interval "
                    "'3 days 7 hours 11.5 seconds' FROM generate_series(0, 1999) g")
        # Boolean has two values: two of the three partitions hold rows.
        cur.execute("INSERT INTO hbo SELECT g % 2 = 0, g FROM generate_series(1, 200) g")
    check_table(conn, write_config(tmp_path, "key: day\ntype: date"), "hd", "k",
                "encode(date_send(k), 'hex')")
    check_table(conn, write_config(tmp_path, "key: at\ntype: timestamp"), "hts", "k",
                "encode(timestamp_send(k), 'hex')")
    rows = copy_out(conn, "SELECT DISTINCT tableoid::regclass::text, k FROM hbo ORDER BY 2")
    config = write_config(tmp_path, "key: flag\ntype: boolean")
    assert shard_of(config, "f\nt\n") == [row.split("\t")[0].rsplit("_", 1)[1] for row in rows]
    assert shard_of(config, "01\n00\n", binary=True) == shard_of(config, "true\nfalse\n")


def test_hash_two_columns_with_nulls(conn, tmp_path):
    make_partitioned(conn, "h2", "a bigint, b text", "HASH (a, b)", HASH_BOUNDS)
    rng = random.Random(5)
    rows = [(rng.choice([None, rng.randint(-10**12, 10**12)]), rng.choice([None, "", "x", "ü" * 5]))
            for _ in range(ROWS)]
    insert(conn, "h2", rows)
    config = write_config(tmp_path, "key: [tenant_id, region]\ntype: [bigint, text]")
    check_table(conn, config, "h2", "a, b")


def test_range_bigint_and_text(conn, tmp_path):
    make_partitioned(conn, "rb", "k bigint", "RANGE (k)", [
        "FOR VALUES FROM (MINVALUE) TO (-1000)", "FOR VALUES FROM (-1000) TO (1000000)",
        "FOR VALUES FROM (1000000) TO (MAXVALUE)"])
    insert(conn, "rb", [(v,) for v in bigints(random.Random(6)) + [-1000, -1001, 999999, 1000000]])
    config = write_config(tmp_path, """key: user_id
function: range
ranges:
  - { shard: 2, from: 1000000, to: MAXVALUE }
  - { shard: 0, from: MINVALUE, to: -1000 }
  - { shard: 1, from: -1000, to: 1000000 }""")
    check_table(conn, config, "rb", "k", "encode(int8send(k), 'hex')")
    bounds = write_config(tmp_path, "key: user_id\nfunction: range\nranges: [-1000, 1000000, maxvalue]",
                          "bounds.yaml")
    check_table(conn, bounds, "rb", "k")
    # Text ranges compare bytes: the partitioned table must use the "C" collation.
    make_partitioned(conn, "rt", 'k text COLLATE "C"', "RANGE (k)", [
        "FOR VALUES FROM (MINVALUE) TO ('g')", "FOR VALUES FROM ('g') TO ('p')",
        "FOR VALUES FROM ('p') TO (MAXVALUE)"])
    insert(conn, "rt", [(v,) for v in texts(random.Random(7)) if v])
    config = write_config(tmp_path, "key: name\ntype: text\nfunction: range\nranges: [g, p, MAXVALUE]",
                          "text.yaml")
    check_table(conn, config, "rt", "k", "encode(textsend(k), 'hex')")


def test_range_gap_and_bad_keys_are_errors(tmp_path):
    config = write_config(tmp_path, """key: user_id
function: range
ranges:
  - { shard: 0, from: 1, to: 100 }
  - { shard: 1, from: 200, to: 300 }""")
    out = shard_of(config, "150\n99\nabc\n99999999999999999999\n\\N\n")
    assert out[0].startswith("error 23514 no shard for sharding key value \"150\""), out
    assert out[1] == "0"
    assert out[2] == 'error 22P02 invalid input syntax for type bigint: "abc"'
    assert out[3].startswith("error 22003 value \"99999999999999999999\" is out of range"), out
    assert out[4].startswith("error 23514 no shard for a NULL sharding key"), out
    assert shard_of(config, "000001\n0002\n", binary=True) == [
        "error 22P03 incorrect binary data format for type bigint (3 bytes)", "0"]


def test_list_text_with_default_and_bigint(conn, tmp_path):
    make_partitioned(conn, "lt", "k text", "LIST (k)", [
        "FOR VALUES IN ('eu', 'uk', 'de')", "FOR VALUES IN ('us', 'ca')", "DEFAULT"])
    rng = random.Random(8)
    regions = ["eu", "uk", "de", "us", "ca", "jp", "br", "EU", "", "日本"]
    insert(conn, "lt", [(rng.choice(regions),) for _ in range(ROWS)])
    config = write_config(tmp_path, """key: region
type: text
function: list
lists: { eu: 0, uk: 0, de: 0, us: 1, ca: 1 }
default: 2""")
    check_table(conn, config, "lt", "k", "encode(textsend(k), 'hex')")
    make_partitioned(conn, "lb", "k bigint", "LIST (k)", [
        "FOR VALUES IN (1, 2, 3)", "FOR VALUES IN (4, 5)", "FOR VALUES IN (6)"])
    insert(conn, "lb", [(rng.randint(1, 6),) for _ in range(ROWS)])
    config = write_config(tmp_path, "key: tier\nfunction: list\nlists: {1: 0, 2: 0, 3: 0, 4: 1, 5: 1, 6: 2}",
                          "bigint.yaml")
    check_table(conn, config, "lb", "k", "encode(int8send(k), 'hex')")
    assert shard_of(config, "7\n")[0].startswith("error 23514 no shard for sharding key value \"7\"")


def test_reshard_plan_hash_3_to_6_against_real_partitions(conn, tmp_path):
    """Growing 3 -> 6 moves exactly the rows whose remainder for 6 differs from that for 3, half of
    them, each to shard r + 3 of its old shard r; the plan's SQL selects exactly those rows."""
    values = bigints(random.Random(9))
    make_partitioned(conn, "g3", "k bigint", "HASH (k)", HASH_BOUNDS)
    make_partitioned(conn, "g6", "k bigint", "HASH (k)",
                     ["FOR VALUES WITH (MODULUS 6, REMAINDER %d)" % r for r in range(6)])
    insert(conn, "g3", [(v,) for v in values])
    insert(conn, "g6", [(v,) for v in values])
    config = write_config(tmp_path, "key: customer_id")
    r = scalegate(["pg", "reshard-plan", "-c", config, "--shards", "6", "--json"])
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["function"] == "hash" and plan["moved_fraction"] == 0.5
    moves = {(source, move["to_shard"]) for move in plan["moves"] for source in move["from_shards"]}
    assert moves == {(0, 3), (1, 4), (2, 5)}
    # (old partition, new partition) of every row; keys may repeat, rows are counted.
    rows = [(int(a[-1]), int(b[-1])) for a, b in (line.split("\t") for line in copy_out(
        conn, "SELECT g3.tableoid::regclass::text, g6.tableoid::regclass::text FROM g3 "
              "JOIN (SELECT DISTINCT ON (k) tableoid, k FROM g6) g6 USING (k)"))]
    assert len(rows) == len(values)
    assert {(a, b) for a, b in rows if a != b} <= moves
    fraction = sum(1 for a, b in rows if a != b) / len(rows)
    assert 0.45 < fraction < 0.55, fraction
    # The plan's condition, with its helper table, picks out the rows for new shard 3.
    text = scalegate(["pg", "reshard-plan", "-c", config, "--shards", "6"]).stdout
    assert "50.0% of the keys move" in text, text
    assert "to shard 3 (16.7% of the keys) from shard 0" in text, text
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE scalegate_shard_key (k bigint) PARTITION BY HASH (k)")
        cur.execute("SELECT count(*) FROM g3_0 WHERE satisfies_hash_partition("
                    "'scalegate_shard_key'::regclass, 6, 3, k)")
        assert cur.fetchone()[0] == sum(1 for a, b in rows if (a, b) == (0, 3))
    # 3 -> 4 moves three quarters and names 6 as the cheaper count.
    text = scalegate(["pg", "reshard-plan", "-c", config, "--shards", "4"]).stdout
    assert "75.0% of the keys move" in text and "6 shards instead would move 50.0%" in text, text


def test_reshard_plan_range_split_moves_only_that_range(tmp_path):
    before = write_config(tmp_path, "key: user_id\nfunction: range\nranges: [1000, 2000]")
    after = write_config(tmp_path, "key: user_id\nfunction: range\nranges: [1000, 1500, 2000]",
                         "after.yaml")
    r = scalegate(["pg", "reshard-plan", "-c", before, "--to", after])
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("database orders (key user_id): range sharding, 1 key range(s) change shard\n"
                        "  [1500, 2000): shard 1 -> shard 2 (500 key values)\n"), r.stdout
    r = scalegate(["pg", "reshard-plan", "-c", before, "--shards", "4"])
    assert r.returncode == 1 and "give the new layout with --to" in r.stderr, r.stderr


@pytest.mark.parametrize("sharding, extra, message", [
    ("key: id", "      primary: 127.0.0.1:5432\n",
     "postgres.databases.orders.primary: a sharded database has a primary per shard"),
    ("key: id\nfunction: range\nranges:\n  - { shard: 0, from: 1, to: 100 }\n"
     "  - { shard: 1, from: 50, to: 200 }", "",
     "postgres.databases.orders.sharding.ranges: ranges[1] overlaps ranges[0]"),
    ("key: id\nfunction: list\nlists: { 1: 0, 2: 5 }", "",
     "postgres.databases.orders.sharding.lists.2: names shard 5, but the database has 3 shards"),
    ("key: id\ntype: numeric", "", "postgres.databases.orders.sharding.type: unknown type 'numeric'"),
])
def test_check_refuses_bad_sharding(tmp_path, sharding, extra, message):
    path = write_config(tmp_path, sharding)
    with open(path) as f:
        text = f.read().replace("      sharding:\n", extra + "      sharding:\n")
    with open(path, "w") as f:
        f.write(text)
    r = scalegate(["check", "-c", path])
    assert r.returncode == 1, r.stdout
    assert message in r.stderr, r.stderr


def test_check_accepts_sharded_database(tmp_path):
    path = write_config(tmp_path, "key: customer_id\nfunction: hash\ntype: bigint")
    with open(path, "a") as f:
        f.write("      cross_shard: allow_unordered\n")
    r = scalegate(["check", "-c", path])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(": ok")
