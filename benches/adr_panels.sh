#!/usr/bin/env bash
# The ADR-0034 dashboard whole (issue #16): its six panels as documents (version 2: Q5 joins
# `rules` for the names, Q6's share of the category is an `expr`), the rollups
# routed.recommend_rollups() suggests after the documents ran once from the base table, then
# each panel at budget 0 (cache off) against its hand-written SQL (../shared/workloads/adr0034/
# Q1.sql-Q6.sql) in the same run. Q1-Q4 twice: with p50/p95/p99 (from the rollups' quantile
# sketches, within 1%) and exact (without percentiles, against the SQL without them).
# Loads the workload once into routed_adr0034 of the demo cluster (shared with adr0034.sh).
# Writes its table into benches/RESULTS.md (between the adr_panels markers).
# Usage: benches/adr_panels.sh [rows, default 10000000] [seconds per pgbench round, default 5] [rounds, default 3]
source "$(dirname "$0")/../scripts/common.sh"

ROWS="${1:-10000000}"; SECS="${2:-5}"; ROUNDS="${3:-3}"
PORT="${PG_ROUTED_DEMO_PORT:-54321}"; DB=routed_adr0034
WORK="$REPO/target/bench/adr_panels"; mkdir -p "$WORK"
OUT="$REPO/benches/RESULTS.md"
WL="$REPO/../shared/workloads/adr0034"
[ -f "$WL/load.sql" ] || WL="$REPO/benches/workloads/adr0034"

log "setting up the demo cluster (release build)"
"$REPO/scripts/demo.sh" > "$WORK/demo.log" 2>&1 || { tail -n 30 "$WORK/demo.log"; exit 1; }
P() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }

psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB"
# a fresh extension (a development build keeps its version number): rollups and tracking go
P -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS pg_routed CASCADE" -c "CREATE EXTENSION pg_routed"
if [ "$(P -c "SELECT nrows FROM bench_meta" 2>/dev/null)" != "$ROWS" ]; then
  log "loading the ADR-0034 workload, $ROWS rows (once)"
  P -v nrows="$ROWS" -f "$WL/load.sql" > "$WORK/load.log"
fi
P -c "DELETE FROM metrics WHERE time > (SELECT t0 FROM bench_meta)" > /dev/null
P -c "ANALYZE metrics" -c "ANALYZE rules"
T() { P -c "SELECT (t0 - interval '$1')::text FROM bench_meta"; }
T0=$(T '0'); T1H=$(T '1 hour'); T24H=$(T '24 hours'); T7D=$(T '7 days'); T30D=$(T '30 days')
sub() { sed -e "s/@T0@/$T0/g" -e "s/@T0_1H@/$T1H/g" -e "s/@T0_24H@/$T24H/g" -e "s/@T0_7D@/$T7D/g" -e "s/@T0_30D@/$T30D/g" "$1"; }
J() { P -c "SELECT to_json(t0 - interval '$1' + interval '1 microsecond')#>>'{}' FROM bench_meta"; }
TO=$(J '0'); F1H=$(J '1 hour'); F24H=$(J '24 hours'); F7D=$(J '7 days'); F30D=$(J '30 days')
P -c "SELECT routed.track('metrics', 'time')" -c "SELECT routed.track('rules')" > /dev/null

