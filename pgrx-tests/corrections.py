#!/usr/bin/python3
"""Corrections at bucket precision (issue #17, part 5), against a real server.

A source of 30 days with an hourly rollup takes a steady stream of 10,000 single-row correction
statements (UPDATEs of random past rows, each its own transaction), then one DELETE of rows
scattered over the month:

* each statement logs exactly the hours its rows touched (the DELETE: one row per distinct hour
  of its rows, not one span over the month);
* answers at budget 0 equal the base table's every 1,000 statements;
* routed._compact_invalidations (run by the background worker every routed.refresh_naptime)
  leaves one row per run of touched hours, so the log stays small;
* a refresh consumes the whole log and leaves the rollup equal, row for row, to a rebuild.

Prints the log's size before and after compaction and the refresh's cost beside a rebuild's
(reported, not asserted: timings belong to benches/).

    corrections.py --port 54329 [--statements 10000]
"""

import argparse
import datetime as dt
import json
import random
import sys
import time

from stress import connect

DB = "routed_corrections"
DAYS = 30
ROWS = 300_000
START = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
DOC = json.dumps({
    "source": "c",
    "time": {"column": "ts", "from": "2026-10-01T00:00:00Z", "to": "2026-10-31T00:00:00Z", "granularity": "1 day"},
    "dimensions": ["k"],
    "measures": [{"name": "n", "agg": "count"}, {"name": "s", "agg": "sum", "column": "v"},
                 {"name": "hi", "agg": "max", "column": "v"}],
})


def fail(msg):
    print(f"corrections: FAIL {msg}")
    sys.exit(1)


def one(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchone()[0]


def exact(cur, what):
    """The routed answer at budget 0 against the base table's."""
    routed = one(cur, "SELECT routed_query(%s::jsonb, '0')", (DOC,))
    cur.execute("SET routed.enabled = off")
    base = one(cur, "SELECT routed_query(%s::jsonb, '0')", (DOC,))
    cur.execute("RESET routed.enabled")
    if routed["rows"] != base["rows"]:
        fail(f"{what}: the answer differs from the base table's")
    return routed["meta"]["source"]


def hour_of(ts):
    return ts.replace(minute=0, second=0, microsecond=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--statements", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    admin = connect(a.port, "postgres")
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
    admin.cursor().execute(f"CREATE DATABASE {DB}")
    c = connect(a.port, DB)
    cur = c.cursor()
    cur.execute("SET client_min_messages = warning; SET routed.cache = off")
    cur.execute("CREATE EXTENSION pg_routed")
    cur.execute("CREATE TABLE c (id int PRIMARY KEY, ts timestamptz NOT NULL, k int, v int)")
    cur.execute(
        "INSERT INTO c SELECT i, %s::timestamptz + (i * (%s::float8 / %s)) * interval '1 day', i %% 7, i %% 1000 "
        "FROM generate_series(0, %s - 1) AS i", (START, DAYS, ROWS, ROWS))
    cur.execute("CREATE INDEX ON c (ts); ANALYZE c")
    cur.execute("""CALL routed.create_rollup('c_hourly', 'c', '1 hour', '{k}',
                   '[{"agg": "count"}, {"agg": "sum", "column": "v"}, {"agg": "max", "column": "v"}]')""")
    cur.execute("SELECT id, ts FROM c")
    ts_of = dict(cur.fetchall())
    print(f"corrections: seed {a.seed}, {ROWS} rows over {DAYS} days, rollup c_hourly")

    hours = set()
    for i in range(1, a.statements + 1):
        row = rng.randrange(ROWS)
        hours.add(hour_of(ts_of[row]))
        cur.execute("UPDATE c SET v = v + 1 WHERE id = %s", (row,))
        if i % 1000 == 0:
            exact(cur, f"after {i} corrections")
    logged = one(cur, "SELECT count(*) FROM routed.invalidations")
    if logged != a.statements:
        fail(f"{a.statements} single-row corrections logged {logged} rows (one each expected)")

    # one DELETE of rows scattered over the month: one row per distinct hour, not a span
    doomed = rng.sample(sorted(ts_of), 200)
    doomed_hours = {hour_of(ts_of[r]) for r in doomed}
    cur.execute("DELETE FROM c WHERE id = ANY(%s)", (doomed,))
    delete_rows = one(cur, "SELECT count(*) FROM routed.invalidations") - logged
    # adjacent hours are one range
    runs = sum(1 for h in doomed_hours if h - dt.timedelta(hours=1) not in doomed_hours)
    if delete_rows != runs:
        fail(f"a DELETE touching {len(doomed_hours)} hours in {runs} runs logged {delete_rows} ranges")
    exact(cur, "after the scattered DELETE")
    hours |= doomed_hours
    before = logged + delete_rows

    saved = one(cur, "SELECT routed._compact_invalidations()")
    after = one(cur, "SELECT count(*) FROM routed.invalidations")
    cur.execute("SELECT lo, hi FROM routed.invalidations")
    compacted = set()
    for lo, hi in cur.fetchall():
        h = lo.astimezone(dt.timezone.utc)
        while h <= hi:
            compacted.add(h)
            h += dt.timedelta(hours=1)
    if after != before - saved or after > len(hours) or compacted != hours:
        fail(f"compaction left {after} rows covering {len(compacted)} hours for {len(hours)} touched hours")
    exact(cur, "after compaction")

    t0 = time.monotonic()
    cur.execute("CALL routed.refresh_rollup('c_hourly')")
    refresh_ms = (time.monotonic() - t0) * 1000
    if one(cur, "SELECT count(*) FROM routed.invalidations") != 0:
        fail("the refresh left logged changes")
    if exact(cur, "after the refresh") != "rollup":
        fail("after the refresh the answer does not read the rollup")
    t0 = time.monotonic()
    cur.execute("""CALL routed.create_rollup('c_rebuilt', 'c', '1 hour', '{k}',
                   '[{"agg": "count"}, {"agg": "sum", "column": "v"}, {"agg": "max", "column": "v"}]')""")
    rebuild_ms = (time.monotonic() - t0) * 1000
    differ = one(cur, """SELECT count(*) FROM ((TABLE routed.c_hourly EXCEPT ALL TABLE routed.c_rebuilt)
                                              UNION ALL (TABLE routed.c_rebuilt EXCEPT ALL TABLE routed.c_hourly)) d""")
    if differ:
        fail(f"{differ} rollup rows differ from a rebuild's after the refresh")
    print(f"corrections: {a.statements} corrections + 1 DELETE of {len(doomed)} rows logged {before} rows; "
          f"compacted to {after} ({len(hours)} hours touched); refresh {refresh_ms:.0f} ms, "
          f"rebuild {rebuild_ms:.0f} ms; rollup equal to the rebuild")
    c.close()
    admin.cursor().execute(f"DROP DATABASE {DB}")
    print("corrections: ok")


if __name__ == "__main__":
    main()
