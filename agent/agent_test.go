package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/internal/clock/fakeclock"
	"github.com/hbd-project/hbd/transport/ingest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// logBuffer collects an agent's JSON log while its ACK readers write to it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// msgs returns the messages logged at level.
func (l *logBuffer) msgs(level string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, b := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		var m struct{ Level, Msg string }
		if json.Unmarshal(b, &m) == nil && m.Level == level {
			out = append(out, m.Msg)
		}
	}
	return out
}

// startDaemon starts the real daemon pipeline on 127.0.0.1:port (0: any).
func startDaemon(t *testing.T, key []byte, port int) *actors.System {
	t.Helper()
	s, err := actors.Start(actors.Config{
		Listener: ingest.Config{Host: "127.0.0.1", Port: port, RecvBuffer: 1 << 20, Keys: ingest.NewKeys(key, nil), AcceptDynamic: true, MaxClockSkew: time.Hour},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func newTestAgent(t *testing.T, key []byte, servers []string, clk *fakeclock.Clock, log io.Writer) *Agent {
	t.Helper()
	a, err := New(Options{
		Name: "w1", Servers: servers, Interval: 10 * time.Second, Key: key, Clock: clk,
		Logger: slog.New(slog.NewJSONHandler(log, nil)),
		Resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
			if host == "also-loopback.test" {
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			}
			return nil, errors.New("no such host")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An address that answers no heartbeat is reported at the fourth, once per
// outage, and the ACKs' return is logged with the outage's length. The
// daemon is the real pipeline, down and then up on the same port; the
// agent's clock is a fake, so ten-second intervals take no time.
func TestAgentWarnsOncePerOutage(t *testing.T) {
	down := startDaemon(t, testKey, 0)
	port := int(down.UDPAddrs()[0].Port())
	down.Stop()
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	clock := fakeclock.New(time.Now())
	var log logBuffer
	a := newTestAgent(t, testKey, []string{addr}, clock, &log)
	ctx := context.Background()
	a.resolve(ctx)
	stop := a.startReaders()
	defer stop()

	warning := "no ACK from " + addr + " for 30s: daemon down, wrong key or blocked"
	for i := 0; i < 3; i++ {
		a.heartbeat(ctx)
		clock.Advance(10 * time.Second)
	}
	if w := log.msgs("WARN"); len(w) != 0 {
		t.Fatalf("warned after 3 heartbeats: %q", w)
	}
	a.heartbeat(ctx) // at 30 s
	clock.Advance(10 * time.Second)
	a.heartbeat(ctx) // at 40 s: the same outage
	if w := log.msgs("WARN"); len(w) != 1 || w[0] != warning {
		t.Fatalf("warnings %q, want once %q", w, warning)
	}

	startDaemon(t, testKey, port)
	clock.Advance(10 * time.Second)
	a.heartbeat(ctx) // at 50 s, answered
	want := "ACKs from " + addr + " again after 50s"
	eventually(t, "the resumed line", func() bool {
		for _, m := range log.msgs("INFO") {
			if m == want {
				return true
			}
		}
		return false
	})

	// Heartbeats answered from here on: the daemon is up, so each ACK is
	// waited for before the next (the barrier for "no warning").
	for i := 0; i < 5; i++ {
		clock.Advance(10 * time.Second)
		a.heartbeat(ctx)
		eventually(t, "the ACK", func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.dests[0].watch.unanswered == 0
		})
	}
	if w := log.msgs("WARN"); len(w) != 1 {
		t.Fatalf("warnings %q while every heartbeat was answered", w)
	}
}

// Check reports, per address, the round trip or nothing, and why a server
// has no address. Two servers that resolve to the same address each get
// their answer.
func TestCheck(t *testing.T) {
	good := startDaemon(t, testKey, 0)
	other := startDaemon(t, []byte("another key, not this agent's!!!"), 0)
	servers := []string{good.UDPAddrs()[0].String(), other.UDPAddrs()[0].String(), "nowhere.invalid:50003",
		fmt.Sprintf("also-loopback.test:%d", good.UDPAddrs()[0].Port())}
	var log logBuffer
	a := newTestAgent(t, testKey, servers, fakeclock.New(time.Now()), &log)
	res := a.Check(context.Background(), 500*time.Millisecond)
	if len(res) != 4 {
		t.Fatalf("%d results, want 4: %+v", len(res), res)
	}
	if res[3].Server != servers[3] || res[3].Addr != good.UDPAddrs()[0] || res[3].RTT <= 0 {
		t.Errorf("second server on the same address: %+v, want its own RTT", res[3])
	}
	if res[0].Server != servers[0] || res[0].RTT <= 0 || res[0].Err != nil {
		t.Errorf("daemon with our key: %+v, want an RTT", res[0])
	}
	if res[1].Server != servers[1] || res[1].RTT != 0 || res[1].Err != nil {
		t.Errorf("daemon with another key: %+v, want no answer and no error", res[1])
	}
	if res[2].Server != servers[2] || res[2].Addr.IsValid() || res[2].Err == nil || !strings.Contains(res[2].Err.Error(), "cannot resolve nowhere.invalid") {
		t.Errorf("unresolvable server: %+v, want a resolve error", res[2])
	}
	eventually(t, "the other daemon noting the rejected heartbeat", func() bool {
		top := other.Rejected.Top(1)
		return len(top) == 1 && top[0].Host == "w1" && top[0].Reason.String() == "bad_mac"
	})
}
