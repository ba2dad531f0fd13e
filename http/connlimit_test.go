package http

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a log sink for tests whose code logs from goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

// failingListener is the operating system's listener as it behaves when
// the process is out of file descriptors: Accept fails with EMFILE (and
// ENFILE) a number of times, then returns a connection.
type failingListener struct {
	mu     sync.Mutex
	errs   []error
	conn   net.Conn
	closed chan struct{}
}

func (f *failingListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.closed:
		return nil, net.ErrClosed
	default:
	}
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	if f.conn != nil {
		c := f.conn
		f.conn = nil
		return c, nil
	}
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

func (f *failingListener) Close() error {
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
	return nil
}

func (f *failingListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// Accept failures (EMFILE, ENFILE) are retried with a backoff that doubles
// from 5 ms to 1 s, counted, and logged once; Accept then returns the
// connection instead of the error that used to stop fasthttp.
func TestAcceptBackoff(t *testing.T) {
	t.Parallel()
	log, buf := testLogger()
	lim := newConnLimiter(0, 0, newRefusals(log, time.Now), log)
	var slept []time.Duration
	lim.sleep = func(d time.Duration, _ <-chan struct{}) bool { slept = append(slept, d); return true }

	client, server := net.Pipe()
	defer client.Close()
	var errs []error
	for i := range 12 {
		if i%2 == 0 {
			errs = append(errs, acceptErr(syscall.EMFILE))
		} else {
			errs = append(errs, acceptErr(syscall.ENFILE))
		}
	}
	inner := &failingListener{errs: errs, conn: server, closed: make(chan struct{})}
	ln := lim.wrap("api", inner, true)

	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept returned %v; it must retry until it has a connection", err)
	}
	if _, ok := c.(*limitedConn); !ok {
		t.Errorf("Accept returned %T, want the counted connection", c)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000}
	if len(slept) != len(want) {
		t.Fatalf("slept %v, want %d waits", slept, len(want))
	}
	for i := range want {
		if slept[i] != want[i]*time.Millisecond {
			t.Errorf("wait %d = %s, want %s", i, slept[i], want[i]*time.Millisecond)
		}
	}
	if n := lim.stats("api").acceptErr.Load(); n != 12 {
		t.Errorf("accept errors counted = %d, want 12", n)
	}
	if n := strings.Count(buf.String(), "cannot accept connections"); n != 1 {
		t.Errorf("logged %d accept-error lines for 12 errors within a minute, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "too many open files") {
		t.Errorf("the log line does not name the error:\n%s", buf.String())
	}

	// A success resets the backoff: the next failure waits 5 ms again.
	slept = nil
	inner.mu.Lock()
	inner.errs = []error{acceptErr(syscall.EMFILE)}
	c2, s2 := net.Pipe()
	defer c2.Close()
	inner.conn = s2
	inner.mu.Unlock()
	if _, err := ln.Accept(); err != nil {
		t.Fatal(err)
	}
	if len(slept) != 1 || slept[0] != 5*time.Millisecond {
		t.Errorf("after a success the backoff is %v, want [5ms]", slept)
	}
}

// Closing the listener ends an Accept that is waiting to retry, with the
// error fasthttp takes as a clean stop.
func TestAcceptCloseDuringBackoff(t *testing.T) {
	t.Parallel()
	log, _ := testLogger()
	lim := newConnLimiter(0, 0, newRefusals(log, time.Now), log)
	waiting := make(chan struct{})
	var once sync.Once
	lim.sleep = func(_ time.Duration, done <-chan struct{}) bool {
		once.Do(func() { close(waiting) })
		<-done
		return false
	}
	inner := &failingListener{closed: make(chan struct{})}
	ln := lim.wrap("ws", inner, true)
	res := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		res <- err
	}()
	<-waiting
	ln.Close()
	if err := <-res; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

// dialFrom connects to addr from a chosen loopback source address.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refusedWith reads what the server sent on a refused connection.
func refusedWith(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read from a refused connection: %v", err)
	}
	return strings.TrimSpace(line)
}

// The caps: per client address, then in total; a closed connection frees
// its slot; each refusal is counted by reason and answered with a status.
func TestConnCaps(t *testing.T) {
	t.Parallel()
	log, _ := testLogger()
	ref := newRefusals(log, time.Now)
	lim := newConnLimiter(5, 3, ref, log)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := lim.wrap("api", raw, true)
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	addr := raw.Addr().String()
	var server []net.Conn
	take := func() net.Conn {
		select {
		case c := <-accepted:
			server = append(server, c)
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}

	for range 3 {
		dialFrom(t, "127.0.0.2", addr)
		take()
	}
	over := dialFrom(t, "127.0.0.2", addr)
	if got := refusedWith(t, over); got != "HTTP/1.1 429 Too Many Requests" {
		t.Errorf("4th connection from one address answered %q, want a 429", got)
	}
	for range 2 {
		dialFrom(t, "127.0.0.3", addr)
		take()
	}
	full := dialFrom(t, "127.0.0.4", addr)
	if got := refusedWith(t, full); got != "HTTP/1.1 503 Service Unavailable" {
		t.Errorf("6th connection in total answered %q, want a 503", got)
	}
	if lim.open() != 5 {
		t.Errorf("open = %d, want 5", lim.open())
	}
	// Closing a connection frees its slot, once however often it is closed.
	server[0].Close()
	server[0].Close()
	if lim.open() != 4 {
		t.Errorf("open after a close = %d, want 4", lim.open())
	}
	dialFrom(t, "127.0.0.4", addr)
	take()
	if got, want := ref.count(ReasonPerIPLimit), uint64(1); got != want {
		t.Errorf("per_ip_limit refusals = %d, want %d", got, want)
	}
	if got, want := ref.count(ReasonConnLimit), uint64(1); got != want {
		t.Errorf("conn_limit refusals = %d, want %d", got, want)
	}
	if n := lim.stats("api").open.Load(); n != 5 {
		t.Errorf("listener gauge = %d, want 5", n)
	}
	for _, c := range server {
		c.Close()
	}
	lim.mu.Lock()
	open, entries := lim.total, len(lim.byIP)
	lim.mu.Unlock()
	if open != 0 || entries != 0 {
		t.Errorf("after closing everything: open %d, per-address entries %d; want 0, 0", open, entries)
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ a, b string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
	}
	for _, tt := range tests {
		if got := clientKey(netip.MustParseAddr(tt.a)).String(); got != tt.b {
			t.Errorf("clientKey(%s) = %s, want %s", tt.a, got, tt.b)
		}
	}
	if sourceName(netip.MustParseAddr("2001:db8::7")) != "2001:db8::/64" || sourceName(netip.MustParseAddr("10.1.2.3")) != "10.1.2.3" {
		t.Error("sourceName")
	}
}
