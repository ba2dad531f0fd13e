#!/usr/bin/env bash
# test-deb.sh DIST: installs the amd64 .deb packages of hbd and hbd-agent
# from DIST (make package) on this machine, checks what they installed and
# that the installed daemon and agent work together as the service user,
# reinstalls (an upgrade keeps the key), removes (keeps the data), and
# purges (removes everything but the user). Needs root and dpkg; CI and
# `make package-test` run it. It changes this machine: only run it where
# installing hbd is fine.
#
# The daemon started here listens on loopback, ports PKG_TEST_PORT..+2
# (default 51090..51092).
set -euo pipefail

dist=${1:?usage: test-deb.sh DIST}
port=${PKG_TEST_PORT:-51090}
hbd_deb=$(ls "$dist"/hbd_*_amd64.deb)
agent_deb=$(ls "$dist"/hbd-agent_*_amd64.deb)
[ "$(id -u)" = 0 ] || { echo "test-deb.sh: needs root (dpkg -i)"; exit 1; }

fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
stat_is() { [ "$(stat -c '%U:%G %a' "$1")" = "$2" ] || { echo "     $1 is $(stat -c '%U:%G %a' "$1"), want $2"; return 1; }; }

work=$(mktemp -d)
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# A run that failed half-way may have left them installed.
dpkg --purge hbd-agent hbd >/dev/null 2>&1 || true

echo "== install $hbd_deb $agent_deb"
dpkg -i "$hbd_deb" "$agent_deb"

echo "== what the packages installed"
check "hbd -version names a version and a commit" \
	bash -c '/usr/bin/hbd -version | tee /dev/stderr | grep -q "^hbd version [^u]" && /usr/bin/hbd -version | grep -q "^  commit:     [0-9a-f]\{7,\}"'
check "hbd-agent -version" bash -c '/usr/bin/hbd-agent -version | grep -q "^hbd-agent version [^u]"'
check "hbd -check-config on the installed config" /usr/bin/hbd -check-config -config /etc/hbd/hbd.toml
check "hbd-agent -check-config on the installed config" /usr/bin/hbd-agent -check-config -config /etc/hbd/hbd-agent.toml
check "installed hbd.toml: data_dir is the unit's StateDirectory" grep -q '^data_dir = "/var/lib/hbd"' /etc/hbd/hbd.toml
check "installed configs: key_file is the packaged key" grep -q '^key_file = "/etc/hbd/hbd.key"' /etc/hbd/hbd.toml /etc/hbd/hbd-agent.toml
check "system user hbd exists, without a login shell" bash -c 'getent passwd hbd | grep -q ":/var/lib/hbd:.*nologin$"'
check "the fleet key was created: hbd:hbd 0600" stat_is /etc/hbd/hbd.key "hbd:hbd 600"
check "the key loads (hbd -new-key refuses to replace it)" bash -c '! /usr/bin/hbd -new-key /etc/hbd/hbd.key 2>/dev/null'
check "configs are root:hbd 0640" bash -c 'stat_is() { [ "$(stat -c "%U:%G %a" "$1")" = "$2" ]; }; stat_is /etc/hbd/hbd.toml "root:hbd 640" && stat_is /etc/hbd/hbd-agent.toml "root:hbd 640"'
check "data directory hbd:hbd 0750" stat_is /var/lib/hbd "hbd:hbd 750"
check "units installed" test -f /usr/lib/systemd/system/hbd.service -a -f /usr/lib/systemd/system/hbd-agent.service
check "docs installed" test -s /usr/share/doc/hbd/INSTALL.md -a -s /usr/share/doc/hbd/README.md -a -s /usr/share/doc/hbd-agent/INSTALL.md
check "dpkg knows the configs as conffiles" bash -c 'dpkg-query -W -f="\${Conffiles}" hbd | grep -q /etc/hbd/hbd.toml'
if command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify hbd.service hbd-agent.service" \
		systemd-analyze verify /usr/lib/systemd/system/hbd.service /usr/lib/systemd/system/hbd-agent.service
	# Exposure 0 (locked down) .. 10 (unprotected); systemd 252 rates the
	# units 1.8 and 1.9 ("OK").
	check "systemd-analyze security: exposure at most 2.5" \
		systemd-analyze security --offline=true --threshold=25 /usr/lib/systemd/system/hbd.service /usr/lib/systemd/system/hbd-agent.service
else
	echo "skip systemd-analyze verify: systemd-analyze is not installed"
fi

