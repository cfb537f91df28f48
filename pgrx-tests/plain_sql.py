#!/usr/bin/env python3
"""Differential test of plain SQL (issue #15): generated queries in the shapes Grafana, Superset,
Metabase and hand-written dashboards send, each run with routed.transparent on and then off in
one REPEATABLE READ transaction (one snapshot), a quarter of them asked again (cache hits), on a tracked table with three rollups, while
another connection writes between queries (inserts at now and far back, updates moving rows
across buckets, deletes, aborted transactions) and rollups are refreshed. The native plan's
rows are the oracle: same column types, same values (float8 sums and averages merged from
rollup states within 1e-12 relative), same order wherever ORDER BY fixes it. Also counts how many
were routed (fails if fewer than half) and runs a prepared statement into its generic plan.

Talks through psycopg2, a real client. Writes a summary line; exit status 1 on any difference.

    plain_sql.py --port 54329 [--queries 1200] [--seed N]
"""

import argparse
import datetime as dt
import math
import random
import sys

import psycopg2

DB = "routed_plain"
T = "plain_events"
ZONES = ["UTC", "UTC", "America/New_York", "Asia/Kolkata", "Etc/GMT+5"]
REGIONS = ["eu", "us", "ap", None]
KINDS = ["click", "view", "buy"]


def connect(port, db=DB, autocommit=True):
    c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
    c.autocommit = autocommit
    return c


def setup(port, rng, rows):
    admin = connect(port, "postgres")
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    admin.close()
    c = connect(port)
    with c.cursor() as cur:
        cur.execute("SET client_min_messages = warning")
        cur.execute("CREATE EXTENSION pg_routed")
        cur.execute(f"""CREATE TABLE {T} (ts timestamptz NOT NULL, region text, kind text, qty int,
                        amount numeric, latency float8, user_id bigint)""")
        cur.execute(f"""INSERT INTO {T}
            SELECT now() - (random() * interval '40 days') + (CASE WHEN random() < 0.01 THEN interval '2 days' ELSE '0' END),
                   (ARRAY['eu','us','ap',NULL])[1 + (random() * 3.99)::int %% 4],
                   (ARRAY['click','view','buy'])[1 + (random() * 2.99)::int %% 3],
                   CASE WHEN random() < 0.05 THEN NULL ELSE (random() * 45)::int - 5 END,
                   CASE WHEN random() < 0.05 THEN NULL ELSE round((random() * 5000)::numeric, 2) END,
                   CASE WHEN random() < 0.05 THEN NULL ELSE round((random() * 900)::numeric, 1)::float8 END,
                   1 + (random() * 59)::int
              FROM generate_series(1, %s)""", (rows,))
        cur.execute(f"CREATE INDEX ON {T} (ts)")
        cur.execute(f"SELECT routed.track('{T}', 'ts')")
        measures = ('[{"agg":"count"},{"agg":"count","column":"qty"},{"agg":"sum","column":"qty"},'
                    '{"agg":"sum","column":"amount"},{"agg":"count","column":"amount"},'
                    '{"agg":"min","column":"latency"},{"agg":"max","column":"latency"},'
                    '{"agg":"sum","column":"latency"},{"agg":"count","column":"latency"}]')
        cur.execute(f"CALL routed.create_rollup('plain_hourly', '{T}', '1 hour', ARRAY['region','kind'], %s)", (measures,))
        cur.execute(f"CALL routed.create_rollup('plain_daily', '{T}', '1 day', ARRAY['region'], %s)", (measures,))
        cur.execute(f"CALL routed.create_rollup('plain_15m', '{T}', '15 minutes', ARRAY[]::text[], %s)", (measures,))
        cur.execute(f"ANALYZE {T}")
    return c


# ---------------------------------------------------------------- queries in the tools' shapes

BUCKETS = [
    ("grafana", lambda n: f"floor(extract(epoch from ts)/{n})*{n}", [60, 300, 900, 3600, 86400]),
    ("trunc", lambda u: f"date_trunc('{u}', ts)", ["minute", "hour", "hour", "day", "week", "month"]),
    ("superset", lambda u: f"DATE_TRUNC('{u}', ts)", ["hour", "day"]),
    ("bin", lambda w: f"date_bin('{w}', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00')", ["15 minutes", "1 hour", "2 hours"]),
    ("date", lambda _: "CAST(ts AS date)", [None]),
    # a named zone, whatever the session's (the answer is computed in it); CET is an abbreviation
    # (fixed +01:00, not the zone) and plans natively
    ("zoned", lambda uz: f"date_trunc('{uz[0]}', ts, '{uz[1]}')",
     [("day", "Asia/Kolkata"), ("hour", "America/New_York"), ("hour", "Asia/Kolkata"), ("day", "UTC"),
      ("week", "Europe/Paris"), ("hour", "CET")]),
]

