#!/usr/bin/env bash
# Hit ratio of a dashboard beside a DDL-heavy session (issue #14): 4 clients ask 8 closed-window
# documents on the demo dataset for SECS seconds while another session runs 10 DDL statements a
# second that touch nothing they read (a temporary table created and dropped, a GRANT and a
# COMMENT on an unrelated table); the same run again with a writer of ALTER TABLE on the source
# at 1/s, which must invalidate. Reads routed.cache_stats before and after each run.
# Writes its table into benches/RESULTS.md (between the ddl_mix markers).
# Usage: benches/ddl_mix.sh [seconds, default 20]
source "$(dirname "$0")/../scripts/common.sh"

SECS="${1:-20}"
PORT="${PG_ROUTED_DEMO_PORT:-54321}"; DB=routed_demo
WORK="$REPO/target/bench/ddl_mix"; mkdir -p "$WORK"
OUT="$REPO/benches/RESULTS.md"

log "setting up the demo cluster (release build)"
"$REPO/scripts/demo.sh" > "$WORK/demo.log" 2>&1 || { tail -n 30 "$WORK/demo.log"; exit 1; }
P() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }
P -c "DROP TABLE IF EXISTS ddl_unrelated" -c "CREATE TABLE ddl_unrelated (x int)"

echo "\\set day random(1, 8)" > "$WORK/dash.sql"
# closed windows a day apart, ending at yesterday's midnight: answers that stay exact
echo "SELECT routed_query(format('{\"source\": \"metrics\", \"time\": {\"column\": \"ts\", \"from\": \"%s\", \"to\": \"%s\", \"granularity\": \"1 hour\"}, \"dimensions\": [\"status\"], \"measures\": [{\"name\": \"n\", \"agg\": \"count\"}]}', to_json(date_trunc('day', now()) - (:day + 1) * interval '1 day')#>>'{}', to_json(date_trunc('day', now()) - :day * interval '1 day')#>>'{}')::jsonb, '0');" >> "$WORK/dash.sql"
cat > "$WORK/ddl.sql" <<'SQL'
CREATE TEMP TABLE ddl_tt (x int);
DROP TABLE ddl_tt;
GRANT SELECT ON ddl_unrelated TO PUBLIC;
COMMENT ON TABLE ddl_unrelated IS 'touched';
SQL
echo "ALTER TABLE metrics ALTER COLUMN region SET STATISTICS 100;" > "$WORK/alter.sql"

ratio() {  # hits / (hits + misses) between two cache_stats readings
  awk -v h0="$1" -v m0="$2" -v h1="$3" -v m1="$4" 'BEGIN {printf "%.3f", (h1 - h0) / ((h1 - h0) + (m1 - m0))}'
}
run() {  # $1: the DDL script, $2: its rate per second
  P -c "SELECT routed.cache_reset()" > /dev/null
  pgbench -n -c 4 -T 3 -h 127.0.0.1 -p "$PORT" -U postgres -f "$WORK/dash.sql" "$DB" > /dev/null 2>&1   # warm
  read -r h0 m0 < <(P -F ' ' -c "SELECT hits + coalesced, misses FROM routed.cache_stats")
  pgbench -n -R "$2" -T "$SECS" -h 127.0.0.1 -p "$PORT" -U postgres -f "$1" "$DB" > "$WORK/ddl.log" 2>&1 &
  local ddl=$!
  pgbench -n -c 4 -T "$SECS" -h 127.0.0.1 -p "$PORT" -U postgres -f "$WORK/dash.sql" "$DB" > "$WORK/dash.log" 2>&1
  wait "$ddl"
  read -r h1 m1 < <(P -F ' ' -c "SELECT hits + coalesced, misses FROM routed.cache_stats")
  local ddls; ddls=$(awk '/number of transactions actually processed/ {print $NF}' "$WORK/ddl.log" | cut -d/ -f1)
  echo "$(ratio "$h0" "$m0" "$h1" "$m1") $((h1 - h0)) $((m1 - m0)) ${ddls:-0}"
}
log "dashboard beside unrelated DDL (10/s)"
read -r R1 H1 M1 D1 < <(run "$WORK/ddl.sql" 10)
log "dashboard beside ALTER TABLE of its source (1/s)"
read -r R2 H2 M2 D2 < <(run "$WORK/alter.sql" 1)

SECTION="$WORK/ddl_mix.md"
cat > "$SECTION" <<MD
## DDL beside a dashboard (issue #14)

Command: \`benches/ddl_mix.sh $SECS\` ($(date -u +%Y-%m-%d), $(nproc) cores, demo dataset). 4 clients ask 8 closed-window
documents (one day each, hourly, by status) at budget 0 for $SECS s; another session runs DDL at a fixed rate. Hit ratio
from \`routed.cache_stats\` over the run.

| Beside | DDL transactions | hits | misses | hit ratio | target |
|---|---|---|---|---|---|
| temporary table created and dropped, GRANT and COMMENT on an unrelated table, 10/s | $D1 | $H1 | $M1 | **$R1** | ≥ 0.95 (issue #14: near 0 before 0.4.0, when any DDL emptied the cache) |
| ALTER TABLE of the documents' source, 1/s (must invalidate) | $D2 | $H2 | $M2 | $R2 | (misses expected) |
MD
"$REPO/benches/write_section.py" "$OUT" ddl_mix "$SECTION"
cat "$SECTION"
