#!/usr/bin/env bash
# Rollup benchmarks (issue #4), same-run ratios, on a source of ROWS rows over 30 days (default
# 10,000,000; loaded once into database routed_bench of the demo cluster and kept):
#   1. a 30-day daily dashboard query from the rollup vs the base table (routed.enabled = off);
#   2. the same over a moving window at budget 0 with a fresh tail of inserts (rollup+base);
#   3. incremental refresh after 1,000 rows in the last hour and after 1,000 rows scattered over
#      30 days, vs rebuilding the rollup (create_rollup's backfill);
#   4. write overhead of tracking: 1,000,000-row INSERT ... SELECT and single-row INSERT TPS on a
#      tracked table with a rollup vs the same table untracked.
# Writes its table into benches/RESULTS.md (between the rollups markers).
# Usage: benches/rollups.sh [rows] [seconds per pgbench round] [rounds]
# PG_ROUTED_BENCH_PARTITIONED=1: the same on a source partitioned by day (pg_partman's layout:
# daily partitions over the 30 days and two ahead, plus a default), in database
# routed_bench_part, written between the rollups_partitioned markers.
source "$(dirname "$0")/../scripts/common.sh"

ROWS="${1:-10000000}"; SECS="${2:-10}"; ROUNDS="${3:-3}"
PORT="${PG_ROUTED_DEMO_PORT:-$((54306 + PG_MAJOR))}"; DB=routed_bench; MARK=rollups; LAYOUT="stored in time order"
PARTITIONED="${PG_ROUTED_BENCH_PARTITIONED:-0}"
if [ "$PARTITIONED" = 1 ]; then
  DB=routed_bench_part; MARK=rollups_partitioned
  LAYOUT="partitioned by day (33 daily partitions and a default), each stored in time order"
fi
# another major (PG_ROUTED_PG=18): its own demo cluster and its own section
[ "$PG_MAJOR" = 15 ] || MARK="${MARK}_pg$PG_MAJOR"
WORK="$REPO/target/bench"; mkdir -p "$WORK"
OUT="$REPO/benches/RESULTS.md"

