package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hbd-project/hbd/config"
)

// usage is the -help text: what hbd does, its flags, and where the
// configuration and the documentation are, from source and from a package.
func usage(w io.Writer, fl *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: hbd [flags]

hbd is the fleet heartbeat daemon. It receives the signed heartbeats and
plugin samples that hbd-agent sends over UDP (port %d), keeps every host's
liveness (UP, DEGRADED, SUSPECT, DOWN, UNREACHABLE, STOPPED), its recent samples and its alerts,
notifies through [[notify]] channels, writes a journal, and serves the fleet
as a JSON API and web pages (port %d) and a WebSocket stream (port %d).
Channel types: %s.

Without -config it runs on the built-in defaults: data and the fleet key in
$HBD_DATA_DIR, else /var/lib/hbd as root, else ~/.local/state/hbd; the key
(hbd.key) is created on first start. SIGINT or SIGTERM stops it cleanly and
saves its state.

Flags:
`, config.DefaultUDPPort, config.DefaultHBDPort, config.DefaultWSPort, strings.Join(config.NotifyTypes(), ", "))
	out := fl.Output()
	fl.SetOutput(w)
	fl.PrintDefaults()
	fl.SetOutput(out)
	fmt.Fprint(w, `
Configuration:
  Every key with its default and an explanation is in config/example/hbd.toml
  of the source tree; the packages install it as /etc/hbd/hbd.toml, which the
  systemd unit (hbd.service) uses. Check a file before using it:
      hbd -check-config -config /etc/hbd/hbd.toml

Documentation:
  README.md and docs/ of the source tree (installed in /usr/share/doc/hbd):
  docs/INSTALL.md (packages, container, systemd, firewall ports, handing the
  key to agents), docs/ALERTING.md, docs/SECURITY.md, docs/STATE.md.
`)
}
