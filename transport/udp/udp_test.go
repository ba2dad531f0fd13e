package udp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ioPath is one implementation of ReadBatch/WriteBatch. Both run on Linux so
// the portable path is tested there too.
type ioPath struct {
	name    string
	batched bool
}

func ioPaths() []ioPath {
	paths := []ioPath{{"single", false}}
	if haveMmsg {
		paths = append(paths, ioPath{"mmsg", true})
	}
	return paths
}

// family describes one loopback family under test.
type family struct {
	network  string
	loopback netip.Addr
}

func families(t testing.TB) []family {
	fs := []family{{"udp4", netip.MustParseAddr("127.0.0.1")}}
	// Some CI containers have no IPv6 loopback; test IPv4 alone there.
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		c.Close()
		fs = append(fs, family{"udp6", netip.IPv6Loopback()})
	} else {
		t.Logf("no IPv6 loopback, testing IPv4 only: %v", err)
	}
	return fs
}

func (f family) addr(port uint16) string {
	return netip.AddrPortFrom(f.loopback, port).String()
}

// mustListen binds a loopback socket that the test closes on cleanup.
func mustListen(t testing.TB, network, addr string, opt Options, batched bool) *Conn {
	t.Helper()
	c, err := listen(network, addr, opt, batched)
	if err != nil {
		t.Fatalf("listen %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustListenAny(t testing.TB, network string) *Conn {
	t.Helper()
	c, err := ListenAny(network)
	if err != nil {
		t.Fatalf("ListenAny(%s): %v", network, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fromSender is the source address a receiver on loopback sees for a
// sender bound to the unspecified address.
func fromSender(f family, sender *Conn) netip.AddrPort {
	return netip.AddrPortFrom(f.loopback, sender.LocalAddr().AddrPort().Port())
}

// received is one datagram copied out of a Batch.
type received struct {
	payload []byte
	from    netip.AddrPort
	trunc   bool
}

// readN reads until n datagrams have arrived and returns them with the size
// of every batch. The read deadline only guards against a hang.
func readN(t testing.TB, c *Conn, b *Batch, n int) (msgs []received, batchSizes []int) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	for len(msgs) < n {
		k, err := c.ReadBatch(b)
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d datagrams: %v", len(msgs), n, err)
		}
		if k != b.Len() || k < 1 || k > b.Cap() {
			t.Fatalf("ReadBatch returned %d, Len() = %d, Cap() = %d", k, b.Len(), b.Cap())
		}
		batchSizes = append(batchSizes, k)
		for i := range k {
			msgs = append(msgs, received{bytes.Clone(b.Payload(i)), b.Addr(i), b.Truncated(i)})
		}
	}
	if len(msgs) != n {
		t.Fatalf("got %d datagrams, want %d", len(msgs), n)
	}
	return msgs, batchSizes
}

// waitUntil spins until cond holds. It does not sleep: it yields, and fails
// the test if cond is still false after a generous wall-clock bound.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
	}
}

// blockedIn reports whether some goroutine is parked in the network poller
// inside function fn.
func blockedIn(fn string) bool {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.Contains(g, "[IO wait") && strings.Contains(g, fn) {
			return true
		}
	}
	return false
}

func TestFamilyString(t *testing.T) {
	tests := []struct {
		f    Family
		want string
	}{
		{IPv4, "ipv4"},
		{IPv6, "ipv6"},
		{Family(0), "Family(0)"},
		{Family(5), "Family(5)"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("Family(%d).String() = %q, want %q", uint8(tt.f), got, tt.want)
		}
	}
}

