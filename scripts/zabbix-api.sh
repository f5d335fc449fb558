#!/usr/bin/env bash
# zabbix-api.sh STATE_DIR stop|start|status: stop or restart ONLY the frontend API (PHP's built-in
# server) of a peer started by zabbix-up.sh STATE_DIR, for "API down, then recovers" tests.
# zabbix_server, the agent and PostgreSQL keep running, so items keep getting values meanwhile.
#   stop    stops the PHP server's process group; the API port then refuses connections
#   start   starts it again on the same port and returns once apiinfo.version answers (~0.2 s)
#   status  prints "up URL" or "down URL"; exit 0 if up, 3 if down
set -euo pipefail
# shellcheck source=scripts/zabbix-lib.sh
. "$(dirname "$0")/zabbix-lib.sh"

S=$(zbx_state_dir "${1:-}")
zbx_load_env "$S" || zbx_die "no $S/env: run zabbix-up.sh $S first"
URL="http://127.0.0.1:$ZBX_API_PORT/api_jsonrpc.php"

case "${2:-}" in
  stop)
    zbx_api_stop "$S"
    zbx_set_env "$S" ZBX_API_PID ""
    zbx_log "API stopped ($URL)"
    ;;
  start)
    if [ -n "$(zbx_group_live "$(cat "$S/run/php.pid" 2>/dev/null)")" ] && zbx_rpc_ok "$URL"; then
      zbx_log "API already running ($URL)"
      exit 0
    fi
    zbx_api_stop "$S"
    zbx_api_start "$S" "$ZBX_API_PORT"
    zbx_set_env "$S" ZBX_API_PID "$ZBX_API_PID"
    zbx_log "API up again ($URL, pid $ZBX_API_PID)"
    ;;
  status)
    if zbx_rpc_ok "$URL"; then echo "up $URL"; else echo "down $URL"; exit 3; fi
    ;;
  *)
    zbx_die "usage: $(basename "$0") STATE_DIR stop|start|status"
    ;;
esac