# The lines the packages depend on, each of which the score above may not
# miss: the user the scripts create, the data_dir of the packaged config.
for d in Type=notify User=hbd StateDirectory=hbd ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
	NoNewPrivileges=yes CapabilityBoundingSet=CAP_NET_ADMIN SystemCallFilter=@system-service Restart=on-failure \
	'ExecStart=/usr/bin/hbd -config /etc/hbd/hbd.toml' 'ExecReload=/bin/kill -HUP $MAINPID'; do
	check "hbd.service has $d" grep -qxF "$d" /usr/lib/systemd/system/hbd.service
done
for d in User=hbd ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= Restart=on-failure \
	'ExecStart=/usr/bin/hbd-agent -config /etc/hbd/hbd-agent.toml'; do
	check "hbd-agent.service has $d" grep -qxF "$d" /usr/lib/systemd/system/hbd-agent.service
done

echo "== the installed daemon and agent, as user hbd, on loopback ports $port..$((port + 2))"
# The installed configs with loopback ports: the key, data_dir and
# everything else as installed.
chmod 755 "$work"
sed -e "s/^hbd_host = .*/hbd_host = \"127.0.0.1\"/" -e "s/^udp_host = .*/udp_host = \"127.0.0.1\"/" \
	-e "s/^udp_port = .*/udp_port = $port/" -e "s/^hbd_port = .*/hbd_port = $((port + 1))/" \
	-e "s/^ws_port = .*/ws_port = $((port + 2))/" /etc/hbd/hbd.toml >"$work/hbd.toml"
sed -e "s/^servers = .*/servers = [\"127.0.0.1:$port\"]/" /etc/hbd/hbd-agent.toml >"$work/hbd-agent.toml"
chmod 644 "$work"/*.toml
# setpriv execs hbd itself (runuser would stay as its parent), so the
# SIGTERM below reaches the daemon and its exit status is the daemon's.
setpriv --reuid=hbd --regid=hbd --init-groups /usr/bin/hbd -config "$work/hbd.toml" >"$work/hbd.log" 2>&1 &
daemon_pid=$!
acked=false
for _ in $(seq 30); do
	if setpriv --reuid=hbd --regid=hbd --init-groups /usr/bin/hbd-agent -config "$work/hbd-agent.toml" -check -check-timeout 1s >"$work/check.out" 2>&1; then
		acked=true
		break
	fi
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.5
done
check "hbd-agent -check gets the daemon's ACK (both read /etc/hbd/hbd.key as hbd)" $acked
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=
check "the daemon stopped cleanly on SIGTERM" test "$status" = 0
check "the daemon wrote its state and journal to /var/lib/hbd as hbd" \
	bash -c 'test -n "$(find /var/lib/hbd/state -type f -user hbd)" && test -n "$(find /var/lib/hbd -maxdepth 1 -name "hbd-journal.jsonl*" -user hbd)"'
if [ "$fails" -gt 0 ]; then
	echo "--- daemon log"; cat "$work/hbd.log"; echo "--- agent -check"; cat "$work/check.out"
fi

echo "== reinstall (as an upgrade does): the key and the state stay"
key_sum=$(sha256sum /etc/hbd/hbd.key)
dpkg -i "$hbd_deb" "$agent_deb" >/dev/null
check "the key is unchanged" test "$(sha256sum /etc/hbd/hbd.key)" = "$key_sum"
check "the state is still there" test -d /var/lib/hbd/state

echo "== remove (not purge): the binaries go, the key, config and state stay"
dpkg --remove hbd-agent hbd >/dev/null
check "binaries and units removed" test ! -e /usr/bin/hbd -a ! -e /usr/bin/hbd-agent -a ! -e /usr/lib/systemd/system/hbd.service
check "key, config and state kept" test -f /etc/hbd/hbd.key -a -f /etc/hbd/hbd.toml -a -d /var/lib/hbd/state

echo "== purge: everything goes but the user"
dpkg --purge hbd-agent hbd >/dev/null
for p in /etc/hbd /var/lib/hbd /usr/bin/hbd /usr/bin/hbd-agent /usr/lib/systemd/system/hbd.service /usr/lib/systemd/system/hbd-agent.service /usr/share/doc/hbd /usr/share/doc/hbd-agent; do
	check "purged: $p" test ! -e "$p"
done
check "dpkg no longer lists them" bash -c '! dpkg-query -W -f="\${db:Status-Abbrev}\n" hbd hbd-agent 2>/dev/null | grep -q "^.[ic]"'

if [ "$fails" -gt 0 ]; then
	echo "test-deb.sh: $fails check(s) failed"
	exit 1
fi
echo "test-deb.sh: every check passed"