func TestListenErrors(t *testing.T) {
	tests := []struct {
		name    string
		network string
		addr    string
		opt     Options
		want    string
	}{
		{"dual-stack network", "udp", "127.0.0.1:0", Options{}, "network must be udp4 or udp6"},
		{"tcp", "tcp", "127.0.0.1:0", Options{}, "network must be udp4 or udp6"},
		{"ipv6 addr on udp4", "udp4", "[::1]:0", Options{}, "cannot listen"},
		{"ipv4 addr on udp6", "udp6", "127.0.0.1:0", Options{}, "cannot listen"},
		{"no port", "udp4", "127.0.0.1", Options{}, "cannot listen"},
		{"negative recv buffer", "udp4", "127.0.0.1:0", Options{RecvBuffer: -1}, "negative buffer size"},
		{"negative send buffer", "udp4", "127.0.0.1:0", Options{SendBuffer: -1}, "negative buffer size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Listen(tt.network, tt.addr, tt.opt)
			if err == nil {
				c.Close()
				t.Fatalf("Listen(%q, %q) succeeded, want error containing %q", tt.network, tt.addr, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Listen(%q, %q) error = %q, want it to contain %q", tt.network, tt.addr, err, tt.want)
			}
		})
	}
	if c, err := ListenAny("udp"); err == nil {
		c.Close()
		t.Error(`ListenAny("udp") succeeded, want error`)
	}
}

// TestListenDualStack binds IPv4 and IPv6 on the same port of the
// unspecified addresses (which only works if the IPv6 socket is
// IPV6_V6ONLY) and checks each datagram reaches the socket of its family.
// Unicast UDP is delivered to exactly one socket, so the IPv4 socket
// receiving the IPv4 datagram proves the IPv6 socket did not.
func TestListenDualStack(t *testing.T) {
	if len(families(t)) < 2 {
		t.Skip("no IPv6 loopback")
	}
	c4 := mustListen(t, "udp4", "0.0.0.0:0", Options{}, haveMmsg)
	port := c4.LocalAddr().Port
	c6 := mustListen(t, "udp6", fmt.Sprintf("[::]:%d", port), Options{}, haveMmsg)
	if c4.Family() != IPv4 || c6.Family() != IPv6 {
		t.Fatalf("families = %s, %s; want ipv4, ipv6", c4.Family(), c6.Family())
	}
	if c6.LocalAddr().Port != port {
		t.Fatalf("IPv6 port = %d, want %d", c6.LocalAddr().Port, port)
	}

	s4, s6 := mustListenAny(t, "udp4"), mustListenAny(t, "udp6")
	// IPv4 first: if it could reach the IPv6 socket it would be queued there
	// ahead of the IPv6 datagram.
	if err := s4.WriteTo([]byte("v4"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))); err != nil {
		t.Fatal(err)
	}
	if err := s6.WriteTo([]byte("v6"), netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port))); err != nil {
		t.Fatal(err)
	}
	b := NewBatch(8, 64)
	got6, _ := readN(t, c6, b, 1)
	if string(got6[0].payload) != "v6" || !got6[0].from.Addr().Is6() {
		t.Errorf("IPv6 socket got %q from %s, want only \"v6\" from ::1", got6[0].payload, got6[0].from)
	}
	got4, _ := readN(t, c4, b, 1)
	if string(got4[0].payload) != "v4" || got4[0].from.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("IPv4 socket got %q from %s, want \"v4\" from 127.0.0.1", got4[0].payload, got4[0].from)
	}
	if b.Len() != 1 {
		t.Errorf("IPv4 batch holds %d datagrams, want 1", b.Len())
	}
}

func TestReusePort(t *testing.T) {
	a := mustListen(t, "udp4", "127.0.0.1:0", Options{ReusePort: true}, haveMmsg)
	addr := a.LocalAddr().String()
	if runtime.GOOS == "linux" {
		mustListen(t, "udp4", addr, Options{ReusePort: true}, haveMmsg)
	}
	if c, err := Listen("udp4", addr, Options{}); err == nil {
		c.Close()
		t.Errorf("second Listen on %s without ReusePort succeeded, want address in use", addr)
	}
}

