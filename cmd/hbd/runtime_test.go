package main

import (
	"errors"
	"math"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/hbd-project/hbd/config"
)

func TestApplyRuntime(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(gc); debug.SetMemoryLimit(limit) })

	ratio := config.DefaultMemoryRatio
	cgroup := func(n uint64, err error) memlimit.Provider {
		return func() (uint64, error) { return n, err }
	}
	for _, tc := range []struct {
		name      string
		rt        config.Runtime
		provider  memlimit.Provider
		wantLimit int64
		wantFrom  string
		wantErr   bool
	}{
		{"cgroup limit", config.Runtime{GOGC: 50, MemoryLimit: "auto"}, cgroup(1<<30, nil), int64(ratio * (1 << 30)), "cgroup", false},
		{"no cgroup limit", config.Runtime{GOGC: 60, MemoryLimit: "auto"}, cgroup(0, memlimit.ErrNoLimit), math.MaxInt64, "none", false},
		{"cgroup unreadable", config.Runtime{GOGC: 60, MemoryLimit: "auto"}, cgroup(0, errors.New("no mountinfo")), math.MaxInt64, "none", true},
		{"off", config.Runtime{GOGC: 70, MemoryLimit: "off"}, cgroup(1<<30, nil), math.MaxInt64, "none", false},
		{"size", config.Runtime{GOGC: 80, MemoryLimit: "3GiB"}, cgroup(1<<30, nil), 3 << 30, "config", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(123 << 20) // a value each case must replace
			got, err := applyRuntime(tc.rt, tc.provider)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got.MemoryLimit != tc.wantLimit || got.LimitFrom != tc.wantFrom {
				t.Errorf("limit %d from %s, want %d from %s", got.MemoryLimit, got.LimitFrom, tc.wantLimit, tc.wantFrom)
			}
			if now := debug.SetMemoryLimit(-1); now != tc.wantLimit {
				t.Errorf("the runtime's limit is %d, want %d", now, tc.wantLimit)
			}
			if now := debug.SetGCPercent(-1); now != tc.rt.GOGC || got.GOGC != tc.rt.GOGC {
				t.Errorf("GOGC is %d (reported %d), want %d", now, got.GOGC, tc.rt.GOGC)
			}
		})
	}

	t.Run("environment wins", func(t *testing.T) {
		t.Setenv("GOGC", "70")
		t.Setenv("GOMEMLIMIT", "512MiB")
		debug.SetGCPercent(70) // what the runtime read from GOGC at start
		debug.SetMemoryLimit(512 << 20)
		got, err := applyRuntime(config.Runtime{GOGC: 30, MemoryLimit: "2GiB"}, cgroup(1<<30, nil))
		if err != nil {
			t.Fatal(err)
		}
		if got.GOGC != 70 || got.GOGCFrom != "GOGC" || got.MemoryLimit != 512<<20 || got.LimitFrom != "GOMEMLIMIT" {
			t.Errorf("got %+v, want the environment's GOGC 70 and GOMEMLIMIT 512 MiB", got)
		}
		if now := debug.SetGCPercent(-1); now != 70 {
			t.Errorf("GOGC is %d, want 70", now)
		}
	})
}