log "setting up the demo cluster (release build)"
"$REPO/scripts/demo.sh" > "$WORK/demo.log" 2>&1 || { tail -n 30 "$WORK/demo.log"; exit 1; }
P() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }
# milliseconds one statement takes on the server side of psql's \timing
timed() { P -c '\timing on' -c "$1" | awk '/^Time:/ {t = $2} END {print t}'; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB"
P -c "CREATE EXTENSION IF NOT EXISTS pg_routed" -c "ALTER EXTENSION pg_routed UPDATE"

COLUMNS="ts timestamptz NOT NULL, metric_type text NOT NULL, rule_category text NOT NULL, rule_id integer NOT NULL,
  status text NOT NULL, region text, execution_time_ms double precision NOT NULL, records_processed bigint NOT NULL"
# rows at times given by the SQL expression $2 (over i, 1..$1)
ROW_SQL() {
  echo "SELECT $2, (ARRAY['RULE_EXECUTION', 'PARSER_EXECUTION', 'EXPORT'])[1 + floor(random() ^ 2 * 3)::int],
    (ARRAY['fraud', 'billing', 'compliance', 'quality', 'routing', 'alerts'])[1 + floor(random() * 6)::int],
    (random() * 499)::int + 1, CASE WHEN random() < 0.03 THEN 'ERROR' WHEN random() < 0.05 THEN 'TIMEOUT' ELSE 'OK' END,
    (ARRAY['eu-west', 'us-east', 'us-west', 'ap-south'])[1 + floor(random() * 4)::int],
    round((exp(random() * 5) * 2)::numeric, 3)::float8, (random() * 10000)::bigint FROM generate_series(1, $1) AS i"
}
# 1,000 rows sampled uniformly (a ctid names a row only within one partition)
sampled() {
  if [ "$PARTITIONED" = 1 ]; then
    echo "(tableoid, ctid) IN (SELECT tableoid, ctid FROM bench TABLESAMPLE BERNOULLI (0.05) LIMIT 1000)"
  else
    echo "ctid = ANY(ARRAY(SELECT ctid FROM bench TABLESAMPLE BERNOULLI (0.05) LIMIT 1000))"
  fi
}
# CREATE TABLE $1 with the benchmark's columns: plain, or partitioned by day
create_source() {
  if [ "$PARTITIONED" = 1 ]; then
    echo "CREATE TABLE $1 ($COLUMNS) PARTITION BY RANGE (ts);
      DO \$\$ DECLARE d date; BEGIN
        FOR d IN SELECT generate_series(current_date - 31, current_date + 2, interval '1 day')::date LOOP
          EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', '$1_p' || to_char(d, 'YYYYMMDD'), '$1', d, d + 1);
        END LOOP;
        EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', '$1_default', '$1');
      END \$\$;"
  else
    echo "CREATE TABLE $1 ($COLUMNS);"
  fi
}
MEASURES='[{"agg": "count"}, {"agg": "sum", "column": "records_processed"}, {"agg": "avg", "column": "execution_time_ms"}, {"agg": "max", "column": "execution_time_ms"}, {"agg": "percentile", "column": "execution_time_ms"}, {"agg": "count_distinct", "column": "rule_id"}]'
DIMS='{rule_category,status}'   # the dashboard's dimensions and filter columns

P -c "SELECT routed.drop_rollup(name) FROM routed.rollup_catalog" > /dev/null
if [ "$(P -c "SELECT to_regclass('bench') IS NOT NULL AND (SELECT reltuples FROM pg_class WHERE oid = 'bench'::regclass) BETWEEN $ROWS * 0.99 AND $ROWS * 1.01")" != t ]; then
  log "loading $ROWS rows over 30 days into $DB.bench in time order, as a metrics table is written (once)"
  P -c "DROP TABLE IF EXISTS bench" -c "$(create_source bench)" \
    -c "INSERT INTO bench SELECT * FROM ($(ROW_SQL "$ROWS" "now() - interval '10 minutes' - random() * interval '30 days'")) AS r ORDER BY 1" \
    -c "CREATE INDEX ON bench (ts)" -c "VACUUM ANALYZE bench"
fi
P -c "SELECT routed.untrack(source) FROM routed.tracked" > /dev/null
P -c "SELECT routed.track('bench', 'ts')" > /dev/null

log "rebuild: create_rollup with its backfill"
REBUILD_MS=$(timed "CALL routed.create_rollup('bench_hourly', 'bench', '1 hour', '$DIMS', '$MEASURES')")

# 1-2. dashboard queries: closed 30 whole days (rollup only), moving 30 days (rollup+base), base
read -r FROM TO < <(P -F ' ' -c "SELECT to_json(date_trunc('hour', now()) - interval '30 days')#>>'{}', to_json(date_trunc('hour', now()))#>>'{}'")
Q='"dimensions": ["rule_category"], "measures": [{"name": "runs", "agg": "count"}, {"name": "avg_ms", "agg": "avg", "column": "execution_time_ms"}, {"name": "records", "agg": "sum", "column": "records_processed"}, {"name": "errors", "agg": "count", "where": [{"column": "status", "op": "=", "value": "ERROR"}]}]'
echo "SELECT routed_query('{\"source\": \"bench\", \"time\": {\"from\": \"$FROM\", \"to\": \"$TO\", \"granularity\": \"1 day\"}, $Q}');" > "$WORK/closed.sql"
echo "SELECT routed_query('{\"source\": \"bench\", \"time\": {\"from\": \"now-30d\", \"granularity\": \"1 day\"}, $Q}', '0');" > "$WORK/open.sql"
QS='"dimensions": ["rule_category"], "measures": [{"name": "p95_ms", "agg": "percentile", "column": "execution_time_ms", "q": 0.95}, {"name": "rules", "agg": "count_distinct", "column": "rule_id"}]'
echo "SELECT routed_query('{\"source\": \"bench\", \"time\": {\"from\": \"$FROM\", \"to\": \"$TO\", \"granularity\": \"1 day\"}, $QS}');" > "$WORK/sketch.sql"
P -c "$(cat "$WORK/closed.sql")" | grep -q '"source": "rollup"' || { echo "closed window is not answered from the rollup"; exit 1; }
# a fresh tail: rows newer than the watermark, as 200 rows/s arrive during one refresh_interval
# (1 minute: 12,000 rows); later 8,000 more for a tail of 20,000
FRESH="now() - random() * (now() - (SELECT watermark FROM routed.rollup_catalog WHERE name = 'bench_hourly'))"
log "fresh tail: 12,000 rows newer than the watermark"
P -c "INSERT INTO bench $(ROW_SQL 12000 "$FRESH")"
P -c "$(cat "$WORK/open.sql")" | grep -q '"source": "rollup+base"' || { echo "moving window is not rollup+base"; exit 1; }
latency() {  # mean ms of script $1 (pgbench), cache off (answers computed), more PGOPTIONS in $2
  PGOPTIONS="-c routed.cache=off ${2:-}" pgbench -n -M prepared "${@:3}" -h 127.0.0.1 -p "$PORT" -U postgres -f "$1" "$DB" 2>/dev/null \
    | awk -F' = ' '/latency average/ {print $2+0}'
}
: > "$WORK/q.txt"
for r in $(seq "$ROUNDS"); do
  log "query round $r/$ROUNDS"
  echo "closed $(latency "$WORK/closed.sql" "" -T "$SECS")" >> "$WORK/q.txt"
  echo "open $(latency "$WORK/open.sql" "" -T "$SECS")" >> "$WORK/q.txt"
  echo "base $(latency "$WORK/closed.sql" "-c routed.enabled=off" -t 2)" >> "$WORK/q.txt"
  echo "sketch $(latency "$WORK/sketch.sql" "" -T "$SECS")" >> "$WORK/q.txt"
  echo "sketch_base $(latency "$WORK/sketch.sql" "-c routed.enabled=off" -t 1)" >> "$WORK/q.txt"
done
log "fresh tail: 8,000 more rows (20,000)"
P -c "INSERT INTO bench $(ROW_SQL 8000 "$FRESH")"
for r in $(seq "$ROUNDS"); do echo "open20 $(latency "$WORK/open.sql" "" -T "$SECS")" >> "$WORK/q.txt"; done
OPEN20=$(awk '$1 == "open20" {print $2}' "$WORK/q.txt" | median)
CLOSED=$(awk '$1 == "closed" {print $2}' "$WORK/q.txt" | median)
OPEN=$(awk '$1 == "open" {print $2}' "$WORK/q.txt" | median)
BASE=$(awk '$1 == "base" {print $2}' "$WORK/q.txt" | median)
SKETCH=$(awk '$1 == "sketch" {print $2}' "$WORK/q.txt" | median)
SKETCH_BASE=$(awk '$1 == "sketch_base" {print $2}' "$WORK/q.txt" | median)

# 3. refresh
P -c "CALL routed.refresh_rollup('bench_hourly')"
: > "$WORK/refresh.txt"
for r in $(seq "$ROUNDS"); do
  log "refresh round $r/$ROUNDS"
  P -c "INSERT INTO bench $(ROW_SQL 1000 "now() - random() * interval '1 hour'")"
  echo "recent $(timed "CALL routed.refresh_rollup('bench_hourly')")" >> "$WORK/refresh.txt"
  P -c "INSERT INTO bench $(ROW_SQL 1000 "now() - random() * interval '30 days'")"
  echo "scattered $(timed "CALL routed.refresh_rollup('bench_hourly')")" >> "$WORK/refresh.txt"
  echo "INSERT INTO bench $(ROW_SQL 1 "now() - random() * interval '30 days'");" > "$WORK/late1.sql"
  pgbench -n -t 1000 -h 127.0.0.1 -p "$PORT" -U postgres -f "$WORK/late1.sql" "$DB" > /dev/null 2>&1
  echo "scattered_statements $(timed "CALL routed.refresh_rollup('bench_hourly')")" >> "$WORK/refresh.txt"
  P -c "DELETE FROM bench WHERE $(sampled)"
  echo "scattered_delete $(timed "CALL routed.refresh_rollup('bench_hourly')")" >> "$WORK/refresh.txt"
  P -c "UPDATE bench SET records_processed = records_processed + 1 WHERE $(sampled)"
  echo "scattered_update $(timed "CALL routed.refresh_rollup('bench_hourly')")" >> "$WORK/refresh.txt"
  # a typical correction: one source's bad rows in a few past hours (10 hours, about 1,000 rows)
  P -c "DELETE FROM bench WHERE date_trunc('hour', ts) = ANY(ARRAY(SELECT date_trunc('hour', now() - interval '1 day' - random() * interval '28 days') FROM generate_series(1, 10))) AND random() < 0.07"
  echo "hours_delete $(timed "CALL routed.refresh_rollup('bench_hourly')")" >> "$WORK/refresh.txt"
done
RECENT=$(awk '$1 == "recent" {print $2}' "$WORK/refresh.txt" | median)
SCATTERED=$(awk '$1 == "scattered" {print $2}' "$WORK/refresh.txt" | median)
SCATTERED_STMTS=$(awk '$1 == "scattered_statements" {print $2}' "$WORK/refresh.txt" | median)
SCATTERED_DELETE=$(awk '$1 == "scattered_delete" {print $2}' "$WORK/refresh.txt" | median)
SCATTERED_UPDATE=$(awk '$1 == "scattered_update" {print $2}' "$WORK/refresh.txt" | median)
HOURS_DELETE=$(awk '$1 == "hours_delete" {print $2}' "$WORK/refresh.txt" | median)
# after all that, the rollup's answer must still be the base table's (floats to 12 digits: sums of
# float8 in another order round differently)
# one transaction, so both answers see the same now()
P -c "BEGIN" -c "SELECT routed_query('{\"source\": \"bench\", \"time\": {\"from\": \"now-30d\", \"to\": \"$TO\", \"granularity\": \"1 day\"}, $Q}')->'rows'" \
  -c "SET LOCAL routed.enabled = off" -c "SELECT routed_query('{\"source\": \"bench\", \"time\": {\"from\": \"now-30d\", \"to\": \"$TO\", \"granularity\": \"1 day\"}, $Q}')->'rows'" \
  -c "COMMIT" > "$WORK/answers.txt"
sed -n 1p "$WORK/answers.txt" > "$WORK/routed.json"; sed -n 2p "$WORK/answers.txt" > "$WORK/exact.json"
SAME=$(python3 - "$WORK/exact.json" "$WORK/routed.json" <<'PY'
import json, math, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
ok = len(a) == len(b) and all(
    len(x) == len(y) and all(u == v or (isinstance(u, float) and math.isclose(u, v, rel_tol=1e-12)) for u, v in zip(x, y))
    for x, y in zip(a, b))
print("equal" if ok else "DIFFERENT")
PY
)

# 4. write overhead: the same table tracked (with a rollup) and untracked
P -c "DROP TABLE IF EXISTS w_plain, w_tracked" -c "$(create_source w_plain)" -c "$(create_source w_tracked)" \
  -c "CREATE INDEX ON w_plain (ts)" -c "CREATE INDEX ON w_tracked (ts)" > /dev/null
P -c "SELECT routed.track('w_tracked', 'ts')" > /dev/null
P -c "CALL routed.create_rollup('w_hourly', 'w_tracked', '1 hour', '$DIMS', '$MEASURES')"
: > "$WORK/writes.txt"
for r in $(seq "$ROUNDS"); do
  log "write round $r/$ROUNDS"
  for t in w_plain w_tracked; do
    P -c "TRUNCATE $t" -c "CHECKPOINT"
    # rows arriving now (above the watermark): what tracking costs an ordinary load
    echo "bulk_$t $(timed "INSERT INTO $t $(ROW_SQL 1000000 "now() - random() * interval '1 second'")")" >> "$WORK/writes.txt"
    P -c "TRUNCATE $t" -c "CHECKPOINT"
    # late rows (10 days back, below the watermark): their states go to the rollup's deltas
    echo "late_bulk_$t $(timed "INSERT INTO $t $(ROW_SQL 1000000 "now() - interval '10 days' - random() * interval '1 hour'")")" >> "$WORK/writes.txt"
    echo "INSERT INTO $t VALUES (now(), 'RULE_EXECUTION', 'fraud', 1, 'OK', 'eu-west', 1.5, 10);" > "$WORK/one_$t.sql"
    echo "tps_$t $(pgbench -n -M prepared -T "$SECS" -h 127.0.0.1 -p "$PORT" -U postgres -f "$WORK/one_$t.sql" "$DB" 2>/dev/null | awk -F' = ' '/^tps/ {print $2+0}')" >> "$WORK/writes.txt"
    echo "INSERT INTO $t VALUES (now() - interval '10 days', 'RULE_EXECUTION', 'fraud', 1, 'OK', 'eu-west', 1.5, 10);" > "$WORK/late_$t.sql"
    echo "late_tps_$t $(pgbench -n -M prepared -T "$SECS" -h 127.0.0.1 -p "$PORT" -U postgres -f "$WORK/late_$t.sql" "$DB" 2>/dev/null | awk -F' = ' '/^tps/ {print $2+0}')" >> "$WORK/writes.txt"
  done
done
m() { awk -v k="$1" '$1 == k {print $2}' "$WORK/writes.txt" | median; }
BULK_P=$(m bulk_w_plain); BULK_T=$(m bulk_w_tracked)
LATE_BULK_P=$(m late_bulk_w_plain); LATE_BULK_T=$(m late_bulk_w_tracked)
TPS_P=$(m tps_w_plain); TPS_T=$(m tps_w_tracked)
LATE_P=$(m late_tps_w_plain); LATE_T=$(m late_tps_w_tracked)
P -c "SELECT routed.drop_rollup('w_hourly')" -c "SELECT routed.untrack('w_tracked')" -c "DROP TABLE w_plain, w_tracked" > /dev/null

SECTION="$WORK/rollups.md"
cat > "$SECTION" <<MD
## Rollups (issue #4)$([ "$PARTITIONED" = 1 ] && echo ", partitioned source (issue #17)")$([ "$PG_MAJOR" = 15 ] || echo ", PostgreSQL $PG_MAJOR")

Command: \`$([ "$PG_MAJOR" = 15 ] || echo "PG_ROUTED_PG=$PG_MAJOR ")$([ "$PARTITIONED" = 1 ] && echo "PG_ROUTED_BENCH_PARTITIONED=1 ")benches/rollups.sh $ROWS $SECS $ROUNDS\` ($(date -u +%Y-%m-%d), $(nproc) cores). Source: $ROWS rows over
30 days, $LAYOUT (\`bench\` in database \`$DB\` of the demo cluster), rollup \`bench_hourly\`: 1 hour ×
rule_category × status, count, sum, avg, max, a quantile sketch of execution_time_ms and a distinct sketch of rule_id. Medians of $ROUNDS alternating rounds;
queries with pgbench -M prepared, 1 client, \`routed.cache = off\` (every answer computed).

| What | Measured | Ratio | Target |
|---|---|---|---|
| 30-day daily dashboard, whole hours: rollup vs base table | $CLOSED ms vs $BASE ms | **$(ratio "$BASE" "$CLOSED")×** faster | ≥ 100× (TARGETS ≥ 250×) |
| 30-day daily p95 + distinct rules per category: rollup sketches (approximate) vs base table (exact) | $SKETCH ms vs $SKETCH_BASE ms | **$(ratio "$SKETCH_BASE" "$SKETCH")×** faster | ≥ 100× (TARGETS) |
| 30-day daily dashboard over now-30d..now at budget 0, 12,000 rows newer than the watermark (one refresh interval at 200 rows/s): rollup+base vs rollup only | $OPEN ms vs $CLOSED ms | **$(ratio "$OPEN" "$CLOSED")×** | ≤ 2× |
| same with 20,000 rows newer than the watermark | $OPEN20 ms vs $CLOSED ms | $(ratio "$OPEN20" "$CLOSED")× | |
| same, rollup+base vs base table | $OPEN ms vs $BASE ms | **$(ratio "$BASE" "$OPEN")×** faster | ≥ 50× |
| refresh after 1,000 rows inserted in the last hour | $RECENT ms (rebuild $REBUILD_MS ms) | **$(ratio "$REBUILD_MS" "$RECENT")×** cheaper | ≤ 50 ms and ≥ 100× |
| refresh after 1,000 rows scattered over 30 days (one INSERT) | $SCATTERED ms | **$(ratio "$REBUILD_MS" "$SCATTERED")×** cheaper | ≥ 10× |
| refresh after 1,000 scattered rows as 1,000 single-row INSERTs | $SCATTERED_STMTS ms | **$(ratio "$REBUILD_MS" "$SCATTERED_STMTS")×** cheaper | ≥ 10× |
| refresh after DELETE of 1,000 rows sampled uniformly over 30 days (one statement; they touch about 540 of 720 hours, each recomputed) | $SCATTERED_DELETE ms | $(ratio "$REBUILD_MS" "$SCATTERED_DELETE")× cheaper | ≥ 50× (issue #17; 6.04× with span invalidation) |
| refresh after UPDATE of 1,000 rows sampled uniformly over 30 days | $SCATTERED_UPDATE ms | $(ratio "$REBUILD_MS" "$SCATTERED_UPDATE")× cheaper | ≥ 50× (issue #17) |
| refresh after DELETE of about 1,000 rows in 10 past hours (a correction of a few hours) | $HOURS_DELETE ms | **$(ratio "$REBUILD_MS" "$HOURS_DELETE")×** cheaper | ≥ 50× |
| 1,000,000-row INSERT ... SELECT at now, tracked vs untracked | $BULK_T ms vs $BULK_P ms | **$(ratio "$BULK_T" "$BULK_P")×** | ≤ 1.10× |
| 1,000,000-row INSERT ... SELECT 10 days late (into the deltas), tracked vs untracked | $LATE_BULK_T ms vs $LATE_BULK_P ms | $(ratio "$LATE_BULK_T" "$LATE_BULK_P")× | ≤ 1.20× (issue #17; 1.37× before) |
| single-row INSERT TPS at now, tracked vs untracked | $TPS_T vs $TPS_P | **$(ratio "$TPS_T" "$TPS_P")×** | ≥ 0.85× |
| single-row INSERT TPS 10 days late (delta path), tracked vs untracked | $LATE_T vs $LATE_P | $(ratio "$LATE_T" "$LATE_P")× | ≥ 0.80× (issue #17; 0.46× before) |

After the refresh rounds, the closed-window answer from the rollup and from the base table were **$SAME**.
MD
"$REPO/benches/write_section.py" "$OUT" "$MARK" "$SECTION"
cat "$SECTION"
