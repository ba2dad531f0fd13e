#!/bin/sh
# preremove of the hbd-agent package: stops and disables the agent when the
# package goes away (deb: remove; rpm: 0), not on an upgrade. Stopping it
# sends its shutdown notice, so the daemons show STOPPED, not DOWN.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop hbd-agent.service || true
	fi
	if command -v systemctl >/dev/null; then
		systemctl --no-reload disable hbd-agent.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
