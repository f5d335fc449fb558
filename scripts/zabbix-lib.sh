# shellcheck shell=bash
# Shared helpers for zabbix-up.sh, zabbix-down.sh and zabbix-api.sh (sourced, not run).
#
# One Zabbix 6.0 peer per machine: the Debian frontend reads its database settings from the fixed
# path /etc/zabbix/zabbix.conf.php, so two state directories cannot serve two APIs at once.
# Everything listens on 127.0.0.1 only, on ports away from the defaults:
#   PostgreSQL 20432 (socket in STATE_DIR/pg/run), zabbix_server 20051, zabbix_agentd 20050,
#   PHP built-in server (frontend API) 20080.
# ZBX_*_PORT in the environment override them when zabbix-up.sh runs; the chosen values are
# saved in STATE_DIR/env, which the other scripts read back.

ZBX_FRONTEND_DIR=/usr/share/zabbix
ZBX_FRONTEND_CONF=/etc/zabbix/zabbix.conf.php
ZBX_SQL_DIR=/usr/share/zabbix-server-pgsql
ZBX_SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

zbx_log() { printf '[zabbix %s] %s\n' "$(date +%T)" "$*"; }
zbx_die() { printf '[zabbix %s] ERROR: %s\n' "$(date +%T)" "$*" >&2; exit 1; }

zbx_need_root() {
  [ "$(id -u)" -eq 0 ] || zbx_die "run as root (it installs packages, writes $ZBX_FRONTEND_CONF and switches users)"
}

# zbx_state_dir DIR: absolute path of the state directory (not created).
zbx_state_dir() {
  [ -n "${1:-}" ] || zbx_die "usage: $(basename "$0") STATE_DIR ..."
  realpath -m -- "$1"
}

# zbx_load_env DIR: read the ports and pids saved by zabbix-up.sh (missing file: nothing set).
zbx_load_env() {
  local f="$1/env"
  [ -f "$f" ] || return 1
  # shellcheck disable=SC1090
  . "$f"
}

# zbx_alive PID NAME: true if PID is a live (not zombie) process whose command name is NAME.
# The exited children of this machine's PID 1 are never reaped, so a zombie counts as dead; the
# name check keeps a recycled pid from being mistaken for ours.
zbx_alive() {
  local pid="${1:-}" name="$2" stat comm state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  comm=${stat#*(}; comm=${comm%)*}
  state=${stat##*) }; state=${state%% *}
  [ "$state" != Z ] && [ "$comm" = "$name" ]
}

# zbx_group_live PGID: pids of live (not zombie) processes in process group PGID.
zbx_group_live() {
  local pgid="${1:-}" d stat rest state pg
  [[ "$pgid" =~ ^[0-9]+$ ]] || return 0
  for d in /proc/[0-9]*; do
    stat=$(cat "$d/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    read -r state _ pg _ <<<"$rest"
    [ "$pg" = "$pgid" ] && [ "$state" != Z ] && echo "${d#/proc/}"
  done
  return 0
}

# zbx_stop_group NAME PGID SIGNAL TIMEOUT: signal the process group PGID (a session we created
# with setsid, led by a process called NAME) and wait until none of its members is alive;
# SIGKILL the stragglers after TIMEOUT seconds. A group whose leader is gone but whose members
# still run (PHP workers) is stopped too, as long as one member is still called NAME.
zbx_stop_group() {
  local name="$1" pgid="$2" sig="$3" timeout="$4" i p ours=0
  for p in $(zbx_group_live "$pgid"); do
    zbx_alive "$p" "$name" && ours=1
  done
  [ "$ours" -eq 1 ] || return 0
  kill -s "$sig" -- "-$pgid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    [ -z "$(zbx_group_live "$pgid")" ] && return 0
    sleep 0.1
  done
  zbx_log "$name (group $pgid) still running after ${timeout}s: SIGKILL"
  kill -s KILL -- "-$pgid" 2>/dev/null || true
  sleep 0.2
}

# zbx_port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
zbx_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# zbx_rpc_ok URL: true if apiinfo.version answers.
zbx_rpc_ok() {
  php "$ZBX_SCRIPTS_DIR/zabbix-rpc.php" version "$1" >/dev/null 2>&1
}

# zbx_api_start STATE_DIR PORT: start PHP's built-in server for the frontend (and so the API) in
# its own session, record its pid (= process group id) in STATE_DIR/run/php.pid, wait until
# apiinfo.version answers (30 s at most).
zbx_api_start() {
  local s="$1" port="$2" pid i url="http://127.0.0.1:$2/api_jsonrpc.php"
  zbx_port_open "$port" && zbx_die "port $port is already in use"
  mkdir -p "$s/run" "$s/logs"
  # PHP_CLI_SERVER_WORKERS: without it the built-in server answers one request at a time.
  # On SIGTERM the parent exits but leaves its workers running: stop the whole group.
  # setsid does not fork here (a background job of a script is never a group leader), so $!
  # is the php process and its pid is the new process group id.
  PHP_CLI_SERVER_WORKERS=4 setsid php -S "127.0.0.1:$port" -t "$ZBX_FRONTEND_DIR" \
    -d post_max_size=16M -d max_execution_time=300 -d max_input_time=300 \
    -d date.timezone=UTC -d memory_limit=256M \
    >>"$s/logs/php.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$s/run/php.pid"
  for ((i = 0; i < 300; i++)); do
    zbx_rpc_ok "$url" && { ZBX_API_PID=$pid; return 0; }
    zbx_alive "$pid" php || zbx_die "PHP server exited; see $s/logs/php.log"
    sleep 0.1
  done
  zbx_die "API not answering on $url after 30 s; see $s/logs/php.log"
}

# zbx_api_stop STATE_DIR: stop the PHP server's process group (no-op if not running).
zbx_api_stop() {
  local s="$1" pgid
  pgid=$(cat "$s/run/php.pid" 2>/dev/null) || return 0
  zbx_stop_group php "$pgid" TERM 10
}

# zbx_set_env STATE_DIR KEY VALUE: replace (or add) one KEY=VALUE line of STATE_DIR/env.
zbx_set_env() {
  local f="$1/env" tmp
  tmp=$(mktemp "$1/.env.XXXXXX")
  { grep -v "^$2=" "$f" 2>/dev/null || true; echo "$2=$3"; } >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$f"
}
