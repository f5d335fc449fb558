#!/usr/bin/env bash
# zabbix-down.sh STATE_DIR: stop everything zabbix-up.sh STATE_DIR started (PHP API server and its
# workers, zabbix_agentd, zabbix_server, PostgreSQL). Only processes recorded in STATE_DIR are
# signalled, and only if they still carry the expected name. Safe to call twice or on a state
# directory that was never started; the state directory (logs included) is left in place.
set -euo pipefail
# shellcheck source=scripts/zabbix-lib.sh
. "$(dirname "$0")/zabbix-lib.sh"

S=$(zbx_state_dir "${1:-}")
if [ ! -d "$S/run" ]; then
  zbx_log "nothing to stop in $S"
  exit 0
fi

stopped=()
pidof_state() { cat "$S/run/$1.pid" 2>/dev/null || true; }

# PHP: on SIGTERM the parent leaves its workers running, hence the process-group kill.
pgid=$(pidof_state php)
if [ -n "$(zbx_group_live "$pgid")" ]; then
  zbx_api_stop "$S"
  stopped+=("php($pgid)")
fi

# zabbix_server flushes its history cache to the database on SIGTERM: stop it before postgres.
for name in zabbix_agentd zabbix_server; do
  pid=$(pidof_state "$name")
  if zbx_alive "$pid" "$name" || [ -n "$(zbx_group_live "$pid")" ]; then
    zbx_stop_group "$name" "$pid" TERM 60
    stopped+=("$name($pid)")
  fi
done

# PostgreSQL: SIGINT is the fast shutdown. Backends call setsid(), so no group kill; the
# postmaster takes them down.
pid=$(head -n 1 "$S/pg/data/postmaster.pid" 2>/dev/null || pidof_state postgres)
if zbx_alive "$pid" postgres; then
  kill -INT "$pid"
  for ((i = 0; i < 600; i++)); do
    zbx_alive "$pid" postgres || break
    sleep 0.1
  done
  if zbx_alive "$pid" postgres; then
    zbx_log "postgres ($pid) still running after 60 s: immediate shutdown (SIGQUIT)"
    kill -QUIT "$pid" 2>/dev/null || true
    sleep 2
  fi
  stopped+=("postgres($pid)")
fi

if [ -f "$S/env" ]; then
  for k in ZBX_PG_PID ZBX_SERVER_PID ZBX_AGENT_PID ZBX_API_PID; do zbx_set_env "$S" "$k" ""; done
fi
if [ ${#stopped[@]} -gt 0 ]; then
  zbx_log "stopped ${stopped[*]}"
else
  zbx_log "nothing running in $S"
fi
