package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Runtime is the [runtime] table: how the Go runtime trades memory for
// garbage-collection CPU. Environment variables GOGC and GOMEMLIMIT, when
// set, win over it, as they do for every Go program.
type Runtime struct {
	// GOGC is the garbage collector's target, in percent: a collection
	// starts when the heap has grown this much since the last one. The
	// daemon's heap is mostly sample rings, long-lived byte buffers the
	// collector does not scan, so a low target costs little CPU and saves
	// a third of the memory the Go default (100) holds. Default 50,
	// between 10 and 1000.
	GOGC int `toml:"gogc"`
	// MemoryLimit is a soft limit on the Go runtime's memory: "auto"
	// (default) sets 90 % of the cgroup's memory limit (none when the
	// daemon runs without one), "off" sets none, or a size: bytes, or a
	// number with KiB, MiB or GiB. Near the limit the collector runs more
	// often instead of letting the heap grow past it.
	MemoryLimit string `toml:"memory_limit"`
}

// Defaults of [runtime].
const (
	DefaultGOGC        = 50
	MemoryLimitAuto    = "auto"
	MemoryLimitOff     = "off"
	minMemoryLimit     = 64 << 20
	DefaultMemoryRatio = 0.9 // of the cgroup's limit, for "auto"
)

func defaultRuntime() Runtime {
	return Runtime{GOGC: DefaultGOGC, MemoryLimit: MemoryLimitAuto}
}

// MemoryLimitBytes is memory_limit as a number of bytes; 0 for "auto" and
// "off", which the caller tells apart by MemoryLimit itself.
func (rt *Runtime) MemoryLimitBytes() int64 {
	n, _ := parseSize(rt.MemoryLimit)
	return n
}

func (rt *Runtime) validate(r *report, p keyPath) {
	intRange(r, p.key("gogc"), rt.GOGC, 10, 1000)
	switch rt.MemoryLimit {
	case MemoryLimitAuto, MemoryLimitOff:
		return
	}
	n, err := parseSize(rt.MemoryLimit)
	switch {
	case err != nil:
		r.invalid(p.key("memory_limit"), `must be "auto", "off" or a size such as "4GiB": %v`, err)
	case n < minMemoryLimit:
		r.invalid(p.key("memory_limit"), "must be at least 64MiB, got %q", rt.MemoryLimit)
	}
}

// parseSize reads "4096", "512KiB", "256MiB" or "4GiB" (binary units, an
// integer count).
func parseSize(s string) (int64, error) {
	num, shift := s, 0
	for _, u := range []struct {
		suffix string
		shift  int
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = strings.TrimSpace(v), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive whole number of bytes, KiB, MiB, GiB or TiB", s)
	}
	if n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n << shift, nil
}