EXACT_MEASURES='{"name": "n", "agg": "count"}, {"name": "avg_ms", "agg": "avg", "column": "execution_time_ms"}, {"name": "max_ms", "agg": "max", "column": "execution_time_ms"}, {"name": "records_processed", "agg": "sum", "column": "records_processed"}, {"name": "records_failed", "agg": "sum", "column": "records_failed"}, {"name": "errors", "agg": "count", "where": [{"column": "status", "op": "=", "value": "ERROR"}]}, {"name": "successes", "agg": "count", "where": [{"column": "status", "op": "=", "value": "SUCCESS"}]}'
PCTS='{"name": "p50_ms", "agg": "percentile", "column": "execution_time_ms", "q": 0.5}, {"name": "p95_ms", "agg": "percentile", "column": "execution_time_ms", "q": 0.95}, {"name": "p99_ms", "agg": "percentile", "column": "execution_time_ms", "q": 0.99}'
RULE_EXEC='"where": [{"column": "metric_type", "op": "=", "value": "RULE_EXECUTION"}]'
Q5_BODY='"join": [{"table": "rules", "on": {"rule_id": "rule_id"}}], "dimensions": ["rule_id", "rules.rule_name", "rules.rule_category"], "measures": [{"name": "executions", "agg": "count"}, {"name": "avg_ms", "agg": "avg", "column": "execution_time_ms"}, {"name": "p95_ms", "agg": "percentile", "column": "execution_time_ms", "q": 0.95}, {"name": "max_ms", "agg": "max", "column": "execution_time_ms"}], '"$RULE_EXEC"', "order": [{"by": "p95_ms", "dir": "desc"}], "limit": 10'
Q6_BODY='"dimensions": ["rule_category", "status"], "measures": [{"name": "executions", "agg": "count"}, {"name": "records_failed", "agg": "sum", "column": "records_failed"}, {"name": "avg_ms", "agg": "avg", "column": "execution_time_ms"}, {"name": "pct_of_category", "expr": "100 * share(executions, rule_category)"}], '"$RULE_EXEC"', "order": [{"by": "rule_category"}, {"by": "status"}]'
# name | from | body | SQL file | strip percentiles from the SQL | target
PANELS=(
"Q1 last 1 h, p50/p95/p99 from sketches|$F1H|\"measures\": [$EXACT_MEASURES, $PCTS], $RULE_EXEC|Q1|no|none"
"Q2 last 24 h, p50/p95/p99 from sketches|$F24H|\"measures\": [$EXACT_MEASURES, $PCTS], $RULE_EXEC|Q2|no|none"
"Q3 last 7 d, p50/p95/p99 from sketches|$F7D|\"measures\": [$EXACT_MEASURES, $PCTS], $RULE_EXEC|Q3|no|≥ 250×"
"Q4 last 30 d, p50/p95/p99 from sketches|$F30D|\"measures\": [$EXACT_MEASURES, $PCTS], $RULE_EXEC|Q4|no|≥ 250×"
"Q3 last 7 d, exact (no percentiles)|$F7D|\"measures\": [$EXACT_MEASURES], $RULE_EXEC|Q3|yes|≥ 100×"
"Q4 last 30 d, exact (no percentiles)|$F30D|\"measures\": [$EXACT_MEASURES], $RULE_EXEC|Q4|yes|≥ 100×"
"Q5 top 10 rules by p95 over 7 d, names joined from rules|$F7D|$Q5_BODY|Q5|no|≥ 250× (7 d, sketches)"
"Q6 error breakdown over 30 d, share of category (exact)|$F30D|$Q6_BODY|Q6|no|≥ 100×"
)
strip() { grep -v 'percentile_cont' | awk '
  {lines[NR] = $0} END {for (i = 1; i <= NR; i++) {l = lines[i]; if (i < NR && lines[i + 1] ~ /^FROM/) sub(/,$/, "", l); print l}}'; }
latency() {  # mean ms of script $1 (pgbench -M prepared, 1 client), PGOPTIONS $2, then pgbench limits
  PGOPTIONS="$2" pgbench -n -M prepared "${@:3}" -h 127.0.0.1 -p "$PORT" -U postgres -f "$1" "$DB" 2>/dev/null \
    | awk -F' = ' '/latency average/ {print $2+0}'
}
OFF="-c routed.cache=off"
doc() { echo "{\"source\": \"metrics\", \"time\": {\"column\": \"time\", \"from\": \"$1\", \"to\": \"$2\"}, $3}"; }

log "the panels once from the base table (routed.query_stats sees them), then the suggested rollups"
P -c "SELECT routed.stats_reset()" > /dev/null
i=0
for p in "${PANELS[@]}"; do
  IFS='|' read -r name from body q s target <<< "$p"; i=$((i + 1))
  D=$(doc "$from" "$TO" "$body")
  printf "SELECT routed_query('%s', '0');\n" "$D" > "$WORK/routed_$i.sql"
  sub "$WL/$q.sql" > "$WORK/sql_$i.sql"
  [ "$s" = yes ] && { strip < "$WORK/sql_$i.sql" > "$WORK/sql_$i.tmp"; mv "$WORK/sql_$i.tmp" "$WORK/sql_$i.sql"; }
  PGOPTIONS="$OFF" P -c "SELECT routed_query('$D', '0')->'meta'->>'source'" > /dev/null
done
P -c "SELECT statement FROM routed.recommend_rollups()" > "$WORK/statements.txt"
P -c "SELECT rollup || ': ' || cardinality(fingerprints) || ' documents, ' || estimated_rows || ' rows estimated, ' || speedup || '× estimated' FROM routed.recommend_rollups()" > "$WORK/suggested.txt"
start=$(date +%s.%N)
while read -r st; do P -c "$st" > /dev/null; done < "$WORK/statements.txt"
BUILD=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
P -c "SELECT name || ' (' || granularity || ' × ' || array_to_string(dimensions, ', ') || ', ' || rows || ' rows)' FROM routed.rollups ORDER BY name" > "$WORK/rollups.txt"
P -c "SELECT 'VACUUM ANALYZE routed.' || quote_ident(name) FROM routed.rollup_catalog" | while read -r v; do P -c "$v"; done

# answers: exact panels equal the base table's (numbers to 9 digits), sketch panels' percentiles
# within 1% of the exact ones; and which sources each read
CHECK='import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
a, b = rows[0], rows[1]
def close(x, y, tol):
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
        return abs(x - y) <= tol * max(abs(x), abs(y)) + 1e-9
    return x == y
tol = float(sys.argv[1])
ok = len(a) == len(b) and all(len(r) == len(s) and all(close(x, y, tol) for x, y in zip(r, s)) for r, s in zip(a, b))
print("equal" if ok else "DIFFERENT")'
: > "$WORK/q.txt"; : > "$WORK/check.txt"
i=0
for p in "${PANELS[@]}"; do
  IFS='|' read -r name from body q s target <<< "$p"; i=$((i + 1))
  D=$(doc "$from" "$TO" "$body")
  TOL=1e-9; [[ "$body" == *percentile* ]] && TOL=0.011
  # Q5's top 10 by an approximate p95 may pick other rules near the cut: compare the rules' p95 only when they agree
  RES=$(P -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SET LOCAL routed.cache = off" \
    -c "SELECT routed_query('$D', '0')->'rows'" -c "SET LOCAL routed.enabled = off" \
    -c "SELECT routed_query('$D', '0')->'rows'" -c "COMMIT" | /usr/bin/python3 -c "$CHECK" "$TOL")
  SRC=$(PGOPTIONS="$OFF" P -c "SELECT (r->'meta'->>'source') || ' ' || coalesce(r->'meta'->>'rollup', '') FROM routed_query('$D', '0') r")
  echo "$i|$RES|$SRC" >> "$WORK/check.txt"
done
for r in $(seq "$ROUNDS"); do
  log "round $r/$ROUNDS"
  for i in $(seq "${#PANELS[@]}"); do
    echo "routed_$i $(latency "$WORK/routed_$i.sql" "$OFF" -T "$SECS")" >> "$WORK/q.txt"
    echo "sql_$i $(latency "$WORK/sql_$i.sql" "$OFF" -t 1)" >> "$WORK/q.txt"
  done
done
m() { awk -v k="$1" '$1 == k {print $2}' "$WORK/q.txt" | median; }

rows_md=""
for i in $(seq "${#PANELS[@]}"); do
  IFS='|' read -r name _ _ _ s target <<< "${PANELS[$((i - 1))]}"
  R=$(m "routed_$i"); B=$(m "sql_$i")
  IFS='|' read -r _ RES SRC <<< "$(sed -n "${i}p" "$WORK/check.txt")"
  what="as written"; [ "$s" = yes ] && what="without percentiles"
  rows_md+="| $name | $B ms ($what) | $R ms | **$(ratio "$B" "$R")×** | $target | $SRC | $RES |"$'\n'
done

SECTION="$WORK/adr_panels.md"
cat > "$SECTION" <<MD
## The ADR-0034 dashboard whole: six panels as documents, rollups it recommended (issue #16)

Command: \`benches/adr_panels.sh $ROWS $SECS $ROUNDS\` ($(date -u +%Y-%m-%d), $(nproc) cores, release build). Workload
\`../shared/workloads/adr0034/\` ($ROWS rows over 30 days, 500 rules). The panels ran once from the base table, then
\`routed.recommend_rollups()\` suggested $(wc -l < "$WORK/statements.txt") rollup(s) ($(tr '\n' ';' < "$WORK/suggested.txt" | sed 's/;$//; s/;/; /g')),
built in $BUILD s: $(tr '\n' ',' < "$WORK/rollups.txt" | sed 's/,$//; s/,/, /g'). Windows are the panels' own
(\`time > t0 - span AND time <= t0\`, not aligned to buckets); documents at budget 0 with \`routed.cache = off\`; the SQL is
the panel's file run as written (for the exact rows, without its percentile_cont lines); pgbench -M prepared, 1 client,
medians of $ROUNDS alternating rounds. "answer" compares the document's rows with the base table's in one snapshot
(exact measures to 1e-9; with sketches, every value within 1.1%).

| Panel | SQL | document | × faster | target | read from | answer |
|---|---|---|---|---|---|---|
$rows_md
MD
"$REPO/benches/write_section.py" "$OUT" adr_panels "$SECTION"
cat "$SECTION"
