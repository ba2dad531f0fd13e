package plugins

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
)

// scriptedDisk is a diskCollector over fixed partitions, usages and a list
// of I/O counter readings, with a fake clock.
func scriptedDisk(t *testing.T, clock *fakeClock, parts []disk.PartitionStat, usage map[string]*disk.UsageStat, io ...map[string]disk.IOCountersStat) *diskCollector {
	t.Helper()
	d := NewDisk().(*diskCollector)
	d.now = clock.now
	d.partitions = func(context.Context) ([]disk.PartitionStat, error) { return parts, nil }
	d.usage = func(_ context.Context, path string) (*disk.UsageStat, error) {
		u, ok := usage[path]
		if !ok {
			return nil, errors.New("permission denied")
		}
		return u, nil
	}
	d.ioCounters = func(context.Context) (map[string]disk.IOCountersStat, error) {
		if len(io) == 0 {
			t.Fatal("collector read I/O counters more often than expected")
		}
		c := io[0]
		io = io[1:]
		if c == nil {
			return nil, errors.New("no diskstats")
		}
		return c, nil
	}
	return d
}

func TestDiskCollectWithRates(t *testing.T) {
	const gb = 1 << 30
	parts := []disk.PartitionStat{
		{Device: "/dev/sda1", Mountpoint: "/", Fstype: "ext4"},
		{Device: "/dev/loop0", Mountpoint: "/snap/core/1", Fstype: "squashfs"},
		{Device: "/dev/sdb1", Mountpoint: "/mnt/locked", Fstype: "xfs"},
		{Device: "/dev/sda2", Mountpoint: "/home", Fstype: "ext4"},
		// Mounted over the first /home: the later mount is the visible one.
		{Device: "/dev/sdc1", Mountpoint: "/home", Fstype: "btrfs"},
	}
	usage := map[string]*disk.UsageStat{
		"/":     {Total: 100 * gb, Used: 40 * gb, Free: 55 * gb, UsedPercent: 42.105263},
		"/home": {Total: 2 * gb, Used: gb / 2, Free: 3 * gb / 2, UsedPercent: 25},
		// /snap/core/1 would be 100 % full; it must not even be asked.
		// /mnt/locked has no entry: its usage cannot be read.
	}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0), steps: []time.Duration{0, 10 * time.Second, 10 * time.Second}}
	d := scriptedDisk(t, clock, parts, usage,
		map[string]disk.IOCountersStat{
			"sda":   {ReadBytes: 1000, WriteBytes: 2000, ReadCount: 10, WriteCount: 20},
			"loop0": {ReadBytes: 7, WriteBytes: 7},
			"ram0":  {ReadBytes: 7},
		},
		map[string]disk.IOCountersStat{
			"sda": {ReadBytes: 1000 + 10*4096, WriteBytes: 2000, ReadCount: 20, WriteCount: 20},
			"sdb": {ReadBytes: 5, WriteBytes: 6, ReadCount: 1, WriteCount: 2}, // new: no rate yet
		},
		nil, // counters unreadable: "io" omitted, state kept
		map[string]disk.IOCountersStat{
			"sda": {ReadBytes: 10, WriteBytes: 4000, ReadCount: 21, WriteCount: 40}, // reads reset
		},
	)
	const partitions = `"/":{"percent":42.11,"used_gb":40,"free_gb":55,"total_gb":100,"fstype":"ext4","device":"/dev/sda1"},` +
		`"/home":{"percent":25,"used_gb":0.5,"free_gb":1.5,"total_gb":2,"fstype":"btrfs","device":"/dev/sdc1"}`
	want := []string{
		`{` + partitions + `,"io":{"sda":{"read_bytes":1000,"write_bytes":2000,"read_count":10,"write_count":20}}}`,
		`{` + partitions + `,"io":{` +
			`"sda":{"read_bytes":41960,"write_bytes":2000,"read_count":20,"write_count":20,"read_bytes_per_s":4096,"write_bytes_per_s":0},` +
			`"sdb":{"read_bytes":5,"write_bytes":6,"read_count":1,"write_count":2}}}`,
		`{` + partitions + `}`,
		// 10 s since the last readable counters; the read counter went back.
		`{` + partitions + `,"io":{"sda":{"read_bytes":10,"write_bytes":4000,"read_count":21,"write_count":40,"write_bytes_per_s":200}}}`,
	}
	for i, w := range want {
		got, err := d.Collect(context.Background())
		if err != nil {
			t.Fatalf("Collect %d: %v", i+1, err)
		}
		if string(got) != w {
			t.Errorf("Collect %d:\n got %s\nwant %s", i+1, got, w)
		}
	}
}

func TestDiskErrors(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	t.Run("every usage unreadable", func(t *testing.T) {
		d := scriptedDisk(t, clock, []disk.PartitionStat{{Mountpoint: "/data", Fstype: "ext4"}}, nil)
		_, err := d.Collect(context.Background())
		if err == nil || !strings.Contains(err.Error(), "/data") || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("err = %v, want one naming /data and the cause", err)
		}
	})
	t.Run("partitions unreadable", func(t *testing.T) {
		d := scriptedDisk(t, clock, nil, nil)
		boom := errors.New("no mountinfo")
		d.partitions = func(context.Context) ([]disk.PartitionStat, error) { return nil, boom }
		if _, err := d.Collect(context.Background()); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want it to wrap %v", err, boom)
		}
	})
}
