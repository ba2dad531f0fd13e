package plugins

import (
	"context"
	"net"
	"strings"
	"testing"
)

// These tests read the real machine they run on (Linux: the loopback
// interface is "lo" and "/" is a physical filesystem).

func collectTwice(t *testing.T, c Collector) (first, second map[string]any) {
	t.Helper()
	ctx := context.Background()
	for i, dst := range []*map[string]any{&first, &second} {
		data, err := c.Collect(ctx)
		if err != nil {
			t.Fatalf("%s Collect %d: %v", c.Name(), i+1, err)
		}
		*dst = decodeObject(t, data)
	}
	return first, second
}

func TestLiveCPU(t *testing.T) {
	c := NewCPU()
	if c.Name() != "cpu_monitor" {
		t.Errorf("Name() = %q", c.Name())
	}
	first, second := collectTwice(t, c)
	for i, m := range []map[string]any{first, second} {
		keys := []string{"cpu_percent", "load_1min", "load_5min", "load_15min", "cores"}
		if _, ok := m["frequency"]; ok {
			keys = append(keys, "frequency")
			if f := num(t, m, "frequency"); f <= 0 {
				t.Errorf("sample %d: frequency = %v MHz, want > 0", i+1, f)
			}
		}
		checkKeys(t, "cpu_monitor", m, keys...)
		checkPercent(t, "cpu_percent", num(t, m, "cpu_percent"))
		for _, k := range []string{"load_1min", "load_5min", "load_15min"} {
			if l := num(t, m, k); l < 0 {
				t.Errorf("sample %d: %s = %v, want >= 0", i+1, k, l)
			}
		}
		if n := counter(t, m, "cores"); n < 1 {
			t.Errorf("sample %d: cores = %d, want >= 1", i+1, n)
		}
	}
}

func TestLiveMemory(t *testing.T) {
	c := NewMemory()
	if c.Name() != "memory_monitor" {
		t.Errorf("Name() = %q", c.Name())
	}
	m, _ := collectTwice(t, c)
	checkKeys(t, "memory_monitor", m, "percent", "available_mb", "total_mb", "used_mb", "swap")
	checkPercent(t, "percent", num(t, m, "percent"))
	total := num(t, m, "total_mb")
	if total <= 0 {
		t.Errorf("total_mb = %v, want > 0", total)
	}
	for _, k := range []string{"available_mb", "used_mb"} {
		if v := num(t, m, k); v < 0 || v > total {
			t.Errorf("%s = %v, want within 0..total_mb (%v)", k, v, total)
		}
	}
	swap := sub(t, m, "swap")
	checkKeys(t, "swap", swap, "percent", "used_mb", "total_mb")
	checkPercent(t, "swap.percent", num(t, swap, "percent"))
	if u, tot := num(t, swap, "used_mb"), num(t, swap, "total_mb"); u < 0 || u > tot {
		t.Errorf("swap used_mb = %v, want within 0..total_mb (%v)", u, tot)
	}
}

func TestLiveDisk(t *testing.T) {
	c := NewDisk()
	if c.Name() != "disk_monitor" {
		t.Errorf("Name() = %q", c.Name())
	}
	first, second := collectTwice(t, c)
	if _, ok := first["/"]; !ok {
		t.Fatalf(`disk_monitor has no "/": %v`, first)
	}
	for mount := range first {
		if mount == "io" {
			continue
		}
		if !strings.HasPrefix(mount, "/") || strings.HasPrefix(mount, "/proc") || strings.HasPrefix(mount, "/sys") {
			t.Errorf("unexpected mount point %q", mount)
		}
		p := sub(t, first, mount)
		checkKeys(t, mount, p, "percent", "used_gb", "free_gb", "total_gb", "fstype", "device")
		checkPercent(t, mount+" percent", num(t, p, "percent"))
		if num(t, p, "total_gb") < 0 || num(t, p, "used_gb") < 0 || num(t, p, "free_gb") < 0 {
			t.Errorf("%s has negative sizes: %v", mount, p)
		}
		if fs, _ := p["fstype"].(string); fs == "" || fs == "tmpfs" || fs == "proc" || fs == "squashfs" {
			t.Errorf("%s fstype = %q, want a physical, writable filesystem", mount, fs)
		}
	}
	if num(t, sub(t, first, "/"), "total_gb") <= 0 {
		t.Errorf(`"/" total_gb = 0`)
	}
	io1, io2 := sub(t, first, "io"), sub(t, second, "io")
	if len(io1) == 0 {
		t.Fatal(`"io" lists no block device`)
	}
	for dev := range io1 {
		if strings.HasPrefix(dev, "loop") || strings.HasPrefix(dev, "ram") {
			t.Errorf("io lists %q", dev)
		}
		checkKeys(t, "io "+dev+" (first)", sub(t, io1, dev), "read_bytes", "write_bytes", "read_count", "write_count")
		d := sub(t, io2, dev)
		checkKeys(t, "io "+dev+" (second)", d, "read_bytes", "write_bytes", "read_count", "write_count", "read_bytes_per_s", "write_bytes_per_s")
		for _, k := range []string{"read_bytes", "write_bytes", "read_count", "write_count"} {
			counter(t, d, k)
		}
		for _, k := range []string{"read_bytes_per_s", "write_bytes_per_s"} {
			if r := num(t, d, k); r < 0 {
				t.Errorf("%s %s = %v", dev, k, r)
			}
		}
	}
}

func TestLiveNetwork(t *testing.T) {
	// A listener and one connection to it, so the counts have something
	// known to find.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if server := <-accepted; server != nil {
		defer server.Close()
	}

	c := NewNetwork()
	if c.Name() != "network_monitor" {
		t.Errorf("Name() = %q", c.Name())
	}
	first, second := collectTwice(t, c)
	counters := []string{"bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "errin", "errout", "dropin", "dropout"}
	lo1 := sub(t, sub(t, first, "interfaces"), "lo")
	checkKeys(t, "lo (first)", lo1, counters...)
	ifaces := sub(t, second, "interfaces")
	for name := range ifaces {
		i := sub(t, ifaces, name)
		checkKeys(t, name+" (second)", i, append(counters, "bytes_sent_per_s", "bytes_recv_per_s")...)
		for _, k := range counters {
			counter(t, i, k)
		}
	}
	if _, ok := ifaces["lo"]; !ok {
		t.Errorf("no loopback interface in %v", ifaces)
	}

	conns := sub(t, second, "connections")
	checkKeys(t, "connections", conns, "total", "established", "listen", "time_wait")
	total, est, listen, tw := counter(t, conns, "total"), counter(t, conns, "established"), counter(t, conns, "listen"), counter(t, conns, "time_wait")
	if listen < 1 || est < 2 {
		t.Errorf("connections = %v, want our listener and both ends of our connection counted", conns)
	}
	if est+listen+tw > total {
		t.Errorf("connections = %v: states add up to more than total", conns)
	}
}
