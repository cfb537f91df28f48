#!/usr/bin/env bash
# Sets everything up and runs the demo: installs what is missing, builds and installs
# pg_routed, starts a local PostgreSQL cluster (15, or PG_ROUTED_PG=16|17|18) with it preloaded
# and its refresh worker serving routed_demo, loads a 2,000,000-row dashboard dataset and an
# hourly rollup of it once, and prints routed_query answers. Leaves the cluster running.
source "$(dirname "$0")/common.sh"

# one cluster per major: 15 in .demo/pgdata on 54321, 16 in .demo/pgdata-16 on 54322, ...
if [ "$PG_MAJOR" = 15 ]; then DEMO_DIR="${PG_ROUTED_DEMO_DIR:-$REPO/.demo/pgdata}"
else DEMO_DIR="${PG_ROUTED_DEMO_DIR:-$REPO/.demo/pgdata-$PG_MAJOR}"; fi
DEMO_PORT="${PG_ROUTED_DEMO_PORT:-$((54306 + PG_MAJOR))}"
DEMO_ROWS="${PG_ROUTED_DEMO_ROWS:-2000000}"
PSQL=(psql -X -q -h 127.0.0.1 -p "$DEMO_PORT" -U postgres)

bootstrap
install_extension release
cluster_up "$DEMO_DIR" "$DEMO_PORT"
"${PSQL[@]}" -d postgres -c "ALTER SYSTEM SET routed.databases = 'routed_demo'" 2>/dev/null || true
cluster_restart "$DEMO_DIR"   # load the library just installed (and start the refresh worker)

if ! "${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'routed_demo'" | grep -q 1; then
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE routed_demo"
fi
PSQL+=(-d routed_demo)
"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_routed" -c "ALTER EXTENSION pg_routed UPDATE"

if [ "$("${PSQL[@]}" -tAc "SELECT to_regclass('public.metrics') IS NOT NULL")" != t ]; then
  log "loading $DEMO_ROWS rows of dashboard metrics over the last 30 days"
  "${PSQL[@]}" -1 -v rows="$DEMO_ROWS" -f "$REPO/scripts/demo_data.sql"
fi

if [ "$("${PSQL[@]}" -tAc "SELECT count(*) FROM routed.rollup_catalog WHERE name = 'metrics_hourly'")" != 1 ]; then
  log "creating the hourly rollup of metrics (backfill, one day per transaction)"
  "${PSQL[@]}" -c "SET client_min_messages = warning" -c "CALL routed.create_rollup('metrics_hourly', 'metrics', '1 hour',
    '{rule_category,status,metric_type}',
    '[{\"agg\": \"count\"}, {\"agg\": \"sum\", \"column\": \"records_processed\"},
      {\"agg\": \"avg\", \"column\": \"execution_time_ms\"}, {\"agg\": \"max\", \"column\": \"execution_time_ms\"},
      {\"agg\": \"percentile\", \"column\": \"execution_time_ms\"}, {\"agg\": \"count_distinct\", \"column\": \"rule_id\"}]',
    refresh_interval => '1 minute')"
fi

show() {
  local title="$1" sql="$2"
  printf '\n\033[1m-- %s\033[0m\n%s\n' "$title" "$sql"
  "${PSQL[@]}" -P pager=off -c "$sql"
}

show "Runs, errors and p95 per rule category over the last 24 hours" \
"SELECT jsonb_pretty(routed_query('{
  \"source\": \"metrics\",
  \"time\": {\"column\": \"ts\", \"from\": \"now-24h\"},
  \"dimensions\": [\"rule_category\"],
  \"measures\": [
    {\"name\": \"runs\", \"agg\": \"count\"},
    {\"name\": \"errors\", \"agg\": \"count\", \"where\": [{\"column\": \"status\", \"op\": \"=\", \"value\": \"ERROR\"}]},
    {\"name\": \"p95_ms\", \"agg\": \"percentile\", \"column\": \"execution_time_ms\", \"q\": 0.95}
  ],
  \"order\": [{\"by\": \"p95_ms\", \"dir\": \"desc\"}]
}', '5 minutes'));"

show "Daily distinct rules and records processed this week, for two metric types (typed rows)" \
"SELECT * FROM routed_rows('{
  \"source\": \"metrics\",
  \"time\": {\"column\": \"ts\", \"from\": \"now-7d\", \"granularity\": \"1 day\"},
  \"measures\": [
    {\"name\": \"rules\", \"agg\": \"count_distinct\", \"column\": \"rule_id\"},
    {\"name\": \"records\", \"agg\": \"sum\", \"column\": \"records_processed\"}
  ],
  \"where\": [{\"column\": \"metric_type\", \"op\": \"in\", \"value\": [\"RULE_EXECUTION\", \"PARSER_EXECUTION\"]}]
}') AS t(day timestamptz, rules bigint, records numeric);"

show "Top 3 regions by average latency yesterday, with meta only" \
"SELECT r->'rows' AS rows, r->'meta' AS meta FROM routed_query('{
  \"source\": \"metrics\",
  \"time\": {\"column\": \"ts\", \"from\": \"yesterday\", \"to\": \"today\"},
  \"dimensions\": [\"region\"],
  \"measures\": [{\"name\": \"avg_ms\", \"agg\": \"avg\", \"column\": \"execution_time_ms\"}],
  \"order\": [{\"by\": \"avg_ms\", \"dir\": \"desc\"}], \"limit\": 3, \"freshness\": \"dashboard\"
}') AS r;"

show "Runs and errors per day over the last 30 days, exact (budget 0): rollup buckets plus base rows" \
"SELECT jsonb_array_length(r->'rows') AS days, r->'rows'->-1 AS today, r->'meta' AS meta FROM routed_query('{
  \"source\": \"metrics\",
  \"time\": {\"from\": \"now-30d\", \"granularity\": \"1 day\"},
  \"measures\": [
    {\"name\": \"runs\", \"agg\": \"count\"},
    {\"name\": \"errors\", \"agg\": \"count\", \"where\": [{\"column\": \"status\", \"op\": \"=\", \"value\": \"ERROR\"}]},
    {\"name\": \"avg_ms\", \"agg\": \"avg\", \"column\": \"execution_time_ms\"}
  ]
}', '0') AS r;"

show "The rollup as the router sees it" \
"SELECT name, granularity, dimensions, watermark, pending_ranges, last_refresh, rows, pg_size_pretty(size_bytes) AS size FROM routed.rollups;"

EXPLAIN_SQL="SELECT jsonb_pretty(routed_explain('{\"source\": \"metrics\", \"time\": {\"column\": \"ts\", \"from\": \"now-6h\", \"granularity\": \"1 hour\"}, \"measures\": [{\"name\": \"n\", \"agg\": \"count\"}]}') - 'document');"
printf '\n\033[1m-- %s\033[0m\n%s\n' "What the router decided, without running it" "$EXPLAIN_SQL"
"${PSQL[@]}" -At -c "$EXPLAIN_SQL"

cat <<MSG

pg_routed is running on port $DEMO_PORT (data in $DEMO_DIR). Connect with:
  psql -h 127.0.0.1 -p $DEMO_PORT -U postgres routed_demo
Stop it with:
  runuser -u postgres -- $PG_BIN/pg_ctl -D $DEMO_DIR stop
MSG
