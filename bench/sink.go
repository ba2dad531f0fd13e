package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

// SinkRecvBuffer is the sink's socket receive buffer in bytes, the daemon's
// default (udp_recv_buffer), so the sink and the daemon are compared on
// equal terms.
const SinkRecvBuffer = 16 << 20

// SinkConfig configures RunSink.
type SinkConfig struct {
	Listen   string        // literal address to bind, e.g. 127.0.0.1:0
	Duration time.Duration // how long to receive (with Self: in total over all trials)
	// Self runs a built-in sender to the sink: goroutines sending a real
	// signed four-value sample datagram with sendmmsg, as fast as they can.
	Self bool
	// Senders is the number of sender goroutines with Self. 0 searches:
	// trials with 1, 2, ... 2×GOMAXPROCS senders, each for an equal share
	// of Duration, until one loses more than 0.1 %. On loopback the sender
	// pays for delivery into the sink's socket, so one sender cannot
	// saturate a receiver; too many starve it of CPU.
	Senders int
	Count   uint64 // with Self and Senders > 0: stop after this many datagrams; 0 = until Duration
	// Progress gets a line per second; nil for none.
	Progress io.Writer
}

// SinkTrial is one measurement with a fixed number of senders.
type SinkTrial struct {
	Senders  int     `json:"senders"`
	Sent     uint64  `json:"sent"`
	Received uint64  `json:"received"`
	Seconds  float64 `json:"seconds"`
	PerS     float64 `json:"per_s"`
	LossPct  float64 `json:"loss_pct"`
}

// SinkResult is what the sink measured. With Self, the headline figures
// are those of the best trial: the highest receive rate among the trials
// that lost at most 0.1 % (or the highest of all if none did).
type SinkResult struct {
	Addr       string  // bound address
	Received   uint64  // datagrams read
	Sent       uint64  // datagrams the built-in sender sent (Self)
	Seconds    float64 // the measured window
	PerS       float64 // Received / Seconds
	LossPct    float64 // Self only
	Senders    int     // Self: sender goroutines of the best trial
	RecvBuffer int     // bytes the kernel granted
	Trials     []SinkTrial
}

// sinkMaxLossPct is the loss above which a sink trial counts as overrun.
const sinkMaxLossPct = 0.1

// RunSink binds a bare UDP receiver that only counts datagrams
// (udp.RunSink: recvmmsg, no decoding, no actors) and, with Self, feeds it
// from this process. Received/s is the most this machine can move through
// one UDP socket, the ceiling for the daemon.
func RunSink(ctx context.Context, cfg SinkConfig) (_ SinkResult, err error) {
	ap, err := netip.ParseAddrPort(cfg.Listen)
	if err != nil {
		return SinkResult{}, fmt.Errorf("sink: -listen must be a literal address:port: %w", err)
	}
	if cfg.Duration <= 0 && (cfg.Count == 0 || cfg.Senders == 0) {
		return SinkResult{}, errors.New("sink: need a duration")
	}
	network := "udp4"
	if !ap.Addr().Unmap().Is4() {
		network = "udp6"
	}
	c, err := udp.Listen(network, cfg.Listen, udp.Options{RecvBuffer: SinkRecvBuffer})
	if err != nil {
		return SinkResult{}, fmt.Errorf("sink: %w", err)
	}
	defer c.Close()
	res := SinkResult{Addr: c.LocalAddr().String(), RecvBuffer: c.RecvBufferGranted()}

	var received atomic.Uint64
	sinkCtx, stopSink := context.WithCancel(context.Background())
	sinkErr := make(chan error, 1)
	go func() { sinkErr <- udp.RunSink(sinkCtx, c, udp.NewBatch(64, 2048), &received) }()
	defer func() {
		stopSink()
		// A read that failed mid-run made the count short: say so.
		if rerr := <-sinkErr; rerr != nil && err == nil {
			err = fmt.Errorf("sink: %w", rerr)
		}
	}()

	if !cfg.Self {
		start := time.Now()
		runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
		sinkProgress(runCtx, cfg.Progress, start, &received, nil, runCtx.Done())
		res.Seconds = time.Since(start).Seconds()
		res.Received = received.Load()
		res.PerS = float64(res.Received) / res.Seconds
		return res, ctx.Err()
	}

	dst := c.LocalAddr().AddrPort()
	if dst.Addr().IsUnspecified() {
		// A sink bound to 0.0.0.0 or :: is reached over loopback.
		lo := netip.IPv6Loopback()
		if network == "udp4" {
			lo = netip.MustParseAddr("127.0.0.1")
		}
		dst = netip.AddrPortFrom(lo, dst.Port())
	}
	counts := []int{cfg.Senders}
	if cfg.Senders == 0 {
		counts = nil
		for n := 1; n <= 2*runtime.GOMAXPROCS(0); n++ {
			counts = append(counts, n)
		}
	}
	per := cfg.Duration / time.Duration(len(counts))
	best := -1
	for _, n := range counts {
		if cfg.Progress != nil && len(counts) > 1 {
			fmt.Fprintf(cfg.Progress, "sink trial with %d sender(s) for %s\n", n, per.Round(time.Millisecond))
		}
		tr, err := sinkTrial(ctx, network, dst, n, per, cfg.Count, &received, cfg.Progress)
		if err != nil {
			return res, err
		}
		res.Trials = append(res.Trials, tr)
		i := len(res.Trials) - 1
		lossless := tr.LossPct <= sinkMaxLossPct
		switch {
		case best < 0,
			lossless && (res.Trials[best].LossPct > sinkMaxLossPct || tr.PerS > res.Trials[best].PerS),
			!lossless && res.Trials[best].LossPct > sinkMaxLossPct && tr.PerS > res.Trials[best].PerS:
			best = i
		}
		if !lossless || ctx.Err() != nil {
			break
		}
	}
	b := res.Trials[best]
	res.Received, res.Sent, res.Seconds, res.PerS, res.LossPct, res.Senders = b.Received, b.Sent, b.Seconds, b.PerS, b.LossPct, b.Senders
	return res, ctx.Err()
}

