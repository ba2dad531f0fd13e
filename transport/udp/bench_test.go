package udp

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// benchPayloadBytes is the datagram size of the benchmarks: about a
// heartbeat.
const benchPayloadBytes = 100

// startFlood sends 64-datagram batches of benchPayloadBytes to dst from its
// own goroutine until the returned stop function is called. The sender
// allocates nothing, so it does not distort the receiver's allocs/op.
func startFlood(b *testing.B, dst *Conn) (stop func()) {
	b.Helper()
	tx := mustListenAny(b, "udp4")
	out := NewOutBatch(64)
	payload := make([]byte, benchPayloadBytes)
	for out.Add(payload, dst.LocalAddr().AddrPort()) {
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !done.Load() {
			// Loopback drops what the receiver has no room for; WriteBatch
			// still succeeds, so the error is only the closed socket.
			if _, err := tx.WriteBatch(out); err != nil {
				return
			}
		}
	})
	return func() {
		done.Store(true)
		wg.Wait()
	}
}

// BenchmarkReadBatch measures the receive side alone: with the timer
// stopped, it queues a round of datagrams in the socket (16 MiB buffer, so
// none is dropped), then times reading them back. One op is one datagram,
// so allocs/op is per datagram. The xnet case is golang.org/x/net/ipv4
// PacketConn.ReadBatch on the same socket, for comparison.
func BenchmarkReadBatch(b *testing.B) {
	const round = 4096 // datagrams queued per round
	for _, tc := range readCases() {
		b.Run(tc.name, func(b *testing.B) {
			rx := mustListen(b, "udp4", "127.0.0.1:0", Options{RecvBuffer: 16 << 20}, tc.batched)
			tx := mustListenAny(b, "udp4")
			out := NewOutBatch(64)
			payload := make([]byte, benchPayloadBytes)
			for out.Add(payload, rx.LocalAddr().AddrPort()) {
			}
			read := readerFor(rx, tc.xnet)
			if err := rx.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(benchPayloadBytes)
			b.ResetTimer()
			got, batches := 0, 0
			for got < b.N {
				b.StopTimer()
				want := min(round, b.N-got)
				for queued := 0; queued < want; queued += out.Len() {
					if _, err := tx.WriteBatch(out); err != nil {
						b.Fatal(err)
					}
				}
				want = (want + 63) / 64 * 64 // whole batches were sent
				b.StartTimer()
				for n := 0; n < want; {
					k, err := read()
					if err != nil {
						b.Fatalf("after %d of %d datagrams: %v", n, want, err)
					}
					n += k
					batches++
				}
				got += want
			}
			b.StopTimer()
			b.ReportMetric(float64(got)/float64(batches), "msgs/batch")
		})
	}
}

// BenchmarkReadBatchFlood receives datagrams that a goroutine sends as fast
// as it can over loopback, as the daemon does under load: ns/op is then
// bounded by the sender, and msgs/batch shows how much batching the
// receiver gets. One op is one datagram.
func BenchmarkReadBatchFlood(b *testing.B) {
	for _, tc := range readCases() {
		b.Run(tc.name, func(b *testing.B) {
			rx := mustListen(b, "udp4", "127.0.0.1:0", Options{RecvBuffer: 16 << 20}, tc.batched)
			read := readerFor(rx, tc.xnet)
			stop := startFlood(b, rx)
			defer stop()
			b.ReportAllocs()
			b.SetBytes(benchPayloadBytes)
			b.ResetTimer()
			got, batches := 0, 0
			for got < b.N {
				n, err := read()
				if err != nil {
					b.Fatal(err)
				}
				got += n
				batches++
			}
			b.StopTimer()
			b.ReportMetric(float64(got)/float64(batches), "msgs/batch")
		})
	}
}

type readCase struct {
	name    string
	batched bool
	xnet    bool
}

