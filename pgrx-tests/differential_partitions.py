"""The differential test's partitioned source (issue #17): the same table partitioned by week
over the last nine weeks and the next one, with a default partition for everything else, and
the writes only a partitioned table has: rows inserted and deleted straight in the partition
that holds them, a partition detached (its rows leave the source) and a new one attached with
rows (they join it). The oracle's rows follow each write."""

import datetime as dt

US = 1_000_000
WEEK_US = 7 * 86_400 * US


class Partitions:
    def __init__(self, table, now_us):
        self.table = table
        start = (now_us // WEEK_US - 9) * WEEK_US
        # [name, lo, hi] of the weekly partitions still attached
        self.weekly = [[f"{table}_w{i}", start + i * WEEK_US, start + (i + 1) * WEEK_US] for i in range(11)]
        self.next_future = start + 11 * WEEK_US
        self.default = f"{table}_default"

    def ddl(self):
        """CREATE statements for the partitions (after the parent's)."""
        return "".join(f"CREATE TABLE {name} PARTITION OF {self.table} FOR VALUES FROM ('{iso(lo)}') TO ('{iso(hi)}');\n"
                       for name, lo, hi in self.weekly) + f"CREATE TABLE {self.default} PARTITION OF {self.table} DEFAULT;\n"

    def target(self, ts):
        for name, lo, hi in self.weekly:
            if lo <= ts < hi:
                return name
        return self.default

    def by_target(self, rows):
        out = {}
        for r in rows:
            out.setdefault(self.target(r["ts"]), []).append(r)
        return out


def iso(us):
    return dt.datetime.fromtimestamp(us // US, dt.timezone.utc).replace(microsecond=us % US).isoformat()


def write(parts, psql, port, rng, rows, fresh, insert_sql):
    """One partition-only write; returns (description, rows after it), or None for a plain one."""
    k = rng.random()
    if k < 0.25:
        new = fresh(rng.randint(1, 30))
        for name, group in parts.by_target(new).items():
            psql(port, insert_sql(group).replace(f"INSERT INTO {parts.table} ", f"INSERT INTO {name} ", 1))
        return f"insert {len(new)} straight into partitions", rows + new
    if k < 0.4 and rows:
        gone = rng.sample(rows, min(len(rows), rng.randint(1, 15)))
        for name, group in parts.by_target(gone).items():
            psql(port, f"DELETE FROM {name} WHERE id IN ({', '.join(str(r['id']) for r in group)})")
        ids = {r["id"] for r in gone}
        return f"delete {len(ids)} straight from partitions", [r for r in rows if r["id"] not in ids]
    if k < 0.5 and len(parts.weekly) > 3:
        name, lo, hi = parts.weekly.pop(rng.randrange(len(parts.weekly) - 2))
        psql(port, f"ALTER TABLE {parts.table} DETACH PARTITION {name}")
        return f"detach {name}", [r for r in rows if not lo <= r["ts"] < hi]
    if k < 0.6:
        lo, hi = parts.next_future, parts.next_future + WEEK_US
        taken = psql(port, f"SELECT count(*) FROM {parts.default} WHERE ts >= '{iso(lo)}' AND ts < '{iso(hi)}'").strip()
        if taken != "0":
            return None
        name = f"{parts.table}_f{lo // WEEK_US}"
        new = fresh(rng.randint(1, 20))
        for r in new:
            r["ts"] = lo + rng.randrange(0, WEEK_US)
        psql(port, None, stdin=f"CREATE TABLE {name} (LIKE {parts.table});\n"
                               + insert_sql(new).replace(f"INSERT INTO {parts.table} ", f"INSERT INTO {name} ", 1) + "\n"
                               + f"ALTER TABLE {parts.table} ATTACH PARTITION {name} FOR VALUES FROM ('{iso(lo)}') TO ('{iso(hi)}');\n")
        parts.weekly.append([name, lo, hi])
        parts.next_future = hi
        return f"attach {name} with {len(new)} rows", rows + new
    return None