AGGS = ["count(*)", "count(qty)", "sum(qty)", "sum(amount)", "min(latency)", "max(latency)",
        "avg(qty)", "avg(latency)", "sum(latency)", "min(amount)", "max(qty)",
        "count(DISTINCT user_id)", "percentile_cont(0.9) WITHIN GROUP (ORDER BY latency)",
        "count(*) FILTER (WHERE kind = 'buy')", "sum(qty) FILTER (WHERE region IN ('eu', 'us'))",
        "max(latency) FILTER (WHERE qty >= 10)"]

FILTERS = ["region = 'eu'", "kind <> 'view'", "region IN ('eu', 'ap')", "kind NOT IN ('click')",
           "region IS NULL", "region IS NOT NULL", "qty >= 3", "qty < 10", "user_id = 7",
           "amount > 100.5", "region IN ('us', NULL)"]


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def window(rng, now):
    """A WHERE on ts in one of the tools' forms, aligned to hours or not."""
    span = dt.timedelta(seconds=rng.choice([600, 3600 * 5, 86400, 86400 * 7, 86400 * 30]))
    end = now - dt.timedelta(seconds=rng.randrange(0, 86400 * 10))
    if rng.random() < 0.4:
        end = end.replace(minute=0, second=0, microsecond=0)
    start = end - span
    form = rng.randrange(5)
    if form == 0:  # Grafana $__timeFilter
        return f"ts BETWEEN '{stamp(start)}' AND '{stamp(end)}'"
    if form == 1:  # Superset
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        return (f"ts >= TO_TIMESTAMP('{start.strftime(fmt)}', 'YYYY-MM-DD HH24:MI:SS.US') AND "
                f"ts < TO_TIMESTAMP('{end.strftime(fmt)}', 'YYYY-MM-DD HH24:MI:SS.US')")
    if form == 2:  # hand-written, relative
        return f"ts > now() - interval '{rng.choice([1, 3, 7, 30])} days' AND ts <= now()"
    if form == 3:
        return f"ts >= '{stamp(start)}' AND ts < '{stamp(end)}'"
    return f"'{stamp(end)}' > ts AND ts > '{stamp(start)}'"


def query(rng, now):
    kind, make, args = rng.choice(BUCKETS + [(None, None, [None])] * 1)
    bucket = make(rng.choice(args)) if make else None
    dims = rng.sample(["region", "kind", "user_id"], rng.choice([0, 1, 1, 2]))
    aggs = rng.sample(AGGS, rng.randint(1, 4))
    where = [window(rng, now)] + rng.sample(FILTERS, rng.choice([0, 0, 1, 2]))
    select, group = [], []
    if bucket:
        select.append(f'{bucket} AS "time"')
        group.append("1")
    for d in dims:
        select.append(d)
        group.append(d)
    select += [f"{a} AS m{i}" for i, a in enumerate(aggs)]
    source = T
    if rng.random() < 0.25:  # Metabase: the table as a nested "source" of quoted, qualified columns
        cols = ", ".join(f'"public"."{T}"."{c}" AS "{c}"' for c in
                         ["ts", "region", "kind", "qty", "amount", "latency", "user_id"])
        source = f'(SELECT {cols} FROM "public"."{T}") AS "source"'
    sql = f"SELECT {', '.join(select)} FROM {source} WHERE {' AND '.join(where)}"
    if group:
        sql += " GROUP BY " + ", ".join(group)
    ordered = False
    keys = (["1"] if bucket else []) + dims
    if keys and rng.random() < 0.7:
        dirs = [k + rng.choice(["", " DESC"]) for k in keys]
        # a float8 sum or average merged from rollup states may differ in its last digits, and
        # so sort differently from an equal one: order first by exact measures only
        if rng.random() < 0.3 and aggs[0] not in ("sum(latency)", "avg(latency)"):
            dirs.insert(0, f"m0 {rng.choice(['ASC', 'DESC'])}")
        sql += " ORDER BY " + ", ".join(dirs)
        ordered = True
        if rng.random() < 0.4:
            sql += f" LIMIT {rng.choice([1, 5, 50, 10000])}"
    elif keys and rng.random() < 0.3:
        sql += " LIMIT 100000"
    return sql, ordered


# ---------------------------------------------------------------- comparison

