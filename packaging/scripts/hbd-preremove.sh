#!/bin/sh
# preremove of the hbd package (deb: prerm remove|upgrade|...; rpm: %preun 0
# on erase, 1 on upgrade). Stops and disables the daemon when the package
# goes away, not when it is upgraded.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop hbd.service || true
	fi
	if command -v systemctl >/dev/null; then
		systemctl --no-reload disable hbd.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
