package config

import (
	"strings"
	"time"
)

// State is the [state] table: where and how often the daemon saves what it
// knows of every host (connections, rings, alert states, replay windows),
// so that a restart loses nothing and a crash little.
type State struct {
	// Enabled turns durable host state on; default true. Off, a restart
	// starts with no hosts, as before [state] existed.
	Enabled bool `toml:"enabled"`
	// Dir is the state directory; "" = "state" inside the data directory.
	// Use Daemon.StateDir to open it.
	Dir string `toml:"dir"`
	// CheckpointInterval is how often the changes of every host are
	// written while the daemon runs: a crash (kill -9, power loss) loses at
	// most this much. Default 10s, between 1s and 1h.
	CheckpointInterval Duration `toml:"checkpoint_interval"`
}

// DefaultCheckpointInterval is [state] checkpoint_interval's default.
const DefaultCheckpointInterval = 10 * time.Second

func defaultState() State {
	return State{Enabled: true, CheckpointInterval: Duration{DefaultCheckpointInterval}}
}

func (s *State) validate(r *report, p keyPath) {
	if strings.ContainsRune(s.Dir, 0) {
		r.invalid(p.key("dir"), "must not contain NUL")
	}
	durationRange(r, p.key("checkpoint_interval"), s.CheckpointInterval, time.Second, time.Hour)
}
