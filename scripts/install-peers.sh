#!/usr/bin/env bash
# Installs the real peers the tests run against, from Debian's packages, without starting their
# services (a temporary policy-rc.d refuses every start; the tests start what they need on loopback).
set -euo pipefail

packages=(prometheus prometheus-node-exporter prometheus-alertmanager prometheus-pushgateway curl python3 openssl chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-peers: all present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
echo "install-peers: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$created_policy" -eq 0 ] || $SUDO rm -f "$policy"
# Debian's postinst may still have started daemons where no policy layer applies; stop them so
# the tests own every port they use.
for d in prometheus prometheus-node-exporter prometheus-alertmanager prometheus-pushgateway; do
  pkill -x "$d" 2>/dev/null || true
done
echo "install-peers: done"
