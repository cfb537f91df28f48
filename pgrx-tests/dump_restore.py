#!/usr/bin/python3
"""pg_dump / pg_restore round trips and upgrades of a database with rollups (issue #14).

A source with an hourly and a daily rollup, late inserts (deltas), an update and a delete not yet
refreshed (logged ranges), all dumped once; then restored five ways: `pg_dump -Fc` + `pg_restore`,
`pg_restore --jobs 2`, plain `pg_dump | psql`, a `--schema-only` restore followed by a
`--data-only --disable-triggers` one, and `--no-owner` into a database owned by another role.
After each restore:
  * routed.rollups lists both rollups with the dumped watermarks and pending changes;
  * answers at budget 0 equal the base table's, and come from the rollups;
  * after writes in the restored database (insert now, late insert, update, delete) and a
    refresh, every rollup row equals a rebuild's (a fresh create_rollup of the same definition),
    so nothing was lost or counted twice.
A pg_dump taken while a refresh of many steps runs neither blocks it nor sees it half done: its
restore passes the same checks. A dump that leaves one source out restores the rest, warns about
that source's rollup and leaves it listed but unused; a renamed source keeps its name in the
catalogs. DROP EXTENSION ... CASCADE leaves no capture trigger behind.
The same checks after `ALTER EXTENSION pg_routed UPDATE` of the same database created at each
released version with rollups (0.2.0, 0.3.0), which must also give existing rollups their
covering index.

    dump_restore.py --port 54329 --pgbin /usr/lib/postgresql/15/bin
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

from stress import connect

SRC = "routed_dump_src"
MEASURES = ('[{"agg": "count"}, {"agg": "sum", "column": "qty"}, {"agg": "avg", "column": "price"},'
            ' {"agg": "max", "column": "qty"}]')
DOC = ('{"source": "ev", "time": {"from": "%s", "to": "%s"}, "dimensions": ["shop"],'
       ' "measures": [{"name": "n", "agg": "count"}, {"name": "q", "agg": "sum", "column": "qty"},'
       ' {"name": "m", "agg": "max", "column": "qty"}, {"name": "p", "agg": "avg", "column": "price"}],'
       ' "order": [{"by": "shop"}]}')
CATALOG = """SELECT name, watermark, pending_ranges, pending_deltas, rows FROM routed.rollups ORDER BY name"""


def run(*args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {r.stderr[-2000:]}")
    return r.stdout


def recreate(port, db, owner="postgres"):
    c = connect(port, "postgres")
    c.cursor().execute(f"DROP DATABASE IF EXISTS {db}")
    c.cursor().execute(f"CREATE DATABASE {db} OWNER {owner}")
    c.close()


def setup(port, db=SRC, version=None):
    recreate(port, db)
    c = connect(port, db)
    cur = c.cursor()
    cur.execute("CREATE EXTENSION pg_routed" + (f" VERSION '{version}'" if version else ""))
    cur.execute("CREATE TABLE ev (ts timestamptz NOT NULL, shop text, qty int, price numeric)")
    cur.execute("""INSERT INTO ev SELECT now() - interval '3 days' + i * interval '37 s', 'shop' || (i % 4), i % 11, i % 7 + 0.5
                     FROM generate_series(1, 7000) i""")
    cur.execute(f"CALL routed.create_rollup('ev_hourly', 'ev', '1 hour', '{{shop}}', '{MEASURES}')")
    cur.execute(f"CALL routed.create_rollup('ev_daily', 'ev', '1 day', '{{shop}}', '{MEASURES}')")
    # pending work the dump must carry: late inserts (deltas), an update and a delete (ranges)
    cur.execute("INSERT INTO ev SELECT now() - interval '2 days' - i * interval '1 min', 'shop9', 5, 1 FROM generate_series(1, 30) i")
    cur.execute("UPDATE ev SET qty = qty + 100 WHERE ts < now() - interval '50 hours' AND ts > now() - interval '51 hours'")
    cur.execute("DELETE FROM ev WHERE ts < now() - interval '60 hours' AND ts > now() - interval '61 hours' AND shop = 'shop1'")
    cur.execute("INSERT INTO ev SELECT now() - i * interval '1 s', 'shop2', 1, 1 FROM generate_series(1, 20) i")
    # a second source, left out of one dump (a partial restore)
    cur.execute("CREATE TABLE ev2 (ts timestamptz NOT NULL, v int)")
    cur.execute("INSERT INTO ev2 SELECT now() - i * interval '1 min', i FROM generate_series(1, 500) i")
    cur.execute("""CALL routed.create_rollup('ev2_hourly', 'ev2', '1 hour', '{}', '[{"agg": "count"}]')""")
    cur.execute(CATALOG)
    catalog = cur.fetchall()
    assert all(r[2] > 0 and r[3] > 0 for r in catalog if r[0] != "ev2_hourly"), f"the source should have pending changes: {catalog}"
    c.close()
    return catalog


def answers_equal_base(cur, where):
    """At budget 0 every answer equals the base table's, and some come from the rollups."""
    sources = set()
    for frm, to in [("now-3d", "now"), ("now-70h", "now-20h"), ("now-2d", "now-1d")]:
        doc = DOC % (frm, to)
        cur.execute("SELECT routed_query(%s, '0')", (doc,))
        routed = cur.fetchone()[0]
        cur.execute("SET LOCAL routed.enabled = off")
        cur.execute("SELECT routed_query(%s, '0')", (doc,))
        base = cur.fetchone()[0]
        cur.execute("SET LOCAL routed.enabled = on")
        if routed["rows"] != base["rows"]:
            raise AssertionError(f"{where}: {frm}..{to} from {routed['meta']['source']} differs from the base table:\n"
                                 f"{routed['rows']}\n{base['rows']}")
        sources.add(routed["meta"]["source"])
    if not sources & {"rollup", "rollup+base"}:
        raise AssertionError(f"{where}: no answer came from a rollup: {sources}")


