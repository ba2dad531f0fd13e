package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/config"
	"github.com/hbd-project/hbd/internal/statefile"
)

// stateConfig is the durable state's configuration, or nil when [state]
// is disabled.
func stateConfig(cfg *config.Daemon) *actors.StateConfig {
	if !cfg.State.Enabled {
		return nil
	}
	return &actors.StateConfig{Dir: cfg.StateDir(), Every: cfg.State.CheckpointInterval.Duration}
}

// checkState reports what the state directory holds and whether it is
// intact, changing nothing. It returns the exit code: 0 when every file is
// usable, 1 when some are not (the daemon would skip them) or the
// directory cannot be read.
func checkState(cfg *config.Daemon, out io.Writer, now time.Time) int {
	dir := cfg.StateDir()
	st, err := statefile.Check(dir)
	if err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	fmt.Fprintf(out, "state directory %s (format version %d; versions %d to %d are read)\n", dir, statefile.Version, statefile.MinVersion, statefile.Version)
	if !cfg.State.Enabled {
		fmt.Fprintln(out, "note: [state] enabled = false, so the daemon neither reads nor writes it")
	}
	files := st.Deltas
	if st.Snapshot != nil {
		files = append([]statefile.File{*st.Snapshot}, files...)
	}
	if len(files) == 0 && len(st.Problems) == 0 {
		fmt.Fprintln(out, "no state saved yet: the daemon starts with no hosts")
		return 0
	}
	for _, f := range files {
		fmt.Fprintf(out, "  %-28s %-8s written %s (%s ago)  %d hosts  %s  intact\n",
			filepath.Base(f.Path), f.Header.Kind, f.Header.Created.UTC().Format("2006-01-02 15:04:05 MST"),
			now.Sub(f.Header.Created).Round(100*time.Millisecond), f.Records, humanBytes(f.Size))
	}
	for _, p := range st.Problems {
		fmt.Fprintf(out, "  %-28s NOT USABLE: %v\n", filepath.Base(p.Path), p.Err)
	}
	firing := 0
	for _, hr := range st.Hosts {
		for _, a := range hr.Records[len(hr.Records)-1].Host.Alerts {
			if a.Level != 0 {
				firing++
			}
		}
	}
	snap, deltas := st.Bytes()
	age := "none usable"
	if !st.Newest.IsZero() {
		age = now.Sub(st.Newest).Round(100 * time.Millisecond).String()
	}
	fmt.Fprintf(out, "a start restores %d hosts, %d samples (before each ring keeps its newest `history`), %d alerts (%d firing); %s on disk; checkpoint age %s\n",
		len(st.Hosts), st.Samples, st.Alerts, firing, humanBytes(snap+deltas), age)
	if len(st.Problems) > 0 {
		fmt.Fprintf(out, "%d file(s) cannot be used: the daemon will set them aside (see above) and start without them\n", len(st.Problems))
		return 1
	}
	return 0
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
