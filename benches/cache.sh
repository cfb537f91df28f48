#!/usr/bin/env bash
# Benchmarks for the result cache (issue #5), written to their section of benches/RESULTS.md.
# On the demo cluster (2,000,000 metrics rows over 30 days, hourly rollup, release build):
#  1. cache-hit routed_query TPS vs SELECT 1 TPS, pgbench -M prepared, -c 1 and -c 8;
#  2. the same cached answer vs the same document at its fastest uncached source (cache off);
#  3. a dashboard mix (closed and relative windows) for 60 s while a writer inserts 200 rows/s
#     at now: share of answers from cache or rollup, and closed windows answered as exact hits;
#  4. 32 concurrent identical misses: how many times the query ran (seq scans of the source).
# Usage: benches/cache.sh [seconds per round, default 10] [rounds, default 3]
source "$(dirname "$0")/../scripts/common.sh"

SECS="${1:-10}"; ROUNDS="${2:-3}"
PORT="${PG_ROUTED_DEMO_PORT:-54321}"
WORK="$REPO/target/bench"; mkdir -p "$WORK"
OUT="$REPO/benches/RESULTS.md"
PSQL=(psql -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d routed_demo)

log "setting up the demo cluster (release build)"
"$REPO/scripts/demo.sh" > "$WORK/demo.log" 2>&1 || { tail -n 30 "$WORK/demo.log"; exit 1; }
"${PSQL[@]}" -c "CALL routed.refresh_rollup('metrics_hourly')" >/dev/null

# yesterday and the day before, as absolute UTC days: closed windows
D1=$(date -u -d "yesterday" +%Y-%m-%dT00:00:00Z); D0=$(date -u -d "2 days ago" +%Y-%m-%dT00:00:00Z)
D7=$(date -u -d "8 days ago" +%Y-%m-%dT00:00:00Z)
CLOSED="{\"source\": \"metrics\", \"time\": {\"from\": \"$D0\", \"to\": \"$D1\", \"granularity\": \"1 hour\"}, \"dimensions\": [\"rule_category\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}, {\"name\": \"avg_ms\", \"agg\": \"avg\", \"column\": \"execution_time_ms\"}]}"
WEEK="{\"source\": \"metrics\", \"time\": {\"from\": \"$D7\", \"to\": \"$D1\", \"granularity\": \"1 day\"}, \"dimensions\": [\"status\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}, {\"name\": \"records\", \"agg\": \"sum\", \"column\": \"records_processed\"}]}"
LAST24="{\"source\": \"metrics\", \"time\": {\"from\": \"now-24h\", \"granularity\": \"1 hour\"}, \"dimensions\": [\"status\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}]}"
LAST7D="{\"source\": \"metrics\", \"time\": {\"from\": \"now-7d\", \"granularity\": \"1 day\"}, \"dimensions\": [\"rule_category\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}, {\"name\": \"max_ms\", \"agg\": \"max\", \"column\": \"execution_time_ms\"}]}"
LAST1H="{\"source\": \"metrics\", \"time\": {\"from\": \"now-1h\"}, \"dimensions\": [\"status\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}]}"
# a single-stat panel: runs per status over one past day (3 rows)
STAT="{\"source\": \"metrics\", \"time\": {\"from\": \"$D0\", \"to\": \"$D1\"}, \"dimensions\": [\"status\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}]}"
# a base-table document over a closed window (no rollup answers percentiles exactly): the slow miss
D29=$(date -u -d "29 days ago" +%Y-%m-%dT00:00:00Z)
SLOW="{\"source\": \"metrics\", \"time\": {\"from\": \"$D29\", \"to\": \"$D1\"}, \"dimensions\": [\"region\"], \"measures\": [{\"name\": \"p50\", \"agg\": \"percentile\", \"column\": \"execution_time_ms\", \"q\": 0.5}], \"exact\": true}"

printf "SELECT 1;\n" > "$WORK/select1.sql"
printf "SELECT routed_query('%s');\n" "$STAT" > "$WORK/stat.sql"
printf "SELECT routed_query('%s');\n" "$CLOSED" > "$WORK/hit.sql"