def equals_rebuild(cur, where):
    """Every rollup row (deltas merged by a refresh) equals a fresh rebuild's."""
    for name, width in [("ev_hourly", "1 hour"), ("ev_daily", "1 day")]:
        cur.execute(f"CALL routed.create_rollup('{name}_check', 'ev', '{width}', '{{shop}}', '{MEASURES}')")
        # states per bucket and shop, the rollup's rows and its deltas merged (the partial bucket
        # at the watermark lives in the deltas)
        merged = lambda r: (f'SELECT bucket, shop, sum("count(*)"), sum("sum(qty)"), sum("avg_sum(price)"), '
                            f'sum("count(price)"), max("max(qty)") FROM (SELECT * FROM routed.{r} UNION ALL '
                            f'SELECT * FROM routed."{r}$delta") u GROUP BY 1, 2')
        for a, b in [(name, f"{name}_check"), (f"{name}_check", name)]:
            cur.execute(f"SELECT count(*) FROM ({merged(a)} EXCEPT ALL {merged(b)}) d")
            n = cur.fetchone()[0]
            if n:
                raise AssertionError(f"{where}: {n} rows of {a} are not in {b}")
        cur.execute(f"SELECT routed.drop_rollup('{name}_check')")


def check(port, db, catalog, where):
    c = connect(port, db)
    cur = c.cursor()
    cur.execute(CATALOG)
    got = cur.fetchall()
    if catalog is not None and got != catalog:
        raise AssertionError(f"{where}: routed.rollups after the restore\n{got}\nexpected\n{catalog}")
    c.autocommit = False
    answers_equal_base(cur, where + ", restored")
    c.commit()
    c.autocommit = True
    cur.execute("INSERT INTO ev SELECT now() - i * interval '2 s', 'shop3', 2, 2 FROM generate_series(1, 10) i")
    cur.execute("INSERT INTO ev VALUES (now() - interval '40 hours', 'shop0', 7, 3)")
    cur.execute("UPDATE ev SET price = price + 1 WHERE ts > now() - interval '30 hours' AND ts < now() - interval '29 hours'")
    cur.execute("DELETE FROM ev WHERE shop = 'shop9' AND ts > now() - interval '49 hours'")
    c.autocommit = False
    answers_equal_base(cur, where + ", written after the restore")
    c.commit()
    c.autocommit = True
    cur.execute("CALL routed.refresh_rollup('ev_hourly')")
    cur.execute("CALL routed.refresh_rollup('ev_daily')")
    cur.execute("SELECT count(*) FROM routed.invalidations")
    assert cur.fetchone()[0] == 0, f"{where}: the refresh left logged ranges"
    equals_rebuild(cur, where)
    c.close()


