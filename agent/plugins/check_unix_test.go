//go:build unix

package plugins

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// monitoringPlugins is where Debian's monitoring-plugins-basic installs
// the checks (.ci/run installs it).
const monitoringPlugins = "/usr/lib/nagios/plugins"

// realCheck returns the path of a monitoring-plugins check, skipping the
// test when it is not installed, except under CI, where it must be.
func realCheck(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(monitoringPlugins, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing under CI (.ci/run installs monitoring-plugins-basic): %v", p, err)
		}
		t.Skipf("%s is not installed (apt-get install monitoring-plugins-basic; CI installs it): %v", p, err)
	}
	return p
}

// checkSample is a check's sample as the daemon reads it.
type checkSample struct {
	Status     int                           `json:"status"`
	StatusText string                        `json:"status_text"`
	Output     string                        `json:"output"`
	Perfdata   map[string]map[string]float64 `json:"perfdata"`
}

func collectCheck(t *testing.T, argv ...string) checkSample {
	t.Helper()
	c := NewCheck("check", argv, 10*time.Second)
	data, err := c.Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect(%q): %v", argv, err)
	}
	if !strings.HasPrefix(string(data), `{"status":`) {
		t.Fatalf("sample does not start with status: %s", data)
	}
	var s checkSample
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("sample %s: %v", data, err)
	}
	return s
}

// TestRealCheckLoad runs Debian's check_load with thresholds every load
// passes (WARNING at 0) and none reaches (CRITICAL at 1000).
func TestRealCheckLoad(t *testing.T) {
	s := collectCheck(t, realCheck(t, "check_load"), "-w", "0,0,0", "-c", "1000,1000,1000")
	if s.Status != StatusWarning || s.StatusText != "WARNING" || !strings.HasPrefix(s.Output, "LOAD WARNING") {
		t.Fatalf("got %+v, want a WARNING with its text", s)
	}
	for _, l := range []string{"load1", "load5", "load15"} {
		p, ok := s.Perfdata[l]
		if !ok {
			t.Fatalf("no perfdata %s in %+v", l, s.Perfdata)
		}
		if p["value"] < 0 || p["warn"] != 0 || p["crit"] != 1000 || p["min"] != 0 {
			t.Errorf("%s = %v, want value >= 0, warn 0, crit 1000, min 0", l, p)
		}
	}
}

// TestRealCheckDisk: check_disk's byte counts of / arrive in bytes with
// the thresholds and the size.
func TestRealCheckDisk(t *testing.T) {
	s := collectCheck(t, realCheck(t, "check_disk"), "-w", "0%", "-c", "0%", "-p", "/")
	if s.Status != StatusOK || !strings.HasPrefix(s.Output, "DISK OK") {
		t.Fatalf("got %+v, want DISK OK", s)
	}
	root, ok := s.Perfdata["/"]
	if !ok {
		t.Fatalf("no perfdata for / in %+v", s.Perfdata)
	}
	if root["value_bytes"] <= 0 || root["max_bytes"] < root["value_bytes"] || root["min_bytes"] != 0 {
		t.Errorf("/ = %v, want used bytes > 0 and <= max_bytes", root)
	}
	// 0% free must stay: used may reach the whole disk, so the thresholds
	// are the size.
	if root["warn_bytes"] != root["max_bytes"] {
		t.Errorf("/ warn_bytes %v, want the size %v", root["warn_bytes"], root["max_bytes"])
	}
}

// TestRealCheckProcs: check_procs finds none of a command that does not
// exist and, asked for at least one, is WARNING; its "1:" range is text.
func TestRealCheckProcs(t *testing.T) {
	bin := realCheck(t, "check_procs")
	s := collectCheck(t, bin)
	if s.Status != StatusOK || s.Perfdata["procs"]["value"] < 1 {
		t.Errorf("check_procs: %+v, want OK with procs >= 1", s)
	}
	c := NewCheck("procs", []string{bin, "-w", "1:", "-C", "hbd-no-such-command"}, 10*time.Second)
	data, err := c.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":1,"status_text":"WARNING","output":"PROCS WARNING: 0 processes with command name 'hbd-no-such-command'","perfdata":{"procs":{"value":0,"warn_range":"1:","min":0}}}`
	if string(data) != want {
		t.Errorf("got  %s\nwant %s", data, want)
	}
}

// TestCheckFailures: whatever goes wrong with a check is an UNKNOWN
// sample saying what, never a missing sample.
func TestCheckFailures(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		timeout time.Duration
		status  int
		output  string // a part of the output
	}{
		{"exit status 7", []string{"/bin/sh", "-c", "echo 'ODD - seven'; exit 7"}, 0, StatusUnknown, "(exit status 7 is not a check status) ODD - seven"},
		{"critical", []string{"/bin/sh", "-c", "echo 'CRIT - down | x=1'; exit 2"}, 0, StatusCritical, "CRIT - down"},
		{"missing program", []string{"/nonexistent/check_x"}, 0, StatusUnknown, "(cannot run the check: "},
		{"timeout", []string{"/bin/sh", "-c", "sleep 10"}, 200 * time.Millisecond, StatusUnknown, "(check timed out after 200ms)"},
		{"no output", []string{"/bin/sh", "-c", "echo oops >&2; exit 2"}, 0, StatusCritical, "(no output on stdout) stderr: oops"},
		{"killed by a signal", []string{"/bin/sh", "-c", "kill -9 $$"}, 0, StatusUnknown, "(cannot run the check: signal: killed)"},
	}
	for _, tt := range tests {
		c := NewCheck("c", tt.argv, tt.timeout)
		data, err := c.Collect(context.Background())
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var s checkSample
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatalf("%s: %s: %v", tt.name, data, err)
		}
		if s.Status != tt.status || s.StatusText != StatusText(tt.status) || !strings.Contains(s.Output, tt.output) {
			t.Errorf("%s: got %s, want status %d with %q", tt.name, data, tt.status, tt.output)
		}
	}

	// The agent stopping is no result at all.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if data, err := NewCheck("c", []string{"/bin/sh", "-c", "sleep 10"}, time.Second).Collect(ctx); err == nil {
		t.Errorf("Collect with a cancelled context = %s, want an error", data)
	}
}
