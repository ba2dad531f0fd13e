package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestResolveMode(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		mode    string
		errPart string
		check   func(t *testing.T, o *options)
	}{
		{name: "plain load", args: []string{"load", "-hosts", "5"}, mode: "load"},
		{name: "scenario alone picks the mode", args: []string{"-scenario", "fleet-100k"}, mode: "load",
			check: func(t *testing.T, o *options) {
				if o.hosts != 100000 || o.wsClients != 20 || o.httpRPS != 2000 || o.duration != 2*time.Minute || o.sampleInterval != 30*time.Second {
					t.Errorf("fleet-100k presets not applied: %+v", o)
				}
			}},
		{name: "explicit flag beats the preset", args: []string{"load", "-scenario", "fleet-100k", "-hosts", "500"}, mode: "load",
			check: func(t *testing.T, o *options) {
				if o.hosts != 500 || o.wsClients != 20 {
					t.Errorf("hosts %d, ws clients %d; want 500 and the preset 20", o.hosts, o.wsClients)
				}
			}},
		{name: "max is a ramp", args: []string{"ramp", "-scenario", "max"}, mode: "max",
			check: func(t *testing.T, o *options) {
				if o.hosts != 10000 || o.start != 50000 || o.step != 25000 || o.stepDuration != 10*time.Second {
					t.Errorf("max presets not applied: %+v", o)
				}
			}},
		{name: "memory", args: []string{"-scenario", "memory"}, mode: "memory",
			check: func(t *testing.T, o *options) {
				if o.hosts != 20000 || o.plugins != 4 || o.history != 100 {
					t.Errorf("memory presets not applied: %+v", o)
				}
			}},
		{name: "sink", args: []string{"sink", "-self", "-duration", "1s"}, mode: "sink"},
		{name: "scenario of another subcommand", args: []string{"ramp", "-scenario", "fleet-100k"}, errPart: "is a load run"},
		{name: "sink has no scenarios", args: []string{"sink", "-scenario", "max"}, errPart: "is a ramp run"},
		{name: "unknown scenario", args: []string{"-scenario", "huge"}, errPart: "unknown scenario"},
		{name: "unknown subcommand", args: []string{"blast"}, errPart: "unknown subcommand"},
		{name: "nothing to do", args: []string{"-hosts", "3"}, errPart: "need a subcommand"},
		{name: "flag of another mode", args: []string{"load", "-start", "1000"}, errPart: "-start is not used by load"},
		{name: "sink does not take hosts", args: []string{"sink", "-hosts", "3"}, errPart: "-hosts is not used by sink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o options
			var stderr bytes.Buffer
			fl := newFlagSet(&o, &stderr)
			sub, args := "", tt.args
			if !strings.HasPrefix(args[0], "-") {
				sub, args = args[0], args[1:]
			}
			if err := fl.Parse(args); err != nil {
				t.Fatal(err)
			}
			mode, err := resolveMode(sub, &o, fl)
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("error %v, want one containing %q", err, tt.errPart)
				}
				return
			}
			if err != nil || mode != tt.mode {
				t.Fatalf("mode %q, error %v; want %q", mode, err, tt.mode)
			}
			if tt.check != nil {
				tt.check(t, &o)
			}
		})
	}
}

func TestRunRefuses(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "hbd.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		errPart string
	}{
		{"remote target", []string{"load", "-addr", "192.0.2.1:50003", "-key", key, "-duration", "1s"}, 1, "not a loopback address"},
		{"remote HTTP", []string{"load", "-addr", "127.0.0.1:50003", "-http", "http://192.0.2.1:50004", "-key", key, "-duration", "1s"}, 1, "not on a loopback address"},
		{"no duration", []string{"load", "-addr", "127.0.0.1:50003", "-key", key}, 1, "-duration"},
		{"over an hour", []string{"load", "-addr", "127.0.0.1:50003", "-key", key, "-duration", "2h"}, 1, "-duration"},
		{"no key", []string{"load", "-addr", "127.0.0.1:50003", "-duration", "1s"}, 1, "-key"},
		{"bad key file", []string{"load", "-addr", "127.0.0.1:50003", "-key", filepath.Join(dir, "none"), "-duration", "1s"}, 1, "key file"},
		{"no address", []string{"load", "-key", key, "-duration", "1s"}, 1, "-addr"},
		{"usage error", []string{"load", "-no-such-flag"}, 2, "no-such-flag"},
		{"ramp without metrics", []string{"ramp", "-addr", "127.0.0.1:50003", "-key", key}, 1, "-http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.errPart) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.errPart)
			}
		})
	}
}

// TestRunSink runs the real command end to end on loopback: a short sink
// with its own sender, and the JSON report scripts read.
func TestRunSink(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sink.json")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"sink", "-self", "-duration", "300ms", "-quiet", "-json", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "offered_per_s", "accepted_per_s", "loss_pct", "daemon_cpu_s_per_million",
		"rss_bytes", "bytes_per_host", "bytes_per_sample", "e2e_ms", "api_ms", "ws_cut_off", "sink_per_s"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if v, ok := rep["sink_per_s"].(float64); !ok || v <= 0 {
		t.Errorf("sink_per_s = %v", rep["sink_per_s"])
	}
	if rep["scenario"] != "sink" || rep["loss_pct"] != nil {
		t.Errorf("scenario %v, loss_pct %v", rep["scenario"], rep["loss_pct"])
	}
	if !strings.Contains(stdout.String(), "datagrams/s") {
		t.Errorf("no table on stdout: %q", stdout.String())
	}
}
