package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
)

// partitionSample is one mount point's entry in disk_monitor.
type partitionSample struct {
	Percent float64 `json:"percent"`
	UsedGB  float64 `json:"used_gb"`
	FreeGB  float64 `json:"free_gb"`
	TotalGB float64 `json:"total_gb"`
	Fstype  string  `json:"fstype"`
	Device  string  `json:"device"`
}

// diskIOSample is one block device's entry under disk_monitor's "io".
// Counters are cumulative since boot; the rates cover the time since the
// previous Collect and are absent when there is none.
type diskIOSample struct {
	ReadBytes      uint64   `json:"read_bytes"`
	WriteBytes     uint64   `json:"write_bytes"`
	ReadCount      uint64   `json:"read_count"`
	WriteCount     uint64   `json:"write_count"`
	ReadBytesPerS  *float64 `json:"read_bytes_per_s,omitempty"`
	WriteBytesPerS *float64 `json:"write_bytes_per_s,omitempty"`
}

// diskIOKey is the key of the I/O object inside disk_monitor. It cannot
// clash with a mount point: those start with "/" (Unix) or a drive letter
// (Windows).
const diskIOKey = "io"

// isImageFstype reports whether fstype is a read-only image filesystem
// (snap packages, live media). Those are always 100 % full by construction,
// so reporting them would only trip every disk-usage alert.
func isImageFstype(fstype string) bool {
	switch fstype {
	case "squashfs", "erofs", "iso9660", "cramfs":
		return true
	}
	return false
}

// diskCollector is disk_monitor. Its state (prevIO, prevAt) belongs to
// Collect: it is not safe for concurrent Collect calls.
type diskCollector struct {
	now        func() time.Time
	partitions func(ctx context.Context) ([]disk.PartitionStat, error)
	usage      func(ctx context.Context, path string) (*disk.UsageStat, error)
	ioCounters func(ctx context.Context) (map[string]disk.IOCountersStat, error)

	prevIO map[string]disk.IOCountersStat
	prevAt time.Time
}

// NewDisk returns the disk_monitor collector. Its object has one entry per
// mounted physical filesystem, keyed by mount point ({"percent", "used_gb",
// "free_gb", "total_gb", "fstype", "device"}; free is what unprivileged users
// may still use), and "io": per block device {"read_bytes", "write_bytes",
// "read_count", "write_count", "read_bytes_per_s", "write_bytes_per_s"}.
// Pseudo filesystems (proc, tmpfs, cgroup ...) and read-only images
// (squashfs ...) are left out, as are loop and RAM block devices, whose I/O
// is already counted on the device backing them or is not disk I/O at all.
// If the I/O counters cannot be read, "io" is omitted and the usage is still
// reported.
func NewDisk() Collector {
	return &diskCollector{
		now: time.Now,
		partitions: func(ctx context.Context) ([]disk.PartitionStat, error) {
			return disk.PartitionsWithContext(ctx, false)
		},
		usage: disk.UsageWithContext,
		ioCounters: func(ctx context.Context) (map[string]disk.IOCountersStat, error) {
			return disk.IOCountersWithContext(ctx)
		},
	}
}

func (d *diskCollector) Name() string { return "disk_monitor" }

func (d *diskCollector) Collect(ctx context.Context) ([]byte, error) {
	parts, err := d.partitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("disk_monitor: cannot list partitions: %w", err)
	}
	out := make(map[string]any, len(parts)+1)
	var firstErr error
	failed := 0
	for _, p := range parts {
		if isImageFstype(p.Fstype) {
			continue
		}
		u, err := d.usage(ctx, p.Mountpoint)
		if err != nil {
			// One unreadable mount (permissions, a vanished USB key) must not
			// hide the others; only fail when nothing could be read.
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("disk_monitor: cannot read usage of %s: %w", p.Mountpoint, err)
			}
			continue
		}
		// A later line for the same mount point is a mount on top of the
		// earlier one; it is what statfs saw, so it wins.
		out[p.Mountpoint] = partitionSample{
			Percent: round2(u.UsedPercent),
			UsedGB:  toGB(u.Used),
			FreeGB:  toGB(u.Free),
			TotalGB: toGB(u.Total),
			Fstype:  p.Fstype,
			Device:  p.Device,
		}
	}
	if failed > 0 && len(out) == 0 {
		return nil, firstErr
	}

	if io, err := d.ioCounters(ctx); err == nil {
		now := d.now()
		out[diskIOKey] = diskIO(d.prevIO, io, now.Sub(d.prevAt))
		d.prevIO, d.prevAt = io, now
	}
	return json.Marshal(out)
}

// diskIO builds the "io" object from the current counters and, when prev
// is not nil, the counters elapsed earlier.
func diskIO(prev, cur map[string]disk.IOCountersStat, elapsed time.Duration) map[string]diskIOSample {
	io := make(map[string]diskIOSample, len(cur))
	for name, c := range cur {
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		s := diskIOSample{
			ReadBytes:  c.ReadBytes,
			WriteBytes: c.WriteBytes,
			ReadCount:  c.ReadCount,
			WriteCount: c.WriteCount,
		}
		if p, ok := prev[name]; ok {
			s.ReadBytesPerS = optRate(p.ReadBytes, c.ReadBytes, elapsed)
			s.WriteBytesPerS = optRate(p.WriteBytes, c.WriteBytes, elapsed)
		}
		io[name] = s
	}
	return io
}
