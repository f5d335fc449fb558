#!/usr/bin/env bash
# Installs the real peers the tests run against, from Debian's packages, without starting their
# services (a temporary policy-rc.d refuses every start; the tests start what they need on loopback).
set -euo pipefail

packages=(prometheus prometheus-node-exporter prometheus-alertmanager prometheus-pushgateway curl python3 openssl chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The SMTP server the email tests deliver to (PyPI: aiosmtpd, run as `python3 -m aiosmtpd`) and
# the Python Prometheus client whose push_to_gateway the push tests use (PyPI: prometheus-client),
# installed after python3 itself.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pip_install() { # MODULE PACKAGE
  python3 -c "import $1" 2>/dev/null && return 0
  echo "install-peers: installing $2"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
  fi
  python3 -m pip install --quiet "$2" 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages "$2"
}
install_aiosmtpd() {
  pip_install aiosmtpd aiosmtpd
  pip_install prometheus_client prometheus-client
}
if [ ${#missing[@]} -eq 0 ]; then
  install_aiosmtpd
  echo "install-peers: all present"
  exit 0
fi

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
install_aiosmtpd
echo "install-peers: done"
