package silence

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/clock"
	"github.com/hbd-project/hbd/internal/clock/fakeclock"
	"github.com/hbd-project/hbd/internal/limits"
)

func newFakeClock(t time.Time) *fakeclock.Clock { return fakeclock.New(t) }

func TestSilencesMatchExpireAndPersist(t *testing.T) {
	clock := newFakeClock(time.Now())
	file := filepath.Join(t.TempDir(), "silences.json")
	s, err := Open(file, clock, nil)
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
	s2, err := Open(file, clock, nil)
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

func newCappedSilences(t *testing.T, file string, clk clock.Clock, caps limits.Config) (*Store, *limits.Refusals) {
	t.Helper()
	s, err := Open(file, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	caps.SetDefaults()
	r := limits.NewRefusals(limits.Options{})
	s.Limit(&caps, r)
	return s, r
}

// Silences are capped per host and in total; agents may fill only nine
// tenths of the total; globs longer than glob_length are refused.
func TestSilenceCaps(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s, r := newCappedSilences(t, "", clock, limits.Config{SilencesPerHost: 2, SilencesTotal: 5, GlobLength: 32})
	add := func(host, origin string) error {
		_, err := s.Add(Silence{Host: host, Until: clock.Now().Add(time.Hour), Origin: origin})
		return err
	}
	for _, h := range []string{"a", "a"} {
		if err := add(h, "agent"); err != nil {
			t.Fatal(err)
		}
	}
	if err := add("a", "agent"); !errors.Is(err, ErrTooMany) {
		t.Fatalf("third silence of host a: %v, want ErrTooMany", err)
	}
	if err := add("b", "agent"); err != nil {
		t.Fatal(err)
	}
	if err := add("c", "agent"); err != nil {
		t.Fatal(err)
	}
	// Agents hold 4 of 5: the last one is the API's.
	if err := add("d", "agent"); !errors.Is(err, ErrTooMany) {
		t.Fatalf("agent silence past 9/10 of the total: %v", err)
	}
	if err := add("d", "api"); err != nil {
		t.Fatalf("API silence within the total: %v", err)
	}
	if err := add("e", "api"); !errors.Is(err, ErrTooMany) {
		t.Fatalf("API silence past the total: %v", err)
	}
	long := strings.Repeat("x", 33)
	if _, err := s.Add(Silence{Host: "f", Metric: long, Until: clock.Now().Add(time.Hour), Origin: "api"}); err == nil || errors.Is(err, ErrTooMany) || !RefusedByCap(err) {
		t.Fatalf("long glob: %v", err)
	}
	if got := []uint64{r.Count(limits.SilencesPerHost), r.Count(limits.SilencesTotal), r.Count(limits.GlobLength)}; fmt.Sprint(got) != "[1 2 1]" {
		t.Errorf("refusals per host, total, glob = %v, want [1 2 1]", got)
	}
	// An expired silence frees its place.
	clock.Advance(2 * time.Hour)
	if err := add("a", "agent"); err != nil {
		t.Errorf("after expiry: %v", err)
	}
}

// A flood of silences rewrites the file about once a second, not once per
// silence, and a clean stop saves every one.
func TestSilencesSaveIsPacedAndCloseSavesAll(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	file := filepath.Join(t.TempDir(), "silences.json")
	s, _ := newCappedSilences(t, file, clock, limits.Config{SilencesPerHost: 1000, SilencesTotal: 1000})
	for i := range 500 {
		if _, err := s.Add(Silence{Host: fmt.Sprintf("h%d", i), Until: clock.Now().Add(time.Hour), Origin: "api"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// The whole run takes well under a second, so one write at the first
	// request and one at Close; allow one more for a slow machine.
	if n := s.writes.Load(); n > 3 {
		t.Errorf("%d writes for 500 silences, want at most 3", n)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var saved []json.RawMessage
	if err := json.Unmarshal(b, &saved); err != nil || len(saved) != 500 {
		t.Fatalf("file holds %d silences (%v), want 500", len(saved), err)
	}
}
