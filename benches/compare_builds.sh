#!/usr/bin/env bash
# The hit path of two builds in one run: the working tree's (installed by scripts/demo.sh) and an
# earlier commit's (default fa3056c, before the house was laid out by concern, issue #18). Both
# libraries are built in release; each round installs one, restarts the demo cluster, and
# measures the cache hit inside the server (benches/hit_cost.py --print) and through pgbench
# (the single-stat panel vs SELECT 1, -M prepared, -c 1 and -c 8), alternating which build goes
# first. Only the library is swapped: both must share the installed SQL (same extension version).
# Writes the `compare-builds` section of benches/RESULTS.md.
# Usage: benches/compare_builds.sh [old commit, default fa3056c] [rounds, default 3] [seconds, default 10]
source "$(dirname "$0")/../scripts/common.sh"

OLD="${1:-fa3056c}"; ROUNDS="${2:-3}"; SECS="${3:-10}"
PORT="${PG_ROUTED_DEMO_PORT:-54321}"
DEMO_DIR="${PG_ROUTED_DEMO_DIR:-$REPO/.demo/pgdata}"
WORK="$REPO/target/compare"; mkdir -p "$WORK"
PSQL=(psql -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d routed_demo)
LIB="$("$PG_CONFIG" --pkglibdir)/pg_routed.so"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

log "setting up the demo cluster with the working tree's build"
"$REPO/scripts/demo.sh" > "$WORK/demo.log" 2>&1 || { tail -n 30 "$WORK/demo.log"; exit 1; }
cp "$LIB" "$WORK/new.so"
NEW_DESC="$(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD || echo '+changes')"

OLD_SHA="$(git -C "$REPO" rev-parse --short "$OLD")"
if [ ! -f "$WORK/old-$OLD_SHA.so" ]; then
  log "building $OLD (release)"
  rm -rf "$WORK/src"; git -C "$REPO" worktree prune
  git -C "$REPO" worktree add --detach "$WORK/src" "$OLD" >/dev/null
  (cd "$WORK/src" && CARGO_TARGET_DIR="$WORK/cargo" cargo build --release --lib --features pg15 2>&1 | tail -n 2)
  cp "$WORK/cargo/release/libpg_routed.so" "$WORK/old-$OLD_SHA.so"
  git -C "$REPO" worktree remove --force "$WORK/src"
fi
cp "$WORK/old-$OLD_SHA.so" "$WORK/old.so"

D1=$(date -u -d "yesterday" +%Y-%m-%dT00:00:00Z); D0=$(date -u -d "2 days ago" +%Y-%m-%dT00:00:00Z)
STAT="{\"source\": \"metrics\", \"time\": {\"from\": \"$D0\", \"to\": \"$D1\"}, \"dimensions\": [\"status\"], \"measures\": [{\"name\": \"runs\", \"agg\": \"count\"}]}"
printf "SELECT 1;\n" > "$WORK/select1.sql"
printf "SELECT routed_query('%s');\n" "$STAT" > "$WORK/stat.sql"
tps() {
  pgbench -n -M prepared -T "$SECS" -c "$2" -j "$(( $2 < 2 ? 1 : 2 ))" -h 127.0.0.1 -p "$PORT" -U postgres \
    -f "$1" routed_demo 2>/dev/null | awk '/^tps = / {print $3+0}'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A hit hit_out r1 r8
measure() {   # measure old|new
  local b="$1"
  $SUDO cp "$WORK/$b.so" "$LIB"
  cluster_restart "$DEMO_DIR"
  "${PSQL[@]}" -c "SELECT routed.cache_reset()" -c "SELECT routed_query('$STAT')" >/dev/null
  read -r h ho < <(/usr/bin/python3 "$REPO/benches/hit_cost.py" 20000 15 --print)
  local s1 t1 s8 t8
  s1=$(tps "$WORK/select1.sql" 1); t1=$(tps "$WORK/stat.sql" 1)
  s8=$(tps "$WORK/select1.sql" 8); t8=$(tps "$WORK/stat.sql" 8)
  hit[$b]+="$h "; hit_out[$b]+="$ho "
  r1[$b]+="$(awk -v a="$t1" -v b="$s1" 'BEGIN {printf "%.3f", a / b}') "
  r8[$b]+="$(awk -v a="$t8" -v b="$s8" 'BEGIN {printf "%.3f", a / b}') "
  log "$b: hit $h µs, printed $ho µs, -c 1 $t1/$s1 tps, -c 8 $t8/$s8 tps"
}
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then measure old; measure new; else measure new; measure old; fi
done
$SUDO cp "$WORK/new.so" "$LIB"; cluster_restart "$DEMO_DIR"

row() {   # row old|new label
  # shellcheck disable=SC2086
  printf '| %s | %s | %s | %s | %s |\n' "$2" "$(median ${hit[$1]})" "$(median ${hit_out[$1]})" "$(median ${r1[$1]})" "$(median ${r8[$1]})"
}
SECTION="$WORK/compare.md"
cat > "$SECTION" <<MD
## The hit path, build against build

Produced by \`benches/compare_builds.sh $OLD $ROUNDS $SECS\` on $(date -u +%Y-%m-%d) ($(nproc) cores, PostgreSQL
$(pg_config --version | awk '{print $2}'), release builds, demo cluster). Each round installs one build's library,
restarts the server and measures the cached single-stat panel (budget 0): µs per hit inside the
server (\`benches/hit_cost.py --print\`, fastest of 15 runs of 20,000 calls, minus the same loop over
a constant), and pgbench TPS against \`SELECT 1\` (\`-M prepared -T $SECS\`). Medians of $ROUNDS rounds,
the builds alternating which goes first.

| build | hit µs | hit + jsonb_out µs | TPS ratio -c 1 | TPS ratio -c 8 |
|---|---|---|---|---|
$(row old "$OLD (before)")
$(row new "$NEW_DESC (after)")

Rounds: old hit ${hit[old]}/ new hit ${hit[new]}; old -c 1 ${r1[old]}/ new -c 1 ${r1[new]}; old -c 8 ${r8[old]}/ new -c 8 ${r8[new]}.
MD
python3 "$REPO/benches/write_section.py" "$REPO/benches/RESULTS.md" compare-builds "$SECTION"
cat "$SECTION"
