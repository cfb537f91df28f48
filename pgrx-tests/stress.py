#!/usr/bin/python3
"""Concurrency proof of the result cache, with real backends.

1. Coalescing: a backend computing a document is held by a lock on the source; a second one
   asking the same document waits on the cache (pg_stat_activity shows wait_event_type
   Extension), then answers `coalesced` with the first one's result.
2. Stress (--seconds, default 60): 8 readers cycle budgets 0, 30 s and 5 min over documents with
   closed windows, windows reaching now, relative windows and no window, while writers insert
   rows at now and late (some transactions aborted) and move rows between groups. Every answer
   at budget 0 must equal plain SQL run in the same statement; every answer within a budget
   must claim a staleness <= the budget, and be true: it includes every commit made before
   (call time - claimed staleness) and nothing not yet committed when it returned (checked
   against the writers' own commit log). Zero violations allowed.
3. The same with a cache smaller than the working set and a change ring that wraps constantly
   (restart with routed.cache_size = 128kB, routed.change_ring_size = 16).
4. SIGKILL of a backend while readers hammer the cache: the cluster restarts, and answers are
   right afterwards.

    stress.py --port 54329 --pgdata DIR [--seconds 60]

Needs psycopg2 (Debian: python3-psycopg2) and runs pg_ctl as the postgres user when root.
"""

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import psycopg2

DB = "routed_stress"
PG_BIN = os.environ.get("PG_ROUTED_PG_BIN", "/usr/lib/postgresql/15/bin")
K = 5
BUDGETS = [0, 30, 300]


def connect(port, db=DB):
    c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
    c.autocommit = True
    return c