def partial_restore(port, bin_, conn, catalog):
    """A restore without one source warns, keeps that source's rollup listed but unused, and
    restores everything else exactly; a renamed source keeps its name in the catalogs."""
    db = "routed_dump_partial"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "partial.dump")
        run(bin_("pg_dump"), *conn, "-Fc", "--exclude-table", "ev2", "-f", path, SRC)
        recreate(port, db)
        # (pg_restore shows server warnings with --verbose; they are in the server log anyway)
        r = subprocess.run([bin_("pg_restore"), *conn, "--verbose", "-d", db, path], capture_output=True, text=True)
    assert r.returncode == 0, f"pg_restore failed: {r.stderr[-1500:]}"
    c = connect(port, db)
    cur = c.cursor()
    cur.execute("SELECT name, source FROM routed.rollups ORDER BY name")
    listed = cur.fetchall()
    assert listed == [("ev2_hourly", None), ("ev_daily", "ev"), ("ev_hourly", "ev")], f"routed.rollups: {listed}"
    cur.execute("SELECT source::text FROM routed.sources")
    assert cur.fetchall() == [("ev",)], "ev2 should no longer be tracked"
    try:
        cur.execute("CALL routed.refresh_rollup('ev2_hourly')")
        raise AssertionError("refreshing a rollup without its source should fail")
    except Exception as e:
        assert getattr(e, "pgcode", None) == "55000" and "is unused" in str(e), f"refresh: {e}"
    cur.execute("SELECT routed.drop_rollup('ev2_hourly')")
    # a renamed source keeps its name in the catalogs (and so in the next dump)
    cur.execute("ALTER TABLE ev RENAME TO ev_renamed")
    cur.execute("SELECT source_name FROM routed.tracked UNION ALL SELECT DISTINCT source_name FROM routed.rollup_catalog")
    names = cur.fetchall()
    cur.execute("ALTER TABLE ev_renamed RENAME TO ev")
    assert names == [("public.ev_renamed",)] * 2, f"names after a rename: {names}"
    c.close()
    check(port, db, [row for row in catalog if row[0] != "ev2_hourly"], "a restore without ev2")
    assert "rollup ev2_hourly is unused: its source public.ev2 was not restored" in r.stderr, \
        f"the restore did not warn about ev2_hourly's source: {r.stderr[-800:]}"
    return 0


