#!/bin/sh
# postinstall of the hbd package (deb: postinst configure [OLD-VERSION];
# rpm: %post 1 on install, 2 on upgrade).
#
# It creates the data directory and, on first install, the fleet key, and
# restarts a running daemon after an upgrade. It neither enables nor starts
# hbd on a first install: the packaged config listens on every interface
# with an open read API, and the operator decides when (docs/INSTALL.md,
# `systemctl enable --now hbd`), as RPM distributions do for every service.
set -e

upgrade=false
case "$1" in
configure) [ -n "$2" ] && upgrade=true ;;
1) ;;
2) upgrade=true ;;
*) exit 0 ;; # abort-upgrade, abort-remove, ...: nothing was changed
esac

# data_dir of /etc/hbd/hbd.toml; systemd's StateDirectory=hbd would create
# it too, but hbd -check-state and a start by hand need it now.
install -d -o hbd -g hbd -m 0750 /var/lib/hbd

# The fleet key (key_file of hbd.toml and hbd-agent.toml): made once, kept
# by upgrades and reinstalls; only a purge removes it. Agents hold copies.
if [ ! -e /etc/hbd/hbd.key ]; then
	/usr/bin/hbd -new-key /etc/hbd/hbd.key >/dev/null
	chown hbd:hbd /etc/hbd/hbd.key
	echo "hbd: created the fleet key /etc/hbd/hbd.key; copy it to every agent (see /usr/share/doc/hbd/INSTALL.md)"
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	if $upgrade; then
		# Only if it runs: the new binary takes over, its state saved on
		# the stop and restored on the start (docs/STATE.md).
		systemctl try-restart hbd.service || true
	else
		echo "hbd: review /etc/hbd/hbd.toml, then: systemctl enable --now hbd"
	fi
fi
exit 0
