"""The differential test's computed measures, shares and `having` (document version 2): a
generator that adds them to a document, and the oracle's own evaluation over the aggregated
rows, in SQL's order (HAVING without shares, then the share windows over the rows left, then
conditions on measures with shares), with Python's Decimal and float arithmetic."""

from decimal import Decimal, localcontext

# aggregates an expression may read (exact from every source), and those whose value is float8
OPERANDS = {("count", None), ("count", "region"), ("count", "qty"), ("sum", "qty"), ("sum", "amount"),
            ("min", "qty"), ("max", "amount"), ("avg", "qty"), ("avg", "amount"), ("sum", "latency"),
            ("avg", "latency"), ("min", "latency")}
FLOATS = {("sum", "latency"), ("avg", "latency"), ("min", "latency")}
LITERALS = ["2", "100", "0.5", "1000", "3", "1e2"]
# odd thresholds, so a value never sits on one (PostgreSQL's numeric scale and Decimal agree
# on every value, not on every last digit)
THRESHOLDS = [0, 0.3713, 1.377, 12.377, 137.71, -0.5]


def is_float(m):
    return (m["agg"], m.get("column")) in FLOATS


def gen_expr(rng, operands, keys, depth, floaty):
    """(text, tree); `floaty`: some operand may be float8, so no subtraction (cancellation
    would compare rounding, not meaning)."""
    k = rng.random()
    if depth == 0 or k < 0.3:
        if rng.random() < 0.15:
            lit = rng.choice(LITERALS)
            return lit, ("num", lit)
        m = rng.choice(operands)
        if keys is not None and rng.random() < 0.2:
            dims = rng.sample(keys, rng.randint(0, min(2, len(keys))))
            return f"share({m['name']}{''.join(', ' + d for d in dims)})", ("share", m["name"], dims)
        return m["name"], ("name", m["name"])
    if k < 0.38:
        text, tree = gen_expr(rng, operands, keys, depth - 1, floaty)
        return f"-({text})", ("neg", tree)
    op = rng.choice("+*//" if floaty else "+-*//")
    a_text, a = gen_expr(rng, operands, keys, depth - 1, floaty)
    b_text, b = gen_expr(rng, operands, keys, depth - 1, floaty)
    return f"({a_text}) {op} ({b_text})", (op, a, b)


def add(rng, doc, p=0.35):
    """Adds computed measures and `having` to some documents; returns the document."""
    if rng.random() >= p:
        return doc
    operands = [m for m in doc["measures"] if (m["agg"], m.get("column")) in OPERANDS]
    if not operands:
        return doc
    keys = (["bucket"] if "granularity" in doc.get("time", {}) else []) + doc.get("dimensions", [])
    floaty = any(is_float(m) for m in operands)
    computed = []
    for i in range(rng.randint(1, 2)):
        text, tree = gen_expr(rng, operands, keys, 2, floaty)
        computed.append({"name": f"e{i}", "expr": text, "_tree": tree})
    for c in computed:
        doc["measures"].insert(rng.randint(0, len(doc["measures"])), c)
    having = []
    for _ in range(rng.choice([0, 1, 1, 2])):
        target = rng.choice(operands + computed)
        op = rng.choice([">", "<", ">=", "is not null", "is null"] + (["=", "!=", "in"] if "agg" in target else []))
        h = {"column": target["name"], "op": op}
        if op == "in":
            h["value"] = [rng.randint(0, 5) for _ in range(3)]
        elif op in ("=", "!="):
            h["value"] = rng.randint(0, 5)
        elif op not in ("is null", "is not null"):
            h["value"] = rng.choice(THRESHOLDS) if "expr" in target else rng.randint(0, 30)
        having.append(h)
    if having:
        doc["having"] = having
    if rng.random() < 0.4:
        # values equal in meaning may differ in PostgreSQL's last numeric digit, so ties are not
        # the oracle's: compare() checks such an order by value, and no limit cuts through it
        doc["order"] = [{"by": rng.choice(computed)["name"], "dir": rng.choice(["asc", "desc"])}]
        doc.pop("limit", None)
    return doc


def ordered_by_computed(doc):
    """(index among the answer's columns, descending) when the first order is a computed one."""
    order = doc.get("order") or [{}]
    names = [m["name"] for m in doc["measures"] if "expr" in m]
    if order[0].get("by") not in names:
        return None
    keys = (["bucket"] if "granularity" in doc.get("time", {}) else []) + doc.get("dimensions", [])
    columns = keys + [m["name"] for m in doc["measures"]]
    return columns.index(order[0]["by"]), order[0].get("dir") == "desc"