def dump_during_refresh(port, bin_, conn):
    """A refresh of several steps started while pg_dump runs finishes before the dump does
    (it is not blocked by it), and the dump restores to a database that answers exactly."""
    c = connect(port, SRC)
    cur = c.cursor()
    # a table that keeps pg_dump busy for a few seconds
    cur.execute("CREATE TABLE ev_bulk AS SELECT i, md5(i::text) AS t FROM generate_series(1, 1500000) i")
    # late rows (deltas) and scattered deletes (logged ranges) for the refresh to fold in
    for i in range(200):
        cur.execute("""INSERT INTO ev SELECT now() - interval '70 hours' + (random() * 60) * interval '1 hour',
                       'shop' || (j % 4), j % 11, 2 FROM generate_series(1, 50) j""")
    for i in range(100):
        cur.execute(f"DELETE FROM ev WHERE ctid = (SELECT ctid FROM ev OFFSET {i * 50} LIMIT 1)")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "during.dump")
        dump = subprocess.Popen([bin_("pg_dump"), *conn, "-Fc", "-f", path, SRC], stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        t = time.monotonic()
        cur.execute("CALL routed.refresh_rollup('ev_hourly')")
        seconds = time.monotonic() - t
        running = dump.poll() is None
        _, err = dump.communicate()
        where = f"pg_dump during a refresh ({seconds:.2f} s)"
        try:
            assert dump.returncode == 0, f"pg_dump failed: {err[-500:]}"
            assert running, "the refresh finished only after the dump: blocked by it?"
            cur.execute("""SELECT count(*) FROM routed.invalidations i JOIN routed.rollup_catalog r ON r.id = i.rollup_id
                            WHERE r.name = 'ev_hourly'""")
            assert cur.fetchone()[0] == 0, "the refresh left logged ranges"
            db = "routed_dump_during"
            recreate(port, db)
            run(bin_("pg_restore"), *conn, "-d", db, path)
            check(port, db, None, where)
            print(f"dump/restore: {where}: ok")
        except Exception as e:
            failures += 1
            print(f"dump/restore: {where}: FAILED: {e}")
    cur.execute("DROP TABLE ev_bulk")
    c.close()
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pgbin", required=True)
    a = ap.parse_args()
    bin_ = lambda n: os.path.join(a.pgbin, n)
    conn = ["-h", "127.0.0.1", "-p", str(a.port), "-U", "postgres"]
    catalog = setup(a.port)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "src.dump")
        run(bin_("pg_dump"), *conn, "-Fc", "-f", dump, SRC)
        plain = run(bin_("pg_dump"), *conn, SRC)
        c = connect(a.port, "postgres")
        c.cursor().execute("DROP DATABASE IF EXISTS routed_dump_owner")
        c.cursor().execute("DROP ROLE IF EXISTS routed_restorer")
        c.cursor().execute("CREATE ROLE routed_restorer LOGIN")
        c.close()
        ways = [
            ("pg_restore", lambda db: run(bin_("pg_restore"), *conn, "-d", db, dump)),
            ("pg_restore --jobs 2", lambda db: run(bin_("pg_restore"), *conn, "--jobs", "2", "-d", db, dump)),
            ("pg_dump | psql", lambda db: run(bin_("psql"), *conn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, input=plain)),
            ("--schema-only, then --data-only --disable-triggers", lambda db: (
                run(bin_("pg_restore"), *conn, "--schema-only", "-d", db, dump),
                run(bin_("pg_restore"), *conn, "--data-only", "--disable-triggers", "-d", db, dump))),
        ]
        for i, (where, restore) in enumerate(ways):
            db = f"routed_dump_{i}"
            try:
                recreate(a.port, db)
                restore(db)
                check(a.port, db, catalog, where)
                print(f"dump/restore: {where}: ok")
            except Exception as e:  # report every way, then fail
                failures += 1
                print(f"dump/restore: {where}: FAILED: {e}")
        # into a database owned by another role, without the dump's owners (the extension created first)
        where = "--no-owner into another role's database"
        try:
            db = "routed_dump_owner"
            recreate(a.port, db, owner="routed_restorer")
            run(bin_("psql"), *conn, "-X", "-q", "-d", db, "-c", "CREATE EXTENSION pg_routed")
            run(bin_("pg_restore"), *conn, "--no-owner", "-d", db, dump)
            check(a.port, db, catalog, where)
            print(f"dump/restore: {where}: ok")
        except Exception as e:
            failures += 1
            print(f"dump/restore: {where}: FAILED: {e}")
    where = "a dump without one source (pg_dump --exclude-table ev2)"
    try:
        failures += partial_restore(a.port, bin_, conn, catalog)
        print(f"dump/restore: {where}: ok")
    except Exception as e:
        failures += 1
        print(f"dump/restore: {where}: FAILED: {e}")
    where = "pg_dump during a refresh"
    try:
        failures += dump_during_refresh(a.port, bin_, conn)
    except Exception as e:
        failures += 1
        print(f"dump/restore: {where}: FAILED: {e}")
    where = "DROP EXTENSION CASCADE"
    try:
        c = connect(a.port, SRC)
        cur = c.cursor()
        cur.execute("DROP EXTENSION pg_routed CASCADE")
        cur.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'routed%'")
        n = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'routed'")
        assert n == 0 and cur.fetchone()[0] == 0, f"{n} capture triggers or the schema left behind"
        cur.execute("INSERT INTO ev VALUES (now(), 'shop1', 1, 1)")   # writes go on without it
        c.close()
        print(f"dump/restore: {where}: ok")
    except Exception as e:
        failures += 1
        print(f"dump/restore: {where}: FAILED: {e}")
    for version in ["0.2.0", "0.3.0"]:
        where = f"upgrade from {version} with data"
        db = f"routed_upgrade_{version.replace('.', '_')}"
        try:
            catalog = setup(a.port, db, version)
            c = connect(a.port, db)
            c.cursor().execute("ALTER EXTENSION pg_routed UPDATE")
            cur = c.cursor()
            cur.execute("""SELECT count(*) FROM routed.rollups r, unnest(r.indexes) i WHERE i LIKE '%(shop, bucket) INCLUDE%'""")
            assert cur.fetchone()[0] == 2, f"{where}: existing rollups have no covering index"
            c.close()
            check(a.port, db, catalog, where)
            print(f"upgrade: {where}: ok")
        except Exception as e:
            failures += 1
            print(f"upgrade: {where}: FAILED: {e}")
    print(f"dump/restore and upgrades: {10 - failures} of 10 passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
