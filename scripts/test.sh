#!/usr/bin/env bash
# Runs every test: routed-core unit and property tests, the #[pg_test]s, the SQL golden tests,
# the isolation tests (several sessions), the differential test against an independent oracle,
# the cache stress test (several backends, a commit log as oracle) and the background worker's
# revalidation of stale cache entries. Installs what is missing first.
source "$(dirname "$0")/common.sh"

# PG_ROUTED_PG=18 scripts/test.sh runs them on another major (see scripts/common.sh)
TEST_DIR="${PG_ROUTED_TEST_DIR:-$REPO/target/pg_routed_test/pgdata-$PG_MAJOR}"
TEST_PORT="${PG_ROUTED_TEST_PORT:-54329}"
PGTEST_DIR="$REPO/target/pg_routed_test/pgrx-$PG_MAJOR"
export PG_ROUTED_PG_BIN="$PG_BIN"   # the suites that restart the cluster (pgrx-tests/stress.py)
passed=0; failed=0; failures=""

# PG_ROUTED_SUITES="golden isolation" runs only those suites (while working on them)
suite() {
  local name="$1"; shift
  if [ -n "${PG_ROUTED_SUITES:-}" ] && [[ " $PG_ROUTED_SUITES " != *" $name "* ]]; then return 0; fi
  log "suite: $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures $name"; fi
}

# the house rules: no circle of imports, calls only as ARCHITECTURE.md allows, files of at most
# 400 lines, and a SAFETY comment on every unsafe block (clippy)
house_checks() {
  python3 "$REPO/scripts/imports.py" --check || return 1
  (cd "$REPO" && cargo clippy --locked --quiet --no-default-features --features "pg$PG_MAJOR pg_test" -- -D clippy::undocumented_unsafe_blocks) || return 1
  (cd "$REPO/crates/routed-core" && cargo clippy --locked --quiet --all-targets -- -D clippy::undocumented_unsafe_blocks)
}

core_tests() { (cd "$REPO" && cargo test --locked -p routed-core --quiet); }

pg_tests() {
  if [ "$(id -u)" != 0 ]; then (cd "$REPO" && cargo pgrx test "pg$PG_MAJOR"); return; fi
  # root may not run initdb: pgrx runs the test cluster as postgres in a directory it owns
  mkdir -p "$PGTEST_DIR"
  chown postgres:postgres "$PGTEST_DIR"
  (cd "$REPO" && cargo pgrx test "pg$PG_MAJOR" --runas postgres --pgdata "$PGTEST_DIR")
}

golden_tests() {
  # the committed upgrade script to this version must match the objects this build installs
  local version; version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
  local step; step=$(ls "$REPO"/sql/pg_routed--*--"$version".sql)
  local previous; previous=$(basename "$step" | sed 's/^pg_routed--\(.*\)--.*/\1/')
  local what; what=$(sed -n '1s/^-- pg_routed [^:]*: \(.*\)\.$/\1/p' "$step")
  local manual=(); [ -f "$REPO/sql/manual/$previous--$version.sql" ] && manual=("$REPO/sql/manual/$previous--$version.sql")
  python3 "$REPO/scripts/upgrade_sql.py" "$REPO/sql/pg_routed--$previous.sql" \
    "$("$PG_CONFIG" --sharedir)/extension/pg_routed--$version.sql" "$what" "${manual[@]}" \
    | diff -u "$step" - || { echo "$step is stale: regenerate it with scripts/upgrade_sql.py"; return 1; }
  upgrade_check && "$REPO/scripts/regress.sh" sql "$TEST_PORT"
}

# 0.1.0 + ALTER EXTENSION UPDATE must own exactly the objects a fresh CREATE EXTENSION owns
upgrade_check() {
  local q="psql -X -q -At -h 127.0.0.1 -p $TEST_PORT -U postgres"
  local members="SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend WHERE deptype = 'e'
    AND refclassid = 'pg_extension'::regclass AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_routed') ORDER BY 1"
  for db in routed_upgraded routed_fresh; do
    $q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" || return 1
  done
  $q -d routed_upgraded -c "CREATE EXTENSION pg_routed VERSION '0.1.0'" -c "ALTER EXTENSION pg_routed UPDATE" || return 1
  $q -d routed_fresh -c "CREATE EXTENSION pg_routed" || return 1
  diff -u <($q -d routed_fresh -c "$members") <($q -d routed_upgraded -c "$members") \
    || { echo "upgrade from 0.1.0 does not reach the objects of a fresh install"; return 1; }
  # and their definitions: functions, procedures and views as a fresh install defines them
  local defs="SELECT p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid)) FROM pg_proc p
    WHERE p.pronamespace = 'routed'::regnamespace AND p.prokind IN ('f', 'p')
    UNION ALL SELECT c.oid::regclass::text || ' ' || md5(pg_get_viewdef(c.oid)) FROM pg_class c
    WHERE c.relnamespace = 'routed'::regnamespace AND c.relkind = 'v'
    UNION ALL SELECT 'dumped with the extension: ' || array_to_string(extconfig::regclass[], ', ')
    FROM pg_extension WHERE extname = 'pg_routed' ORDER BY 1"
  diff -u <($q -d routed_fresh -c "$defs") <($q -d routed_upgraded -c "$defs") \
    || { echo "upgrade from 0.1.0 does not reach the definitions of a fresh install"; return 1; }
}
isolation_tests() { "$REPO/scripts/regress.sh" isolation "$TEST_PORT"; }