func readCases() []readCase {
	cases := []readCase{{"single", false, false}, {"xnet", false, true}}
	if haveMmsg {
		cases = append([]readCase{{"mmsg", true, false}}, cases...)
	}
	return cases
}

// readerFor returns a function that reads one batch of up to 64 datagrams
// and touches each payload and source address as the daemon would.
func readerFor(rx *Conn, xnet bool) func() (int, error) {
	var sink int
	if !xnet {
		batch := NewBatch(64, 2048)
		return func() (int, error) {
			n, err := rx.ReadBatch(batch)
			for i := range n {
				sink += len(batch.Payload(i)) + int(batch.Addr(i).Port())
			}
			return n, err
		}
	}
	pc := ipv4.NewPacketConn(rx.pc)
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	return func() (int, error) {
		n, err := pc.ReadBatch(msgs, 0)
		for i := range n {
			sink += msgs[i].N + int(msgs[i].Addr.(*net.UDPAddr).AddrPort().Port())
		}
		return n, err
	}
}

// BenchmarkWriteBatch sends 64-datagram batches to a socket nobody reads
// (loopback drops the overflow without failing the send); one op is one
// datagram.
func BenchmarkWriteBatch(b *testing.B) {
	for _, p := range ioPaths() {
		b.Run(p.name, func(b *testing.B) {
			rx := mustListen(b, "udp4", "127.0.0.1:0", Options{}, p.batched)
			tx := mustListen(b, "udp4", "0.0.0.0:0", Options{}, p.batched)
			out := NewOutBatch(64)
			payload := make([]byte, benchPayloadBytes)
			dst := rx.LocalAddr().AddrPort()
			b.ReportAllocs()
			b.SetBytes(benchPayloadBytes)
			for sent := 0; sent < b.N; {
				out.Reset()
				for range min(64, b.N-sent) {
					out.Add(payload, dst)
				}
				n, err := tx.WriteBatch(out)
				if err != nil {
					b.Fatal(err)
				}
				sent += n
			}
		})
	}
}

// BenchmarkSink measures what RunSink receives from one goroutine sending
// b.N datagrams of benchPayloadBytes with WriteBatch as fast as it can, and
// how many loopback dropped. Run it with a fixed count, for example
// -bench=Sink -benchtime=2000000x. Metrics: tx-pkts/s (send rate),
// rx-pkts/s (datagrams counted over the time until the last one arrived),
// loss-% (sent but never counted).
func BenchmarkSink(b *testing.B) {
	rx := mustListen(b, "udp4", "127.0.0.1:0", Options{RecvBuffer: 16 << 20}, haveMmsg)
	tx := mustListenAny(b, "udp4")
	var count atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- RunSink(ctx, rx, NewBatch(64, 2048), &count) }()

	out := NewOutBatch(64)
	payload := make([]byte, benchPayloadBytes)
	dst := rx.LocalAddr().AddrPort()
	b.ReportAllocs()
	b.SetBytes(benchPayloadBytes)
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for sent < b.N {
		out.Reset()
		for range min(64, b.N-sent) {
			out.Add(payload, dst)
		}
		n, err := tx.WriteBatch(out)
		if err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	sendTime := time.Since(start)
	// Wait for the sink to drain its queue: until everything is counted or
	// the count has not moved for 50 ms (the rest was dropped).
	last, lastChange := count.Load(), time.Now()
	for last < uint64(sent) && time.Since(lastChange) < 50*time.Millisecond {
		time.Sleep(time.Millisecond)
		if cur := count.Load(); cur != last {
			last, lastChange = cur, time.Now()
		}
	}
	rxTime := lastChange.Sub(start)
	b.StopTimer()
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	got := count.Load()
	b.ReportMetric(float64(sent)/sendTime.Seconds(), "tx-pkts/s")
	b.ReportMetric(float64(got)/rxTime.Seconds(), "rx-pkts/s")
	b.ReportMetric(100*float64(uint64(sent)-got)/float64(sent), "loss-%")
}
