package plugins

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/shirou/gopsutil/v4/mem"
)

// memorySample is the memory_monitor data object.
type memorySample struct {
	Percent     float64    `json:"percent"`
	AvailableMB float64    `json:"available_mb"`
	TotalMB     float64    `json:"total_mb"`
	UsedMB      float64    `json:"used_mb"`
	Swap        swapSample `json:"swap"`
}

type swapSample struct {
	Percent float64 `json:"percent"`
	UsedMB  float64 `json:"used_mb"`
	TotalMB float64 `json:"total_mb"`
}

// memoryCollector is memory_monitor. It keeps no state, so unlike the other
// collectors it happens to be safe for concurrent use.
type memoryCollector struct{}

// NewMemory returns the memory_monitor collector: {"percent",
// "available_mb", "total_mb", "used_mb", "swap": {"percent", "used_mb",
// "total_mb"}}. percent is the share of RAM in use (not available); a host
// without swap reports zeros under "swap".
func NewMemory() Collector { return memoryCollector{} }

func (memoryCollector) Name() string { return "memory_monitor" }

func (memoryCollector) Collect(ctx context.Context) ([]byte, error) {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("memory_monitor: cannot read memory usage: %w", err)
	}
	sw, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("memory_monitor: cannot read swap usage: %w", err)
	}
	s := memorySample{
		Percent:     round2(vm.UsedPercent),
		AvailableMB: toMB(vm.Available),
		TotalMB:     toMB(vm.Total),
		UsedMB:      toMB(vm.Used),
		Swap: swapSample{
			Percent: round2(sw.UsedPercent),
			UsedMB:  toMB(sw.Used),
			TotalMB: toMB(sw.Total),
		},
	}
	return json.Marshal(&s)
}
