#!/usr/bin/env bash
# zabbix-up.sh STATE_DIR: a real Zabbix 6.0 peer for telltale's end-to-end tests, from nothing.
#
# Installs what is missing from Debian 12's packages (without letting their services start), then
# starts, all on 127.0.0.1 and owned by this state directory:
#   - a private PostgreSQL cluster (STATE_DIR/pg, port 20432, socket in STATE_DIR/pg/run, fsync off)
#     with the zabbix database loaded from Debian's schema/images/data SQL;
#   - zabbix_server (20051) and zabbix_agentd (20050) in the foreground, in their own sessions;
#   - PHP's built-in server for the frontend, i.e. the JSON-RPC API, on 20080;
# points the "Zabbix server" host's agent interface at our agent, sets a 10 s delay on its items,
# and waits until at least 5 numeric items (value_type 0 or 3) have a value (lastclock != "0").
#
# Then it writes STATE_DIR/env (KEY=VALUE lines, sourceable: ZABBIX_URL, credentials, ports, pids)
# and exits 0, leaving everything running; logs are in STATE_DIR/logs. Stop it all with
# zabbix-down.sh STATE_DIR; stop/start only the API with zabbix-api.sh STATE_DIR stop|start.
# Running it again on the same STATE_DIR stops the previous instance and starts from nothing.
#
# Credentials: Admin / zabbix. Tests of bad credentials must use a user name that does not exist:
# five failed logins lock an account for 30 s, and a locked Admin breaks every other test.
#
# Needs root (CI runs as root on a fresh Debian 12). Environment knobs:
#   ZBX_PG_PORT, ZBX_SERVER_PORT, ZBX_AGENT_PORT, ZBX_API_PORT   ports (defaults above)
#   ZBX_ITEM_DELAY (10s), ZBX_MIN_ITEMS (5), ZBX_WAIT_TIMEOUT (120)
#   ZBX_KEEP_ON_FAILURE=1   leave the processes running when a step fails (default: stop them)
#   ZBX_CACHE_DIR (/var/cache/telltale-zabbix)  where a dump of the freshly loaded database is kept:
#                           later runs restore it in ~1 s instead of loading the SQL (~13 s)
#   ZBX_NO_CACHE=1          always load the SQL, keep no dump
set -euo pipefail
# shellcheck source=scripts/zabbix-lib.sh
. "$(dirname "$0")/zabbix-lib.sh"

S=$(zbx_state_dir "${1:-}")
zbx_need_root

PG_PORT=${ZBX_PG_PORT:-20432}
SERVER_PORT=${ZBX_SERVER_PORT:-20051}
AGENT_PORT=${ZBX_AGENT_PORT:-20050}
API_PORT=${ZBX_API_PORT:-20080}
ITEM_DELAY=${ZBX_ITEM_DELAY:-10s}
MIN_ITEMS=${ZBX_MIN_ITEMS:-5}
WAIT_TIMEOUT=${ZBX_WAIT_TIMEOUT:-120}
HOST="Zabbix server"
URL="http://127.0.0.1:$API_PORT/api_jsonrpc.php"

