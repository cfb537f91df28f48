#!/usr/bin/env python3
"""Differential test: routed_query against an oracle that shares none of its code.

Loads a generated table, then runs hundreds of generated documents through routed_query in one
REPEATABLE READ transaction (so now() is fixed) and compares every answer with what this script
computes itself from the rows it inserted: its own filters, calendar arithmetic (zoneinfo),
grouping, aggregates, percentile interpolation, ordering and limit; a third of the documents
also carry computed measures, shares and `having` (differential_post.py), and a third join a
dimension table that changes between rounds (differential_joins.py). Standard library only;
talks to the server through psql.

Then the rollup phase: three rollups on the same table (three widths, one with fewer dimensions,
so answers compose them), and rounds of random writes (inserts at
now and far in the past, updates moving rows across buckets, deletes, aborted transactions,
savepoints rolled back, a TRUNCATE, refreshes), each followed by documents shaped for the
rollups, all at budget 0 and compared with the oracle over the rows as they now are. Then the
same with the table partitioned by week plus a default partition (differential_partitions.py):
writes also aimed straight at partitions, partitions detached and attached with rows. Before the
rollups, a date-tracked phase: the table tracked on its date column with the cache on, the same
documents (each in its own TimeZone) after every write, hits and misses against the oracle.

    differential.py --port 54329 [--documents 300] [--date-rounds 30] [--rounds 40] [--partitioned-rounds 30] [--seed N]
"""

import argparse
import datetime as dt
import functools
import json
import math
import random
import subprocess
import sys
from decimal import Decimal
from zoneinfo import ZoneInfo

import differential_joins
import differential_partitions
import differential_post

US = 1_000_000
DAY_US = 86_400 * US
TABLE = "diff_events"
ZONES = ["UTC", "America/New_York", "Asia/Kolkata"]
REGIONS = ["eu", "us", "ap", "sa", None]
KINDS = ["click", "view", "buy"]
# column -> type family used by the oracle
COLUMNS = {"region": "text", "kind": "text", "qty": "int", "amount": "numeric", "latency": "float",
           "user_id": "int", "flag": "bool"}


DATABASE = "routed_differential"


def psql(port, sql, stdin=None, db=DATABASE):
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
           "-U", "postgres", "-d", db]
    res = subprocess.run(cmd + ["-c", sql] if stdin is None else cmd, input=stdin, text=True,
                         capture_output=True)
    if res.returncode != 0:
        sys.exit(f"psql failed: {res.stderr.strip()}")
    return res.stdout


# ---------------------------------------------------------------- data

def make_rows(rng, now_us, n):
    rows = []
    for i in range(n):
        ts = now_us - rng.randrange(0, 40 * DAY_US) if rng.random() > 0.02 else now_us + rng.randrange(1, DAY_US)
        rows.append({
            "id": i,
            "ts": ts,
            "day": dt.datetime.fromtimestamp(ts / US, dt.timezone.utc).date(),
            "region": rng.choice(REGIONS),
            "kind": rng.choice(KINDS),
            "qty": rng.randint(-5, 40) if rng.random() > 0.05 else None,
            "amount": Decimal(rng.randint(0, 500_000)) / 100 if rng.random() > 0.05 else None,
            "latency": round(rng.uniform(0, 900), rng.choice([0, 1, 3])) if rng.random() > 0.05 else None,
            "user_id": rng.randint(1, 60),
            "flag": rng.random() < 0.3,
        })
    return rows