func TestReadBatchBurst(t *testing.T) {
	const burst = 200
	for _, f := range families(t) {
		for _, p := range ioPaths() {
			t.Run(f.network+"/"+p.name, func(t *testing.T) {
				rx := mustListen(t, f.network, f.addr(0), Options{RecvBuffer: 4 << 20}, p.batched)
				tx := mustListenAny(t, f.network)
				dst := rx.LocalAddr().AddrPort()
				want := make([][]byte, burst)
				for i := range want {
					// Lengths vary so a wrong length per message shows.
					want[i] = fmt.Appendf(nil, "burst-%03d-%s", i, strings.Repeat("x", i%37))
					if err := tx.WriteTo(want[i], dst); err != nil {
						t.Fatal(err)
					}
				}
				got, sizes := readN(t, rx, NewBatch(64, 1500), burst)
				from := fromSender(f, tx)
				for i, m := range got {
					if !bytes.Equal(m.payload, want[i]) {
						t.Fatalf("datagram %d = %q, want %q", i, m.payload, want[i])
					}
					if m.from != from {
						t.Fatalf("datagram %d from %s, want %s", i, m.from, from)
					}
					if m.trunc {
						t.Fatalf("datagram %d flagged truncated", i)
					}
				}
				maxBatch := 0
				for _, s := range sizes {
					maxBatch = max(maxBatch, s)
				}
				t.Logf("%d datagrams in %d batches, largest %d", burst, len(sizes), maxBatch)
				if p.batched && maxBatch < 2 {
					t.Errorf("largest batch = %d, want > 1 with recvmmsg", maxBatch)
				}
				if !p.batched && maxBatch != 1 {
					t.Errorf("largest batch = %d, want 1 on the single-datagram path", maxBatch)
				}
			})
		}
	}
}

func TestTruncated(t *testing.T) {
	const bufSize = 64
	big := bytes.Repeat([]byte("0123456789abcdef"), 8) // 128 bytes
	sends := []struct {
		payload []byte
		trunc   bool
	}{
		{big, true},
		{big[:bufSize], false},
		{big[:bufSize+1], true},
		{[]byte("short"), false},
		{nil, false},
	}
	for _, f := range families(t) {
		for _, p := range ioPaths() {
			t.Run(f.network+"/"+p.name, func(t *testing.T) {
				rx := mustListen(t, f.network, f.addr(0), Options{}, p.batched)
				tx := mustListenAny(t, f.network)
				for _, s := range sends {
					if err := tx.WriteTo(s.payload, rx.LocalAddr().AddrPort()); err != nil {
						t.Fatal(err)
					}
				}
				got, _ := readN(t, rx, NewBatch(8, bufSize), len(sends))
				for i, s := range sends {
					want := s.payload[:min(len(s.payload), bufSize)]
					if got[i].trunc != s.trunc || !bytes.Equal(got[i].payload, want) {
						t.Errorf("datagram %d of %d bytes: got %d bytes, truncated=%v; want %d bytes, truncated=%v",
							i, len(s.payload), len(got[i].payload), got[i].trunc, len(want), s.trunc)
					}
				}
			})
		}
	}
}

// Put fills a batch as a read would: copies, cut and flagged at the
// buffer size, and no more datagrams than the batch holds.
func TestBatchPut(t *testing.T) {
	const bufSize = 8
	b := NewBatch(2, bufSize)
	from := netip.MustParseAddrPort("192.0.2.1:9")
	p := []byte("0123456789")
	if !b.Put(p[:4], from) || !b.Put(p, from) || b.Put(p, from) {
		t.Fatal("Put: want two datagrams accepted, the third refused")
	}
	p[0] = 'X'
	if b.Len() != 2 || string(b.Payload(0)) != "0123" || b.Truncated(0) || b.Addr(0) != from {
		t.Errorf("datagram 0: %q truncated=%v from %v", b.Payload(0), b.Truncated(0), b.Addr(0))
	}
	if string(b.Payload(1)) != "01234567" || !b.Truncated(1) {
		t.Errorf("datagram 1: %q truncated=%v, want cut at %d bytes", b.Payload(1), b.Truncated(1), bufSize)
	}
}

