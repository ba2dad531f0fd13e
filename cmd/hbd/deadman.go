package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/config"
	hbdhttp "github.com/hbd-project/hbd/http"
	"github.com/hbd-project/hbd/internal/deadman"
	"github.com/hbd-project/hbd/transport/wire"
)

// startDeadman starts the [deadman] pings; without that table it returns
// nil, whose Stop does nothing. The peer gets the key it would expect
// from an agent of that name: its host_keys entry, else the fleet key.
func startDeadman(cfg *config.Daemon, log *slog.Logger) (*deadman.Deadman, error) {
	dm := cfg.Deadman
	if !dm.Enabled() {
		return nil, nil
	}
	opt := deadman.Options{
		URL: dm.URL, Method: dm.Method, Interval: dm.Interval.Duration, Timeout: dm.Timeout.Duration,
		Clock: actors.RealClock{}, Logger: log.With("component", "deadman"),
	}
	if dm.Peer != "" {
		name := dm.Name
		if name == "" {
			host, err := os.Hostname()
			if err != nil || !wire.ValidName([]byte(host)) {
				return nil, fmt.Errorf("deadman: this machine's host name %q cannot be sent to the peer: set name in [deadman]", host)
			}
			name = host
		}
		keyPath := cfg.ResolvedKeyFile()
		if p, ok := cfg.HostKeys[name]; ok {
			keyPath = p
		}
		key, err := wire.LoadKey(keyPath)
		if err != nil {
			return nil, fmt.Errorf("deadman: %w", err)
		}
		opt.Peer, opt.Name, opt.Key = dm.Peer, name, key
	}
	return deadman.Start(opt)
}

// deadmanCollectors puts the pings' counters on /metrics, when there are
// pings.
func deadmanCollectors(d *deadman.Deadman) []prometheus.Collector {
	if d == nil {
		return nil
	}
	return []prometheus.Collector{hbdhttp.DeadmanCollector(d)}
}
