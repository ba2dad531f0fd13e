#!/bin/sh
# postremove of the hbd-agent package. A deb purge removes the copy of the
# fleet key unless the hbd package (whose key it may be) is still installed
# or has its config files left.
set -e
case "$1" in
purge)
	if ! dpkg-query -W -f='${db:Status-Abbrev}' hbd 2>/dev/null | grep -q '^.[ic]'; then
		rm -f /etc/hbd/hbd.key
	fi
	rmdir /etc/hbd 2>/dev/null || true
	;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
exit 0