func TestWriteBatch(t *testing.T) {
	const receivers, perReceiver = 3, 10
	for _, f := range families(t) {
		for _, p := range ioPaths() {
			t.Run(f.network+"/"+p.name, func(t *testing.T) {
				tx := mustListen(t, f.network, f.addr(0), Options{}, p.batched)
				var rxs []*Conn
				for range receivers {
					rxs = append(rxs, mustListen(t, f.network, f.addr(0), Options{}, p.batched))
				}
				out := NewOutBatch(receivers*perReceiver + 1)
				want := make([][][]byte, receivers)
				src := make([]byte, 0, 64)
				// Interleave destinations so a wrong address per message shows.
				for j := range perReceiver {
					for r, rx := range rxs {
						src = fmt.Appendf(src[:0], "to-%d-msg-%d", r, j)
						want[r] = append(want[r], bytes.Clone(src))
						if !out.Add(src, rx.LocalAddr().AddrPort()) {
							t.Fatalf("Add %d refused", out.Len())
						}
					}
				}
				// A zero-length datagram is legal and must arrive as one.
				out.Add(nil, rxs[0].LocalAddr().AddrPort())
				want[0] = append(want[0], []byte{})
				copy(src, "clobbered") // Add copied, so this must not show.

				sent, err := tx.WriteBatch(out)
				if err != nil || sent != out.Len() {
					t.Fatalf("WriteBatch = %d, %v; want %d, nil", sent, err, out.Len())
				}
				b := NewBatch(16, 256)
				for r, rx := range rxs {
					got, _ := readN(t, rx, b, len(want[r]))
					for i, m := range got {
						if !bytes.Equal(m.payload, want[r][i]) || m.from != tx.LocalAddr().AddrPort() {
							t.Errorf("receiver %d datagram %d = %q from %s, want %q from %s",
								r, i, m.payload, m.from, want[r][i], tx.LocalAddr())
						}
					}
				}
			})
		}
	}
}

// TestWriteBatchFailures checks WriteBatch sends around datagrams that
// cannot go out. The oversize one makes sendmmsg stop short, so the resume
// loop after a partial result runs too.
func TestWriteBatchFailures(t *testing.T) {
	for _, f := range families(t) {
		other := netip.MustParseAddrPort("[::1]:9")
		if f.network == "udp6" {
			other = netip.MustParseAddrPort("127.0.0.1:9")
		}
		for _, p := range ioPaths() {
			t.Run(f.network+"/"+p.name, func(t *testing.T) {
				tx := mustListenAny(t, f.network)
				rx := mustListen(t, f.network, f.addr(0), Options{}, p.batched)
				dst := rx.LocalAddr().AddrPort()
				tests := []struct {
					name    string
					queue   []netip.AddrPort // zero entry: rx
					huge    int              // index of a payload larger than UDP allows, or -1
					wantErr error
					wantMsg string
				}{
					{"oversize and wrong family", []netip.AddrPort{{}, {}, {}, other, {}, {}}, 2, syscall.EMSGSIZE, "2 of 6"},
					{"wrong family only", []netip.AddrPort{other, {}, {}}, -1, ErrFamily, "1 of 3"},
					{"invalid destination", []netip.AddrPort{{}, netip.AddrPortFrom(netip.Addr{}, 1)}, -1, nil, "invalid destination"},
				}
				for _, tt := range tests {
					out := NewOutBatch(len(tt.queue))
					var want []string
					for i, q := range tt.queue {
						payload := fmt.Appendf(nil, "%s-%d", tt.name, i)
						if i == tt.huge {
							payload = make([]byte, 70000)
						}
						to := q
						if q == (netip.AddrPort{}) {
							to = dst
						}
						if to == dst && i != tt.huge {
							want = append(want, string(payload))
						}
						out.Add(payload, to)
					}
					sent, err := tx.WriteBatch(out)
					if sent != len(want) {
						t.Errorf("%s: sent = %d, want %d", tt.name, sent, len(want))
					}
					if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
						t.Errorf("%s: error = %v, want one containing %q and matching %v", tt.name, err, tt.wantMsg, tt.wantErr)
					}
					got, _ := readN(t, rx, NewBatch(8, 256), len(want))
					for i, m := range got {
						if string(m.payload) != want[i] {
							t.Errorf("%s: datagram %d = %q, want %q", tt.name, i, m.payload, want[i])
						}
					}
				}
			})
		}
	}
}

