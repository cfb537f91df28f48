#!/usr/bin/env bash
# Back to hits after a restart (issue #14): 100 distinct dashboard documents cached in the demo
# database, a clean restart (pg_ctl -m fast restart), then the time from the server accepting
# connections until the cache holds them again (the worker recomputes them), and the hit ratio
# of the first round of asking all 100 right after. Writes its table into benches/RESULTS.md
# (between the warm markers).
# Usage: benches/warm.sh
source "$(dirname "$0")/../scripts/common.sh"

PORT="${PG_ROUTED_DEMO_PORT:-54321}"; DB=routed_demo
DEMO_DIR="${PG_ROUTED_DEMO_DIR:-$REPO/.demo/pgdata}"
WORK="$REPO/target/bench/warm"; mkdir -p "$WORK"
OUT="$REPO/benches/RESULTS.md"

log "setting up the demo cluster (release build)"
"$REPO/scripts/demo.sh" > "$WORK/demo.log" 2>&1 || { tail -n 30 "$WORK/demo.log"; exit 1; }
P() { psql -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }
# 100 documents: 25 days × 4 shapes, closed windows (exact answers that stay cached)
: > "$WORK/docs.sql"
for d in $(seq 2 26); do
  FROM=$(date -u -d "today - $d days" +%Y-%m-%dT00:00:00Z); TO=$(date -u -d "today - $((d - 1)) days" +%Y-%m-%dT00:00:00Z)
  for shape in status rule_category region metric_type; do
    echo "SELECT routed_query('{\"source\": \"metrics\", \"time\": {\"column\": \"ts\", \"from\": \"$FROM\", \"to\": \"$TO\", \"granularity\": \"1 hour\"}, \"dimensions\": [\"$shape\"], \"measures\": [{\"name\": \"n\", \"agg\": \"count\"}, {\"name\": \"avg_ms\", \"agg\": \"avg\", \"column\": \"execution_time_ms\"}]}', '0')->'meta'->>'cache';" >> "$WORK/docs.sql"
  done
done
P -c "SELECT routed.cache_reset()" > /dev/null
P -f "$WORK/docs.sql" > /dev/null
BEFORE=$(P -c "SELECT entries FROM routed.cache_stats")
as_pg "$PG_BIN/pg_ctl" -D "$DEMO_DIR" -l "$DEMO_DIR/server.log" -w -m fast restart > /dev/null
UP=$(date +%s.%N)
WARM=""
for i in $(seq 1 100); do
  N=$(P -c "SELECT entries FROM routed.cache_stats" 2>/dev/null || echo 0)
  if [ "${N:-0}" -ge "$((BEFORE * 95 / 100))" ]; then WARM=$(awk -v a="$UP" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}'); break; fi
  sleep 0.1
done
HITS=$(P -f "$WORK/docs.sql" | grep -c '^hit$')

SECTION="$WORK/warm.md"
cat > "$SECTION" <<MD
## Back to hits after a restart (issue #14)

Command: \`benches/warm.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, demo dataset). $BEFORE distinct closed-window documents cached,
then \`pg_ctl -m fast restart\`; the worker of \`routed_demo\` saved their keys at shutdown and recomputes them at start.

| What | Measured | Target |
|---|---|---|
| from accepting connections to ≥ 95% of the entries back in the cache | **${WARM:-not within 10} s** | ≤ 5 s |
| hits in the first round of asking all $BEFORE documents after that | **$HITS of $BEFORE** | ≥ 95% |
MD
"$REPO/benches/write_section.py" "$OUT" warm "$SECTION"
cat "$SECTION"