T0=$(date +%s%N)
since() { awk -v a="${1:-$T0}" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
phase() { zbx_log "[+$(since) s] $*"; }

# --- 1. packages -----------------------------------------------------------------------------
packages=(zabbix-server-pgsql zabbix-frontend-php zabbix-agent postgresql
          php-cli php8.2-cgi php-pgsql php-bcmath php-gd php-mbstring php-xml locales)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
INSTALL_S=0
if [ ${#missing[@]} -gt 0 ]; then
  phase "installing ${missing[*]}"
  TI=$(date +%s%N)
  # A policy-rc.d that refuses every start keeps the postinst scripts from starting postgres or
  # the agent on their default ports. Only ours is removed afterwards.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  # php8.2-cgi is named so that "php" does not pull in apache2 (libapache2-mod-php8.2 | php8.2-fpm | php8.2-cgi).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
  INSTALL_S=$(since "$TI")
  phase "packages installed in $INSTALL_S s"
fi
PG_BIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[ -x "$PG_BIN/initdb" ] || zbx_die "no PostgreSQL under /usr/lib/postgresql"
getent passwd zabbix >/dev/null || zbx_die "user zabbix missing (should come with zabbix-server-pgsql)"
# Without an en_US.UTF-8 locale the frontend UI shows an error banner (the API does not care).
if ! locale -a 2>/dev/null | grep -qix 'en_US\.utf-\?8'; then
  localedef -i en_US -c -f UTF-8 en_US.UTF-8 || zbx_log "localedef failed (only the UI cares)"
fi

# --- 2. from nothing -------------------------------------------------------------------------
# Only an empty directory, or one this script made (it holds the marker), is ever wiped.
MARKER=.telltale-zabbix-peer
if [ -d "$S" ] && [ ! -e "$S/$MARKER" ] && [ -n "$(ls -A "$S")" ]; then
  zbx_die "$S is not empty and was not made by zabbix-up.sh: refusing to use it"
fi
if [ -d "$S" ]; then
  "$ZBX_SCRIPTS_DIR/zabbix-down.sh" "$S"
fi
for port in "$PG_PORT" "$SERVER_PORT" "$AGENT_PORT" "$API_PORT"; do
  if zbx_port_open "$port"; then
    other=$(sed -n 's/^\/\/ telltale state dir: //p' "$ZBX_FRONTEND_CONF" 2>/dev/null || true)
    zbx_die "127.0.0.1:$port is in use${other:+ (the last peer started used $other; stop it with zabbix-down.sh $other)}"
  fi
done
rm -rf "$S/pg" "$S/zabbix" "$S/run" "$S/logs" "$S/env"
mkdir -p "$S/pg/data" "$S/pg/run" "$S/zabbix/run" "$S/run" "$S/logs"
echo "state directory of scripts/zabbix-up.sh; wiped by it on every start" >"$S/$MARKER"
# postgres and zabbix must reach their directories (mktemp -d makes 0700 directories).
chmod 755 "$S"
chown -R postgres:postgres "$S/pg"
chmod 700 "$S/pg/data"
chown zabbix:zabbix "$S/zabbix/run"
touch "$S/logs/postgres.log" && chown postgres:postgres "$S/logs/postgres.log"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
as_pg test -w "$S/pg/run" || zbx_die "user postgres cannot reach $S (a parent directory is not searchable)"
setpriv --reuid=zabbix --regid=zabbix --init-groups -- test -w "$S/zabbix/run" \
  || zbx_die "user zabbix cannot reach $S (a parent directory is not searchable)"
cd "$S"

cat >"$S/env" <<EOF
# Written by scripts/zabbix-up.sh: KEY=VALUE lines, no quoting (the file can be sourced).
# API user Admin/zabbix; test bad credentials with a user that does not exist (5 failures lock a user for 30 s).
ZABBIX_URL=$URL
ZABBIX_USER=Admin
ZABBIX_PASSWORD=zabbix
ZBX_STATE_DIR=$S
ZBX_PG_PORT=$PG_PORT
ZBX_SERVER_PORT=$SERVER_PORT
ZBX_AGENT_PORT=$AGENT_PORT
ZBX_API_PORT=$API_PORT
EOF
chmod 644 "$S/env"

# On any failure (set -e or zbx_die): show the log tails and stop what was started.
on_exit() {
  local rc=$?
  [ "$rc" -ne 0 ] || return 0
  zbx_log "FAILED (exit $rc); logs in $S/logs:"
  for f in "$S"/logs/*.log; do
    [ -s "$f" ] || continue
    echo "--- tail $f"; tail -n 15 "$f"
  done
  if [ "${ZBX_KEEP_ON_FAILURE:-0}" != 1 ]; then
    "$ZBX_SCRIPTS_DIR/zabbix-down.sh" "$S" || true
  fi
  exit "$rc"
}
trap on_exit EXIT

# --- 3. PostgreSQL ---------------------------------------------------------------------------
phase "initdb $S/pg/data"
as_pg "$PG_BIN/initdb" -D "$S/pg/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  >"$S/logs/initdb.log" 2>&1
cat >>"$S/pg/data/postgresql.conf" <<EOF

# telltale test peer: private, loopback only, durability off (test data is disposable)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$S/pg/run'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
max_connections = 100
EOF
as_pg "$PG_BIN/pg_ctl" -D "$S/pg/data" -l "$S/logs/postgres.log" -w -t 60 start \
  >"$S/logs/pg_ctl.log" 2>&1
PG_PID=$(head -n 1 "$S/pg/data/postmaster.pid")
echo "$PG_PID" >"$S/run/postgres.pid"
zbx_set_env "$S" ZBX_PG_PID "$PG_PID"
phase "postgres running (pid $PG_PID, 127.0.0.1:$PG_PORT)"

psql_() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" "$@"; }
psql_ -U postgres -d postgres -c "create role zabbix login password 'zabbix'"
psql_ -U postgres -d postgres \
  -c "create database zabbix owner zabbix encoding 'UTF8' template template0"
# data.sql is 130,000 single-row INSERTs (~13 s here); a pg_dump of the freshly loaded, untouched
# database restores in ~1 s. The dump is keyed on the SQL files and the PostgreSQL version.
load_sql() {
  local f
  for f in schema images data; do
    zcat "$ZBX_SQL_DIR/$f.sql.gz" | psql_ -U zabbix -d zabbix >>"$S/logs/schema.log" 2>&1
  done
}
CACHE_DIR=${ZBX_CACHE_DIR:-/var/cache/telltale-zabbix}
key=$( { cat "$ZBX_SQL_DIR"/{schema,images,data}.sql.gz; "$PG_BIN/postgres" --version; } \
       | sha256sum | cut -c1-16)
DUMP="$CACHE_DIR/zabbix-db-$key.dump"
if [ "${ZBX_NO_CACHE:-0}" != 1 ] && [ -s "$DUMP" ] \
   && "$PG_BIN/pg_restore" -h 127.0.0.1 -p "$PG_PORT" -U zabbix -d zabbix --no-owner \
        --exit-on-error "$DUMP" >>"$S/logs/schema.log" 2>&1; then
  DB_FROM="cached dump $DUMP"
else
  if [ -s "$DUMP" ] && [ "${ZBX_NO_CACHE:-0}" != 1 ]; then
    zbx_log "restoring $DUMP failed (see $S/logs/schema.log): loading the SQL instead"
    rm -f "$DUMP"
    psql_ -U postgres -d postgres -c "drop database zabbix" \
      -c "create database zabbix owner zabbix encoding 'UTF8' template template0"
  fi
  load_sql
  DB_FROM="$ZBX_SQL_DIR/{schema,images,data}.sql.gz"
  if [ "${ZBX_NO_CACHE:-0}" != 1 ] && mkdir -p "$CACHE_DIR" 2>/dev/null; then
    "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U zabbix -Fc -Z1 -f "$DUMP.tmp.$$" zabbix \
      && mv -f "$DUMP.tmp.$$" "$DUMP" || rm -f "$DUMP.tmp.$$"
  fi
fi
phase "zabbix database loaded from $DB_FROM"

# --- 4. frontend configuration ---------------------------------------------------------------
# The Debian frontend reads this fixed path. Someone else's file is kept once as .orig.
mkdir -p "$(dirname "$ZBX_FRONTEND_CONF")"
if [ -f "$ZBX_FRONTEND_CONF" ] && ! grep -q '^// telltale state dir: ' "$ZBX_FRONTEND_CONF" \
   && [ ! -e "$ZBX_FRONTEND_CONF.orig" ]; then
  cp -p "$ZBX_FRONTEND_CONF" "$ZBX_FRONTEND_CONF.orig"
fi
cat >"$ZBX_FRONTEND_CONF" <<EOF
<?php
// Written by telltale scripts/zabbix-up.sh for the end-to-end test peer.
// telltale state dir: $S
global \$DB;

\$DB['TYPE']     = 'POSTGRESQL';
\$DB['SERVER']   = '127.0.0.1';
\$DB['PORT']     = '$PG_PORT';
\$DB['DATABASE'] = 'zabbix';
\$DB['USER']     = 'zabbix';
\$DB['PASSWORD'] = 'zabbix';
\$DB['SCHEMA']   = '';
\$DB['ENCRYPTION'] = false;
\$DB['KEY_FILE']   = '';
\$DB['CERT_FILE']  = '';
\$DB['CA_FILE']    = '';
\$DB['VERIFY_HOST'] = false;
\$DB['CIPHER_LIST'] = '';
\$DB['VAULT_URL']   = '';
\$DB['VAULT_DB_PATH'] = '';
\$DB['VAULT_TOKEN'] = '';
\$DB['DOUBLE_IEEE754'] = true;

\$ZBX_SERVER      = '127.0.0.1';
\$ZBX_SERVER_PORT = '$SERVER_PORT';
\$ZBX_SERVER_NAME = 'telltale e2e';

\$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
EOF
chmod 644 "$ZBX_FRONTEND_CONF"

# --- 5. the API; the host is pointed at our agent before zabbix_server first reads it --
zbx_api_start "$S" "$API_PORT"
zbx_set_env "$S" ZBX_API_PID "$ZBX_API_PID"
VERSION=$(php "$ZBX_SCRIPTS_DIR/zabbix-rpc.php" version "$URL")
zbx_set_env "$S" ZABBIX_VERSION "$VERSION"
phase "API up: $URL (Zabbix $VERSION, PHP server pid/pgid $ZBX_API_PID)"

php "$ZBX_SCRIPTS_DIR/zabbix-rpc.php" configure "$URL" "$HOST" "$AGENT_PORT" "$ITEM_DELAY"

# --- 6. zabbix_server and zabbix_agentd ------------------------------------------------------
# Started as root they switch to user zabbix: PidFile and SocketDir live in a directory it owns.
# LogType=console + -f keep them in the foreground; setsid gives each its own process group.
cat >"$S/zabbix/zabbix_server.conf" <<EOF
ListenIP=127.0.0.1
ListenPort=$SERVER_PORT
SourceIP=127.0.0.1
LogType=console
DebugLevel=3
PidFile=$S/zabbix/run/zabbix_server.pid
SocketDir=$S/zabbix/run
DBHost=127.0.0.1
DBPort=$PG_PORT
DBName=zabbix
DBUser=zabbix
DBPassword=zabbix
# pick up API changes (interface, item delays) within ~5 s instead of 60 s
CacheUpdateFrequency=5
Timeout=4
StatsAllowedIP=127.0.0.1
EOF
cat >"$S/zabbix/zabbix_agentd.conf" <<EOF
Hostname=$HOST
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=$AGENT_PORT
SourceIP=127.0.0.1
LogType=console
DebugLevel=3
PidFile=$S/zabbix/run/zabbix_agentd.pid
Timeout=4
EOF
chmod 644 "$S/zabbix/"*.conf

setsid /usr/sbin/zabbix_agentd -f -c "$S/zabbix/zabbix_agentd.conf" \
  >>"$S/logs/zabbix_agentd.log" 2>&1 </dev/null &
AGENT_PID=$!
echo "$AGENT_PID" >"$S/run/zabbix_agentd.pid"
zbx_set_env "$S" ZBX_AGENT_PID "$AGENT_PID"

setsid /usr/sbin/zabbix_server -f -c "$S/zabbix/zabbix_server.conf" \
  >>"$S/logs/zabbix_server.log" 2>&1 </dev/null &
SERVER_PID=$!
echo "$SERVER_PID" >"$S/run/zabbix_server.pid"
zbx_set_env "$S" ZBX_SERVER_PID "$SERVER_PID"

for ((i = 0; i < 300; i++)); do
  zbx_port_open "$AGENT_PORT" && zbx_port_open "$SERVER_PORT" && break
  zbx_alive "$AGENT_PID" zabbix_agentd || zbx_die "zabbix_agentd exited; see $S/logs/zabbix_agentd.log"
  zbx_alive "$SERVER_PID" zabbix_server || zbx_die "zabbix_server exited; see $S/logs/zabbix_server.log"
  sleep 0.1
done
zbx_port_open "$SERVER_PORT" || zbx_die "zabbix_server not listening on $SERVER_PORT after 30 s"
phase "zabbix_server (pid $SERVER_PID, :$SERVER_PORT) and zabbix_agentd (pid $AGENT_PID, :$AGENT_PORT) running"

phase "waiting for $MIN_ITEMS numeric items with values (timeout $WAIT_TIMEOUT s)"
php "$ZBX_SCRIPTS_DIR/zabbix-rpc.php" wait "$URL" "$HOST" "$MIN_ITEMS" "$WAIT_TIMEOUT"

trap - EXIT
phase "ready: from nothing to item values in $(since) s (package install: $INSTALL_S s)"
zbx_log "ZABBIX_URL=$URL  (Admin/zabbix)   env: $S/env   logs: $S/logs   stop: $ZBX_SCRIPTS_DIR/zabbix-down.sh $S"