def iso(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()


def parse_interval(text):
    days = 0.0
    if "day" in text:
        d, text = text.split(" day")
        days = float(d)
        text = text.split(" ", 1)[1] if " " in text else "00:00:00"
    h, m, s = text.split(":")
    return days * 86400 + int(h) * 3600 + int(m) * 60 + float(s)


class Doc:
    """A document over table st: from/to either absolute instants or seconds before now."""

    def __init__(self, name, frm=None, to=None, rel=None):
        self.name, self.frm, self.to, self.rel = name, frm, to, rel
        time_ = None
        if rel is not None:
            time_ = {"from": f"now-{rel}s"}
        elif frm is not None:
            time_ = {"from": iso(frm), "to": iso(to)}
        d = {"source": "st", "dimensions": ["k"],
             "measures": [{"agg": "count", "name": "n"}, {"agg": "sum", "column": "v", "name": "s"}]}
        if time_:
            d["time"] = time_
        self.json = json.dumps(d)

    def plain_where(self):
        if self.rel is not None:
            return f"ts >= now() - interval '{self.rel} seconds' AND ts < now()"
        if self.frm is not None:
            return f"ts >= '{iso(self.frm)}' AND ts < '{iso(self.to)}'"
        return "true"

    def window(self, as_of):
        if self.rel is not None:
            return as_of - self.rel, as_of
        if self.frm is not None:
            return self.frm, self.to
        return float("-inf"), float("inf")


class Log:
    """The writers' commit log: [t_before_commit, t_after_commit or None, [(ts, v)]]."""

    def __init__(self, seed):
        self.lock = threading.Lock()
        self.seed = seed
        self.commits = []

    def begin_commit(self, before, rows):
        """Logged before COMMIT is sent, so a reader never misses a commit it may see."""
        with self.lock:
            self.commits.append([before, None, rows])
            return len(self.commits) - 1

    def committed(self, i, after):
        with self.lock:
            self.commits[i][1] = after

    def bounds(self, lo, hi, committed_before, started_before):
        """(count, sum) that must be included, and that may be included, in [lo, hi)."""
        def tally(rows):
            n = s = 0
            for ts, v in rows:
                if lo <= ts < hi:
                    n += 1
                    s += v
            return n, s
        must = list(tally(self.seed))
        may = list(must)
        with self.lock:
            commits = [tuple(c) for c in self.commits]
        for before, after, rows in commits:
            n, s = tally(rows)
            if after is not None and after < committed_before:
                must[0] += n
                must[1] += s
            if before < started_before:
                may[0] += n
                may[1] += s
        return must, may


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.answers = 0
        self.by_cache = {}
        self.by_budget_hit = {b: [0, 0] for b in BUDGETS}
        self.violations = []

    def count(self, budget, cache):
        with self.lock:
            self.answers += 1
            self.by_cache[cache] = self.by_cache.get(cache, 0) + 1
            self.by_budget_hit[budget][1] += 1
            if cache in ("hit", "coalesced"):
                self.by_budget_hit[budget][0] += 1

    def violation(self, what):
        with self.lock:
            if len(self.violations) < 20:
                print("VIOLATION:", what, flush=True)
            self.violations.append(what)


def totals(rows):
    n = sum(int(r[1]) for r in rows)
    s = sum(int(r[2]) for r in rows)
    return n, s


def check_exact(cur, doc, stats, when):
    """One answer at budget 0 against plain SQL in the same statement (same snapshot)."""
    cur.execute(
        "SELECT routed_query(%s::jsonb, '0')::text, "
        "(SELECT coalesce(json_agg(json_build_array(k, n, s) ORDER BY k), '[]')::text FROM "
        f"(SELECT k, count(*) n, sum(v) s FROM st WHERE {doc.plain_where()} GROUP BY k) q)",
        (doc.json,))
    answer, plain = cur.fetchone()
    a = json.loads(answer)
    stats.count(0, a["meta"]["cache"])
    if a["rows"] != json.loads(plain):
        stats.violation(f"{doc.name} {when} ({a['meta']['cache']}): {a['rows']} != {plain}")
    if parse_interval(a["meta"]["staleness"]) != 0:
        stats.violation(f"{doc.name} {when} claims staleness {a['meta']['staleness']}")


def reader(port, docs, log, stats, deadline, rng):
    conn = connect(port)
    cur = conn.cursor()
    i = rng.randrange(len(BUDGETS))
    while time.time() < deadline:
        doc = rng.choice(docs)
        budget = BUDGETS[i % len(BUDGETS)]
        i += 1
        try:
            t_call = time.time()
            if budget == 0:
                check_exact(cur, doc, stats, "at budget 0")
            else:
                cur.execute("SELECT routed_query(%s::jsonb, make_interval(secs => %s))::text", (doc.json, budget))
                a = json.loads(cur.fetchone()[0])
                t_ret = time.time()
                stats.count(budget, a["meta"]["cache"])
                claimed = parse_interval(a["meta"]["staleness"])
                as_of = dt.datetime.fromisoformat(a["meta"]["as_of"]).timestamp()
                if claimed > budget:
                    stats.violation(f"{doc.name}: staleness {claimed} s over budget {budget} s")
                if doc.rel is not None and claimed + 0.001 < t_call - as_of:
                    stats.violation(f"{doc.name}: relative window computed at {as_of} claims {claimed} s at {t_call}")
                lo, hi = doc.window(as_of)
                must, may = log.bounds(lo, hi, t_call - claimed, t_ret)
                got = totals(a["rows"])
                if not (must[0] <= got[0] <= may[0] and must[1] <= got[1] <= may[1]):
                    stats.violation(f"{doc.name} budget {budget} ({a['meta']['cache']}, claims {claimed:.6f} s): "
                                    f"totals {got} outside must {must} .. may {may}")
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            return
    conn.close()


def writer(port, log, deadline, rng, late, updates):
    conn = connect(port)
    conn.autocommit = False
    cur = conn.cursor()
    while time.time() < deadline:
        now = time.time()
        n = rng.randint(1, 4)
        if late:
            rows = [(now - rng.uniform(60, 9 * 86400), rng.randint(1, 1000)) for _ in range(n)]
        else:
            rows = [(now - rng.uniform(0, 5), rng.randint(1, 1000)) for _ in range(n)]
        try:
            cur.executemany("INSERT INTO st (ts, k, v) VALUES (to_timestamp(%s), %s, %s)",
                            [(ts, rng.randrange(K), v) for ts, v in rows])
            if updates and rng.random() < 0.3:
                # moves rows between groups: totals stay, groups change
                cur.execute("UPDATE st SET k = (k + 1) %% %s WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
                            (K, now - 86400 * rng.uniform(1, 8), now - 86400 * rng.uniform(0, 1)))
            if rng.random() < 0.1:
                conn.rollback()
            else:
                i = log.begin_commit(time.time(), rows)
                conn.commit()
                log.committed(i, time.time())
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            return
        time.sleep(rng.uniform(0.002, 0.01))
    conn.close()


def setup(port, rng):
    admin = connect(port, "postgres")
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
    admin.cursor().execute(f"CREATE DATABASE {DB}")
    admin.close()
    conn = connect(port)
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION pg_routed")
    cur.execute("CREATE TABLE st (ts timestamptz NOT NULL, k int, v bigint)")
    now = time.time()
    seed = [(now - rng.uniform(0, 10 * 86400), rng.randint(1, 1000)) for _ in range(20000)]
    cur.executemany("INSERT INTO st (ts, k, v) VALUES (to_timestamp(%s), %s, %s)",
                    [(ts, rng.randrange(K), v) for ts, v in seed])
    cur.execute("CREATE INDEX ON st (ts)")
    cur.execute("SELECT routed.track('st', 'ts')")
    cur.execute("ANALYZE st")
    conn.close()
    return Log(seed), now


def documents(now, n_closed=0, rng=None):
    day = 86400
    start = now - now % day
    docs = [
        Doc("closed-day", start - 2 * day, start - day),
        Doc("closed-week", start - 7 * day, start - 5 * day),
        Doc("reaching-now", start - day, start + day),
        Doc("last-hour", rel=3600),
        Doc("last-day", rel=86400),
        Doc("everything"),
        Doc("late-window", start - 9 * day, start - 8 * day),
    ]
    for i in range(n_closed):
        a = start - rng.uniform(1, 9) * day
        docs.append(Doc(f"closed-{i}", a, a + rng.uniform(600, day)))
    return docs


def cache_stats(port):
    conn = connect(port)
    cur = conn.cursor()
    cur.execute("SELECT hits, misses, coalesced, evictions, invalidations, changes_published, entries FROM routed.cache_stats")
    row = cur.fetchone()
    conn.close()
    return dict(zip(["hits", "misses", "coalesced", "evictions", "invalidations", "changes_published", "entries"], row))


def run_phase(name, port, docs, log, seconds, readers, writers, seed):
    stats = Stats()
    deadline = time.time() + seconds
    threads = [threading.Thread(target=reader, args=(port, docs, log, stats, deadline, random.Random(seed + i)))
               for i in range(readers)]
    threads += [threading.Thread(target=writer, args=(port, log, deadline, random.Random(seed + 100 + i), i % 2 == 1, i == 0))
                for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = cache_stats(port)
    hits = {b: f"{h}/{n}" for b, (h, n) in stats.by_budget_hit.items()}
    print(f"{name}: {stats.answers} answers in {seconds} s, {len(log.commits)} commits so far; "
          f"outcomes {stats.by_cache}; hits by budget {hits}; cache {s}; violations {len(stats.violations)}",
          flush=True)
    return stats, s


def coalescing(port):
    """One backend computes while another waits for it; the waiter answers `coalesced`."""
    c = connect(port)
    c.cursor().execute("SELECT routed.cache_reset()")
    locker = connect(port)
    locker.autocommit = False
    locker.cursor().execute("LOCK TABLE st IN ACCESS EXCLUSIVE MODE")
    doc = json.dumps({"source": "st", "measures": [{"agg": "max", "column": "v", "name": "m"}]})
    results = {}

    def ask(who):
        conn = connect(port)
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        results[who + "_pid"] = cur.fetchone()[0]
        cur.execute("SELECT routed_query(%s::jsonb, '0')::text", (doc,))
        results[who] = json.loads(cur.fetchone()[0])
        conn.close()

    def wait_for(who, event_type):
        for _ in range(500):
            cur = c.cursor()
            cur.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (results.get(who + "_pid"),))
            row = cur.fetchone()
            if row and row[0] == event_type:
                return True
            time.sleep(0.01)
        return False

    a = threading.Thread(target=ask, args=("a",))
    a.start()
    ok = wait_for("a", "Lock")
    b = threading.Thread(target=ask, args=("b",))
    b.start()
    ok = wait_for("b", "Extension") and ok
    locker.commit()
    a.join()
    b.join()
    outcomes = (results["a"]["meta"]["cache"], results["b"]["meta"]["cache"])
    same = results["a"]["rows"] == results["b"]["rows"]
    print(f"coalescing: leader {outcomes[0]}, waiter {outcomes[1]}, same rows {same}, waits seen {ok}", flush=True)
    c.close()
    locker.close()
    return outcomes == ("miss", "coalesced") and same and ok


def pg_ctl(pgdata, *args):
    cmd = [f"{PG_BIN}/pg_ctl", "-D", pgdata, "-l", os.path.join(pgdata, "server.log"), "-w", *args]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def configure(port, pgdata, settings):
    c = connect(port, "postgres")
    for name, value in settings.items():
        if value is None:
            c.cursor().execute(f"ALTER SYSTEM RESET {name}")
        else:
            c.cursor().execute(f"ALTER SYSTEM SET {name} = '{value}'")
    c.close()
    pg_ctl(pgdata, "-m", "fast", "restart")


def wait_up(port):
    for _ in range(300):
        try:
            connect(port).close()
            return
        except psycopg2.OperationalError:
            time.sleep(0.1)
    sys.exit("server did not come back")


def sigkill(port, docs, log, seed):
    """Kills a backend serving the cache; afterwards every document is right again."""
    stop = time.time() + 30
    stats = Stats()
    threads = [threading.Thread(target=reader, args=(port, docs, log, stats, stop, random.Random(seed + i)))
               for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    c = connect(port)
    cur = c.cursor()
    cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND query LIKE '%%routed_query%%' "
                "AND pid <> pg_backend_pid() LIMIT 1", (DB,))
    row = cur.fetchone()
    c.close()
    if not row:
        print("sigkill: no backend found running routed_query", flush=True)
        return False
    os.kill(row[0], signal.SIGKILL)
    for t in threads:
        t.join()
    wait_up(port)
    after = Stats()
    # every document twice at budget 0 (a miss, then whatever the cache says): equal to plain SQL
    reader_once(port, docs, after)
    s = cache_stats(port)
    print(f"sigkill: killed backend {row[0]}; {stats.answers} answers before, violations {len(stats.violations)}; "
          f"after restart {after.answers} answers, outcomes {after.by_cache}, violations {len(after.violations)}; cache {s}",
          flush=True)
    return not stats.violations and not after.violations and after.answers == 2 * len(docs) and s["hits"] > 0


def reader_once(port, docs, stats):
    conn = connect(port)
    cur = conn.cursor()
    for doc in docs + docs:
        check_exact(cur, doc, stats, "after restart")
    conn.close()


def verdict(name, failures):
    """Prints the test's verdict and exits non-zero on any failure."""
    if failures:
        print("FAILED:", "; ".join(failures))
        sys.exit(1)
    print(f"{name}: all checks passed")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pgdata", required=True)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--readers", type=int, default=8)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    rng = random.Random(a.seed)
    failures = []
    try:
        log, now = setup(a.port, rng)
        if not coalescing(a.port):
            failures.append("coalescing")
        docs = documents(now)
        stats, s = run_phase("stress", a.port, docs, log, a.seconds, a.readers, a.writers, a.seed)
        if stats.violations:
            failures.append(f"stress: {len(stats.violations)} violations")
        if stats.by_budget_hit[0][0] == 0 or stats.by_budget_hit[300][0] == 0:
            failures.append("stress: no hits at budget 0 or 5 min (the cache was not exercised)")
        configure(a.port, a.pgdata, {"routed.cache_size": "128kB", "routed.change_ring_size": "16"})
        small_docs = documents(now, 150, rng)
        stats, s = run_phase("small cache, wrapping ring", a.port, small_docs, log, max(10, a.seconds // 3),
                             a.readers, a.writers, a.seed + 1000)
        if stats.violations:
            failures.append(f"small cache: {len(stats.violations)} violations")
        if s["evictions"] == 0 or s["changes_published"] <= 16:
            failures.append("small cache: no evictions or the ring did not wrap")
        configure(a.port, a.pgdata, {"routed.cache_size": None, "routed.change_ring_size": None})
        if not sigkill(a.port, docs, log, a.seed + 2000):
            failures.append("sigkill")
    finally:
        try:
            configure(a.port, a.pgdata, {"routed.cache_size": None, "routed.change_ring_size": None})
        except Exception as e:  # the cluster may be down after a failure: say so, keep the verdict
            print(f"could not reset settings: {e}")
    verdict("stress", failures)


if __name__ == "__main__":
    main()
