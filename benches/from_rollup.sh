#!/usr/bin/env bash
# Rollups built from rollups (issue #16): a daily rollup built from the hourly one
# (create_rollup(..., from_rollup => 'bench_hourly')) against the same daily rollup built from
# the source, on benches/rollups.sh's source (run that first: it loads `bench` and builds
# `bench_hourly`). Same-run times of the backfill, and of the refresh after a DELETE of 1,000
# rows sampled over 30 days (the hourly rollup refreshed first, as the worker does); the two
# daily rollups must hold the same rows.
# Writes its table into benches/RESULTS.md (between the from_rollup markers).
# Usage: benches/from_rollup.sh [rounds]
source "$(dirname "$0")/../scripts/common.sh"

ROUNDS="${1:-3}"
PORT="${PG_ROUTED_DEMO_PORT:-$((54306 + PG_MAJOR))}"; DB=routed_bench
WORK="$REPO/target/bench"; mkdir -p "$WORK"
OUT="$REPO/benches/RESULTS.md"
log "setting up the demo cluster (release build)"
"$REPO/scripts/demo.sh" > "$WORK/demo.log" 2>&1 || { tail -n 30 "$WORK/demo.log"; exit 1; }
P() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }
timed() { P -c '\timing on' -c "$1" 2> /dev/null | awk '/^Time:/ {t = $2} END {print t}'; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
P -c "SELECT 1 FROM routed.rollup_catalog WHERE name = 'bench_hourly'" | grep -q 1 \
  || { echo "run benches/rollups.sh first (it builds bench_hourly on $DB)" >&2; exit 1; }
MEASURES='[{"agg": "count"}, {"agg": "sum", "column": "records_processed"}, {"agg": "avg", "column": "execution_time_ms"}, {"agg": "max", "column": "execution_time_ms"}, {"agg": "percentile", "column": "execution_time_ms"}, {"agg": "count_distinct", "column": "rule_id"}]'
DIMS='{rule_category,status}'
ROWS=$(P -c "SELECT count(*) FROM bench")
: > "$WORK/from_rollup.txt"
for r in $(seq "$ROUNDS"); do
  log "round $r/$ROUNDS"
  P -c "SET client_min_messages = warning" -c "SELECT routed.drop_rollup(name) FROM routed.rollup_catalog WHERE name IN ('bench_daily_src', 'bench_daily_hier')" > /dev/null
  P -c "CALL routed.refresh_rollup('bench_hourly')" 2> /dev/null
  echo "build_src $(timed "CALL routed.create_rollup('bench_daily_src', 'bench', '1 day', '$DIMS', '$MEASURES')")" >> "$WORK/from_rollup.txt"
  echo "build_hier $(timed "CALL routed.create_rollup('bench_daily_hier', 'bench', '1 day', '$DIMS', '$MEASURES', from_rollup => 'bench_hourly')")" >> "$WORK/from_rollup.txt"
  P -c "DELETE FROM bench WHERE ctid = ANY(ARRAY(SELECT ctid FROM bench TABLESAMPLE BERNOULLI (0.05) LIMIT 1000))" > /dev/null
  P -c "SET client_min_messages = warning" -c "CALL routed.refresh_rollup('bench_hourly')"
  echo "refresh_src $(timed "CALL routed.refresh_rollup('bench_daily_src')")" >> "$WORK/from_rollup.txt"
  echo "refresh_hier $(timed "CALL routed.refresh_rollup('bench_daily_hier')")" >> "$WORK/from_rollup.txt"
done
# row by row: the derived rollup against the one from the source (count, sum, max, and the
# distinct sketch's estimate: merged sketches hold the same registers, encoded differently; sums
# of float8 in another order may differ in the last digits, so avg's sum is left out)
DIFF=$(P -c "SELECT count(*) FROM routed.bench_daily_src s FULL JOIN routed.bench_daily_hier h USING (bucket, rule_category, status)
  WHERE (s.\"count(*)\", s.\"sum(records_processed)\", s.\"max(execution_time_ms)\", routed.distinct_count(s.\"distinct(rule_id)\"))
        IS DISTINCT FROM (h.\"count(*)\", h.\"sum(records_processed)\", h.\"max(execution_time_ms)\", routed.distinct_count(h.\"distinct(rule_id)\"))")
m() { awk -v k="$1" '$1 == k {print $2}' "$WORK/from_rollup.txt" | median; }
BS=$(m build_src); BH=$(m build_hier); RS=$(m refresh_src); RH=$(m refresh_hier)
SECTION="$WORK/from_rollup.md"
cat > "$SECTION" <<MD
## Rollups built from rollups (issue #16)

Command: \`benches/from_rollup.sh $ROUNDS\` ($(date -u +%F), 2 cores), after \`benches/rollups.sh\`: source \`bench\`
($ROWS rows over 30 days), a daily rollup (rule_category × status, count, sum, avg, max, a quantile
sketch and a distinct sketch) built from \`bench_hourly\` against the same one built from the source.
Medians of $ROUNDS rounds.

| What | From the source | From bench_hourly | Ratio |
|---|---|---|---|
| backfill (create_rollup) | $BS ms | $BH ms | **$(ratio "$BS" "$BH")×** cheaper |
| refresh after a DELETE of 1,000 rows sampled over 30 days (bench_hourly refreshed first) | $RS ms | $RH ms | **$(ratio "$RS" "$RH")×** cheaper |

The hourly rollup's own refresh after the DELETE (about 540 touched hours recomputed from the source,
see the rollups table) is paid once for both; the daily rollup from the source recomputes the same rows again.
Rows of the two daily rollups that differ (count, sum, max, distinct estimate; of $(P -c "SELECT count(*) FROM routed.bench_daily_src")): **$DIFF**.
MD
"$REPO/benches/write_section.py" "$OUT" from_rollup "$SECTION"
cat "$SECTION"