def copy_rows(port, rows, prefix="", suffix=""):
    def cell(v):
        return "\\N" if v is None else str(v)
    lines = []
    for r in rows:
        ts = dt.datetime.fromtimestamp(r["ts"] // US, dt.timezone.utc).replace(microsecond=r["ts"] % US)
        lines.append("\t".join([str(r["id"]), ts.isoformat(), r["day"].isoformat()] +
                               [cell(r[c]) for c in ["region", "kind", "qty", "amount", "latency", "user_id"]] +
                               ["t" if r["flag"] else "f"]))
    psql(port, None, stdin=prefix + f"COPY {TABLE} FROM STDIN;\n" + "\n".join(lines) + "\n\\.\n" + suffix)


def load(port, rows, parts=None):
    psql(port, None, stdin=f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id int, ts timestamptz, day date, "
                           "region text, kind text, qty int, amount numeric(12,2), latency float8, user_id bigint, flag bool)"
                           + (" PARTITION BY RANGE (ts);\n" + parts.ddl() if parts else ";\n"))
    copy_rows(port, rows, suffix=f"CREATE INDEX ON {TABLE} (ts);\nANALYZE {TABLE};\n")


# ---------------------------------------------------------------- documents

def rfc3339(us, rng):
    tz = rng.choice([dt.timezone.utc, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=7))])
    d = dt.datetime.fromtimestamp(us // US, tz).replace(microsecond=0)
    s = d.isoformat()
    return s.replace("+00:00", "Z") if rng.random() < 0.5 else s


def gen_bound(rng, now_us):
    k = rng.random()
    if k < 0.35:
        return rfc3339(now_us - rng.randrange(-DAY_US, 45 * DAY_US), rng)
    if k < 0.75:
        n, unit = rng.choice([(rng.randint(1, 300), "min"), (rng.randint(1, 800), "h"), (rng.randint(1, 45), "d"),
                              (rng.randint(1, 6), "w"), (rng.randint(60, 90000), "s")])
        return f"now-{n}{unit}"
    return rng.choice(["today", "yesterday", "now"])


def gen_filter(rng):
    col = rng.choice(list(COLUMNS))
    fam = COLUMNS[col]
    op = rng.choice(["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null"])
    if fam == "bool" and op in ("<", "<=", ">", ">="):
        op = "="

    def value():
        return {"text": lambda: rng.choice([r for r in REGIONS + KINDS if r]),
                "int": lambda: rng.randint(-3, 40) if rng.random() < 0.8 else str(rng.randint(0, 30)),
                "numeric": lambda: rng.choice([rng.randint(0, 5000), round(rng.uniform(0, 5000), 2), "1234.50"]),
                "float": lambda: rng.choice([rng.randint(0, 900), round(rng.uniform(0, 900), 1)]),
                "bool": lambda: rng.choice([True, False, "true"])}[fam]()
    f = {"column": col, "op": op}
    if op in ("in", "not in"):
        f["value"] = [value() for _ in range(rng.randint(1, 4))]
    elif op not in ("is null", "is not null"):
        f["value"] = value()
    return f


MEASURES = [("count", None), ("count", "region"), ("count", "qty"), ("sum", "qty"), ("sum", "amount"),
            ("sum", "latency"), ("min", "qty"), ("max", "amount"), ("min", "latency"), ("max", "region"),
            ("avg", "qty"), ("avg", "amount"), ("avg", "latency"), ("count_distinct", "user_id"),
            ("count_distinct", "region"), ("percentile", "latency"), ("percentile", "qty"), ("percentile", "amount")]
EXACT_AGGS = {("count", None), ("count", "region"), ("count", "qty"), ("sum", "qty"), ("sum", "amount"),
              ("min", "qty"), ("max", "amount"), ("max", "region"), ("count_distinct", "user_id"),
              ("count_distinct", "region")}


def gen_document(rng, now_us):
    doc = {"source": TABLE}
    if rng.random() < 0.85:
        t = {"column": "day" if rng.random() < 0.1 else "ts"}
        if rng.random() < 0.8:
            t["from"] = gen_bound(rng, now_us)
        if rng.random() < 0.4:
            t["to"] = gen_bound(rng, now_us)
        if "from" in t and "to" in t and t["from"][0].isdigit() and t["to"][0].isdigit():
            a, b = sorted([t["from"], t["to"]], key=lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00")))
            t["from"], t["to"] = a, b
        if rng.random() < 0.6:
            t["granularity"] = rng.choice(["15 minutes", "1 hour", "6 hours", "90 min", "1 day", "2 days",
                                           "1 week", "1 month"])
        doc["time"] = t
    dims = rng.sample(["region", "kind", "flag", "qty"], rng.choice([0, 0, 1, 1, 2]))
    if dims:
        doc["dimensions"] = dims
    measures = []
    for i in range(rng.randint(1, 4)):
        agg, col = rng.choice(MEASURES)
        m = {"name": f"m{i}", "agg": agg}
        if col:
            m["column"] = col
        if agg == "percentile":
            m["q"] = rng.choice([0, 0.25, 0.5, 0.9, 0.95, 1, round(rng.random(), 3)])
        if rng.random() < 0.25:
            m["where"] = [gen_filter(rng)]
        measures.append(m)
    doc["measures"] = measures
    if rng.random() < 0.5:
        doc["where"] = [gen_filter(rng) for _ in range(rng.randint(1, 2))]
    keys = (["bucket"] if "granularity" in doc.get("time", {}) else []) + dims
    exact_names = [m["name"] for m in measures if (m["agg"], m.get("column")) in EXACT_AGGS]
    if rng.random() < 0.4 and keys + exact_names:
        doc["order"] = [{"by": rng.choice(keys + exact_names), "dir": rng.choice(["asc", "desc"])}]
    if rng.random() < 0.3:
        doc["limit"] = rng.randint(1, 20)
        if "order" not in doc and exact_names:
            doc["order"] = [{"by": rng.choice(exact_names), "dir": "desc"}]
    return doc


# ---------------------------------------------------------------- oracle

class Clock:
    """Session-TimeZone arithmetic, the way PostgreSQL does it for timestamptz."""

    def __init__(self, zone, now_us):
        self.tz = ZoneInfo(zone)
        self.now_us = now_us

    def local(self, us):
        return dt.datetime.fromtimestamp(us // US, self.tz).replace(microsecond=us % US)

    def to_us(self, local_naive):
        aware = local_naive.replace(tzinfo=self.tz)
        return int(aware.timestamp()) * US + aware.microsecond

    def midnight(self, d):
        return self.to_us(dt.datetime(d.year, d.month, d.day))

    def minus_days(self, us, days):
        loc = self.local(us).replace(tzinfo=None) - dt.timedelta(days=days)
        return self.to_us(loc)

    def bound(self, text):
        if text == "now":
            return self.now_us
        if text == "today":
            return self.midnight(self.local(self.now_us).date())
        if text == "yesterday":
            return self.minus_days(self.midnight(self.local(self.now_us).date()), 1)
        if text.startswith("now-"):
            digits = "".join(c for c in text[4:] if c.isdigit())
            n, unit = int(digits), text[4 + len(digits):]
            if unit in ("d", "w"):
                return self.minus_days(self.now_us, n * (7 if unit == "w" else 1))
            return self.now_us - n * {"s": 1, "min": 60, "h": 3600}[unit] * US
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return int(d.timestamp()) * US + d.microsecond

    def bucket(self, us, gran):
        n, unit = gran.split()
        if gran in ("1 day", "1 week", "1 month"):
            d = self.local(us).date()
            if unit == "week":
                d -= dt.timedelta(days=d.weekday())
            elif unit == "month":
                d = d.replace(day=1)
            return self.midnight(d)
        width = int(n) * {"minutes": 60, "min": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}[unit] * US
        return us - us % width


def cast(fam, v):
    if fam == "text":
        return str(v)
    if fam == "int":
        return int(v)
    if fam in ("numeric", "float"):
        return Decimal(str(v))
    if fam == "bool":
        return v in (True, "true")
    raise ValueError(fam)


def as_cmp(fam, v):
    return Decimal(str(v)) if fam in ("numeric", "float") and v is not None else v


def matches(row, f):
    col, op = f["column"], f["op"]
    fam = COLUMNS.get(col) or differential_joins.ATTRS[col]
    v = as_cmp(fam, row[col])
    if op == "is null":
        return v is None
    if op == "is not null":
        return v is not None
    if v is None:
        return False
    if op in ("in", "not in"):
        vals = [cast(fam, x) for x in f["value"]]
        return (v in vals) == (op == "in")
    x = cast(fam, f["value"])
    return {"=": v == x, "!=": v != x, "<": v < x, "<=": v <= x, ">": v > x, ">=": v >= x}[op]


class Approx(float):
    """An exact value that an answer from a sketch may miss by at most `tol`."""
    def __new__(cls, value, tol):
        o = super().__new__(cls, value)
        o.tol = tol
        return o


def percentile_cont(values, q):
    if not values:
        return None
    vs = sorted(float(v) for v in values)
    pos = q * (len(vs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    value = vs[lo] + (pos - lo) * (vs[hi] - vs[lo])
    # the quantile sketch reads each of the two values within 1%
    return Approx(value, 0.01 * max(abs(vs[lo]), abs(vs[hi])) + 1e-9)


def aggregate(m, rows):
    rows = [r for r in rows if all(matches(r, f) for f in m.get("where", []))]
    col, agg = m.get("column"), m["agg"]
    if agg == "count" and col is None:
        return len(rows)
    vals = [r[col] for r in rows if r[col] is not None]
    fam = COLUMNS[col]
    if agg == "count":
        return len(vals)
    if agg == "count_distinct":
        n = len(set(vals))
        return Approx(n, 0.03 * n + 1)  # HyperLogLog: 1.6% standard error, near exact when small
    if agg == "percentile":
        return percentile_cont(vals, m["q"])
    if not vals:
        return None
    if agg == "sum":
        return sum(Decimal(str(v)) for v in vals) if fam != "int" else sum(vals)
    if agg == "min":
        return min(vals)
    if agg == "max":
        return max(vals)
    if agg == "avg":
        return sum(Decimal(str(v)) for v in vals) / len(vals)
    raise ValueError(agg)


def sort_rows(result, order, nkeys):
    """ORDER BY with PostgreSQL's NULL placement: ASC NULLS LAST, DESC NULLS FIRST."""
    def cmp(a, b):
        for idx, desc in order:
            x, y = a[idx], b[idx]
            if x == y:
                continue
            if x is None or y is None:
                c = 1 if x is None else -1
                return -c if desc else c
            c = -1 if x < y else 1
            return -c if desc else c
        return 0
    return sorted(result, key=functools.cmp_to_key(cmp))


def oracle(doc, rows, clock):
    t = doc.get("time")
    selected = differential_joins.attach(rows, doc)
    if t:
        col = t["column"]
        lo = clock.bound(t["from"]) if "from" in t else None
        hi = clock.bound(t.get("to", "now"))

        def ts_of(r):
            return r["ts"] if col == "ts" else clock.midnight(r["day"])
        selected = [r for r in selected if (lo is None or ts_of(r) >= lo) and ts_of(r) < hi]
    selected = [r for r in selected if all(matches(r, f) for f in doc.get("where", []))]
    gran = t.get("granularity") if t else None
    dims = doc.get("dimensions", [])
    groups = {}
    for r in selected:
        key = ((clock.bucket(r["ts"] if t["column"] == "ts" else clock.midnight(r["day"]), gran),) if gran else ()) + \
              tuple(r[d] for d in dims)
        groups.setdefault(key, []).append(r)
    if not gran and not dims:
        groups = {(): selected}
    aggs = [m for m in doc["measures"] if "agg" in m]
    result = [list(k) + [aggregate(m, rs) for m in aggs] for k, rs in groups.items()]
    keys = (["bucket"] if gran else []) + dims
    if len(aggs) < len(doc["measures"]) or "having" in doc:
        result, _ = differential_post.apply(doc, result, keys)
    names = keys + [m["name"] for m in doc["measures"]]
    order = [(names.index(o["by"]), o.get("dir") == "desc") for o in doc.get("order", [])]
    nkeys = len(keys)
    order += [(k, False) for k in range(nkeys) if k not in [i for i, _ in order]]
    result = sort_rows(result, order, nkeys)
    return result[: doc["limit"]] if "limit" in doc else result


# ---------------------------------------------------------------- comparison

def parse_ts(s):
    d = dt.datetime.fromisoformat(s)
    return int(d.timestamp()) * US + d.microsecond


def same(expected, got, kind, approximate=False):
    if expected is None or got is None:
        return expected is None and got is None
    if approximate and isinstance(expected, Approx):
        return abs(float(got) - expected) <= expected.tol
    if kind == "float8" or kind == "numeric_approx":
        e, g = float(expected), float(got)
        return math.isclose(e, g, rel_tol=1e-9, abs_tol=1e-9)
    if kind == "numeric":
        return Decimal(str(expected)) == Decimal(str(got))
    return expected == got


def compare(doc, answer, expected):
    cols = answer["columns"]
    got = [[parse_ts(v) if c["name"] == "bucket" else v for v, c in zip(row, cols)] for row in answer["rows"]]
    if len(got) != len(expected):
        return f"{len(got)} rows, oracle has {len(expected)}"
    by_value = differential_post.ordered_by_computed(doc)
    if by_value:
        problem = differential_post.check_order(got, *by_value)
        if problem:
            return problem
        nkeys = len(cols) - len(doc["measures"])
        got, expected = differential_post.by_keys(got, nkeys), differential_post.by_keys(expected, nkeys)
    measures = {m["name"]: m for m in doc["measures"]}
    for i, (g, e) in enumerate(zip(got, expected)):
        for j, c in enumerate(cols):
            gv = g[j]
            kind = c["type"]
            m = measures.get(c["name"])
            if m and "expr" in m:
                want = differential_post.expr_type(doc, m)
                if kind != want:
                    return f"column {c['name']} has type {kind}, expected {want}"
                kind = "numeric_approx"  # numeric division's scale is PostgreSQL's own
                m = None
            if m and m["agg"] == "avg" and kind == "numeric":
                kind = "numeric_approx"  # PostgreSQL rounds avg's scale; compare the value
            if m and m["agg"] in ("sum", "min", "max") and m.get("column") == "latency":
                kind = "float8"
            if not same(e[j], gv, kind, answer["meta"]["approximate"]):
                return f"row {i} column {c['name']}: got {g[j]!r}, oracle {e[j]!r}"
    return None


# ---------------------------------------------------------------- rollup phase

# three widths, one with fewer dimensions: answers compose them (the cheapest tiles the middle,
# finer ones the edges, the base table the rest)
ROLLUPS = [("diff_hourly", "1 hour", ["region", "kind", "flag"]), ("diff_quarter", "15 minutes", ["region"]),
           ("diff_daily", "1 day", ["region", "kind", "flag"])]
ROLLUP_MEASURES = [{"agg": a, "column": c} if c else {"agg": a} for a, c in MEASURES]


def rollupify(doc, rng, now_us):
    """Reshapes a document so a rollup can answer it (dimensions, filters and measures it keeps)."""
    dims_ok = ["region", "kind", "flag"]
    t = doc.setdefault("time", {})
    t["column"] = "ts"
    if "from" not in t and "to" not in t and rng.random() < 0.8:
        t["from"] = gen_bound(rng, now_us)
    if "granularity" in t and t["granularity"] == "2 days" or rng.random() < 0.3:
        t["granularity"] = rng.choice(["15 minutes", "1 hour", "6 hours", "90 min", "1 day", "1 week", "1 month"])
    doc["dimensions"] = [d for d in doc.get("dimensions", []) if d in dims_ok]
    if not doc["dimensions"]:
        del doc["dimensions"]
    sketched = {m["name"] for m in doc["measures"] if m["agg"] in ("count_distinct", "percentile")}
    for m in doc["measures"]:
        if "where" in m:
            m["where"] = [f for f in m["where"] if f["column"] in dims_ok]
            if not m["where"]:
                del m["where"]
    if "where" in doc:
        doc["where"] = [f for f in doc["where"] if f["column"] in dims_ok]
        if not doc["where"]:
            del doc["where"]
    # approximate values cannot order rows the way exact ones do
    names = {m["name"] for m in doc["measures"]} - sketched | set(doc.get("dimensions", [])) | \
        ({"bucket"} if "granularity" in t else set())
    if "order" in doc:
        doc["order"] = [o for o in doc["order"] if o["by"] in names]
        if not doc["order"]:
            del doc["order"]
    if "limit" in doc and "order" not in doc:
        del doc["limit"]
    return doc


def sql_literal(r):
    ts = dt.datetime.fromtimestamp(r["ts"] // US, dt.timezone.utc).replace(microsecond=r["ts"] % US)
    vals = [str(r["id"]), f"'{ts.isoformat()}'", f"'{r['day'].isoformat()}'"]
    for c in ["region", "kind"]:
        vals.append("NULL" if r[c] is None else f"'{r[c]}'")
    for c in ["qty", "amount", "latency", "user_id"]:
        vals.append("NULL" if r[c] is None else str(r[c]))
    vals.append("true" if r["flag"] else "false")
    return "(" + ", ".join(vals) + ")"


def mutate(port, rng, rows, now_us, next_id, truncate, parts=None, refresh=True):
    """One random write; returns (description, rows after it)."""
    def fresh(n):
        new = make_rows(rng, now_us, n)
        for r in new:
            if rng.random() < 0.6:  # most new rows arrive at now
                r["ts"] = now_us - rng.randrange(0, 3600 * US)
            r["id"] = next(next_id)
        return new

    def insert_sql(new):
        return f"INSERT INTO {TABLE} VALUES " + ", ".join(sql_literal(r) for r in new) + ";"
    if parts is not None and not truncate:
        done = differential_partitions.write(parts, psql, port, rng, rows, fresh, insert_sql)
        if done is not None:
            return done
    if truncate:
        keep = [r for r in rows if rng.random() < 0.5]
        copy_rows(port, keep, prefix=f"BEGIN; TRUNCATE {TABLE};\n", suffix="COMMIT;\n")
        return "truncate and reload half", keep
    k = rng.random()
    if k < 0.35:
        new = fresh(rng.randint(1, 40))
        psql(port, insert_sql(new))
        return f"insert {len(new)}", rows + new
    if k < 0.5 and rows:
        ids = {r["id"] for r in rng.sample(rows, min(len(rows), rng.randint(1, 10)))}
        secs = rng.choice([-1, 1]) * rng.randrange(0, 30 * 86400)
        psql(port, f"UPDATE {TABLE} SET ts = ts + interval '{secs} seconds', qty = qty + 1 "
                   f"WHERE id IN ({', '.join(map(str, ids))})")
        for r in rows:
            if r["id"] in ids:
                r["ts"] += secs * US
                r["qty"] = None if r["qty"] is None else r["qty"] + 1
        return f"update {len(ids)} by {secs}s", rows
    if k < 0.65 and rows:
        ids = {r["id"] for r in rng.sample(rows, min(len(rows), rng.randint(1, 20)))}
        psql(port, f"DELETE FROM {TABLE} WHERE id IN ({', '.join(map(str, ids))})")
        return f"delete {len(ids)}", [r for r in rows if r["id"] not in ids]
    if k < 0.75:
        psql(port, None, stdin=f"BEGIN;\n{insert_sql(fresh(5))}\nROLLBACK;\n")
        return "aborted insert", rows
    if k < 0.85:
        kept, dropped = fresh(3), fresh(3)
        psql(port, None, stdin=f"BEGIN;\n{insert_sql(kept)}\nSAVEPOINT s;\n{insert_sql(dropped)}\n"
                               f"ROLLBACK TO SAVEPOINT s;\nCOMMIT;\n")
        return "savepoint rolled back", rows + kept
    if not refresh:
        new = fresh(1)
        psql(port, insert_sql(new))
        return "insert 1", rows + new
    name = rng.choice(ROLLUPS)[0]
    psql(port, f"CALL routed.refresh_rollup('{name}')")
    return f"refresh {name}", rows


def run_documents(port, docs):
    """Runs documents in one REPEATABLE READ transaction; returns (now_us, answers)."""
    script = ["BEGIN ISOLATION LEVEL REPEATABLE READ;",
              "SELECT (extract(epoch FROM now()) * 1000000)::bigint;"]
    for doc, zone in docs:
        text = json.dumps(differential_post.strip(doc)).replace("'", "''")
        script.append(f"SET TimeZone = '{zone}';")
        script.append(f"SELECT routed_query('{text}'::jsonb)::text;")
    script.append("COMMIT;")
    out = psql(port, None, stdin="\n".join(script) + "\n").splitlines()
    answers = [json.loads(line, parse_float=Decimal) for line in out[1:]]
    assert len(answers) == len(docs), f"{len(answers)} answers for {len(docs)} documents"
    return int(out[0]), answers


def rollup_phase(port, rng, rows, now_guess, rounds, per_round, parts=None):
    ids = iter(range(10 ** 6, 10 ** 7))
    # rollups are worth reading when they compress their source: 3,000 rows over 40 days hold
    # about one row per hourly group, and the router (rightly, by planner statistics) reads the
    # base rows instead of such a rollup; 12,000 more rows over the last 10 days make the hourly
    # and quarter-hour rollups several times smaller than what they summarize there
    dense = make_rows(rng, now_guess, 12000)
    for r in dense:
        r["id"] = next(ids)
        r["ts"] = now_guess - rng.randrange(0, 10 * DAY_US)
        r["day"] = dt.datetime.fromtimestamp(r["ts"] / US, dt.timezone.utc).date()
    copy_rows(port, dense, suffix=f"ANALYZE {TABLE};\n")
    rows = rows + dense
    psql(port, f"SELECT routed.track('{TABLE}', 'ts')")
    for name, width, dims in ROLLUPS:
        psql(port, f"CALL routed.create_rollup('{name}', '{TABLE}', '{width}', ARRAY{dims}::text[], "
                   f"'{json.dumps(ROLLUP_MEASURES)}')")
    failures, checked, sources, approximate, composed, special, joined = 0, 0, {}, 0, 0, 0, 0
    for n in range(rounds):
        what, rows = mutate(port, rng, rows, now_guess, ids, truncate=(n == rounds // 2), parts=parts)
        special += parts is not None and ("partition" in what or what.startswith(("attach", "detach")))
        if n % 3 == 1:
            # the dimension table changes too: answers that joined it are recomputed
            psql(port, differential_joins.mutate(rng))
            what += " and a dimension-table change"
        docs = [(differential_post.add(rng, differential_joins.add(rng, rollupify(gen_document(rng, now_guess), rng, now_guess))),
                 rng.choice(ZONES))
                for _ in range(per_round)]
        now_us, answers = run_documents(port, docs)
        for (doc, zone), answer in zip(docs, answers):
            checked += 1
            joined += "join" in doc
            meta = answer["meta"]
            sources[meta["source"]] = sources.get(meta["source"], 0) + 1
            approximate += bool(meta["approximate"])
            composed += "+" in (meta.get("rollup") or "")
            problem = compare(doc, answer, oracle(doc, rows, Clock(zone, now_us)))
            if problem is None and meta["staleness"] != "00:00:00":
                problem = f"staleness {meta['staleness']} at budget 0"
            if problem:
                failures += 1
                if failures <= 5:
                    print(f"round {n} after {what} (TimeZone {zone}): {problem}\n  {json.dumps(differential_post.strip(doc))}\n  {meta}")
    kind = "partitioned " if parts else ""
    print(f"differential {kind}rollups: {checked - failures} passed, {failures} failed over {rounds} rounds of writes; "
          f"answers by source: {json.dumps(sources, sort_keys=True)}, {approximate} from sketches, "
          f"{composed} composed from several rollups, {joined} joined to {differential_joins.TABLE}"
          + (f"; {special} writes aimed at partitions, attaching or detaching them" if parts else ""))
    if parts is not None and special < rounds // 5:
        print(f"differential partitioned rollups: only {special} partition writes in {rounds} rounds")
        failures += 1
    from_rollups = sources.get("rollup", 0) + sources.get("rollup+base", 0)
    # a floor that says the rollups are exercised, not a routing target: the share depends on
    # where the seed's writes fall (seed 534156441: 21% plain, 6% partitioned, every answer
    # equal); detaching and attaching invalidate whole weeks until the next refresh
    if from_rollups < checked // (20 if parts else 5):
        print(f"differential rollups: only {from_rollups} of {checked} answers read a rollup")
        failures += 1
    if composed < checked // 20 and parts is None:
        print(f"differential rollups: only {composed} of {checked} answers composed several rollups")
        failures += 1
    return failures


def date_cache_phase(port, rng, now_guess, rounds, per_round):
    """The source tracked on its date column (issue #17) with the cache on and a daily rollup
    over it: the same documents on the date column (most reshaped so the rollup can answer
    them), each in its own TimeZone, asked after every write at budget 0 (hits and misses
    alike) against the oracle; a write must invalidate every entry whose answer it changes,
    whatever TimeZone read it, and the wall-clock rollup must answer as the base table does."""
    rows = make_rows(rng, now_guess, 3000)
    load(port, rows)
    psql(port, f"SELECT routed.track('{TABLE}', 'day')")
    # a rollup over the date column: wall-clock days, answering in every TimeZone
    psql(port, f"CALL routed.create_rollup('diff_dates', '{TABLE}', '1 day', ARRAY['region', 'kind', 'flag']::text[], "
               f"'{json.dumps(ROLLUP_MEASURES)}')")
    docs = []
    while len(docs) < per_round:
        doc = gen_document(rng, now_guess)
        t = doc.get("time", {})
        # a window relative to now is never exact for a later statement: absolute ones only
        if t.get("column") == "day" and all(t.get(k, "n")[0].isdigit() for k in ("from", "to")):
            if rng.random() < 0.6:
                doc = rollupify(doc, rng, now_guess)
                doc["time"]["column"] = "day"
            docs.append((doc, rng.choice(ZONES)))
    ids = iter(range(10 ** 7, 10 ** 8))
    failures, checked, hits, from_rollup = 0, 0, 0, 0
    for n in range(rounds):
        what, rows = mutate(port, rng, rows, now_guess, ids, truncate=(n == rounds // 2), refresh=False)
        if n % 4 == 3:
            psql(port, "CALL routed.refresh_rollup('diff_dates')")
            what += " and a refresh"
        now_us, answers = run_documents(port, docs)
        for (doc, zone), answer in zip(docs, answers):
            checked += 1
            hits += answer["meta"]["cache"] == "hit"
            from_rollup += answer["meta"]["source"] != "base"
            problem = compare(doc, answer, oracle(doc, rows, Clock(zone, now_us)))
            if problem:
                failures += 1
                if failures <= 5:
                    print(f"round {n} after {what} (TimeZone {zone}): {problem}\n  {json.dumps(doc)}\n  {answer['meta']}")
    print(f"differential date-tracked cache: {checked - failures} passed, {failures} failed over {rounds} rounds "
          f"of writes, {hits} answers from the cache, {from_rollup} computed from the date rollup")
    if hits < checked // 20:
        print(f"differential date-tracked cache: only {hits} of {checked} answers were hits")
        failures += 1
    if from_rollup < checked // 20:
        print(f"differential date-tracked cache: only {from_rollup} of {checked} answers read the date rollup")
        failures += 1
    psql(port, "SELECT routed.drop_rollup('diff_dates')")
    psql(port, f"SELECT routed.untrack('{TABLE}')")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--documents", type=int, default=300)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--per-round", type=int, default=10)
    ap.add_argument("--partitioned-rounds", type=int, default=30)
    ap.add_argument("--date-rounds", type=int, default=30)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"differential: seed {seed} (rerun with --seed {seed})")

    psql(args.port, f"DROP DATABASE IF EXISTS {DATABASE}", db="postgres")
    psql(args.port, f"CREATE DATABASE {DATABASE}", db="postgres")
    psql(args.port, "CREATE EXTENSION pg_routed")
    now_guess = int(psql(args.port, "SELECT (extract(epoch FROM now()) * 1000000)::bigint").strip())
    rows = make_rows(rng, now_guess, args.rows)
    load(args.port, rows)
    psql(args.port, differential_joins.setup_sql())
    docs = [(differential_post.add(rng, differential_joins.add(rng, gen_document(rng, now_guess))), rng.choice(ZONES))
            for _ in range(args.documents)]
    now_us, answers = run_documents(args.port, docs)

    failures = 0
    for n, ((doc, zone), answer) in enumerate(zip(docs, answers)):
        expected = oracle(doc, rows, Clock(zone, now_us))
        problem = compare(doc, answer, expected)
        meta = answer["meta"]
        if problem is None and (meta["source"] != "base" or meta["staleness"] != "00:00:00"):
            problem = f"unexpected meta {meta}"
        if problem:
            failures += 1
            if failures <= 5:
                print(f"document {n} (TimeZone {zone}): {problem}\n  {json.dumps(differential_post.strip(doc))}")
    nonempty = sum(1 for a in answers if a["rows"])
    post = sum(1 for d, _ in docs if "having" in d or any("expr" in m for m in d["measures"]))
    joined = sum(1 for d, _ in docs if "join" in d)
    print(f"differential: {len(docs) - failures} passed, {failures} failed "
          f"({nonempty} answers with rows, {post} with computed measures or having, {joined} joined, "
          f"{args.rows} source rows)")
    if args.date_rounds:
        failures += date_cache_phase(args.port, rng, now_guess, args.date_rounds, 20)
        rows = make_rows(rng, now_guess, args.rows)
        load(args.port, rows)
    if args.rounds:
        failures += rollup_phase(args.port, rng, rows, now_guess, args.rounds, args.per_round)
    if args.partitioned_rounds:
        # the same rows in a partitioned table, with writes aimed at partitions, ATTACH and DETACH
        for name, _, _ in ROLLUPS:
            psql(args.port, f"SELECT routed.drop_rollup('{name}')")
        psql(args.port, f"SELECT routed.untrack('{TABLE}')")
        parts = differential_partitions.Partitions(TABLE, now_guess)
        rows = make_rows(rng, now_guess, args.rows)
        load(args.port, rows, parts)
        failures += rollup_phase(args.port, rng, rows, now_guess, args.partitioned_rounds, args.per_round, parts)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
