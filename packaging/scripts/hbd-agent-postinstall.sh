#!/bin/sh
# postinstall of the hbd-agent package (deb: postinst configure
# [OLD-VERSION]; rpm: %post 1 on install, 2 on upgrade).
#
# The agent needs the daemon's fleet key, which this package cannot make:
# it is copied from the daemon (docs/INSTALL.md). So a first install starts
# nothing; an upgrade restarts a running agent on the new binary.
set -e

upgrade=false
case "$1" in
configure) [ -n "$2" ] && upgrade=true ;;
1) ;;
2) upgrade=true ;;
*) exit 0 ;;
esac

if [ ! -e /etc/hbd/hbd.key ]; then
	echo "hbd-agent: copy the daemon's fleet key to /etc/hbd/hbd.key (owner hbd, mode 0600), set servers in /etc/hbd/hbd-agent.toml, then: systemctl enable --now hbd-agent"
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	if $upgrade; then
		systemctl try-restart hbd-agent.service || true
	fi
fi
exit 0
