package deadman

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/internal/clock/fakeclock"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is an actors.Clock whose time moves only when the test says so.
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock { return fakeclock.New(time.Now()) }

// logRecorder is a slog.Handler that keeps every record, to check what is
// logged and how often.
type logRecorder struct {
	mu   sync.Mutex
	recs []string // "LEVEL msg key=value ..."
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, b.String())
	return nil
}

// matching returns the records containing s.
func (l *logRecorder) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if strings.Contains(r, s) {
			out = append(out, r)
		}
	}
	return out
}

// eventually polls cond until it holds: the pings run on their own
// goroutine. It waits for work to be done, never for time to pass in the
// logic under test (the fake clock does that).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func countsOf(d *Deadman, target string) Counts {
	for _, c := range d.Counts() {
		if c.Target == target {
			return c
		}
	}
	return Counts{}
}

// waitCounts waits until target's counters reach ok and failed. A ping's
// outcome is recorded after its timeout timer is stopped, so once this
// returns the test may move the clock without cutting the ping short.
func waitCounts(t *testing.T, d *Deadman, target string, ok, failed uint64) {
	t.Helper()
	eventually(t, target+" counts", func() bool {
		c := countsOf(d, target)
		return c.OK == ok && c.Failed == failed
	})
}

// A URL gets a request at start and then one every interval, with the
// configured method; the last success is the clock's time.
func TestURLPingsEveryInterval(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			var hits atomic.Int64
			var gotMethod, gotAgent atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotMethod.Store(r.Method)
				gotAgent.Store(r.UserAgent())
				hits.Add(1)
			}))
			defer srv.Close()
			clock := newFakeClock()
			d, err := Start(Options{URL: srv.URL + "/ping/secret-uuid", Method: method, Interval: time.Minute, Timeout: 10 * time.Second, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Stop()

			waitCounts(t, d, "url", 1, 0)
			if hits.Load() != 1 || gotMethod.Load() != method || gotAgent.Load() != "hbd-deadman" {
				t.Fatalf("hits %d, method %v, user agent %v; want 1, %s, hbd-deadman", hits.Load(), gotMethod.Load(), gotAgent.Load(), method)
			}
			if got := countsOf(d, "url").LastSuccess; !got.Equal(clock.Now()) {
				t.Errorf("last success %v, want the clock's %v", got, clock.Now())
			}
			// Half an interval and then the other half: exactly one ping more.
			clock.Advance(30 * time.Second)
			clock.Advance(30 * time.Second)
			waitCounts(t, d, "url", 2, 0)
			clock.Advance(time.Minute)
			waitCounts(t, d, "url", 3, 0)
			if hits.Load() != 3 {
				t.Errorf("receiver got %d requests, want 3", hits.Load())
			}
			if got := countsOf(d, "url").LastSuccess; !got.Equal(clock.Now()) {
				t.Errorf("last success %v, want %v", got, clock.Now())
			}
		})
	}
}

