#!/usr/bin/env bash
# Runs golden tests against a running cluster on PORT:
#   scripts/regress.sh sql PORT [--accept]        pgrx-tests/{sql,expected}, by pg_regress
#   scripts/regress.sh isolation PORT [--accept]  pgrx-tests/isolation/{specs,expected}, by
#                                                 pg_isolation_regress (several sessions)
# --accept copies the results over expected/ (review the diff before committing).
source "$(dirname "$0")/common.sh"
kind="$1"; port="$2"
case "$kind" in
  sql) driver=pg_regress; dir="$REPO/pgrx-tests"; sub=regress ;;
  isolation) driver=pg_isolation_regress; dir="$REPO/pgrx-tests/isolation"; sub=isolation ;;
  *) echo "usage: $0 sql|isolation PORT [--accept]" >&2; exit 2 ;;
esac
db="routed_$kind"; out="$REPO/target/pg_routed_test/$kind"
rm -rf "$out"; mkdir -p "$out"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$out"
psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
  -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
status=0
as_pg "$(pgxs_test_dir)/$sub/$driver" \
  --use-existing --bindir="$PG_BIN" --host=127.0.0.1 --port="$port" --user=postgres --dbname="$db" \
  --inputdir="$dir" --outputdir="$out" --schedule="$dir/schedule" || status=$?
if [ "${3:-}" = --accept ]; then
  cp "$out"/results/*.out "$dir/expected/"
elif [ "$status" != 0 ]; then
  head -n 200 "$out/regression.diffs" 2>/dev/null
fi
exit "$status"
