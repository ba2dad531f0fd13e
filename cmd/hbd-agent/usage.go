package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hbd-project/hbd/agent/plugins"
	"github.com/hbd-project/hbd/config"
)

// usage is the -help text: what the agent does, its flags, and where the
// configuration and the documentation are, from source and from a package.
func usage(w io.Writer, fl *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: hbd-agent [flags]

hbd-agent reports this host to one or more hbd daemons: a signed heartbeat
over UDP (to port %d by default, over IPv4 and IPv6) every interval, samples
of its plugins (built in: %s; any command through [[exec]]), and a boot and
a shutdown notice. It needs the daemon's fleet key (key_file), a copy of the
file the daemon created; without one it refuses to start.

Besides running, it can check a config (-check-config), print one sample of
each plugin (-once), check that every daemon answers (-check), or ask the
daemons to silence this host for a while (-silence, e.g. before a reboot).
SIGINT or SIGTERM stops it and tells the daemons (STOPPED, not DOWN).

Flags:
`, config.DefaultUDPPort, strings.Join(plugins.Names(), ", "))
	out := fl.Output()
	fl.SetOutput(w)
	fl.PrintDefaults()
	fl.SetOutput(out)
	fmt.Fprint(w, `
Configuration:
  Every key with its default and an explanation is in
  config/example/hbd-agent.toml of the source tree; the packages install it as
  /etc/hbd/hbd-agent.toml (key_file = "/etc/hbd/hbd.key"), which the systemd
  unit (hbd-agent.service) uses. Check a file before using it:
      hbd-agent -check-config -config /etc/hbd/hbd-agent.toml

Documentation:
  README.md and docs/ of the source tree (installed in /usr/share/doc/hbd-agent):
  docs/INSTALL.md (handing the key to agents, firewall ports, systemd),
  docs/PLUGINS.md (writing an [[exec]] plugin), docs/PROTOCOL.md.
`)
}
