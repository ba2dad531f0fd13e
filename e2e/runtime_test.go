package e2e

import (
	"strings"
	"testing"
)

// TestRuntimeSettings: [runtime] sets the collector's target and the
// memory limit the daemon runs with, and GOGC / GOMEMLIMIT in the
// environment win over it, as /metrics (the Go collector) and the
// start-up log show.
func TestRuntimeSettings(t *testing.T) {
	const oneGiB = "[runtime]\ngogc = 40\nmemory_limit = \"1GiB\"\n"
	for _, tc := range []struct {
		name, config string
		env          []string
		gogc, limit  string // as /metrics prints them; limit "" = not checked
		log          string // in the start-up log; "" = not checked
	}{
		{"config", oneGiB, []string{"GOGC=", "GOMEMLIMIT="}, "40", "1.073741824e+09",
			`gogc=40 gogc_from=config memory_limit="1024 MiB" memory_limit_from=config`},
		{"default", "", []string{"GOGC=", "GOMEMLIMIT="}, "50", "", "gogc=50 gogc_from=config"},
		{"environment", oneGiB, []string{"GOGC=70", "GOMEMLIMIT=512MiB"}, "70", "5.36870912e+08",
			"gogc=70 gogc_from=GOGC memory_limit=\"512 MiB\" memory_limit_from=GOMEMLIMIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemon(t, tc.config)
			d.env = tc.env
			d.start(t)
			_, body := get(t, d.http+"/metrics")
			metric := func(name string) string {
				for line := range strings.Lines(string(body)) {
					if v, ok := strings.CutPrefix(line, name+" "); ok {
						return strings.TrimSpace(v)
					}
				}
				return "(missing)"
			}
			if got := metric("go_gc_gogc_percent"); got != tc.gogc {
				t.Errorf("go_gc_gogc_percent = %s, want %s", got, tc.gogc)
			}
			if got := metric("go_gc_gomemlimit_bytes"); tc.limit != "" && got != tc.limit {
				t.Errorf("go_gc_gomemlimit_bytes = %s, want %s", got, tc.limit)
			}
			if out := d.out.String(); !strings.Contains(out, tc.log) {
				t.Errorf("the start-up log does not say %q:\n%s", tc.log, out)
			}
		})
	}
}
