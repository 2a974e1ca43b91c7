"""/admin/stats carries the PostgreSQL side the dashboard's database tile shows: pools per
database and user (active, idle, size, clients waiting), as /health has them."""
from pg_support import pg_server, pooler, wait_s, wait_until  # noqa: F401


def test_stats_show_the_pools(pooler):  # noqa: F811
    target = pooler("scalegate", pool_size=1)
    holder = target.connect()
    holder.execute("SELECT 1")  # a transaction holds the only server
    try:
        def pool():
            r = target.admin_get("/admin/stats?points=0")
            assert r.status == 200, r
            # The pool appears with its first client, at the next sample.
            pools = r.json()["current"]["postgres"]["pools"].get("app")
            return pools[0] if pools else {}

        assert wait_until(lambda: pool().get("sv_active") == 1, wait_s(5)), pool()
        entry = pool()
        assert entry["user"] == "app" and entry["pool_size"] == 1 and entry["cl_waiting"] == 0, entry
        document = target.admin_get("/admin/stats?points=0").json()["current"]["postgres"]
        assert document["clients"] >= 1 and document["max_client_conn"] > 0, document
    finally:
        holder.rollback()
        holder.close()
