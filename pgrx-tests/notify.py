#!/usr/bin/python3
"""Live change notifications (issue #14) with a real listening client (psycopg2).

A listener LISTENs on routed_changes and routed_refreshes while a writer with routed.notify on
commits and aborts: each committed transaction that changed the tracked source sends exactly one
routed_changes notification for it, whose range covers every time it changed (merged over its
statements) and which names the source's rollups; an aborted one and a writer with
routed.notify off send nothing; a transaction writing two sources sends one per source; a
refresh sends routed_refreshes with the rollup and its new watermark.

    notify.py --port 54329
"""

import argparse
import json
import select
import sys

from stress import connect

DB = "routed_notify"


def drain(listener, wait=1.0):
    """Every notification that arrives within `wait` seconds of the last one."""
    got = []
    while select.select([listener], [], [], wait) != ([], [], []):
        listener.poll()
        while listener.notifies:
            n = listener.notifies.pop(0)
            got.append((n.channel, json.loads(n.payload)))
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    c = connect(a.port, "postgres")
    c.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
    c.cursor().execute(f"CREATE DATABASE {DB}")
    c.close()
    w = connect(a.port, DB)
    cur = w.cursor()
    cur.execute("CREATE EXTENSION pg_routed")
    cur.execute("CREATE TABLE nev (ts timestamptz NOT NULL, shop text, qty int)")
    cur.execute("CREATE TABLE nother (ts timestamptz NOT NULL, v int)")
    cur.execute("INSERT INTO nev SELECT timestamptz '2026-11-01' + i * interval '1 min', 's' || (i % 3), i FROM generate_series(1, 3000) i")
    cur.execute("CALL routed.create_rollup('nev_hourly', 'nev', '1 hour', '{shop}', '[{\"agg\": \"count\"}]')")
    cur.execute("SELECT routed.track('nother', 'ts')")
    listener = connect(a.port, DB)
    listener.cursor().execute("LISTEN routed_changes; LISTEN routed_refreshes")
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f"{what}: got {got}, want {want}")

    # off by default: nothing
    cur.execute("INSERT INTO nev VALUES ('2026-11-02 10:00', 's1', 1)")
    expect("routed.notify off", drain(listener), [])
    cur.execute("SET routed.notify = on")
    # one transaction, three statements on one source: one notification, ranges merged
    w.autocommit = False
    cur.execute("INSERT INTO nev VALUES ('2026-11-02 10:00', 's1', 1)")
    cur.execute("UPDATE nev SET qty = qty + 1 WHERE ts = '2026-11-01 01:00'")
    cur.execute("DELETE FROM nev WHERE ts = '2026-11-02 23:30'")
    w.commit()
    expect("one transaction, three statements", drain(listener), [("routed_changes", {
        "source": "public.nev", "from": "2026-11-01T01:00:00+00:00", "to": "2026-11-02T23:30:00+00:00", "rollups": ["nev_hourly"]})])
    # an aborted transaction sends nothing, nor does its rolled-back work later
    cur.execute("INSERT INTO nev VALUES ('2026-11-03 10:00', 's1', 1)")
    w.rollback()
    expect("aborted", drain(listener), [])
    # two sources in one transaction: one each
    cur.execute("INSERT INTO nev VALUES ('2026-11-01 05:00', 's2', 1)")
    cur.execute("INSERT INTO nother VALUES ('2026-10-01 00:00', 1), ('2026-10-05 00:00', 2)")
    w.commit()
    got = sorted(drain(listener), key=lambda n: n[1]["source"])
    expect("two sources", got, [
        ("routed_changes", {"source": "public.nev", "from": "2026-11-01T05:00:00+00:00", "to": "2026-11-01T05:00:00+00:00", "rollups": ["nev_hourly"]}),
        ("routed_changes", {"source": "public.nother", "from": "2026-10-01T00:00:00+00:00", "to": "2026-10-05T00:00:00+00:00", "rollups": []})])
    # a statement that changed no rows notes no range
    cur.execute("DELETE FROM nev WHERE shop = 'none'")
    w.commit()
    expect("no rows changed", drain(listener), [])
    # TRUNCATE: everything
    cur.execute("TRUNCATE nother")
    w.commit()
    expect("truncate", drain(listener), [("routed_changes", {"source": "public.nother", "from": "-infinity", "to": "infinity", "rollups": []})])
    w.autocommit = True
    # a refresh
    cur.execute("CALL routed.refresh_rollup('nev_hourly')")
    cur.execute("SELECT to_json(watermark AT TIME ZONE 'UTC')#>>'{}' || '+00:00' FROM routed.rollup_catalog WHERE name = 'nev_hourly'")
    wm = cur.fetchone()[0]
    expect("refresh", drain(listener), [("routed_refreshes", {"rollup": "nev_hourly", "watermark": wm})])
    for f in failures:
        print(f"notify: FAILED: {f}")
    print(f"notify: {'all checks passed' if not failures else f'{len(failures)} checks failed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
