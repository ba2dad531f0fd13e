#!/bin/sh
# postremove of the hbd package (deb: postrm remove|purge|upgrade|...; rpm:
# %postun 0 on erase, 1 on upgrade).
#
# remove (and rpm's erase) keeps what the daemon knows: /var/lib/hbd (state,
# journal), /etc/hbd/hbd.key and an edited /etc/hbd/hbd.toml, so that a
# reinstall carries on. Only a deb purge deletes them. The user hbd stays
# (files it owned may remain, e.g. on backups), as Debian advises.
set -e
case "$1" in
purge)
	rm -rf /var/lib/hbd
	# The key is shared with hbd-agent on the same machine: kept while
	# that is installed or has its config files left.
	if ! dpkg-query -W -f='${db:Status-Abbrev}' hbd-agent 2>/dev/null | grep -q '^.[ic]'; then
		rm -f /etc/hbd/hbd.key
	fi
	rmdir /etc/hbd 2>/dev/null || true
	;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
exit 0
