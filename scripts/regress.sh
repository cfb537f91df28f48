#!/usr/bin/env bash
# Runs the SQL golden tests (pgrx-tests/sql + expected) against a running cluster on PORT.
# scripts/regress.sh PORT [--accept]: --accept copies the results over expected/ for review.
source "$(dirname "$0")/common.sh"
port="$1"; out="$REPO/target/pg_routed_test/regress"
rm -rf "$out"; mkdir -p "$out"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$out"
psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
  -c "DROP DATABASE IF EXISTS routed_regress" -c "CREATE DATABASE routed_regress"
status=0
as_pg /usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
  --use-existing --host=127.0.0.1 --port="$port" --user=postgres --dbname=routed_regress \
  --inputdir="$REPO/pgrx-tests" --outputdir="$out" --schedule="$REPO/pgrx-tests/schedule" || status=$?
if [ "${2:-}" = --accept ]; then
  cp "$out"/results/*.out "$REPO/pgrx-tests/expected/"
elif [ "$status" != 0 ]; then
  head -n 200 "$out/regression.diffs" 2>/dev/null
fi
exit "$status"
