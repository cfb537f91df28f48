#!/usr/bin/python3
"""Stale-while-revalidate, with the real background worker (routed.databases names this test's
database; the cluster is restarted for it and reset afterwards).

A session with settings far from the defaults (search_path, TimeZone, DateStyle, IntervalStyle,
extra_float_digits, bytea_output) asks a relative-window document at a 6 s budget: a miss, then,
after more than half the budget, a stale hit that flags the entry. The worker must recompute it
within a few seconds, as the same role with the same settings: the session's next hit is
younger than the one that flagged it (a worker that lost a setting stores under another key and
leaves the session's entry to age), and its rows equal plain SQL in the session. A session with
a temporary table flags its own entry too; the worker must skip it without failing.

    revalidate.py --port 54329 --pgdata DIR
"""

import argparse
import sys
import time

from stress import configure, connect, parse_interval, verdict, wait_up

DB = "routed_revalidate"
BUDGET = 6.0
DOC = ('{"source": "rv", "time": {"from": "now-1d", "granularity": "1 day"},'
       ' "dimensions": ["shop"], "measures": [{"name": "n", "agg": "count"}, {"name": "v", "agg": "avg", "column": "v"}]}')
PLAIN = """SELECT coalesce(jsonb_agg(jsonb_build_array(b, shop, n, v) ORDER BY b, shop), '[]') FROM (
             SELECT date_trunc('day', ts) AS b, shop, count(*) AS n, avg(v) AS v
               FROM rv WHERE ts >= now() - interval '1 day' GROUP BY 1, 2) s"""
SETTINGS = ["SET search_path = rvs, public", "SET TimeZone = 'Asia/Kolkata'", "SET DateStyle = 'SQL, DMY'",
            "SET IntervalStyle = 'sql_standard'", "SET extra_float_digits = 0", "SET bytea_output = 'escape'"]


def setup(port):
    c = connect(port, "postgres")
    c.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
    c.cursor().execute(f"CREATE DATABASE {DB}")
    c.close()
    cur = connect(port, DB).cursor()
    cur.execute("CREATE EXTENSION pg_routed")
    cur.execute("CREATE SCHEMA rvs")
    cur.execute("CREATE TABLE rvs.rv (ts timestamptz NOT NULL, shop text, v float8)")
    cur.execute("""INSERT INTO rvs.rv SELECT now() - i * interval '7 s', 'shop' || (i % 3), i / 7.0
                     FROM generate_series(1, 500) i""")
    cur.execute("SELECT routed.track('rvs.rv', 'ts')")
    cur.connection.close()


def session(port):
    cur = connect(port, DB).cursor()
    for s in SETTINGS:
        cur.execute(s)
    return cur


def ask(cur):
    cur.execute("SELECT routed_query(%s, %s * interval '1 s')", (DOC, BUDGET))
    meta = cur.fetchone()[0]["meta"]
    return meta["cache"], parse_interval(meta["staleness"])


def revalidations(cur):
    cur.execute("SELECT revalidations FROM routed.cache_stats")
    return cur.fetchone()[0]


def flag(cur, what, failures):
    """Asks until a hit is older than half the budget (that hit flags the entry); its age."""
    deadline = time.time() + 3 * BUDGET
    while time.time() < deadline:
        outcome, age = ask(cur)
        if outcome == "hit" and age > BUDGET / 2:
            return age
        time.sleep(0.5)
    failures.append(f"{what}: no hit older than half the budget (last {outcome} at {age:.1f} s)")
    return 0.0


def refreshed(cur, before, flagged_age, what, failures):
    """Waits for the worker (up to 10 s), then checks the entry is younger than when flagged."""
    deadline = time.time() + 10
    while revalidations(cur) == before and time.time() < deadline:
        time.sleep(0.2)
    outcome, age = ask(cur)
    print(f"revalidate: {what}: flagged at {flagged_age:.1f} s; {revalidations(cur) - before} revalidation(s); "
          f"next call {outcome} at {age:.1f} s")
    if revalidations(cur) == before:
        failures.append(f"{what}: the worker did not revalidate the flagged entry")
    if outcome != "hit" or age >= flagged_age:
        failures.append(f"{what}: the session's entry was not refreshed (next call {outcome} at {age:.1f} s): "
                        f"the worker lost a setting")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pgdata", required=True)
    a = p.parse_args()
    failures = []
    setup(a.port)
    try:
        configure(a.port, a.pgdata, {"routed.databases": DB})
        wait_up(a.port)
        cur = session(a.port)
        if ask(cur)[0] != "miss":
            failures.append("the first call was not a miss")
        before = revalidations(cur)
        refreshed(cur, before, flag(cur, "settings", failures), "settings", failures)
        cur.execute(f"SELECT routed_query(%s, %s * interval '1 s')->'rows' = ({PLAIN})", (DOC, BUDGET))
        if not cur.fetchone()[0]:
            failures.append("the revalidated answer differs from plain SQL")

        # a session with a temporary schema has its own keys, which the worker cannot reproduce
        temp = session(a.port)
        temp.execute("CREATE TEMP TABLE scratch (x int)")
        ask(temp)
        flag(temp, "temporary schema", failures)
        time.sleep(2.5)
        outcome, age = ask(temp)
        print(f"revalidate: a session with a temporary schema keeps its own entry ({outcome} at {age:.1f} s)")
        if outcome != "hit" or age <= BUDGET / 2:
            failures.append(f"temporary schema: {outcome} at {age:.1f} s, expected its own aging entry")
        # and the worker goes on serving the others
        before = revalidations(cur)
        refreshed(cur, before, flag(cur, "settings again", failures), "after skipping", failures)
    finally:
        configure(a.port, a.pgdata, {"routed.databases": None})
        wait_up(a.port)
    verdict("revalidate", failures)


if __name__ == "__main__":
    main()
