#!/usr/bin/env bash
# The ADR-0034 dashboard (../shared/workloads/adr0034/), exact windows at budget 0 (issue #13).
# Loads the workload once (ROWS rows over 30 days into database routed_adr0034 of the demo
# cluster, kept between runs), builds rollups of TimescaleDB's grouping (hourly and daily by
# metric_type, rule_id, rule_category, status) and times, per panel, the hand-written SQL of
# the workload (as written, and without its percentiles, which a rollup of exact states cannot
# serve) against the same question as a document answered at budget 0 with the cache off:
#   * "fresh": right after the rollups are built (every source is the rollups' own data);
#   * "tail": the "last 30 days up to now" question after 12,000 rows arrived above the
#     watermark (one refresh interval at 200 rows/s), so the tail comes from the base table.
# Also the fixed cost of a computed answer: a 5-minute window, document vs the same SQL.
# Each panel's answer is compared with the base table's before it is timed.
# Writes its table into benches/RESULTS.md (between the adr0034 markers).
# Usage: benches/adr0034.sh [rows, default 10000000] [seconds per pgbench round, default 5] [rounds, default 3]
source "$(dirname "$0")/../scripts/common.sh"

ROWS="${1:-10000000}"; SECS="${2:-5}"; ROUNDS="${3:-3}"
PORT="${PG_ROUTED_DEMO_PORT:-54321}"; DB=routed_adr0034
WORK="$REPO/target/bench/adr0034"; mkdir -p "$WORK"
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
P -c "CREATE EXTENSION IF NOT EXISTS pg_routed" -c "ALTER EXTENSION pg_routed UPDATE"
P -c "SELECT routed.drop_rollup(name) FROM routed.rollup_catalog" > /dev/null
P -c "SELECT routed.untrack(source) FROM routed.tracked" > /dev/null
if [ "$(P -c "SELECT nrows FROM bench_meta" 2>/dev/null)" != "$ROWS" ]; then
  log "loading the ADR-0034 workload, $ROWS rows (once)"
  P -v nrows="$ROWS" -f "$WL/load.sql" > "$WORK/load.log"
fi
# the placeholders of the panels' SQL, as literal timestamps
T() { P -c "SELECT (t0 - interval '$1')::text FROM bench_meta"; }
T0=$(T '0'); T1H=$(T '1 hour'); T24H=$(T '24 hours'); T7D=$(T '7 days'); T30D=$(T '30 days')
sub() { sed -e "s/@T0@/$T0/g" -e "s/@T0_1H@/$T1H/g" -e "s/@T0_24H@/$T24H/g" -e "s/@T0_7D@/$T7D/g" -e "s/@T0_30D@/$T30D/g" "$1"; }
# a document's window [from, to) for the panel's time > t0 - span AND time <= t0
J() { P -c "SELECT to_json(t0 - interval '$1' + interval '1 microsecond')#>>'{}' FROM bench_meta"; }
TO=$(J '0'); F1H=$(J '1 hour'); F24H=$(J '24 hours'); F7D=$(J '7 days'); F30D=$(J '30 days')

log "tracking metrics; rollups hourly and daily by metric_type, rule_id, rule_category, status"
P -c "SELECT routed.track('metrics', 'time')" > /dev/null
DIMS='{metric_type,rule_id,rule_category,status}'
MEASURES='[{"agg": "count"}, {"agg": "sum", "column": "records_processed"}, {"agg": "sum", "column": "records_failed"}, {"agg": "avg", "column": "execution_time_ms"}, {"agg": "max", "column": "execution_time_ms"}]'
P -c '\timing on' -c "CALL routed.create_rollup('adr_hourly', 'metrics', '1 hour', '$DIMS', '$MEASURES')" \
  -c "CALL routed.create_rollup('adr_daily', 'metrics', '1 day', '$DIMS', '$MEASURES')" 2> "$WORK/build.log" | grep Time > "$WORK/build.txt"
P -c "SELECT name || ' ' || rows FROM routed.rollups ORDER BY name" > "$WORK/rollup_rows.txt"
# what autovacuum does within a minute of the backfill (the rollups' insert threshold is 10,000
# rows): the visibility map lets reads be index-only
P -c "VACUUM routed.adr_hourly, routed.adr_daily"

