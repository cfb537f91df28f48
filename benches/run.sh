#!/usr/bin/env bash
# Benchmarks for issue #3, written to their section of benches/RESULTS.md:
#  1. routed_query on the base path vs the same question as hand-written SQL, on the demo
#     dataset (2,000,000 rows over 30 days), pgbench -M prepared, alternating rounds in one run;
#  2. the per-call cost of parse + normalize + plan + codegen (criterion, routed-core).
# Usage: benches/run.sh [seconds per round, default 15] [rounds, default 3]
source "$(dirname "$0")/../scripts/common.sh"

SECS="${1:-15}"; ROUNDS="${2:-3}"
PORT="${PG_ROUTED_DEMO_PORT:-54321}"
WORK="$REPO/target/bench"; mkdir -p "$WORK"
OUT="$REPO/benches/RESULTS.md"

log "setting up the demo cluster (release build)"
"$REPO/scripts/demo.sh" > "$WORK/demo.log" 2>&1 || { tail -n 30 "$WORK/demo.log"; exit 1; }
ROWS=$(psql -X -At -h 127.0.0.1 -p "$PORT" -U postgres -d routed_demo -c "SELECT count(*) FROM metrics")

# name | routed document | hand-written SQL
SCENARIOS=(
"30-day breakdown by category and status (all rows)|{\"source\": \"metrics\", \"time\": {\"column\": \"ts\", \"from\": \"now-30d\"}, \"dimensions\": [\"rule_category\", \"status\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}, {\"name\": \"avg_ms\", \"agg\": \"avg\", \"column\": \"execution_time_ms\"}, {\"name\": \"records\", \"agg\": \"sum\", \"column\": \"records_processed\"}]}|SELECT rule_category, status, count(*), avg(execution_time_ms), sum(records_processed) FROM metrics WHERE ts >= now() - interval '30 days' AND ts < now() GROUP BY rule_category, status ORDER BY rule_category, status"
"hourly p95 for two metric types, last 7 days|{\"source\": \"metrics\", \"time\": {\"column\": \"ts\", \"from\": \"now-7d\", \"granularity\": \"1 hour\"}, \"measures\": [{\"name\": \"p95_ms\", \"agg\": \"percentile\", \"column\": \"execution_time_ms\", \"q\": 0.95}], \"where\": [{\"column\": \"metric_type\", \"op\": \"in\", \"value\": [\"RULE_EXECUTION\", \"PARSER_EXECUTION\"]}]}|SELECT date_bin('1 hour', ts, '1970-01-01'), percentile_cont(0.95) WITHIN GROUP (ORDER BY execution_time_ms) FROM metrics WHERE ts >= now() - interval '7 days' AND ts < now() AND metric_type IN ('RULE_EXECUTION', 'PARSER_EXECUTION') GROUP BY 1 ORDER BY 1"
"last 5 minutes per status (index scan over few or no rows: the fixed per-call cost)|{\"source\": \"metrics\", \"time\": {\"column\": \"ts\", \"from\": \"now-5min\"}, \"dimensions\": [\"status\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}]}|SELECT status, count(*) FROM metrics WHERE ts >= now() - interval '5 minutes' AND ts < now() GROUP BY status ORDER BY status"
"daily distinct rules and errors, last 30 days|{\"source\": \"metrics\", \"time\": {\"column\": \"ts\", \"from\": \"now-30d\", \"granularity\": \"1 day\"}, \"measures\": [{\"name\": \"rules\", \"agg\": \"count_distinct\", \"column\": \"rule_id\"}, {\"name\": \"errors\", \"agg\": \"count\", \"where\": [{\"column\": \"status\", \"op\": \"=\", \"value\": \"ERROR\"}]}]}|SELECT date_trunc('day', ts), count(DISTINCT rule_id), count(*) FILTER (WHERE status = 'ERROR') FROM metrics WHERE ts >= now() - interval '30 days' AND ts < now() GROUP BY 1 ORDER BY 1"
)

# Mean latency in ms of one pgbench run of a one-statement script.
latency() {
  pgbench -n -M prepared -T "$SECS" -h 127.0.0.1 -p "$PORT" -U postgres -f "$1" routed_demo 2>/dev/null \
    | awk -F' = ' '/latency average/ {print $2+0}'
}

rows_md=""
i=0
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name doc sql <<< "$s"
  i=$((i + 1))
  printf "SELECT routed_query('%s');\n" "$doc" > "$WORK/routed_$i.sql"
  printf "%s;\n" "$sql" > "$WORK/plain_$i.sql"
  psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d routed_demo -f "$WORK/plain_$i.sql" > /dev/null   # warm the cache
  ratios=(); rsum=0; psum=0
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then p=$(latency "$WORK/plain_$i.sql"); q=$(latency "$WORK/routed_$i.sql")
    else q=$(latency "$WORK/routed_$i.sql"); p=$(latency "$WORK/plain_$i.sql"); fi
    ratios+=("$(awk -v a="$q" -v b="$p" 'BEGIN {printf "%.3f", a / b}')")
    rsum=$(awk -v a="$rsum" -v b="$q" 'BEGIN {print a + b}'); psum=$(awk -v a="$psum" -v b="$p" 'BEGIN {print a + b}')
    log "$name, round $r: routed $q ms, plain $p ms"
  done
  median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  rows_md+="| $name | $(awk -v a="$psum" -v n="$ROUNDS" 'BEGIN {printf "%.1f", a / n}') | $(awk -v a="$rsum" -v n="$ROUNDS" 'BEGIN {printf "%.1f", a / n}') | **$median** (rounds: ${ratios[*]}) |"$'\n'
done

log "criterion: parse + normalize + plan + codegen"
crit=$(cd "$REPO" && cargo bench --locked -p routed-core --bench pipeline -- --warm-up-time 2 --measurement-time 5 2>/dev/null \
       | awk '/^[a-z+]/ {name=$1} /time:/ {gsub(/[\[\]]/, ""); for (i = 1; i <= NF; i++) if ($i == "time:") print name "|" $(i+3) " " $(i+4)}')
crit_md=""
while IFS='|' read -r name t; do crit_md+="| \`$name\` | $t |"$'\n'; done <<< "$crit"

SECTION="$WORK/base.md"
cat > "$SECTION" <<MD
## Base path (issue #3)

Produced by \`benches/run.sh $SECS $ROUNDS\` on $(date -u +%Y-%m-%d) ($(nproc) cores, PostgreSQL $(pg_config --version | awk '{print $2}'), release build).
Ratios are measured against a baseline in the same run; machines here are noisy, so compare ratios,
not absolute times, across runs.

### routed_query (base path) vs hand-written SQL

Demo dataset: \`metrics\`, $ROWS rows over 30 days. \`pgbench -n -M prepared -T $SECS\`, one client,
$ROUNDS alternating rounds per scenario; ratio = routed latency / plain latency (median of rounds).
Target (issue #3): ≤ 1.05 for an aggregate over 1M rows.

| Scenario | plain SQL ms | routed_query ms | ratio |
|---|---|---|---|
$rows_md
### Per-call cost of the pure pipeline (criterion)

Typical dashboard document (SPEC's example: 2 dimensions, 5 measures with a percentile, a
distinct count and a filtered count, an \`in\` filter, order and limit). Median time per call.
Target (issue #3): ≤ 20 µs for parse + normalize + plan + codegen.

| Stage | median |
|---|---|
$crit_md
MD
"$REPO/benches/write_section.py" "$OUT" base "$SECTION"
log "wrote $OUT"
cat "$SECTION"
