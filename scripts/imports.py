#!/usr/bin/env python3
"""The module graph of the extension crate (src/) and of routed-core, from `crate::` and
`super::` paths in the code, and the house rules it must keep:

* no circle of imports between modules (files), in either crate;
* between the extension's top-level concerns, only the calls ARCHITECTURE.md allows (ALLOWED);
* no file over 400 lines.

    scripts/imports.py            # prints each module's imports, then the verdict
    scripts/imports.py --check    # the verdict only; exit status 1 on a broken rule

Paths are read from the code without comments and strings; `super::*` (an inline module's glob
of its own file) is not an import.
"""
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = {"pg_routed": "src", "routed-core": "crates/routed-core/src"}
MAX_LINES = 400

# Who may call whom among the extension's top-level modules (leaves call nothing of ours).
ALLOWED = {
    "api": {"answer", "rollups", "cache", "changes", "catalog", "recommend", "pg", "gucs", "error"},
    "answer": {"cache", "catalog", "changes", "rollups", "pg", "gucs", "error"},
    "worker": {"answer", "cache", "pg", "gucs", "error"},
    "plain_sql": {"answer", "catalog", "pg", "gucs", "error"},
    "recommend": {"answer", "cache", "pg", "error"},
    "cache": {"pg", "gucs", "error"},
    "changes": {"cache", "rollups", "pg", "gucs", "error"},
    "rollups": {"catalog", "pg", "gucs", "error"},
    "catalog": {"pg", "error"},
    "pg": {"error"},
    "gucs": set(),
    "error": set(),
    "tests": None,  # the #[pg_test]s may reach anything
}

PATH = re.compile(r"\b(crate|super)::((?:\{[^}]*\})|(?:[a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*))")


def strip(code):
    """Code without comments, string literals and char literals (paths in them are not imports)."""
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    code = re.sub(r'r#*"(?:.|\n)*?"#*', '""', code)
    code = re.sub(r'"(?:\\.|[^"\\])*"', '""', code)
    code = re.sub(r"//[^\n]*", "", code)
    return code


def modules(root):
    """module path (tuple) -> file, for every .rs file under root."""
    found = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            found[tuple(parts)] = os.path.join(dirpath, f)
    return found


def expand(rest):
    """`a::b` or `{a::b, c}` -> lists of segments."""
    if rest.startswith("{"):
        out = []
        for piece in rest[1:-1].split(","):
            segs = re.findall(r"[a-z_][a-z0-9_]*", piece.split(" as ")[0])
            if segs and segs[0] != "self":
                out.append(segs)
        return out
    return [rest.split("::")]


def resolve(mods, segs):
    """The module a path names: the longest prefix of it that is a module file."""
    for n in range(len(segs), -1, -1):
        if tuple(segs[:n]) in mods:
            return tuple(segs[:n])
    return ()


def graph(root):
    mods = modules(root)
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        code = strip(open(path).read())
        for kind, rest in PATH.findall(code):
            for segs in expand(rest):
                if kind == "crate":
                    full = segs
                else:
                    if segs == ["*"]:
                        continue
                    full = list(m[:-1]) + segs
                target = resolve(mods, full)
                if target != m and not (target and m[: len(target)] == target and kind == "super"):
                    edges[m].add(target)
    return mods, edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) if m else "(root)"


def main():
    check = "--check" in sys.argv
    broken = []
    for crate, root in CRATES.items():
        mods, edges = graph(os.path.join(REPO, root))
        if not check:
            print(f"# {crate} ({root})")
            for m in sorted(edges):
                deps = ", ".join(name(t) for t in sorted(edges[m])) or "-"
                print(f"{name(m):28} -> {deps}")
            print()
        for comp in cycles(edges):
            broken.append(f"{crate}: circle of imports: {' <-> '.join(name(m) for m in comp)}")
        for m, path in mods.items():
            n = sum(1 for _ in open(path))
            if n > MAX_LINES:
                broken.append(f"{os.path.relpath(path, REPO)}: {n} lines (at most {MAX_LINES})")
        if crate != "pg_routed":
            continue
        for m, deps in edges.items():
            top = m[0] if m else "lib"
            allowed = ALLOWED.get(top, set()) if top != "lib" else None
            if allowed is None:
                continue
            for t in deps:
                if t and t[0] != top and t[0] not in allowed:
                    broken.append(f"pg_routed: {name(m)} imports {name(t)}: {top} may call only {sorted(allowed) or 'nothing'}")
            if top not in ALLOWED:
                broken.append(f"pg_routed: {name(m)}: a top-level module ARCHITECTURE.md does not know (add it to ALLOWED)")
    for b in broken:
        print(b)
    print("module graph: ok" if not broken else f"module graph: {len(broken)} broken rule(s)")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
