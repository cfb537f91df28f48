#!/usr/bin/python3
"""Warm after a restart (issue #14), with the real background worker (routed.databases names
this test's database; the cluster is restarted for it and reset afterwards).

A session with settings far from the defaults caches 30 documents. After a clean restart the
worker recomputes them as that role with those settings before anyone asks: the cache holds
them again within 5 s, and the session's first call of each is a hit equal to plain SQL; the
query statistics survive too. After a crash (immediate shutdown) nothing is replayed: the cache
and the statistics stay empty. routed.warm(doc)
warms one document on demand.

    warm.py --port 54329 --pgdata DIR
"""

import argparse
import time

import psycopg2

from stress import configure, connect, pg_ctl, verdict

DB = "routed_warm"
N = 30
SETTINGS = ["SET TimeZone = 'America/New_York'", "SET DateStyle = 'SQL, DMY'", "SET extra_float_digits = 0"]


def doc(i):
    return ('{"source": "wv", "time": {"from": "2026-10-%02dT00:00:00Z", "to": "2026-10-%02dT00:00:00Z", "granularity": "1 hour"},'
            ' "dimensions": ["shop"], "measures": [{"name": "n", "agg": "count"}, {"name": "v", "agg": "avg", "column": "v"}]}'
            % (1 + i % 28, 2 + i % 28)) if i < 28 else (
            '{"source": "wv", "time": {"from": "2026-10-01T00:00:00Z", "to": "2026-10-29T00:00:00Z", "granularity": "1 day"},'
            ' "dimensions": ["shop"], "measures": [{"name": "m%d", "agg": "max", "column": "v"}]}' % i)


def wait_up(port):
    for _ in range(300):
        try:
            connect(port, "postgres").close()
            return
        except psycopg2.OperationalError:
            time.sleep(0.1)
    raise SystemExit("server did not come back")


def setup(port):
    c = connect(port, "postgres")
    c.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
    c.cursor().execute(f"CREATE DATABASE {DB}")
    c.close()
    cur = connect(port, DB).cursor()
    cur.execute("CREATE EXTENSION pg_routed")
    cur.execute("CREATE TABLE wv (ts timestamptz NOT NULL, shop text, v float8)")
    cur.execute("""INSERT INTO wv SELECT timestamptz '2026-10-01' + i * interval '97 s', 'shop' || (i % 3), i / 7.0
                     FROM generate_series(1, 25000) i""")
    cur.execute("SELECT routed.track('wv', 'ts')")
    cur.connection.close()


def session(port):
    cur = connect(port, DB).cursor()
    for s in SETTINGS:
        cur.execute(s)
    return cur


def outcomes(cur):
    """meta.cache of each document's call, and whether every answer equals the base table's."""
    got, same = [], True
    for i in range(N):
        cur.execute("SELECT routed_query(%s, '0')", (doc(i),))
        a = cur.fetchone()[0]
        cur.execute("SET routed.enabled = off")
        cur.execute("SET routed.cache = off")
        cur.execute("SELECT routed_query(%s, '0')->'rows'", (doc(i),))
        same = same and cur.fetchone()[0] == a["rows"]
        cur.execute("RESET routed.enabled")
        cur.execute("RESET routed.cache")
        got.append(a["meta"]["cache"])
    return got, same


def entries(port):
    cur = connect(port, DB).cursor()
    cur.execute("SELECT entries FROM routed.cache_stats")
    n = cur.fetchone()[0]
    cur.connection.close()
    return n


def calls(port):
    """Calls recorded in routed.query_stats for this database."""
    cur = connect(port, DB).cursor()
    cur.execute("SELECT coalesce(sum(calls), 0) FROM routed.query_stats WHERE database = current_database()")
    n = int(cur.fetchone()[0])
    cur.connection.close()
    return n


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
        got, same = outcomes(cur)
        if got.count("miss") != N or not same:
            failures.append(f"first calls: {got}, equal to the base table: {same}")
        cur.connection.close()

        # a clean restart: the worker saves the entries and the statistics, and restores them
        before = calls(a.port)
        pg_ctl(a.pgdata, "-m", "fast", "restart")
        wait_up(a.port)
        up = time.time()
        while entries(a.port) < N and time.time() - up < 5:
            time.sleep(0.1)
        warmed_in = time.time() - up
        after = calls(a.port)
        print(f"warm: query statistics: {before} calls before the restart, {after} after it")
        if after < before:
            failures.append(f"query statistics lost in a clean restart: {before} calls, then {after}")
        cur = session(a.port)
        got, same = outcomes(cur)
        print(f"warm: {entries(a.port)} entries {warmed_in:.2f} s after the restart; first calls: "
              f"{got.count('hit')} hits of {N}, equal to the base table: {same}")
        if got.count("hit") != N or not same:
            failures.append(f"after a clean restart the first calls were {got} (equal: {same})")
        cur.connection.close()

        # a crash: nothing is replayed
        pg_ctl(a.pgdata, "-m", "immediate", "stop")
        pg_ctl(a.pgdata, "start")
        wait_up(a.port)
        time.sleep(3)
        n, q = entries(a.port), calls(a.port)
        print(f"warm: after a crash, {n} entries and {q} recorded calls 3 s after the start")
        if n != 0 or q != 0:
            failures.append(f"after a crash the cache holds {n} entries and {q} calls: an old save was replayed")

        # on demand
        cur = session(a.port)
        cur.execute("SELECT routed.warm(%s, '0')", (doc(0),))
        first = cur.fetchone()[0]["cache"]
        got, _ = outcomes(cur)
        if first != "miss" or got[0] != "hit":
            failures.append(f"routed.warm: {first}, then the document's call was a {got[0]}")
        cur.connection.close()
    finally:
        configure(a.port, a.pgdata, {"routed.databases": None})
        wait_up(a.port)
    verdict("warm", failures)


if __name__ == "__main__":
    main()
