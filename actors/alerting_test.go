package actors

import (
	"context"
	"encoding/json"
	"io"
	"math"
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

// A firing alert is re-sent every repeat interval, each send counted in
// notification_count; recovery sends one RECOVERY and stops the repeats.
// Time is a fake clock: nothing here waits for a real minute.
func TestNotifierRepeatsFiringAlerts(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	var times []float64 // each notification's "time", unix seconds
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &n)
		mu.Lock()
		kinds = append(kinds, n["kind"].(string)+":"+n["level"].(string))
		at, _ := n["time"].(float64)
		times = append(times, at)
		mu.Unlock()
	}))
	defer srv.Close()
	got := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), kinds...) }
	sentAt := func(i int) float64 { mu.Lock(); defer mu.Unlock(); return times[i] }

	hook, err := notify.NewWebhook(notify.WebhookConfig{Name: "hook", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(time.Now())
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := Start(Config{
		Listener:    ingest.Config{Host: "127.0.0.1", Keys: ingest.NewKeys(key, nil), Watch: map[string]bool{"h": true}, MaxClockSkew: time.Hour, RecvBuffer: 1 << 20},
		Clock:       clock,
		Routes:      []notify.Route{{Channel: hook, MinLevel: "WARNING", Repeat: time.Minute}},
		RepeatCheck: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	sg := wire.NewSigner(key)
	seq := uint64(0)
	beat := func() {
		seq++
		b, _ := wire.AppendHeartbeat(nil, sg, wire.Envelope{Host: "h", Seq: seq, Time: clock.Now().UnixNano()}, wire.Heartbeat{IntervalMS: 10000, ConnSeq: uint32(seq)})
		sendUDP(t, s.UDPAddrs()[0], b)
		// Applied before the test moves the clock again.
		eventually(t, "heartbeat applied", func() bool { return s.Stats.AcceptedKind(wire.KindHeartbeat) == seq })
	}
	beat()
	eventually(t, "h UP", func() bool { return stateOf(s, "h") == StateUp })
	clock.Advance(30 * time.Second)
	eventually(t, "problem sent", func() bool { return strings.Join(got(), " ") == "problem:CRITICAL" })
	count := func() int {
		r, _ := s.QueryAlerts(context.Background(), "h")
		var v struct {
			Alerts []struct {
				MetricPath        string `json:"metric_path"`
				NotificationCount int    `json:"notification_count"`
			} `json:"alerts"`
		}
		_ = json.Unmarshal(r.Body, &v)
		for _, a := range v.Alerts {
			if a.MetricPath == "heartbeat" {
				return a.NotificationCount
			}
		}
		return -1
	}
	eventually(t, "count 1", func() bool { return count() == 1 })
	clock.Advance(50 * time.Second) // 50 s after the problem: no repeat yet
	// The repeat check that came due has been handled (and the next one
	// armed) before the clock moves on.
	s.wait(s.notifier)
	clock.Advance(10 * time.Second)
	eventually(t, "first repeat", func() bool { return strings.Join(got(), " ") == "problem:CRITICAL repeat:CRITICAL" })
	// The repeat carries the time it was decided at: one sent at the 50 s
	// step would say so (and leave none for the 60 s step).
	if d := sentAt(1) - sentAt(0); math.Abs(d-60) > 0.01 {
		t.Fatalf("first repeat %.3f s after the problem, want 60 (repeat = 1m)", d)
	}
	eventually(t, "count 2", func() bool { return count() == 2 })
	beat()
	eventually(t, "recovery", func() bool { return strings.Join(got(), " ") == "problem:CRITICAL repeat:CRITICAL recovery:OK" })
	// Two more minutes, the host healthy: no repeats of the recovered alert.
	for i := 0; i < 12; i++ {
		clock.Advance(10 * time.Second)
		s.wait(s.notifier)
		beat()
	}
	// The host then goes silent: its new problem is the barrier. A repeat
	// decided in the two minutes before went to the same route's queue
	// first, so it would show up ahead of the problem.
	clock.Advance(30 * time.Second)
	eventually(t, "second problem", func() bool { return len(got()) >= 4 })
	if s := strings.Join(got(), " "); s != "problem:CRITICAL repeat:CRITICAL recovery:OK problem:CRITICAL" {
		t.Fatalf("repeats after recovery: %v", got())
	}
}