# transactions per second of one pgbench run: tps FILE CLIENTS [extra options]
tps() {
  local file="$1" clients="$2"; shift 2
  pgbench -n -M prepared -T "$SECS" -c "$clients" -j "$(( clients < 2 ? 1 : 2 ))" -h 127.0.0.1 -p "$PORT" -U postgres \
    "$@" -f "$file" routed_demo 2>/dev/null | awk '/^tps = / {print $3+0}'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

"${PSQL[@]}" -c "SELECT routed.cache_reset()" -c "SELECT routed_query('$STAT')" -c "SELECT routed_query('$CLOSED')" >/dev/null
# the 144-row answer shipped without the cache: the same jsonb as a constant
"${PSQL[@]}" -c "SELECT format('SELECT %L::jsonb;', routed_query('$CLOSED'))" > "$WORK/same_bytes.sql"
"${PSQL[@]}" -c "SELECT format('SELECT %L::jsonb;', routed_query('$STAT'))" > "$WORK/stat_bytes.sql"
# compare FILE_A FILE_B CLIENTS LABEL: alternating rounds, median ratio of TPS (a / b)
compare() {
  local a="$1" b="$2" c="$3" label="$4" ratios=() as=() bs=() x y
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then y=$(tps "$b" "$c"); x=$(tps "$a" "$c"); else x=$(tps "$a" "$c"); y=$(tps "$b" "$c"); fi
    ratios+=("$(ratio "$x" "$y")"); as+=("$x"); bs+=("$y")
    log "$label -c $c round $r: $x vs $y tps"
  done
  hit_rows+="| $label | -c $c | $(median "${bs[@]}") | $(median "${as[@]}") | **$(median "${ratios[@]}")** (rounds: ${ratios[*]}) |"$'\n'
}
hit_rows=""
for c in 1 8; do compare "$WORK/stat.sql" "$WORK/select1.sql" "$c" "single-stat panel (3 rows) vs SELECT 1"; done
for c in 1 8; do compare "$WORK/stat_bytes.sql" "$WORK/select1.sql" "$c" "(no cache: SELECT of the single-stat answer as a jsonb constant vs SELECT 1)"; done
for c in 1 8; do compare "$WORK/hit.sql" "$WORK/same_bytes.sql" "$c" "hourly panel (144 rows) vs SELECT of the same jsonb"; done
outcome=$("${PSQL[@]}" -c "SELECT (routed_query('$STAT')->'meta')::text")

# the same answer uncached: the router's fastest source with the cache off
latency() {
  pgbench -n -M prepared -T "$SECS" -h 127.0.0.1 -p "$PORT" -U postgres "$@" -f "$WORK/hit.sql" routed_demo 2>/dev/null \
    | awk -F' = ' '/latency average/ {print $2+0}'
}
ls_=(); lu=(); lr=()
for r in $(seq 1 "$ROUNDS"); do
  h=$(latency); u=$(PGOPTIONS="-c routed.cache=off" latency)
  ls_+=("$h"); lu+=("$u"); lr+=("$(ratio "$u" "$h")")
  log "round $r: cached $h ms, uncached $u ms"
done
uncached_source=$(PGOPTIONS="-c routed.cache=off" "${PSQL[@]}" -c "SELECT routed_query('$CLOSED')->'meta'->>'source'")

# dashboard mix while a writer inserts 200 rows/s at now
log "dashboard mix for 60 s with a writer at 200 rows/s"
printf "SELECT routed_query('%s', '0');\n" "$CLOSED" > "$WORK/mix_closed.sql"
printf "SELECT routed_query('%s', '0');\n" "$WEEK" > "$WORK/mix_week.sql"
printf "SELECT routed_query('%s', '5 min');\n" "$LAST24" > "$WORK/mix_last24.sql"
printf "SELECT routed_query('%s', '5 min');\n" "$LAST7D" > "$WORK/mix_last7d.sql"
printf "SELECT routed_query('%s', '5 min');\n" "$LAST1H" > "$WORK/mix_last1h.sql"
cat > "$WORK/writer.sql" <<'SQL'
INSERT INTO metrics VALUES (now(), 'RULE_EXECUTION', 'fraud', 7, 'OK', 'eu', 12.5, 100);
SQL
"${PSQL[@]}" -c "SELECT routed.cache_reset()" >/dev/null
for f in closed week last24 last7d last1h; do "${PSQL[@]}" -f "$WORK/mix_$f.sql" >/dev/null; done   # dashboards already open
"${PSQL[@]}" -c "SELECT routed.stats_reset()" >/dev/null
pgbench -n -T 60 -R 200 -c 1 -h 127.0.0.1 -p "$PORT" -U postgres -f "$WORK/writer.sql" routed_demo > "$WORK/writer.log" 2>&1 &
writer=$!
pgbench -n -M prepared -T 60 -c 4 -j 2 -h 127.0.0.1 -p "$PORT" -U postgres \
  -f "$WORK/mix_closed.sql" -f "$WORK/mix_week.sql" -f "$WORK/mix_last24.sql" -f "$WORK/mix_last7d.sql" -f "$WORK/mix_last1h.sql" \
  routed_demo > "$WORK/mix.log" 2>&1
wait "$writer"
written=$(awk '/number of transactions actually processed/ {print $6}' "$WORK/writer.log")
read -r mix_calls mix_cached mix_base closed_calls closed_hits < <("${PSQL[@]}" -F ' ' -c "
  SELECT sum(calls), sum(hits + coalesced), sum(from_base),
         sum(calls) FILTER (WHERE document->'time'->>'to' IS NOT NULL AND document->'time'->>'to' <> 'now'),
         sum(hits) FILTER (WHERE document->'time'->>'to' IS NOT NULL AND document->'time'->>'to' <> 'now')
    FROM routed.query_stats")
mix_table=$("${PSQL[@]}" -F ' | ' -c "
  SELECT '| ' || coalesce(document->'time'->>'from', '-') || ' .. ' || coalesce(document->'time'->>'to', 'now'), calls, hits, coalesced, misses,
         from_rollup + from_rollup_base, from_base, round(mean_ms::numeric, 3), round(p95_ms::numeric, 3), last_staleness || ' |'
    FROM routed.query_stats ORDER BY calls DESC")
share=$(awk -v b="$mix_base" -v n="$mix_calls" 'BEGIN {printf "%.2f", 100 * (n - b) / n}')
served_cache=$(awk -v c="$mix_cached" -v n="$mix_calls" 'BEGIN {printf "%.2f", 100 * c / n}')

# 32 identical misses at once on a base-table document: how many scans of the source ran
log "32 concurrent identical misses"
printf "SELECT routed_query('%s', '0');\n" "$SLOW" > "$WORK/slow.sql"
scans() { "${PSQL[@]}" -c "SELECT pg_stat_clear_snapshot(); SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'metrics'" | tail -n 1; }
# one execution alone, for comparison
"${PSQL[@]}" -c "SELECT routed.cache_reset()" >/dev/null
before=$(scans)
PGOPTIONS="-c max_parallel_workers_per_gather=0" "${PSQL[@]}" -f "$WORK/slow.sql" >/dev/null
sleep 1
one=$(( $(scans) - before ))
"${PSQL[@]}" -c "SELECT routed.cache_reset()" -c "SELECT routed.stats_reset()" >/dev/null
before=$(scans)
PGOPTIONS="-c max_parallel_workers_per_gather=0" pgbench -n -c 32 -j 2 -t 1 -h 127.0.0.1 -p "$PORT" -U postgres \
  -f "$WORK/slow.sql" routed_demo > "$WORK/slow.log" 2>&1
sleep 1
after=$(scans)
read -r m32 c32 h32 < <("${PSQL[@]}" -F ' ' -c "SELECT misses, coalesced, hits FROM routed.cache_stats")
slow_ms=$(awk -F' = ' '/latency average/ {print $2+0}' "$WORK/slow.log")

SECTION="$WORK/cache.md"
cat > "$SECTION" <<MD
## Result cache (issue #5)

Produced by \`benches/cache.sh $SECS $ROUNDS\` on $(date -u +%Y-%m-%d) ($(nproc) cores, PostgreSQL $(pg_config --version | awk '{print $2}'), release build),
on the demo dataset (\`metrics\`, 2,000,000 rows over 30 days, rollup \`metrics_hourly\`).
Ratios against a baseline in the same run; pgbench runs on the same 2 cores as the server.

### Cache-hit TPS vs \`SELECT 1\`

\`pgbench -n -M prepared -T $SECS\`, $ROUNDS alternating rounds, answered at budget 0 from the cache.
The single-stat panel counts runs per status over one past day (meta of a hit: \`$outcome\`);
target ≥ 0.70 at -c 1 and -c 8 (pgpool-II's query cache: 0.57 and 0.07). The hourly panel (runs
and mean latency per rule category per hour of one past day, 144 rows, about 6 kB of JSON) is
compared with a prepared \`SELECT\` of the same jsonb as a constant: the cost of shipping the
answer is in both, so the ratio is what the cache adds. The row in parentheses measures what
shipping the single-stat answer itself (about 400 bytes of jsonb, printed by \`jsonb_out\`, read by
pgbench on the same two cores) costs against \`SELECT 1\`: the ceiling for any cache returning it.

| answer | clients | baseline tps | cache hit tps | ratio |
|---|---|---|---|---|
$hit_rows
### Cached vs the fastest uncached source

The same document with \`routed.cache = off\` (answered from: $uncached_source). Mean latency, $ROUNDS rounds.

| cached ms | uncached ms | speed-up |
|---|---|---|
| $(median "${ls_[@]}") | $(median "${lu[@]}") | **$(median "${lr[@]}")×** (rounds: ${lr[*]}) |

### Dashboard mix while a writer inserts at now

60 s, 4 pgbench clients cycling five documents (two closed windows at budget 0; last 24 h, last
7 days and last hour at budget 5 min) while \`pgbench -R 200\` inserts rows at now ($written rows
written). From \`routed.query_stats\` after the run. Targets: ≥ 95% of answers from cache or
rollup; 100% of closed-window answers exact hits.

* answers: $mix_calls; served from the cache (hit or coalesced): **$served_cache%**; from cache or a
  rollup (not the base table alone): **$share%**;
* closed windows at budget 0: $closed_hits hits of $closed_calls answers.

| window | calls | hits | coalesced | misses | computed from a rollup | computed from base | mean ms | p95 ms | last staleness |
|---|---|---|---|---|---|---|---|---|---|
$mix_table

### 32 concurrent identical misses

\`pgbench -c 32 -t 1\` on a base-table document (exact median per region over 28 closed days, no
parallel workers), cache empty. Scans of the source counted in \`pg_stat_user_tables\` (seq + index
scans): one execution alone scans it $one time(s); the 32 concurrent calls scanned it
**$((after - before))** time(s) (the refresh worker may add one). Cache outcomes: $m32 miss,
$c32 coalesced, $h32 hit; mean latency per call $slow_ms ms.
MD
python3 "$REPO/benches/write_section.py" "$OUT" cache "$SECTION"
cat "$SECTION"
