#!/usr/bin/env bash
# Plain SQL routed (issue #15): a Grafana-shaped 30-day panel over the ADR-0034 workload
# (../shared/workloads/adr0034/, ROWS rows over 30 days, database routed_adr0034 of the demo
# cluster, loaded once and kept), sent as Grafana sends it (literal values, simple protocol):
#   * native plan (routed.transparent off) vs routed with the cache off, first with the
#     TimescaleDB-grouped rollups only (hourly and daily by metric_type, rule_id, rule_category,
#     status), then with a rollup fitted to the panel beside them (the router picks by cost);
#   * cache hits (budget 5 min) vs a prepared SELECT * FROM (VALUES ...) of the same rows, the
#     floor for returning them, at 1 and 8 clients; the same for routed_rows;
#   * the hook's planning overhead on queries it refuses (a join, an OLTP point query);
#   * the fixed cost of a routed miss over few rows (a 5-minute window) vs the native plan.
# Before timing, the panel's routed rows are compared with the native plan's in one snapshot.
# Writes its table into benches/RESULTS.md (between the plain_sql markers).
# Usage: benches/plain_sql.sh [rows, default 10000000] [seconds per pgbench round, default 5] [rounds, default 3]
source "$(dirname "$0")/../scripts/common.sh"

ROWS="${1:-10000000}"; SECS="${2:-5}"; ROUNDS="${3:-3}"
PORT="${PG_ROUTED_DEMO_PORT:-54321}"; DB=routed_adr0034
WORK="$REPO/target/bench/plain_sql"; mkdir -p "$WORK"
OUT="$REPO/benches/RESULTS.md"
WL="$REPO/../shared/workloads/adr0034"
[ -f "$WL/load.sql" ] || WL="$REPO/benches/workloads/adr0034"

log "setting up the demo cluster (release build)"
"$REPO/scripts/demo.sh" > "$WORK/demo.log" 2>&1 || { tail -n 30 "$WORK/demo.log"; exit 1; }
P() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB"
P -c "CREATE EXTENSION IF NOT EXISTS pg_routed" -c "ALTER EXTENSION pg_routed UPDATE"
# a database made by a development build of this version may lack its newest functions
if [ -z "$(P -c "SELECT to_regprocedure('routed.last_meta()')")" ]; then
  log "recreating the extension (made by an earlier build of this version)"
  P -c "DROP EXTENSION pg_routed CASCADE" -c "CREATE EXTENSION pg_routed" 2>/dev/null
fi
if [ "$(P -c "SELECT nrows FROM bench_meta" 2>/dev/null)" != "$ROWS" ]; then
  P -c "SELECT routed.drop_rollup(name) FROM routed.rollup_catalog" > /dev/null
  P -c "SELECT routed.untrack(source) FROM routed.tracked" > /dev/null
  log "loading the ADR-0034 workload, $ROWS rows (once)"
  P -v nrows="$ROWS" -f "$WL/load.sql" > "$WORK/load.log"
fi
[ "$(P -c "SELECT count(*) FROM routed.tracked")" = 1 ] || P -c "SELECT routed.track('metrics', 'time')" > /dev/null
DIMS='{metric_type,rule_id,rule_category,status}'
MEASURES='[{"agg": "count"}, {"agg": "sum", "column": "records_processed"}, {"agg": "sum", "column": "records_failed"}, {"agg": "avg", "column": "execution_time_ms"}, {"agg": "max", "column": "execution_time_ms"}]'
has() { [ "$(P -c "SELECT count(*) FROM routed.rollup_catalog WHERE name = '$1'")" = 1 ]; }
P -c "SELECT routed.drop_rollup('adr_panel')" >/dev/null 2>&1 || true
for r in adr_hourly:'1 hour' adr_daily:'1 day'; do
  has "${r%%:*}" || { log "building rollup ${r%%:*}"; P -c "CALL routed.create_rollup('${r%%:*}', 'metrics', '${r#*:}', '$DIMS', '$MEASURES')" 2>/dev/null; }
