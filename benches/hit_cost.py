#!/usr/bin/python3
"""What a cache hit costs inside PostgreSQL, without the network round trip: one statement calls
routed_query on the same cached document N times, against the same statement over the answer's
jsonb as a constant (the baseline: the loop, the count). The minimum of R runs of each is taken
(the least disturbed by other work on the machine); the difference per call is the hit's cost.
On the demo cluster; writes the `hit-cost` section of benches/RESULTS.md.

    benches/hit_cost.py [calls per run, default 20000] [runs, default 25] [--print]

With --print it prints "hit hit_out" (µs per call) and writes nothing (benches/compare_builds.sh).
"""
import datetime
import os
import subprocess
import sys
import time

import psycopg2

ARGS = [a for a in sys.argv[1:] if a != "--print"]
PRINT_ONLY = "--print" in sys.argv[1:]
N = int(ARGS[0]) if len(ARGS) > 0 else 20000
RUNS = int(ARGS[1]) if len(ARGS) > 1 else 25
HERE = os.path.dirname(os.path.abspath(__file__))
PORT = int(os.environ.get("PG_ROUTED_DEMO_PORT", "54321"))

yesterday = datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)
day_before = yesterday - datetime.timedelta(days=1)
# the single-stat panel of benches/cache.sh: runs per status over one past day
DOC = ('{"source": "metrics", "time": {"from": "%sT00:00:00Z", "to": "%sT00:00:00Z"}, '
       '"dimensions": ["status"], "measures": [{"name": "runs", "agg": "count"}]}') % (day_before, yesterday)

conn = psycopg2.connect(host="127.0.0.1", port=PORT, user="postgres", dbname="routed_demo")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT routed_query(%s)::text", (DOC,))
cur.execute("SELECT routed_query(%s)", (DOC,))
answer = cur.fetchone()[0]
if answer["meta"]["cache"] != "hit":
    sys.exit(f"hit_cost: the document is not answered from the cache: {answer['meta']}")


def best(sql, arg):
    fastest = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        cur.execute(sql, (arg, N))
        fastest = min(fastest, time.perf_counter() - started)
    return fastest * 1e6 / N


cur.execute("SELECT routed_query(%s)::text", (DOC,))
constant = cur.fetchone()[0]
hit = best("SELECT count(routed_query(%s)) FROM generate_series(1, %s)", DOC)
base = best("SELECT count(%s::jsonb) FROM generate_series(1, %s)", constant)
hit_out = best("SELECT count(jsonb_out(routed_query(%s))) FROM generate_series(1, %s)", DOC)
base_out = best("SELECT count(jsonb_out(%s::jsonb)) FROM generate_series(1, %s)", constant)

if PRINT_ONLY:
    print(f"{hit - base:.3f} {hit_out - base_out:.3f}")
    sys.exit(0)
pg = cur.connection.server_version
section = f"""## What a cache hit costs inside the server

Produced by `benches/hit_cost.py {N} {RUNS}` on {datetime.date.today()} (PostgreSQL {pg // 10000}.{pg % 10000},
release build, demo cluster): one statement calls `routed_query` {N:,} times on the cached
single-stat document (budget 0), against the same statement over its answer as a jsonb constant;
the fastest of {RUNS} runs each. No network, no client: the cost the cache adds to a round trip.

| | µs per call |
|---|---|
| cache hit, answer built (minus the constant's loop) | **{hit - base:.2f}** |
| cache hit, answer built and printed by `jsonb_out` (minus the same for the constant) | **{hit_out - base_out:.2f}** |
| the constant's loop itself | {base:.2f} |
"""
path = os.path.join(HERE, "hit_cost.md")
open(path, "w").write(section)
subprocess.run([sys.executable, os.path.join(HERE, "write_section.py"), os.path.join(HERE, "RESULTS.md"), "hit-cost", path], check=True)
os.remove(path)
print(section)