// An error status is a failure. The first failure is logged, then every
// tenth in a row, then the recovery; the URL's path (the check's secret)
// is in none of them.
func TestURLFailuresLoggedRateLimited(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	clock := newFakeClock()
	logs := &logRecorder{}
	d, err := Start(Options{URL: srv.URL + "/secret-uuid", Interval: time.Minute, Timeout: 10 * time.Second, Clock: clock, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	waitCounts(t, d, "url", 0, 1)
	for i := 2; i <= 12; i++ {
		clock.Advance(time.Minute)
		waitCounts(t, d, "url", 0, uint64(i))
	}
	failed := logs.matching("ping failed")
	if len(failed) != 2 || !strings.Contains(failed[0], "failures_in_a_row=1") || !strings.Contains(failed[1], "failures_in_a_row=10") {
		t.Fatalf("after 12 failures, failure logs = %q, want the 1st and the 10th", failed)
	}
	if !strings.Contains(failed[0], "503 Service Unavailable") {
		t.Errorf("failure log %q does not say the status", failed[0])
	}
	if got := countsOf(d, "url").LastSuccess; !got.IsZero() {
		t.Errorf("last success %v before any success", got)
	}

	status.Store(http.StatusOK)
	clock.Advance(time.Minute)
	waitCounts(t, d, "url", 1, 12)
	if rec := logs.matching("works again"); len(rec) != 1 || !strings.Contains(rec[0], "failures=12") {
		t.Errorf("recovery logs = %q, want one saying 12 failures", rec)
	}
	if leaked := logs.matching("secret-uuid"); len(leaked) > 0 {
		t.Errorf("logs show the URL's path: %q", leaked)
	}
}

// A URL that does not answer within the timeout (on the injected clock)
// fails with a timeout; one whose port is closed fails at once.
func TestURLTimeoutAndRefused(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	clock := newFakeClock()
	logs := &logRecorder{}
	d, err := Start(Options{URL: srv.URL, Interval: time.Minute, Timeout: 10 * time.Second, Clock: clock, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	eventually(t, "request in the receiver", func() bool { return started.Load() == 1 })
	clock.Advance(9 * time.Second)
	clock.Advance(time.Second)
	waitCounts(t, d, "url", 0, 1)
	if rec := logs.matching("no answer within 10s"); len(rec) != 1 {
		t.Errorf("timeout logs = %q, want one saying no answer within 10s", logs.matching("ping failed"))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	d2, err := Start(Options{URL: closed, Interval: time.Minute, Timeout: 10 * time.Second, Clock: clock, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Stop()
	waitCounts(t, d2, "url", 0, 1)
	if rec := logs.matching("connection refused"); len(rec) != 1 {
		t.Errorf("refused logs = %q, want one saying connection refused", logs.matching("ping failed"))
	}
}

// Stop cuts a ping in flight short, does not count it as a failure, and
// leaves no goroutine behind (goleak checks at the end).
func TestStopDuringPing(t *testing.T) {
	var started atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		<-r.Context().Done()
	}))
	defer srv.Close()
	d, err := Start(Options{URL: srv.URL, Interval: time.Minute, Timeout: 10 * time.Second, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "request in the receiver", func() bool { return started.Load() == 1 })
	d.Stop()
	d.Stop() // safe twice
	if c := countsOf(d, "url"); c.OK != 0 || c.Failed != 0 {
		t.Errorf("counts after a ping cut short by Stop: %+v, want none", c)
	}
	var none *Deadman
	none.Stop() // no [deadman]: nothing to stop
	if none.Counts() != nil {
		t.Error("a nil Deadman has counts")
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, tt := range []struct {
		name string
		opt  Options
		want string
	}{
		{"no target", Options{Interval: time.Minute, Timeout: time.Second}, "neither url nor peer"},
		{"timeout too long", Options{URL: "http://127.0.0.1:1/", Interval: time.Second, Timeout: time.Second}, "less than interval"},
		{"bad url", Options{URL: "ftp://x/", Interval: time.Minute, Timeout: time.Second}, "http or https"},
		{"bad method", Options{URL: "http://x/", Method: "PUT", Interval: time.Minute, Timeout: time.Second}, "GET or POST"},
		{"peer without port", Options{Peer: "127.0.0.1", Name: "a", Key: key, Interval: time.Minute, Timeout: time.Second}, "host:port"},
		{"bad name", Options{Peer: "127.0.0.1:1", Name: "-a", Key: key, Interval: time.Minute, Timeout: time.Second}, "invalid host name"},
		{"short key", Options{Peer: "127.0.0.1:1", Name: "a", Key: key[:8], Interval: time.Minute, Timeout: time.Second}, "key"},
	} {
		d, err := Start(tt.opt)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			d.Stop()
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// hostJSON is the part of a host's /api/0/hosts entry the peer tests read.
type hostJSON struct {
	State        string  `json:"state"`
	Interval     float64 `json:"interval"`
	AgentVersion string  `json:"agent_version"`
	Connections  []struct {
		RTTMs *float64 `json:"rtt_ms"`
	} `json:"connections"`
}

func hostIn(s *actors.System, name string) (hostJSON, bool) {
	h := s.Fleet.Snapshot().Find(name)
	if h == nil {
		return hostJSON{}, false
	}
	var v hostJSON
	_ = json.Unmarshal(h.JSON(), &v)
	return v, true
}

// startPeer starts a real daemon pipeline on loopback that accepts
// dynamic hosts signed with key.
func startPeer(t *testing.T, clock actors.Clock, key []byte) *actors.System {
	t.Helper()
	s, err := actors.Start(actors.Config{
		Listener: ingest.Config{
			Host: "127.0.0.1", RecvBuffer: 1 << 20,
			Keys: ingest.NewKeys(key, nil), AcceptDynamic: true, MaxClockSkew: time.Hour,
		},
		PublishEvery: time.Millisecond,
		Clock:        clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// A peer daemon registers the watcher as a host, UP with the interval and
// the version from its boot, and ACKs every heartbeat, which counts as a
// successful ping; a clean Stop makes the watcher STOPPED there, not DOWN.
func TestPeerHeartbeats(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	clock := newFakeClock()
	peer := startPeer(t, clock, key)
	d, err := Start(Options{
		Peer: peer.UDPAddrs()[0].String(), Name: "hbd-watcher", Key: key,
		Interval: time.Minute, Timeout: 10 * time.Second, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	waitCounts(t, d, "peer", 1, 0)
	// The peer ACKs as it reads; its fleet view follows.
	eventually(t, "watcher UP on the peer", func() bool {
		h, _ := hostIn(peer, "hbd-watcher")
		return h.State == "UP"
	})
	if h, _ := hostIn(peer, "hbd-watcher"); h.Interval != 60 || h.AgentVersion != bootVersion {
		t.Fatalf("watcher on the peer: %+v, want interval 60, version %q", h, bootVersion)
	}
	clock.Advance(time.Minute)
	waitCounts(t, d, "peer", 2, 0)
	if got := peer.Stats.AcceptedKind(wire.KindHeartbeat); got != 2 {
		t.Errorf("peer accepted %d heartbeats, want 2", got)
	}
	eventually(t, "RTT reported to the peer", func() bool {
		h, _ := hostIn(peer, "hbd-watcher")
		return len(h.Connections) == 1 && h.Connections[0].RTTMs != nil
	})
	d.Stop()
	eventually(t, "watcher STOPPED on the peer", func() bool {
		h, _ := hostIn(peer, "hbd-watcher")
		return h.State == "STOPPED"
	})
}

// A peer that does not know our key drops our heartbeats and sends no ACK:
// each ping fails when its timeout passes, and the peer learns nothing.
func TestPeerWithoutACKFails(t *testing.T) {
	clock := newFakeClock()
	peer := startPeer(t, clock, []byte("another key, 32 bytes long......"))
	logs := &logRecorder{}
	d, err := Start(Options{
		Peer: peer.UDPAddrs()[0].String(), Name: "hbd-watcher", Key: []byte("0123456789abcdef0123456789abcdef"),
		Interval: time.Minute, Timeout: 10 * time.Second, Clock: clock, Logger: slog.New(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	// The boot and the heartbeat reach the peer and are rejected there;
	// after that, nothing can make the ping succeed.
	eventually(t, "datagrams rejected by the peer", func() bool { return peer.Stats.DroppedTotal() == 2 })
	clock.Advance(10 * time.Second)
	waitCounts(t, d, "peer", 0, 1)
	if rec := logs.matching("no ACK from 127.0.0.1"); len(rec) != 1 {
		t.Errorf("failure logs = %q, want one saying no ACK", logs.matching("ping failed"))
	}
	if _, ok := hostIn(peer, "hbd-watcher"); ok {
		t.Error("the peer registered a host from datagrams it could not verify")
	}
}