done
P -c "CALL routed.refresh_rollup('adr_hourly')" -c "CALL routed.refresh_rollup('adr_daily')" 2>/dev/null
P -c "VACUUM ANALYZE routed.adr_hourly, routed.adr_daily"

T() { P -c "SELECT to_char((t0 - interval '$1') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM bench_meta"; }
T0=$(T '0'); T30D=$(T '30 days'); T5M=$(T '5 minutes')
# Grafana: $__timeGroupAlias("time", 1h), $__timeFilter("time"), a panel filter
panel() {
  echo "SELECT floor(extract(epoch from \"time\")/3600)*3600 AS \"time\", count(*) AS runs, avg(execution_time_ms) AS avg_ms, max(execution_time_ms) AS max_ms FROM metrics WHERE \"time\" BETWEEN '$1' AND '$2' AND metric_type = 'RULE_EXECUTION' GROUP BY 1 ORDER BY 1"
}
panel "$T30D" "$T0" > "$WORK/panel.sql"; echo ";" >> "$WORK/panel.sql"
panel "$T5M" "$T0" > "$WORK/panel_5min.sql"; echo ";" >> "$WORK/panel_5min.sql"
echo "SELECT m.status, count(*) FROM metrics m JOIN rules r ON r.rule_id = m.rule_id WHERE m.\"time\" BETWEEN '$T5M' AND '$T0' GROUP BY 1;" > "$WORK/join.sql"
echo "SELECT * FROM rules WHERE rule_id = 'rule_042';" > "$WORK/point.sql"

latency() {  # mean ms of script $1, PGOPTIONS $2, then pgbench options
  PGOPTIONS="$2" pgbench -n "${@:3}" -T "$SECS" -h 127.0.0.1 -p "$PORT" -U postgres -f "$1" "$DB" 2>/dev/null \
    | awk -F' = ' '/latency average/ {print $2+0}'
}
tps() {  # transactions per second of script $1, PGOPTIONS $2, then pgbench options
  PGOPTIONS="$2" pgbench -n "${@:3}" -T "$SECS" -h 127.0.0.1 -p "$PORT" -U postgres -f "$1" "$DB" 2>/dev/null \
    | awk '/^tps = / {print $3+0}'
}
rounds() {  # median of ROUNDS runs of "$@"
  for _ in $(seq "$ROUNDS"); do "$@"; done | median
}
ON="-c routed.transparent=on"; OFFT="-c routed.transparent=off"; NOCACHE="-c routed.cache=off"
BUDGET="-c routed.default_staleness=300"

check() {  # routed rows = native rows, in one snapshot; what answered
  P -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SET LOCAL routed.transparent = on" -c "SET LOCAL routed.cache = off" \
    -c "\\o $WORK/on.txt" -f "$WORK/panel.sql" -c "\\o" -c "SELECT routed.last_meta()->>'source', coalesce(routed.last_meta()->>'rollup', '-')" \
    -c "SET LOCAL routed.transparent = off" -c "\\o $WORK/off.txt" -f "$WORK/panel.sql" -c "\\o" -c "COMMIT" > "$WORK/meta.txt"
  # float8 averages merged from rollup states may differ in the last digits: compare at 12 digits
  /usr/bin/python3 - "$WORK/on.txt" "$WORK/off.txt" <<'PY'
import sys
def rows(p):
    out = []
    for line in open(p):
        out.append([("%.12g" % float(v)) if v.replace('.', '', 1).replace('e', '', 1).replace('-', '').replace('+', '').isdigit() else v for v in line.rstrip("\n").split("|")])
    return out
a, b = rows(sys.argv[1]), rows(sys.argv[2])
print("equal" if a == b and a else f"DIFFERENT ({len(a)} vs {len(b)} rows)")
PY
}