// sinkTrial runs n senders to dst for d (or until count datagrams are
// sent) and measures what the sink received meanwhile.
func sinkTrial(ctx context.Context, network string, dst netip.AddrPort, n int, d time.Duration, count uint64,
	received *atomic.Uint64, progress io.Writer) (SinkTrial, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, d)
		defer cancel()
	}
	senders := make([]*sinkSender, 0, n)
	defer func() {
		for _, s := range senders {
			s.conn.Close()
		}
	}()
	for range n {
		s, err := newSinkSender(network, dst)
		if err != nil {
			return SinkTrial{}, err
		}
		senders = append(senders, s)
	}
	r0 := received.Load()
	var sent atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for i, s := range senders {
		quota := uint64(0)
		if count > 0 {
			quota = count / uint64(n)
			if i == 0 {
				quota += count % uint64(n)
			}
		}
		wg.Go(func() { s.run(runCtx, quota, &sent) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	sinkProgress(runCtx, progress, start, received, &sent, done)
	<-done
	el := time.Since(start).Seconds()
	// Loopback queues a datagram into the sink's buffer during the send,
	// so all that is left is for the sink to read what is queued: wait
	// until it has everything or stops making progress.
	tr := SinkTrial{Senders: n, Sent: sent.Load(), Seconds: el}
	drain(received, r0+tr.Sent)
	tr.Received = received.Load() - r0
	tr.PerS = float64(tr.Received) / el
	tr.LossPct = LossPct(float64(tr.Sent), float64(tr.Received))
	return tr, nil
}

// sinkProgress prints received (and sent) per second until done is closed.
func sinkProgress(ctx context.Context, w io.Writer, start time.Time, received, sent *atomic.Uint64, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastRecv, lastSent uint64 = received.Load(), 0
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			r := received.Load()
			if w != nil {
				line := fmt.Sprintf("%5.0fs  received %8.0f/s", time.Since(start).Seconds(), float64(r-lastRecv))
				if sent != nil {
					s := sent.Load()
					line += fmt.Sprintf("  sent %8.0f/s", float64(s-lastSent))
					lastSent = s
				}
				fmt.Fprintln(w, line)
			}
			lastRecv = r
		}
	}
}

// drain waits until count reaches want, or has not moved for 100 ms (the
// rest was dropped by the kernel), or 5 s have passed.
func drain(count *atomic.Uint64, want uint64) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(5 * time.Second)
	last, still := count.Load(), 0
	for last < want && still < 10 && time.Now().Before(deadline) {
		<-t.C
		if n := count.Load(); n != last {
			last, still = n, 0
		} else {
			still++
		}
	}
}

type sinkSender struct {
	conn *udp.Conn
	out  *udp.OutBatch
	dst  netip.AddrPort
	dg   []byte
}

func newSinkSender(network string, dst netip.AddrPort) (*sinkSender, error) {
	c, err := udp.ListenAny(network)
	if err != nil {
		return nil, fmt.Errorf("sink sender: %w", err)
	}
	// A real datagram, so the bytes per packet match the ramp's: a signed
	// four-value cpu_monitor sample from a bench host.
	w := walk{cores: 4, cpu: 20, load: [3]float64{1, 1, 1}}
	data := w.appendSample(nil, PluginCPU4, rand.New(rand.NewPCG(1, 1)), 30)
	dg, err := wire.AppendSample(nil, wire.NewSigner(make([]byte, 32)), wire.Envelope{Host: HostName(1), Seq: 1, Time: time.Now().UnixNano()}, "cpu_monitor", data)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sink sender: %w", err)
	}
	return &sinkSender{conn: c, out: udp.NewOutBatch(DefaultBatch), dst: dst, dg: dg}, nil
}

// run sends batches until ctx is done or quota (if not 0) is reached.
func (s *sinkSender) run(ctx context.Context, quota uint64, sent *atomic.Uint64) {
	var mine uint64
	for ctx.Err() == nil && (quota == 0 || mine < quota) {
		s.out.Reset()
		n := uint64(DefaultBatch)
		if quota > 0 {
			n = min(n, quota-mine)
		}
		for range n {
			s.out.Add(s.dg, s.dst)
		}
		k, _ := s.conn.WriteBatch(s.out)
		mine += uint64(k)
		sent.Add(uint64(k))
		if k == 0 {
			// The kernel refuses everything (no route?): stop rather than
			// spin.
			return
		}
	}
}