func TestOutBatch(t *testing.T) {
	dst := netip.MustParseAddrPort("127.0.0.1:9")
	o := NewOutBatch(3)
	for round := range 2 { // the second round checks Reset leaves it reusable
		if o.Len() != 0 {
			t.Fatalf("round %d: Len() = %d at start, want 0", round, o.Len())
		}
		payloads := [][]byte{[]byte("a"), {}, []byte("ccc")}
		for i, p := range payloads {
			if !o.Add(p, dst) {
				t.Fatalf("round %d: Add %d refused", round, i)
			}
		}
		if o.Add([]byte("d"), dst) {
			t.Fatalf("round %d: Add to a full batch succeeded", round)
		}
		payloads[0][0] = 'X' // Add must have copied
		for i, want := range []string{"a", "", "ccc"} {
			if got := string(o.payload(i)); got != want {
				t.Errorf("round %d: payload(%d) = %q, want %q", round, i, got, want)
			}
		}
		if o.Len() != 3 {
			t.Errorf("round %d: Len() = %d, want 3", round, o.Len())
		}
		o.Reset()
	}
}

func TestConstructorsPanic(t *testing.T) {
	tests := []struct {
		name string
		fn   func()
	}{
		{"NewBatch n=0", func() { NewBatch(0, 10) }},
		{"NewBatch bufSize=0", func() { NewBatch(1, 0) }},
		{"NewOutBatch n=-1", func() { NewOutBatch(-1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", tt.name)
				}
			}()
			tt.fn()
		})
	}
}

func TestRecvBuffer(t *testing.T) {
	const want = 16 << 20 // 16 MiB
	tests := []struct {
		name string
		opt  Options
	}{
		{"default", Options{}},
		{"16 MiB", Options{RecvBuffer: want, SendBuffer: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustListen(t, "udp4", "127.0.0.1:0", tt.opt, haveMmsg)
			got := c.RecvBufferGranted()
			t.Logf("requested %d bytes, granted %d bytes", tt.opt.RecvBuffer, got)
			if runtime.GOOS != "linux" {
				return
			}
			if got <= 0 {
				t.Fatalf("RecvBufferGranted() = %d, want > 0", got)
			}
			if tt.opt.RecvBuffer == 0 {
				return
			}
			// SO_RCVBUFFORCE is not capped by rmem_max; without
			// CAP_NET_ADMIN the fallback SO_RCVBUF is.
			want := tt.opt.RecvBuffer
			if !hasNetAdmin(t) {
				want = min(want, procInt(t, "/proc/sys/net/core/rmem_max"))
			}
			if got != want {
				t.Errorf("RecvBufferGranted() = %d, want %d (CAP_NET_ADMIN: %v)", got, want, hasNetAdmin(t))
			}
		})
	}
}