# several real backends on the cache: coalescing, 60 s of readers and writers against an oracle,
# a small cache with a wrapping change ring, SIGKILL (restarts the cluster)
stress_tests() {
  /usr/bin/python3 "$REPO/pgrx-tests/stress.py" --port "$TEST_PORT" --pgdata "$TEST_DIR" --seconds "${PG_ROUTED_STRESS_SECONDS:-60}"
}

# stale-while-revalidate with the real background worker (restarts the cluster twice)
revalidate_tests() {
  /usr/bin/python3 "$REPO/pgrx-tests/revalidate.py" --port "$TEST_PORT" --pgdata "$TEST_DIR"
}

# pg_dump / pg_restore round trips (five ways) and upgrades with data keep every rollup exact
dump_restore_tests() {
  /usr/bin/python3 "$REPO/pgrx-tests/dump_restore.py" --port "$TEST_PORT" --pgbin "$PG_BIN"
}

# pg_upgrade keeps rollups exact: 15 (Debian's) to 17, and 17 to 18 (both from PyPI); builds and
# installs the extension for 17 and 18 too (each upgrade in its own cluster and port)
pg_upgrade_tests() {
  local from to
  for pair in "15 17" "17 18"; do
    read -r from to <<<"$pair"
    (export PG_ROUTED_PG="$to"; source "$REPO/scripts/common.sh"; fetch_postgresql "$to" && install_extension debug) || return 1
    /usr/bin/python3 "$REPO/pgrx-tests/pg_upgrade.py" --old-bin "$(bin_of "$from")" --new-bin "$(bin_of "$to")" \
      --dir "$REPO/target/pg_routed_test/upgrade" --port $((TEST_PORT + 2)) || return 1
  done
}
bin_of() { if [ "$1" = 15 ]; then echo /usr/lib/postgresql/15/bin; else echo "$(pg_tree "$1")/bin"; fi; }

# NOTIFY routed_changes / routed_refreshes with a listening client
notify_tests() {
  /usr/bin/python3 "$REPO/pgrx-tests/notify.py" --port "$TEST_PORT"
}

# the worker saves hot entries at a clean shutdown and recomputes them at start (restarts twice)
warm_tests() {
  /usr/bin/python3 "$REPO/pgrx-tests/warm.py" --port "$TEST_PORT" --pgdata "$TEST_DIR"
}

# 10,000 single-row corrections and a scattered DELETE: bucket-precise log, compaction, refresh
corrections_tests() {
  /usr/bin/python3 "$REPO/pgrx-tests/corrections.py" --port "$TEST_PORT"
}

# plain SQL with routed.transparent on and off in one snapshot, generated queries under writes
plain_sql_tests() {
  /usr/bin/python3 "$REPO/pgrx-tests/plain_sql.py" --port "$TEST_PORT" --queries "${PG_ROUTED_PLAIN_QUERIES:-1200}"
}

# real clients (node-postgres over the extended protocol, pgjdbc into named statements and
# generic plans; psycopg2 is plain_sql.py's), each comparing transparent on and off
clients_tests() {
  psql -X -q -h 127.0.0.1 -p "$TEST_PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS routed_clients" -c "CREATE DATABASE routed_clients" || return 1
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$TEST_PORT" -U postgres -d routed_clients \
    -f "$REPO/pgrx-tests/clients/setup.sql" >/dev/null || return 1
  node "$REPO/pgrx-tests/clients/node/client.js" "$TEST_PORT" || return 1
  java -cp /usr/share/java/postgresql.jar "$REPO/pgrx-tests/clients/jdbc/Client.java" "$TEST_PORT"
}

differential_tests() {
  python3 "$REPO/pgrx-tests/differential.py" --port "$TEST_PORT" --documents "${PG_ROUTED_DIFF_DOCS:-300}"
}

bootstrap
suite house house_checks
suite routed-core core_tests
suite pg_test pg_tests
install_extension debug   # the plain build (pg_test's build carries test functions)
cluster_up "$TEST_DIR" "$TEST_PORT"
trap 'cluster_down "$TEST_DIR"' EXIT   # also when a suite aborts the script
cluster_restart "$TEST_DIR"
suite golden golden_tests
suite isolation isolation_tests
suite dump_restore dump_restore_tests
[ "$PG_MAJOR" = 15 ] && suite pg_upgrade pg_upgrade_tests
suite notify notify_tests
suite corrections corrections_tests
suite differential differential_tests
suite plain_sql plain_sql_tests
suite clients clients_tests
suite stress stress_tests
suite revalidate revalidate_tests
suite warm warm_tests

echo
[ "$failed" = 0 ] || echo "failed suites:$failures"
echo "suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
