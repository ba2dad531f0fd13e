package http

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/promfleet"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

var fleetHosts = flag.Int("fleethosts", 100000, "BenchmarkFleetScrape: hosts in the fleet")

// benchSamples returns hbd-bench's four plugins' samples (the memory
// scenario's mix, agent-shaped: 3 partitions, 4 interfaces), n of each.
func benchSamples(b *testing.B, n int) (plugins []string, data [][][]byte) {
	f, err := os.Open("../internal/samplestore/testdata/bench_mix.txt.gz")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	all, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	idx := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(all)), "\n") {
		fields := strings.SplitN(line, " ", 4)
		i, ok := idx[fields[1]]
		if !ok {
			i = len(plugins)
			idx[fields[1]] = i
			plugins = append(plugins, fields[1])
			data = append(data, nil)
		}
		if len(data[i]) < n {
			data[i] = append(data[i], []byte(fields[3]))
		}
	}
	return plugins, data
}

// BenchmarkFleetScrape writes the fleet exposition of -fleethosts hosts
// (100,000 by default), each with a heartbeat and hbd-bench's four
// plugins' newest samples, fed to the real actors over loopback UDP as
// signed datagrams (an hour's heartbeat interval, so no host changes
// state while it runs): the time, allocations and size of one scrape in the
// text format, written to a discarding writer through fasthttp's 4 KiB
// stream buffer. Setting the fleet up takes a while (500,000 datagrams,
// paced so the socket drops none); the figure is per scrape.
func BenchmarkFleetScrape(b *testing.B) {
	key := []byte("0123456789abcdef0123456789abcdef")
	hosts := *fleetHosts
	sys, err := actors.Start(actors.Config{
		Listener: ingest.Config{Host: "127.0.0.1", RecvBuffer: 16 << 20, Keys: ingest.NewKeys(key, nil), AcceptDynamic: true, MaxClockSkew: time.Hour},
		History:  10, PublishEvery: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: limits.Config{HostsPerSource: limits.Off},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sys.Stop()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(sys.UDPAddrs()[0]))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	plugins, data := benchSamples(b, 50)
	sg := wire.NewSigner(key)
	now := time.Now().UnixNano()
	sent := uint64(0)
	deadline := time.Now().Add(10 * time.Minute)
	var buf []byte
	send := func(bb []byte, err error) {
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(bb); err != nil {
			b.Fatal(err)
		}
		buf = bb[:0]
		sent++
	}
	for i := range hosts {
		name := fmt.Sprintf("bench-%06d.example.net", i)
		send(wire.AppendHeartbeat(buf, sg, wire.Envelope{Host: name, Seq: 1, Time: now}, wire.Heartbeat{IntervalMS: 3600000, ConnSeq: 1}))
		for p, plugin := range plugins {
			send(wire.AppendSample(buf, sg, wire.Envelope{Host: name, Seq: uint64(2 + p), Time: now + int64(p+1)}, plugin, data[p][i%len(data[p])]))
		}
		// At most ~2,500 datagrams in flight: the socket's buffer
		// holds them, so none is dropped.
		for sent-sys.Stats.Accepted.Load() > 2500 {
			if time.Now().After(deadline) {
				b.Fatalf("accepted %d of %d datagrams in 10 minutes", sys.Stats.Accepted.Load(), sent)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for sys.Stats.Accepted.Load() < sent || len(sys.Fleet.Snapshot().Hosts) < hosts {
		if time.Now().After(deadline) {
			b.Fatalf("accepted %d of %d datagrams, %d hosts in the fleet index", sys.Stats.Accepted.Load(), sent, len(sys.Fleet.Snapshot().Hosts))
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the fleet index's last publication

	f := newFleetExposition(sys, FleetOptions{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	snap := sys.Fleet.Snapshot()
	cw := &countingWriter{}
	w := bufio.NewWriterSize(cw, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	scrapes := 0
	for b.Loop() {
		if err := f.write(w, snap, nil, promfleet.Text); err != nil {
			b.Fatal(err)
		}
		scrapes++
	}
	b.ReportMetric(float64(cw.n)/float64(scrapes), "bytes/scrape")
	b.ReportMetric(float64(f.lastLines.Load()), "series/scrape")
	b.ReportMetric(float64(f.lastLines.Load())/float64(hosts), "series/host")
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