def check_order(rows, idx, desc):
    """None when rows are in order of column idx (within rounding; NULLs as PostgreSQL puts them)."""
    for i in range(1, len(rows)):
        a, b = rows[i - 1][idx], rows[i][idx]
        if a is None or b is None:
            # ASC puts NULLs last, DESC first
            if (a is None and b is not None and not desc) or (b is None and a is not None and desc):
                return f"rows {i - 1} and {i} are not in order of column {idx}: {a!r}, {b!r}"
            continue
        a, b = float(a), float(b)
        tol = 1e-9 * max(abs(a), abs(b)) + 1e-12
        if (a > b + tol) if not desc else (b > a + tol):
            return f"rows {i - 1} and {i} are not in order of column {idx}: {a!r}, {b!r}"
    return None


def by_keys(rows, nkeys):
    return sorted(rows, key=lambda r: tuple((v is None, v if v is not None else 0) for v in r[:nkeys]))


def strip(doc):
    """The document as sent (without the generator's trees)."""
    return {**doc, "measures": [{k: v for k, v in m.items() if k != "_tree"} for m in doc["measures"]]}


def expr_type(doc, c):
    ms = {m["name"]: m for m in doc["measures"] if "agg" in m}
    names = []

    def walk(t):
        if t[0] in ("name", "share"):
            names.append(t[1])
        elif t[0] == "neg":
            walk(t[1])
        elif t[0] != "num":
            walk(t[1])
            walk(t[2])
    walk(c["_tree"])
    return "float8" if any(is_float(ms[n]) for n in names) else "numeric"


def apply(doc, rows, keys):
    """rows: key values then the aggregate measures' values, in order. Returns the answer's rows
    (keys, then every measure in document order) that `having` keeps, before order and limit."""
    aggs = [m["name"] for m in doc["measures"] if "agg" in m]
    computed = [m for m in doc["measures"] if "expr" in m]
    types = {c["name"]: expr_type(doc, c) for c in computed}
    nk = len(keys)
    env = [dict(zip(keys + aggs, r)) for r in rows]

    def has_share(t):
        return t[0] == "share" or (t[0] == "neg" and has_share(t[1])) or \
            (t[0] in "+-*/" and (has_share(t[1]) or has_share(t[2])))

    def num(v, ty):
        if v is None:
            return None
        return float(v) if ty == "float8" else Decimal(str(v))

    def ev(t, e, ty, sums):
        kind = t[0]
        if kind == "num":
            return num(t[1], ty)
        if kind == "name":
            return num(e[t[1]], ty)
        if kind == "share":
            v, s = num(e[t[1]], ty), sums[(t[1], tuple(t[2]), ty)][tuple(e[d] for d in t[2])]
            return None if v is None or s is None or s == 0 else v / s
        if kind == "neg":
            v = ev(t[1], e, ty, sums)
            return None if v is None else -v
        a, b = ev(t[1], e, ty, sums), ev(t[2], e, ty, sums)
        if a is None or b is None:
            return None
        if kind == "/":
            return None if b == 0 else a / b
        return {"+": a + b, "-": a - b, "*": a * b}[kind]

    def holds(h, v):
        op = h["op"]
        if op == "is null":
            return v is None
        if op == "is not null":
            return v is not None
        if v is None:
            return False
        if op == "in":
            return any(Decimal(str(v)) == Decimal(str(x)) for x in h["value"])
        x = Decimal(str(h["value"]))
        v = Decimal(str(v))
        return {"=": v == x, "!=": v != x, "<": v < x, "<=": v <= x, ">": v > x, ">=": v >= x}[op]

    by_name = {c["name"]: c for c in computed}
    late_names = {c["name"] for c in computed if has_share(c["_tree"])}
    with localcontext() as ctx:
        ctx.prec = 60
        for e in env:
            for c in computed:
                if c["name"] not in late_names:
                    e[c["name"]] = ev(c["_tree"], e, types[c["name"]], {})
        early = [h for h in doc.get("having", []) if h["column"] not in late_names]
        env = [e for e in env if all(holds(h, e[h["column"]]) for h in early)]
        # the share windows over the rows HAVING kept
        sums = {}
        for c in computed:
            def windows(t, ty=types[c["name"]]):
                if t[0] == "share":
                    key = (t[1], tuple(t[2]), ty)
                    if key in sums:
                        return  # one window per share, however often it appears
                    groups = sums.setdefault(key, {})
                    for e in env:
                        g = tuple(e[d] for d in t[2])
                        v = num(e[t[1]], ty)
                        if v is not None:
                            groups[g] = v if groups.get(g) is None else groups[g] + v
                        else:
                            groups.setdefault(g, None)
                elif t[0] == "neg":
                    windows(t[1])
                elif t[0] in "+-*/":
                    windows(t[1])
                    windows(t[2])
            windows(c["_tree"])
        for e in env:
            for name in late_names:
                e[name] = ev(by_name[name]["_tree"], e, types[name], sums)
        late = [h for h in doc.get("having", []) if h["column"] in late_names]
        env = [e for e in env if all(holds(h, e[h["column"]]) for h in late)]
    names = keys + [m["name"] for m in doc["measures"]]
    assert len(names) >= nk
    return [[e[n] for n in names] for e in env], types
