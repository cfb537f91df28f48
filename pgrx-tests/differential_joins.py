"""The differential test's lookup joins (document version 2): a dimension table keyed by the
source's `region`, tracked as a whole, that lacks one region (so inner joins drop facts and
left joins keep them with NULL attributes) and changes between rounds; a generator that adds a
join, attribute dimensions and attribute filters to documents; and the oracle's own join."""

TABLE = "diff_regions"
ATTRS = {f"{TABLE}.zone": "text", f"{TABLE}.weight": "int"}
ZONES = ["emea", "amer", "apac", "latam"]

# the table as the oracle knows it: region -> attributes (kept equal to the server's)
DIM = {"eu": {"zone": "emea", "weight": 3}, "us": {"zone": "amer", "weight": 5},
       "ap": {"zone": "apac", "weight": None}}


def setup_sql():
    rows = ", ".join(f"('{k}', '{v['zone']}', {'NULL' if v['weight'] is None else v['weight']})"
                     for k, v in DIM.items())
    return (f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (region text PRIMARY KEY, zone text, weight int); "
            f"INSERT INTO {TABLE} VALUES {rows}; SELECT routed.track('{TABLE}');")


def add(rng, doc, p=0.3):
    """Joins some documents to the dimension table, with attribute dimensions and filters."""
    if rng.random() >= p:
        return doc
    join = {"table": TABLE, "on": {"region": "region"}}
    if rng.random() < 0.4:
        join["left"] = True
    doc["join"] = [join]
    dims = doc.get("dimensions", [])
    if rng.random() < 0.6 and len(dims) < 3:
        attr = rng.choice(list(ATTRS))
        if attr not in dims:
            doc["dimensions"] = dims + [attr]
    if rng.random() < 0.5:
        f = rng.choice([
            {"column": f"{TABLE}.zone", "op": "=", "value": rng.choice(ZONES)},
            {"column": f"{TABLE}.zone", "op": "in", "value": rng.sample(ZONES, 2)},
            {"column": f"{TABLE}.weight", "op": ">", "value": rng.randint(1, 5)},
            {"column": f"{TABLE}.zone", "op": "is null"},
            {"column": f"{TABLE}.weight", "op": "is not null"},
        ])
        doc["where"] = doc.get("where", []) + [f]
    return doc


def attach(rows, doc):
    """The source rows as the document's join sees them (attributes added; inner joins drop
    facts without a match: an unknown region, or none)."""
    joins = doc.get("join")
    if not joins:
        return rows
    left = joins[0].get("left", False)
    out = []
    for r in rows:
        d = DIM.get(r["region"]) if r["region"] is not None else None
        if d is None and not left:
            continue
        out.append({**r, f"{TABLE}.zone": d and d["zone"], f"{TABLE}.weight": d and d["weight"]})
    return out


def mutate(rng):
    """One change of the dimension table; returns its SQL (DIM follows it)."""
    k = rng.random()
    if k < 0.4:
        region = rng.choice(list(DIM))
        zone = rng.choice(ZONES)
        DIM[region]["zone"] = zone
        return f"UPDATE {TABLE} SET zone = '{zone}' WHERE region = '{region}'"
    if k < 0.6:
        region = rng.choice(list(DIM))
        w = rng.choice([None, 1, 4, 7])
        DIM[region]["weight"] = w
        return f"UPDATE {TABLE} SET weight = {'NULL' if w is None else w} WHERE region = '{region}'"
    missing = [r for r in ["eu", "us", "ap", "sa"] if r not in DIM]
    if missing and (k < 0.85 or len(DIM) < 2):
        region = rng.choice(missing)
        DIM[region] = {"zone": rng.choice(ZONES), "weight": 2}
        return f"INSERT INTO {TABLE} VALUES ('{region}', '{DIM[region]['zone']}', 2)"
    region = rng.choice(list(DIM))
    del DIM[region]
    return f"DELETE FROM {TABLE} WHERE region = '{region}'"
