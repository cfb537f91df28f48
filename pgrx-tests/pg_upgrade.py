#!/usr/bin/python3
"""pg_upgrade from one PostgreSQL major to another keeps rollups answering exactly (issue #14).

A cluster of the old major (its own directory and port, pg_routed preloaded) gets the database
of dump_restore.py: a source with an hourly and a daily rollup, deltas and logged ranges not yet
refreshed. It is stopped and upgraded with the new major's pg_upgrade into a new cluster (the
extension built and installed for both majors); then the new cluster must list the same rollups
with the same watermarks and pending work, answer at budget 0 as the base table does, track the
writes after the upgrade, and refresh to what a rebuild gives (dump_restore.check).

    pg_upgrade.py --old-bin /usr/lib/postgresql/15/bin --new-bin /opt/pg_routed/postgresql-17.11.0/bin \
        --dir target/pg_routed_test/upgrade --port 54331
"""

import argparse
import os
import shutil
import subprocess
import sys

from dump_restore import SRC, check, setup
from stress import connect

CONF = """port = {port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{dir}'
shared_preload_libraries = 'pg_routed'
max_connections = 20
"""


def as_pg(*args, cwd=None):
    cmd = list(args)
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    return r.stdout


def cluster(bin_, data, port):
    as_pg(os.path.join(bin_, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
          "--locale=C.UTF-8", "--encoding=UTF8", "--data-checksums")  # (18 checksums by default)
    with open(os.path.join(data, "postgresql.conf"), "a") as f:
        f.write(CONF.format(port=port, dir=data))


def start(bin_, data):
    as_pg(os.path.join(bin_, "pg_ctl"), "-D", data, "-l", os.path.join(data, "server.log"), "-w", "start")


def stop(bin_, data):
    as_pg(os.path.join(bin_, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")


def version(port):
    c = connect(port, "postgres")
    cur = c.cursor()
    cur.execute("SHOW server_version_num")
    v = int(cur.fetchone()[0]) // 10000
    c.close()
    return v


def drop_attver(port):
    """Debian's PostgreSQL 15.20 stamps every column with a reserved attoption, pg_attver (a
    back-branch attribute version), which later majors' pg_dump copies and their servers reject
    ("unrecognized parameter"), so pg_upgrade from it fails for any table, with or without
    pg_routed. Removes it from the old cluster (its catalogs only; a later major has no use for
    it) and says how many columns carried it."""
    c = connect(port, "postgres")
    cur = c.cursor()
    cur.execute("SELECT datname FROM pg_database WHERE datallowconn")
    dbs = [r[0] for r in cur.fetchall()]
    c.close()
    stamped = 0
    for db in dbs:
        c = connect(port, db)
        cur = c.cursor()
        cur.execute("SET allow_system_table_mods = on")
        cur.execute("""UPDATE pg_attribute SET attoptions = nullif(ARRAY(SELECT o FROM unnest(attoptions) o
                                                                  WHERE o NOT LIKE 'pg_attver=%'), '{}')
                        WHERE attoptions::text LIKE '%pg_attver=%'""")
        stamped += cur.rowcount
        c.close()
    if stamped:
        print(f"upgrade: removed pg_attver from {stamped} columns of the old cluster (see drop_attver)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-bin", required=True)
    ap.add_argument("--new-bin", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    a.dir = os.path.abspath(a.dir)
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    old, new = os.path.join(a.dir, "old"), os.path.join(a.dir, "new")
    if os.geteuid() == 0:
        shutil.chown(a.dir, "postgres", "postgres")
    cluster(a.old_bin, old, a.port)
    start(a.old_bin, old)
    try:
        before = version(a.port)
        catalog = setup(a.port, SRC)
        c = connect(a.port, SRC)
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM routed.rollups")
        assert cur.fetchone()[0] == 3, "the old cluster should have three rollups"
        c.close()
        drop_attver(a.port)
    finally:
        stop(a.old_bin, old)
    cluster(a.new_bin, new, a.port)
    # pg_upgrade writes its logs and sockets in its working directory
    as_pg(os.path.join(a.new_bin, "pg_upgrade"), "--old-bindir", a.old_bin, "--new-bindir", a.new_bin,
          "--old-datadir", old, "--new-datadir", new, "-U", "postgres", "--link", cwd=a.dir)
    start(a.new_bin, new)
    where = f"pg_upgrade {before} -> "
    try:
        where += str(version(a.port))
        check(a.port, SRC, catalog, where)
        print(f"upgrade: {where}: ok")
    except Exception as e:
        print(f"upgrade: {where}: FAILED: {e}")
        sys.exit(1)
    finally:
        stop(a.new_bin, new)
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
