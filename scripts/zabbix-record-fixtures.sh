#!/usr/bin/env bash
# zabbix-record-fixtures.sh STATE_DIR [OUT_DIR]: re-record the Zabbix API fixtures used by unit
# tests (default OUT_DIR tests/fixtures/zabbix) from a peer started by zabbix-up.sh STATE_DIR.
# Best right after zabbix-up.sh, while some items still have no value (lastclock "0").
set -euo pipefail
# shellcheck source=scripts/zabbix-lib.sh
. "$(dirname "$0")/zabbix-lib.sh"
S=$(zbx_state_dir "${1:-}")
zbx_load_env "$S" || zbx_die "no $S/env: run zabbix-up.sh $S first"
exec php "$ZBX_SCRIPTS_DIR/zabbix-rpc.php" record "$ZABBIX_URL" "${2:-$ZBX_SCRIPTS_DIR/../tests/fixtures/zabbix}"