def same_value(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return a == b


def same_rows(on, off, ordered):
    if len(on) != len(off):
        return False
    if not ordered:
        key = lambda r: tuple((x is None, str(x)) for x in r)
        on, off = sorted(on, key=key), sorted(off, key=key)
    return all(len(x) == len(y) and all(same_value(a, b) for a, b in zip(x, y)) for x, y in zip(on, off))


def run_both(c, sql, zone):
    """(rows on, rows off, types on, types off, routed?, from the cache?) in one snapshot."""
    with c.cursor() as cur:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        cur.execute("SET LOCAL TimeZone = %s", (zone,))
        cur.execute("SELECT coalesce((routed.last_meta()->>'answers')::bigint, 0)")
        before = cur.fetchone()[0]
        cur.execute("SET LOCAL routed.transparent = on")
        cur.execute(sql)
        on, on_types = cur.fetchall(), [d.type_code for d in cur.description]
        cur.execute("SELECT coalesce((routed.last_meta()->>'answers')::bigint, 0), routed.last_meta()->>'cache'")
        answers, cache = cur.fetchone()
        routed = answers > before
        hit = routed and cache == "hit"
        cur.execute("SET LOCAL routed.transparent = off")
        cur.execute(sql)
        off, off_types = cur.fetchall(), [d.type_code for d in cur.description]
        cur.execute("COMMIT")
    return on, off, on_types, off_types, routed, hit


def write(w, rng):
    with w.cursor() as cur:
        r = rng.randrange(6)
        if r == 0:
            cur.execute(f"INSERT INTO {T} SELECT now() - random() * interval '1 hour', 'eu', 'buy', 3, 9.99, 12.5, 7 FROM generate_series(1, 20)")
        elif r == 1:
            cur.execute(f"INSERT INTO {T} VALUES (now() - interval '12 days' - random() * interval '2 days', 'us', 'view', 5, 1.5, 400, 9)")
        elif r == 2:
            cur.execute(f"UPDATE {T} SET ts = ts - interval '3 hours', qty = qty + 1 WHERE ctid IN (SELECT ctid FROM {T} TABLESAMPLE SYSTEM (0.1) LIMIT 30)")
        elif r == 3:
            cur.execute(f"DELETE FROM {T} WHERE ctid IN (SELECT ctid FROM {T} TABLESAMPLE SYSTEM (0.1) LIMIT 25)")
        elif r == 4:
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO {T} VALUES (now() - interval '2 days', 'ap', 'click', 100, 100, 100, 1)")
            cur.execute("ROLLBACK")
        else:
            cur.execute("SELECT name FROM routed.rollups")
            for (name,) in cur.fetchall():
                cur.execute("CALL routed.refresh_rollup(%s)", (name,))


def prepared_phase(c, now):
    """A prepared statement run into its generic plan routes with its parameters."""
    fails = 0
    with c.cursor() as cur:
        cur.execute("SET routed.transparent = on")
        cur.execute(f"""PREPARE p(timestamptz, timestamptz, text) AS
            SELECT date_trunc('hour', ts) AS hour, kind, count(*), sum(qty) FROM {T}
             WHERE ts >= $1 AND ts < $2 AND region = $3 GROUP BY 1, 2 ORDER BY 1, 2""")
        routed = 0
        for i in range(10):
            end = now - dt.timedelta(hours=7 * i, minutes=13)
            args = (end - dt.timedelta(days=2), end, REGIONS[i % 3])
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            cur.execute("SELECT coalesce((routed.last_meta()->>'answers')::bigint, 0)")
            before = cur.fetchone()[0]
            cur.execute("EXECUTE p(%s, %s, %s)", args)
            on = cur.fetchall()
            cur.execute("SELECT coalesce((routed.last_meta()->>'answers')::bigint, 0)")
            routed += cur.fetchone()[0] > before
            cur.execute("SET LOCAL routed.transparent = off")
            cur.execute(f"""SELECT date_trunc('hour', ts) AS hour, kind, count(*), sum(qty) FROM {T}
                 WHERE ts >= %s AND ts < %s AND region = %s GROUP BY 1, 2 ORDER BY 1, 2""", args)
            off = cur.fetchall()
            cur.execute("COMMIT")
            if on != off:
                fails += 1
                print(f"prepared execution {i} differs: {on[:3]} vs {off[:3]}")
        cur.execute("DEALLOCATE p")
        cur.execute("SET routed.transparent = off")
    print(f"prepared statement: 10 executions (generic plan after 5), {routed} routed, {fails} differences")
    return fails + (routed < 10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=54329)
    ap.add_argument("--queries", type=int, default=1200)
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    c = setup(a.port, rng, a.rows)
    w = connect(a.port)
    with c.cursor() as cur:
        cur.execute("SELECT now()")
        now = cur.fetchone()[0]
    routed = diffs = hits = 0
    asked = []
    for i in range(a.queries):
        if i % 15 == 0:
            write(w, rng)
        # a quarter ask again what was asked before: cache hits, and entries a write invalidated
        if asked and rng.random() < 0.25:
            sql, ordered, zone = rng.choice(asked)
        else:
            sql, ordered = query(rng, now)
            zone = rng.choice(ZONES)
            asked.append((sql, ordered, zone))
        on, off, ton, toff, was_routed, was_hit = run_both(c, sql, zone)
        routed += was_routed
        hits += was_hit
        if ton != toff or not same_rows(on, off, ordered):
            diffs += 1
            if diffs <= 5:
                print(f"DIFFERENT (TimeZone {zone}, routed {was_routed}): {sql}\n  on:  {on[:4]} {ton}\n  off: {off[:4]} {toff}")
    diffs += prepared_phase(c, now)
    print(f"plain SQL differential (seed {seed}): {a.queries} queries, {routed} routed ({hits} from the cache), {diffs} differences")
    if hits == 0:
        sys.exit("no routed query was answered from the cache")
    if diffs:
        sys.exit(1)
    if routed * 2 < a.queries:
        sys.exit(f"only {routed} of {a.queries} queries were routed (at least half must be)")


if __name__ == "__main__":
    main()
