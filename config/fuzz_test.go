package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// addSeeds seeds f with every config file of one kind in testdata and the
// example.
func addSeeds(f *testing.F, kind, example string) {
	files, err := filepath.Glob(filepath.Join("testdata", kind, "*", "*.toml"))
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, example)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkResult holds for both config kinds: a config either loads and
// validates again, or fails with Errors whose every entry is well formed.
func checkResult(t *testing.T, data []byte, err error, revalidate func() error) {
	t.Helper()
	if err == nil {
		if err := revalidate(); err != nil {
			t.Fatalf("parsed config fails validation: %v\ninput:\n%s", err, data)
		}
		return
	}
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error %T %q is not a non-empty Errors", err, err)
	}
	lines := bytes.Count(data, []byte("\n")) + 1
	for _, e := range es {
		if e.File != "fuzz.toml" || e.Msg == "" || e.Line < 0 || e.Line > lines {
			t.Fatalf("malformed error %#v (input has %d lines)", e, lines)
		}
	}
}

func FuzzParseDaemon(f *testing.F) {
	addSeeds(f, "daemon", "example/hbd.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDaemon("fuzz.toml", data)
		checkResult(t, data, err, func() error { return d.Validate() })
	})
}

func FuzzParseAgent(f *testing.F) {
	addSeeds(f, "agent", "example/hbd-agent.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAgent("fuzz.toml", data, testBuiltins)
		checkResult(t, data, err, func() error { return a.Validate() })
	})
}

// FuzzScanKeyLines runs the line scanner on arbitrary bytes, including text
// the TOML parser would reject: it must terminate without panicking and
// report only lines that exist.
func FuzzScanKeyLines(f *testing.F) {
	addSeeds(f, "daemon", "example/hbd.toml")
	addSeeds(f, "agent", "example/hbd-agent.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		for k, l := range scanKeyLines(data) {
			if l < 1 || l > lines {
				t.Fatalf("key %s on line %d of %d", k, l, lines)
			}
		}
	})
}
