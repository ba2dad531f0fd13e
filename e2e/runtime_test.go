package e2e

import (
	"strings"
	"testing"
)

// TestRuntimeSettings: [runtime] sets the collector's target and the
// memory limit the daemon runs with, and GOGC / GOMEMLIMIT in the
// environment win over it, as /metrics (the Go collector) shows.
func TestRuntimeSettings(t *testing.T) {
	metric := func(t *testing.T, d *daemon, name string) string {
		t.Helper()
		_, body := get(t, d.http+"/metrics")
		for line := range strings.Lines(string(body)) {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("/metrics has no %s", name)
		return ""
	}
	t.Run("config", func(t *testing.T) {
		d := newDaemon(t, "[runtime]\ngogc = 40\nmemory_limit = \"1GiB\"\n")
		d.env = []string{"GOGC=", "GOMEMLIMIT="}
		d.start(t)
		if got := metric(t, d, "go_gc_gogc_percent"); got != "40" {
			t.Errorf("go_gc_gogc_percent = %s, want 40", got)
		}
		if got := metric(t, d, "go_gc_gomemlimit_bytes"); got != "1.073741824e+09" {
			t.Errorf("go_gc_gomemlimit_bytes = %s, want 1 GiB", got)
		}
		if out := d.out.String(); !strings.Contains(out, "gogc=40 gogc_from=config memory_limit=\"1024 MiB\" memory_limit_from=config") {
			t.Errorf("the start-up log does not say what was set:\n%s", out)
		}
	})
	t.Run("default", func(t *testing.T) {
		d := newDaemon(t, "")
		d.env = []string{"GOGC=", "GOMEMLIMIT="}
		d.start(t)
		if got := metric(t, d, "go_gc_gogc_percent"); got != "50" {
			t.Errorf("go_gc_gogc_percent = %s, want the default 50", got)
		}
	})
	t.Run("environment", func(t *testing.T) {
		d := newDaemon(t, "[runtime]\ngogc = 40\nmemory_limit = \"1GiB\"\n")
		d.env = []string{"GOGC=70", "GOMEMLIMIT=512MiB"}
		d.start(t)
		if got := metric(t, d, "go_gc_gogc_percent"); got != "70" {
			t.Errorf("go_gc_gogc_percent = %s, want GOGC's 70", got)
		}
		if got := metric(t, d, "go_gc_gomemlimit_bytes"); got != "5.36870912e+08" {
			t.Errorf("go_gc_gomemlimit_bytes = %s, want GOMEMLIMIT's 512 MiB", got)
		}
	})
}