func TestCloseUnblocksReadBatch(t *testing.T) {
	for _, p := range ioPaths() {
		t.Run(p.name, func(t *testing.T) {
			c := mustListen(t, "udp4", "127.0.0.1:0", Options{}, p.batched)
			errc := make(chan error, 1)
			go func() {
				_, err := c.ReadBatch(NewBatch(4, 64))
				errc <- err
			}()
			waitUntil(t, "ReadBatch blocks", func() bool { return blockedIn("udp.(*Conn).ReadBatch") })
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := <-errc; !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked ReadBatch returned %v, want net.ErrClosed", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := c.ReadBatch(NewBatch(1, 64)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("ReadBatch after Close returned %v, want net.ErrClosed", err)
			}
			out := NewOutBatch(1)
			out.Add([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9"))
			if sent, err := c.WriteBatch(out); sent != 0 || !errors.Is(err, net.ErrClosed) {
				t.Errorf("WriteBatch after Close = %d, %v; want 0, net.ErrClosed", sent, err)
			}
		})
	}
}

func TestReadDeadline(t *testing.T) {
	for _, p := range ioPaths() {
		t.Run(p.name, func(t *testing.T) {
			c := mustListen(t, "udp4", "127.0.0.1:0", Options{}, p.batched)
			if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
				t.Fatal(err)
			}
			b := NewBatch(2, 64)
			if n, err := c.ReadBatch(b); n != 0 || b.Len() != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("ReadBatch past deadline = %d, %v; want 0, deadline exceeded", n, err)
			}
		})
	}
}

func TestRunSink(t *testing.T) {
	const n = 50
	rx := mustListen(t, "udp4", "127.0.0.1:0", Options{}, haveMmsg)
	tx := mustListenAny(t, "udp4")
	for i := range n {
		if err := tx.WriteTo(fmt.Appendf(nil, "%d", i), rx.LocalAddr().AddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	var count atomic.Uint64
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- RunSink(ctx, rx, NewBatch(16, 64), &count) }()
	waitUntil(t, "the sink counted every datagram", func() bool { return count.Load() >= n })
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("RunSink after cancel = %v, want nil", err)
	}
	if got := count.Load(); got != n {
		t.Errorf("count = %d, want %d", got, n)
	}

	// A sink whose socket is closed under it reports why it stopped.
	if err := rx.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go func() { errc <- RunSink(t.Context(), rx, NewBatch(16, 64), &count) }()
	waitUntil(t, "the sink blocks", func() bool { return blockedIn("udp.(*Conn).ReadBatch") })
	rx.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Errorf("RunSink on a closed socket = %v, want net.ErrClosed", err)
	}
}

// hasNetAdmin reports whether this Linux process has CAP_NET_ADMIN in its
// effective set, which SO_RCVBUFFORCE needs.
func hasNetAdmin(t *testing.T) bool {
	t.Helper()
	const capNetAdmin = 12 // linux/capability.h
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				t.Fatalf("CapEff %q: %v", hex, err)
			}
			return caps&(1<<capNetAdmin) != 0
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return false
}

func procInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// A batched read knows when the kernel received its first datagram: after
// the send began and before the read returned, so the time since is how
// long it waited in the socket. The portable read does not know.
func TestBatchArrived(t *testing.T) {
	for _, batched := range []bool{true, false} {
		rx := mustListen(t, "udp4", "127.0.0.1:0", Options{}, batched)
		tx := mustListen(t, "udp4", "127.0.0.1:0", Options{}, batched)
		b := NewBatch(4, 2048)
		before := time.Now()
		for i := range 3 {
			if err := tx.WriteTo([]byte{byte(i)}, rx.LocalAddr().AddrPort()); err != nil {
				t.Fatal(err)
			}
		}
		if err := rx.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := rx.ReadBatch(b); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		at, ok := b.Arrived()
		switch {
		case batched && haveMmsg && (!ok || at.Before(before.Add(-time.Millisecond)) || at.After(after)):
			t.Errorf("batched: arrived %v (known %v), want between %v and %v", at, ok, before, after)
		case (!batched || !haveMmsg) && ok:
			t.Errorf("one at a time: arrived %v, want unknown", at)
		}
	}
}