# the panels: name | window from | document body (without source/time) | hand-written SQL file
PANEL_MEASURES='[{"name": "n", "agg": "count"}, {"name": "avg_ms", "agg": "avg", "column": "execution_time_ms"}, {"name": "max_ms", "agg": "max", "column": "execution_time_ms"}, {"name": "records_processed", "agg": "sum", "column": "records_processed"}, {"name": "records_failed", "agg": "sum", "column": "records_failed"}, {"name": "errors", "agg": "count", "where": [{"column": "status", "op": "=", "value": "ERROR"}]}, {"name": "successes", "agg": "count", "where": [{"column": "status", "op": "=", "value": "SUCCESS"}]}]'
RULE_EXEC='"where": [{"column": "metric_type", "op": "=", "value": "RULE_EXECUTION"}]'
PANELS=(
"Q1 last 1 h|$F1H|\"measures\": $PANEL_MEASURES, $RULE_EXEC|Q1"
"Q2 last 24 h|$F24H|\"measures\": $PANEL_MEASURES, $RULE_EXEC|Q2"
"Q3 last 7 d|$F7D|\"measures\": $PANEL_MEASURES, $RULE_EXEC|Q3"
"Q4 last 30 d|$F30D|\"measures\": $PANEL_MEASURES, $RULE_EXEC|Q4"
"Q6 30 d by category × status|$F30D|\"dimensions\": [\"rule_category\", \"status\"], \"measures\": [{\"name\": \"executions\", \"agg\": \"count\"}, {\"name\": \"records_failed\", \"agg\": \"sum\", \"column\": \"records_failed\"}, {\"name\": \"avg_ms\", \"agg\": \"avg\", \"column\": \"execution_time_ms\"}], $RULE_EXEC, \"order\": [{\"by\": \"rule_category\"}, {\"by\": \"status\"}]|Q6"
)
# the panel's SQL without percentile_cont lines (and Q6 without its window share), the fairest
# base-table baseline for what a document answers
strip() { grep -v 'percentile_cont' | sed -e 's/,$/,/' -e '/pct_of_category/d' | awk '
  {lines[NR] = $0} END {for (i = 1; i <= NR; i++) {l = lines[i]; if (i < NR && lines[i + 1] ~ /^FROM/) sub(/,$/, "", l); print l}}'; }
latency() {  # mean ms of script $1 (pgbench -M prepared, 1 client), PGOPTIONS $2, then pgbench limits
  PGOPTIONS="$2" pgbench -n -M prepared "${@:3}" -h 127.0.0.1 -p "$PORT" -U postgres -f "$1" "$DB" 2>/dev/null \
    | awk -F' = ' '/latency average/ {print $2+0}'
}
OFF="-c routed.cache=off"
doc() { echo "{\"source\": \"metrics\", \"time\": {\"column\": \"time\", \"from\": \"$1\", \"to\": \"$2\"}, $3}"; }
# rows of an answer, numbers rounded to 9 significant digits (float sums merged in another order)
CANON='import json, sys
def r(v): return float("%.9g" % v) if isinstance(v, float) else v
for line in sys.stdin:
    line = line.strip()
    if line: print(json.dumps([[r(x) for x in row] for row in json.loads(line)]))'

: > "$WORK/q.txt"; : > "$WORK/segments.txt"; SAME=equal
i=0
for p in "${PANELS[@]}"; do
  IFS='|' read -r name from body q <<< "$p"; i=$((i + 1))
  D=$(doc "$from" "$TO" "$body")
  printf "SELECT routed_query('%s', '0');\n" "$D" > "$WORK/routed_$i.sql"
  sub "$WL/$q.sql" > "$WORK/asis_$i.sql"
  strip < "$WORK/asis_$i.sql" > "$WORK/plain_$i.sql"
  # the same answer from the rollups and from the base table, in one snapshot
  P -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SET LOCAL routed.cache = off" \
    -c "SELECT routed_query('$D', '0')->'rows'" -c "SET LOCAL routed.enabled = off" \
    -c "SELECT routed_query('$D', '0')->'rows'" -c "COMMIT" | /usr/bin/python3 -c "$CANON" > "$WORK/answers_$i.txt"
  [ "$(sed -n 1p "$WORK/answers_$i.txt")" = "$(sed -n 2p "$WORK/answers_$i.txt")" ] || { SAME="DIFFERENT ($name)"; cat "$WORK/answers_$i.txt"; }
  P -c "SELECT routed_explain('$D', '0')" | /usr/bin/python3 -c '
import json, sys
e = json.load(sys.stdin)
segs = e["plan"]["segments"]
print("; ".join("%s %s" % (s.get("relation") or s.get("kind"), (s.get("from") or "")[5:16] + ".." + (s.get("to") or "")[5:16]) for s in segs))' \
    | sed "s/^/$i /" >> "$WORK/segments.txt"
done
for r in $(seq "$ROUNDS"); do
  log "round $r/$ROUNDS"
  for i in $(seq "${#PANELS[@]}"); do
    echo "routed_$i $(latency "$WORK/routed_$i.sql" "$OFF" -T "$SECS")" >> "$WORK/q.txt"
    echo "plain_$i $(latency "$WORK/plain_$i.sql" "$OFF" -t 2)" >> "$WORK/q.txt"
    echo "asis_$i $(latency "$WORK/asis_$i.sql" "$OFF" -t 1)" >> "$WORK/q.txt"
  done
done
m() { awk -v k="$1" '$1 == k {print $2}' "$WORK/q.txt" | median; }

# the tail: 12,000 rows newer than the watermark; "the last 30 days up to now"
log "tail: 12,000 rows above the watermark"
FRESH="now() - random() * (now() - (SELECT min(watermark) FROM routed.rollup_catalog))"
P -c "INSERT INTO metrics SELECT $FRESH, 'RULE_EXECUTION', 'rule_' || lpad((i % 500)::text, 3, '0'), 'parser_01',
  'network', 'syslog', CASE WHEN i % 50 = 0 THEN 'ERROR' ELSE 'SUCCESS' END, random() * 100, 10, 1, 0, 100, 50
  FROM generate_series(1, 12000) AS i"
TAIL_DOC="{\"source\": \"metrics\", \"time\": {\"column\": \"time\", \"from\": \"now-30d\", \"to\": \"now\"}, \"measures\": $PANEL_MEASURES, $RULE_EXEC}"
printf "SELECT routed_query('%s', '0');\n" "$TAIL_DOC" > "$WORK/tail.sql"
P -c "SELECT routed_explain('$TAIL_DOC', '0')" | /usr/bin/python3 -c '
import json, sys
e = json.load(sys.stdin)
print("; ".join("%s %s" % (s.get("relation") or s.get("kind"), (s.get("from") or "")[5:16] + ".." + (s.get("to") or "")[5:16]) for s in e["plan"]["segments"]))' > "$WORK/tail_segments.txt"
# the 5-minute window: the fixed cost of a computed answer
D5="{\"source\": \"metrics\", \"time\": {\"column\": \"time\", \"from\": \"now-5min\"}, \"dimensions\": [\"status\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}]}"
printf "SELECT routed_query('%s', '0');\n" "$D5" > "$WORK/five.sql"
echo "SELECT status, count(*) FROM metrics WHERE time >= now() - interval '5 minutes' AND time < now() GROUP BY status ORDER BY status;" > "$WORK/five_plain.sql"
for r in $(seq "$ROUNDS"); do
  echo "tail $(latency "$WORK/tail.sql" "$OFF" -T "$SECS")" >> "$WORK/q.txt"
done
# the 5-minute window over no rows (the tail deleted): what a computed answer costs by itself
P -c "DELETE FROM metrics WHERE time > (SELECT t0 FROM bench_meta)" > /dev/null
for r in $(seq "$ROUNDS"); do
  echo "five $(latency "$WORK/five.sql" "$OFF" -T "$SECS")" >> "$WORK/q.txt"
  echo "five_plain $(latency "$WORK/five_plain.sql" "$OFF" -T "$SECS")" >> "$WORK/q.txt"
done

TARGETS=("≥ 20× (1 h: none)" "≥ 20×" "≥ 150×" "≥ 250×, ≤ 20 ms" "≥ 100×")
rows_md=""
for i in $(seq "${#PANELS[@]}"); do
  IFS='|' read -r name _ _ _ <<< "${PANELS[$((i - 1))]}"
  R=$(m "routed_$i"); B=$(m "plain_$i"); A=$(m "asis_$i")
  SEG=$(awk -v k="$i" '$1 == k {$1 = ""; print substr($0, 2)}' "$WORK/segments.txt")
  rows_md+="| $name | $A ms | $B ms | $R ms | **$(ratio "$B" "$R")×** ($(ratio "$A" "$R")× as written) | ${TARGETS[$((i - 1))]} | $SEG |"$'\n'
done

SECTION="$WORK/adr0034.md"
cat > "$SECTION" <<MD
## The ADR-0034 dashboard, exact windows (issue #13)

Command: \`benches/adr0034.sh $ROWS $SECS $ROUNDS\` ($(date -u +%Y-%m-%d), $(nproc) cores, release build). Workload
\`../shared/workloads/adr0034/\` ($ROWS rows over 30 days), rollups of TimescaleDB's grouping, 1 hour and 1 day ×
metric_type × rule_id × rule_category × status with count, two sums, avg and max ($(tr '\n' ',' < "$WORK/rollup_rows.txt" | sed 's/,$//; s/,/, /g') rows;
built in $(awk '{printf "%s%s ms", (NR > 1 ? " and " : ""), $2}' "$WORK/build.txt")). Windows are the panels' own, \`time > t0 - span AND time <= t0\`,
not aligned to buckets; documents at budget 0 with \`routed.cache = off\`; pgbench -M prepared, 1 client, medians of $ROUNDS
alternating rounds. "SQL" is the panel's hand-written SQL without its percentiles (what a document over exact states
answers); "as written" includes them. Before timing, each document's answer was compared with the base table's in one
snapshot: **$SAME**.

| Panel | SQL as written | SQL | document | × faster | target | segments read |
|---|---|---|---|---|---|---|
$rows_md| "last 30 days up to now" after 12,000 rows above the watermark | | | $(m tail) ms | $(ratio "$(m tail)" "$(m routed_4)")× the fresh Q4 | ≤ 1.5× | $(cat "$WORK/tail_segments.txt") |
| computed answer over the last 5 minutes (no rows) vs the same SQL | | $(m five_plain) ms | $(m five) ms | $(ratio "$(m five)" "$(m five_plain)")× the SQL's time | ≤ 1.5× | |
MD
"$REPO/benches/write_section.py" "$OUT" adr0034 "$SECTION"
cat "$SECTION"
