package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/hbd-project/hbd/config"
)

// goRuntime is what applyRuntime set, for the start-up log.
type goRuntime struct {
	GOGC        int
	GOGCFrom    string // "config" or "GOGC"
	MemoryLimit int64  // bytes; math.MaxInt64 = none
	LimitFrom   string // "config", "cgroup", "GOMEMLIMIT" or "none"
}

// applyRuntime sets the garbage collector's target and the soft memory
// limit from [runtime], unless the environment sets them (GOGC,
// GOMEMLIMIT), as for any Go program. limitOf reports the cgroup's memory
// limit for memory_limit = "auto" (memlimit.FromCgroup in the daemon).
func applyRuntime(rt config.Runtime, limitOf memlimit.Provider) (goRuntime, error) {
	got := goRuntime{GOGC: rt.GOGC, GOGCFrom: "config"}
	if v := os.Getenv("GOGC"); v != "" {
		got.GOGC, got.GOGCFrom = debug.SetGCPercent(-1), "GOGC"
		debug.SetGCPercent(got.GOGC)
	} else {
		debug.SetGCPercent(rt.GOGC)
	}

	if os.Getenv("GOMEMLIMIT") != "" {
		got.MemoryLimit, got.LimitFrom = debug.SetMemoryLimit(-1), "GOMEMLIMIT"
		return got, nil
	}
	var err error
	got.MemoryLimit, got.LimitFrom = math.MaxInt64, "none"
	switch rt.MemoryLimit {
	case config.MemoryLimitOff:
	case config.MemoryLimitAuto:
		n, cerr := limitOf()
		switch {
		case errors.Is(cerr, memlimit.ErrNoLimit):
		case cerr != nil:
			// Not fatal: the daemon runs as it would without a limit.
			err = fmt.Errorf("cannot read the cgroup's memory limit for [runtime] memory_limit = \"auto\": %w", cerr)
		default:
			got.MemoryLimit, got.LimitFrom = int64(float64(min(n, math.MaxInt64))*config.DefaultMemoryRatio), "cgroup"
		}
	default:
		got.MemoryLimit, got.LimitFrom = rt.MemoryLimitBytes(), "config"
	}
	debug.SetMemoryLimit(got.MemoryLimit)
	return got, err
}

// logRuntime says what applyRuntime set.
func logRuntime(log *slog.Logger, got goRuntime, err error) {
	if err != nil {
		log.Warn("memory limit not set", "err", err)
	}
	limit := "none"
	if got.MemoryLimit != math.MaxInt64 {
		limit = fmt.Sprintf("%d MiB", got.MemoryLimit>>20)
	}
	log.Info("go runtime", "gogc", got.GOGC, "gogc_from", got.GOGCFrom, "memory_limit", limit, "memory_limit_from", got.LimitFrom)
}
