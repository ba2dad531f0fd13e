#!/bin/sh
# preinstall of the hbd and hbd-agent packages (deb: preinst install|upgrade;
# rpm: %pre 1|2). Creates the system user and group hbd that the services
# run as and that owns /etc/hbd/hbd.key and /var/lib/hbd, before the files
# (some of them group hbd) are unpacked. Idempotent: both packages run it,
# and so does every upgrade.
set -e

if ! getent group hbd >/dev/null; then
	groupadd --system hbd
fi
if ! getent passwd hbd >/dev/null; then
	nologin=$(command -v nologin || echo /usr/sbin/nologin)
	useradd --system --gid hbd --home-dir /var/lib/hbd --no-create-home \
		--shell "$nologin" --comment "hbd fleet heartbeat daemon" hbd
fi
exit 0
