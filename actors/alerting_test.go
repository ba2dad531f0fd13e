package actors

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbd-project/hbd/actors/notify"
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
		Listener:    ListenerConfig{Host: "127.0.0.1", Keys: NewKeys(key, nil), Watch: map[string]bool{"h": true}, MaxClockSkew: time.Hour, RecvBuffer: 1 << 20},
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

func TestSilencesMatchExpireAndPersist(t *testing.T) {
	clock := newFakeClock(time.Now())
	file := filepath.Join(t.TempDir(), "silences.json")
	s, err := NewSilences(file, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Add(Silence{Host: "web*", Metric: "disk_monitor.*.percent", Until: clock.Now().Add(time.Hour), Comment: "disk swap"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(Silence{Host: "db01", Until: clock.Now().Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, metric string
		want         bool
	}{
		{"web01", "disk_monitor./.percent", true},
		{"web01", "disk_monitor./.used_gb", false},
		{"web01", "cpu_monitor.cpu_percent", false},
		{"db01", "anything.at.all", true},
		{"db02", "heartbeat", false},
	} {
		if got := s.Match(tc.host, tc.metric) != nil; got != tc.want {
			t.Errorf("Match(%s, %s) = %v, want %v", tc.host, tc.metric, got, tc.want)
		}
	}
	for _, bad := range []Silence{
		{Host: "", Until: clock.Now().Add(time.Hour)},
		{Host: "[", Until: clock.Now().Add(time.Hour)},
		{Host: "x", Metric: "cpu..x", Until: clock.Now().Add(time.Hour)},
		{Host: "x", Until: clock.Now().Add(-time.Second)},
	} {
		if _, err := s.Add(bad); err == nil {
			t.Errorf("Add(%+v) accepted", bad)
		}
	}
	s.Close()

	// Reloaded from disk; the one-hour silence expires, the other stays.
	s2, err := NewSilences(file, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n := len(s2.List()); n != 2 {
		t.Fatalf("reloaded %d silences, want 2", n)
	}
	clock.Advance(90 * time.Minute)
	if s2.Match("web01", "disk_monitor./.percent") != nil {
		t.Error("expired silence still matches")
	}
	if l := s2.List(); len(l) != 1 || l[0].Host != "db01" {
		t.Errorf("list after expiry %+v", l)
	}
	if !s2.Delete(s2.List()[0].ID) || s2.Delete("no-such-id") {
		t.Error("Delete: want true for the live silence, false for an unknown ID")
	}
	if s2.Match("db01", "x") != nil {
		t.Error("deleted silence still matches")
	}
}

func TestMetricMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, metric string
		want            bool
	}{
		{"", "anything.here", true},
		{"**", "a.b.c", true},
		{"heartbeat", "heartbeat", true},
		{"heartbeat", "heartbeats", false},
		{"disk_monitor.*.percent", "disk_monitor./.percent", true},
		{"disk_monitor.*.percent", "disk_monitor./var/lib.percent", true},
		{"disk_monitor.*.percent", "disk_monitor.io.sda.percent", false},
		{"cpu_monitor.*", "cpu_monitor.cpu_percent", true},
		{"cpu_*.cpu_percent", "cpu_monitor.cpu_percent", true},
		{"net.eth?.rx", "net.eth0.rx", true},
		{"net.eth?.rx", "net.eth10.rx", false},
	} {
		if got := metricMatch(tc.pattern, tc.metric); got != tc.want {
			t.Errorf("metricMatch(%q, %q) = %v, want %v", tc.pattern, tc.metric, got, tc.want)
		}
	}
}
