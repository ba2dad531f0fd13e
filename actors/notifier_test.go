package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/notify"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

// lockedBuffer is a log destination safe for the actors' goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A burst of alerts on a channel that is slower than they come fills its
// queue; what does not fit is counted per channel, and journaled and
// logged once per channel per window with the count, not once per drop.
// The receiver is a real HTTP server on loopback that holds every request.
func TestNotifyQueueDropsCountedAndJournaled(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	hook, err := notify.NewWebhook(notify.WebhookConfig{Name: "slow-hook", URL: srv.URL, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	// "first" reports every second, the burst's hosts every 10 s, so
	// "first" goes DOWN alone and its notification occupies the worker
	// before the burst comes.
	const burst = 30
	watch := map[string]bool{"first": true}
	for i := range burst {
		watch[fmt.Sprintf("h%02d", i)] = true
	}
	clock := newFakeClock(time.Now())
	key := []byte("0123456789abcdef0123456789abcdef")
	logs := &lockedBuffer{}
	s, err := Start(Config{
		Listener:      ingest.Config{Host: "127.0.0.1", Keys: ingest.NewKeys(key, nil), Watch: watch, MaxClockSkew: time.Hour, RecvBuffer: 1 << 20},
		Clock:         clock,
		Logger:        slog.New(slog.NewTextHandler(logs, nil)),
		PublishEvery:  time.Millisecond,
		Routes:        []notify.Route{{Channel: hook, MinLevel: "WARNING"}},
		NotifyOptions: notify.DispatcherOptions{QueueSize: 2, MaxAttempts: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	defer close(release) // before Stop, which lets the send in hand finish

	sg := wire.NewSigner(key)
	seq := uint64(0)
	for name := range watch {
		seq++
		interval := uint32(10000)
		if name == "first" {
			interval = 1000
		}
		b, _ := wire.AppendHeartbeat(nil, sg, wire.Envelope{Host: name, Seq: seq, Time: clock.Now().UnixNano()}, wire.Heartbeat{IntervalMS: interval, ConnSeq: 1})
		sendUDP(t, s.UDPAddrs()[0], b)
	}
	eventually(t, "every host UP", func() bool { return s.Fleet.Snapshot().CountByState(StateUp) == burst+1 })

	clock.Advance(5 * time.Second) // "first" is 3 intervals late
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("first notification did not reach the receiver")
	}
	clock.Advance(30 * time.Second) // the burst: 2 fit in the queue
	drops := func() notify.Drops { return s.NotifyChannels()[0].Drops }
	eventually(t, "burst dropped", func() bool { return drops().QueueFull == burst-2 })

	// The first drop was reported at once; the rest at the end of its window.
	reports := func() []int {
		// The notifier's events reach the journal before this query does.
		s.wait(s.notifier)
		r, err := s.Messages(context.Background(), MessagesQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var ms []struct {
			Msg  string `json:"msg"`
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(r, &ms); err != nil {
			t.Fatal(err)
		}
		var out []int
		for _, m := range ms {
			var n int
			if _, err := fmt.Sscanf(m.Msg, "%d notification(s) via slow-hook dropped", &n); err == nil && m.Kind == "notify" {
				out = append([]int{n}, out...) // oldest first
			}
		}
		return out
	}
	if got := reports(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("drop reports before the window ends: %v, want [1]", got)
	}
	clock.Advance(dropReportEvery)
	if got := reports(); len(got) != 2 || got[1] != burst-3 {
		t.Fatalf("drop reports after the window: %v, want [1 %d]", got, burst-3)
	}
	// A window without drops reports nothing and closes.
	clock.Advance(dropReportEvery)
	clock.Advance(dropReportEvery)
	if got := reports(); len(got) != 2 {
		t.Fatalf("drop reports after quiet windows: %v, want still 2", got)
	}
	if n := strings.Count(logs.String(), "notifications dropped"); n != 2 {
		t.Errorf("%d drop log lines, want 2:\n%s", n, logs.String())
	}
	if ch := s.NotifyChannels(); len(ch) != 1 || ch[0].Name != "slow-hook" || ch[0].Queued != 2 || ch[0].Drops != (notify.Drops{QueueFull: burst - 2}) {
		t.Errorf("NotifyChannels = %+v, want slow-hook with 2 queued and %d dropped\n%s", ch, burst-2, logs.String())
	}
	if got := s.Stats.NotifyDropped.Load(); got != burst-2 {
		t.Errorf("Stats.NotifyDropped = %d, want %d", got, burst-2)
	}
}
