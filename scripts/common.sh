# Shared helpers for pg_routed's scripts. Source it; do not run it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG=/usr/bin/pg_config
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs a command as the postgres OS user (root may not run initdb or the server).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Installs what is missing: Debian packages, cargo-pgrx 0.18.1, pgrx's config. Quick when done.
bootstrap() {
  local pkgs="postgresql-15 postgresql-client-15 postgresql-contrib libpq-dev postgresql-server-dev-15 libclang-dev sudo python3-psycopg2"
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
    cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
  fi
}

# Builds and installs the extension into the system PostgreSQL 15 (release unless $1 = debug).
install_extension() {
  local profile="${1:-release}"
  log "building and installing pg_routed ($profile)"
  local flag="--release"; [ "$profile" = debug ] && flag=""
  [ "$(id -u)" = 0 ] || flag="$flag --sudo"   # the PostgreSQL directories belong to root
  (cd "$REPO" && cargo pgrx install $flag --pg-config "$PG_CONFIG" --features pg15 2>&1 | grep -vE "^\s*(Compiling|Checking)" | tail -n 5)
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