log "panel with the TimescaleDB-grouped rollups only"
SAME1=$(check); META1=$(tr '|' ' ' < "$WORK/meta.txt"); NROWS=$(wc -l < "$WORK/on.txt")
NATIVE=$(rounds latency "$WORK/panel.sql" "$OFFT" -M simple)
ROUTED1=$(rounds latency "$WORK/panel.sql" "$ON $NOCACHE" -M simple)
log "panel with a fitted rollup beside them"
P -c "CALL routed.create_rollup('adr_panel', 'metrics', '1 hour', '{metric_type}', '[{\"agg\": \"count\"}, {\"agg\": \"avg\", \"column\": \"execution_time_ms\"}, {\"agg\": \"max\", \"column\": \"execution_time_ms\"}]')" 2>/dev/null
P -c "VACUUM ANALYZE routed.adr_panel"
SAME2=$(check); META2=$(tr '|' ' ' < "$WORK/meta.txt")
ROUTED2=$(rounds latency "$WORK/panel.sql" "$ON $NOCACHE" -M simple)

log "cache hits vs the floor for returning the same rows"
P -c "SELECT 'SELECT * FROM (VALUES ' || string_agg(format('(%s::numeric, %s::bigint, %s::float8, %s::float8)', t, r, a, m), ', ' ORDER BY t) || ') v(\"time\", runs, avg_ms, max_ms);' FROM ($(panel "$T30D" "$T0")) p(t, r, a, m)" > "$WORK/values.sql"
DOC="{\"source\": \"metrics\", \"time\": {\"column\": \"time\", \"from\": \"$T30D\", \"to\": \"$(P -c "SELECT to_char((t0 + interval '1 microsecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM bench_meta")\", \"granularity\": \"1 hour\"}, \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}, {\"name\": \"avg_ms\", \"agg\": \"avg\", \"column\": \"execution_time_ms\"}, {\"name\": \"max_ms\", \"agg\": \"max\", \"column\": \"execution_time_ms\"}], \"where\": [{\"column\": \"metric_type\", \"op\": \"=\", \"value\": \"RULE_EXECUTION\"}], \"order\": [{\"by\": \"bucket\"}]}"
echo "SELECT * FROM routed_rows('$DOC', '5 min') AS t(bucket timestamptz, runs bigint, avg_ms float8, max_ms float8);" > "$WORK/rows.sql"
PGOPTIONS="$ON $BUDGET" psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" -f "$WORK/panel.sql" -f "$WORK/rows.sql" > /dev/null
for c in 1 8; do
  eval "HIT_$c=\$(rounds tps \"$WORK/panel.sql\" \"$ON $BUDGET\" -M prepared -c $c -j $c)"
  eval "HITS_$c=\$(rounds tps \"$WORK/panel.sql\" \"$ON $BUDGET\" -M simple -c $c -j $c)"
  eval "ROWS_$c=\$(rounds tps \"$WORK/rows.sql\" \"$BUDGET\" -M prepared -c $c -j $c)"
  eval "VALUES_$c=\$(rounds tps \"$WORK/values.sql\" \"\" -M prepared -c $c -j $c)"
done
HITCHECK=$(PGOPTIONS="$ON $BUDGET" P -f "$WORK/panel.sql" -c "SELECT routed.last_meta()->>'cache'" | tail -1)

log "the hook on queries it refuses, and a routed miss over few rows"
# A and B alternate, round by round (this machine drifts more than the differences measured)
ab() {  # script, options A, options B -> "median A median B" over 2 x ROUNDS alternating runs
  local a="" b=""
  for _ in $(seq $((2 * ROUNDS))); do
    a="$a $(latency "$1" "$2" -M simple)"; b="$b $(latency "$1" "$3" -M simple)"
  done
  echo "$(tr ' ' '\n' <<< "$a" | grep . | median) $(tr ' ' '\n' <<< "$b" | grep . | median)"
}
read -r JOIN_ON JOIN_OFF <<< "$(ab "$WORK/join.sql" "$ON" "$OFFT")"
read -r POINT_ON POINT_OFF <<< "$(ab "$WORK/point.sql" "$ON" "$OFFT")"
read -r FEW_ROUTED FEW_NATIVE <<< "$(ab "$WORK/panel_5min.sql" "$ON $NOCACHE" "$OFFT")"
us() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f µs (%+.1f%%)", (a - b) * 1000, (a - b) / b * 100}'; }

cat > "$WORK/section.md" <<EOF
## Plain SQL routed (issue #15)

Command: \`benches/plain_sql.sh $ROWS $SECS $ROUNDS\` ($(date -u +%Y-%m-%d), 2 cores, release build). Workload
\`../shared/workloads/adr0034/\` ($ROWS rows over 30 days). The panel is Grafana's
\`\$__timeGroupAlias("time", 1h)\`, \`\$__timeFilter("time")\` and a \`metric_type\` filter: runs, average and
maximum execution time per hour over the last 30 days up to the workload's now ($NROWS rows, window edges not
aligned to hours), as literal SQL over the simple protocol. \`routed.transparent\` on vs off; budget 0 and
\`routed.cache = off\` unless said; pgbench, medians of $ROUNDS rounds of ${SECS} s (the last table and the few-rows case: $((2 * ROUNDS)) rounds, on and off alternating). Before timing, the routed rows were
compared with the native plan's in one snapshot: **$SAME1** (TimescaleDB-grouped rollups only; answered by $META1),
**$SAME2** (with the fitted rollup; answered by $META2).

| Case | native plan | routed | × | target |
|---|---|---|---|---|
| 30-day panel, rollups of TimescaleDB's grouping only (cache off) | $NATIVE ms | $ROUTED1 ms | **$(ratio "$NATIVE" "$ROUTED1")×** | ≥ 200× |
| 30-day panel, a rollup fitted to the panel beside them (cache off) | $NATIVE ms | $ROUTED2 ms | **$(ratio "$NATIVE" "$ROUTED2")×** | ≥ 200× |
| 5-minute window (few rows), a routed miss (cache off) | $FEW_NATIVE ms | $FEW_ROUTED ms | $(ratio "$FEW_ROUTED" "$FEW_NATIVE")× the native time | ≤ 1.5× |

| Cache hit ($NROWS rows, budget 5 min; last one: $HITCHECK) | 1 client | 8 clients | vs \`VALUES\` floor (1 / 8) | target |
|---|---|---|---|---|
| prepared \`SELECT * FROM (VALUES ...)\` of the same rows (the floor) | $VALUES_1 TPS | $VALUES_8 TPS | 1 / 1 | |
| plain SQL, prepared (generic plan after 5) | $HIT_1 TPS | $HIT_8 TPS | $(ratio "$HIT_1" "$VALUES_1") / $(ratio "$HIT_8" "$VALUES_8") | ≥ 0.85 |
| plain SQL, simple protocol (planned every time, as Grafana sends it) | $HITS_1 TPS | $HITS_8 TPS | $(ratio "$HITS_1" "$VALUES_1") / $(ratio "$HITS_8" "$VALUES_8") | |
| \`routed_rows\`, prepared | $ROWS_1 TPS | $ROWS_8 TPS | $(ratio "$ROWS_1" "$VALUES_1") / $(ratio "$ROWS_8" "$VALUES_8") | ≥ 0.85 |

| Refused by the hook (simple protocol: planned every time) | transparent off | on | hook's cost | target |
|---|---|---|---|---|
| a join (metrics ⋈ rules, 5 minutes) | $JOIN_OFF ms | $JOIN_ON ms | $(us "$JOIN_ON" "$JOIN_OFF") | ≤ 2%, ≤ 5 µs |
| an OLTP point query (rules by key) | $POINT_OFF ms | $POINT_ON ms | $(us "$POINT_ON" "$POINT_OFF") | ≤ 2%, ≤ 5 µs |
EOF
/usr/bin/python3 "$REPO/benches/write_section.py" "$OUT" plain_sql "$WORK/section.md"
cat "$WORK/section.md"
