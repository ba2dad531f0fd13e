package actors

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
)

// sortedAlerts is the alert index built from scratch: every alert of the
// fleet, sorted, counted.
func sortedAlerts(hosts []*HostSummary) *AlertIndex {
	ix := &AlertIndex{}
	for _, h := range hosts {
		for _, e := range h.Alerts {
			ix.Sorted = append(ix.Sorted, e)
			ix.count(e, 1)
		}
	}
	slices.SortStableFunc(ix.Sorted, compareAlerts)
	return ix
}

var testLevels = []alert.Level{alert.LevelWarning, alert.LevelCritical, alert.LevelUnknown}

// randomAlerts are 0..3 alerts of host, with few distinct times so that
// the order's later keys (host, path) decide often.
func randomAlerts(r *rand.Rand, host string) []*AlertEntry {
	var out []*AlertEntry
	for k := range r.IntN(4) {
		out = append(out, &AlertEntry{Host: host, Path: fmt.Sprintf("p%d.v", k), Level: testLevels[r.IntN(3)],
			Since: t0.Add(time.Duration(r.IntN(4)) * time.Second)})
	}
	return out
}

// The index the fleet publishes after each round of changes (new hosts,
// changed alerts, unchanged lists republished, hosts taken out) is the
// one a sort of the whole fleet gives, with the same counts.
func TestAlertIndexFollowsChanges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	f := &Fleet{}
	a := newFleetActor(f, RealClock{}, time.Hour, nil, NewStats())
	cur := map[string]*HostSummary{}
	for round := range 300 {
		for range 1 + r.IntN(8) {
			name := fmt.Sprintf("h%02d", r.IntN(40))
			s := &HostSummary{Name: name, State: StateUp}
			switch old, ok := cur[name]; {
			case ok && r.IntN(3) == 0:
				s.Alerts = old.Alerts // republished, alerts unchanged
			default:
				s.Alerts = randomAlerts(r, name)
			}
			cur[name] = s
			a.pending[name] = s
			delete(a.removed, name)
		}
		if round%7 == 3 && len(cur) > 0 {
			// A host leaves the view (a cluster's host moved away).
			for name := range cur {
				delete(cur, name)
				delete(a.pending, name)
				a.removed[name] = struct{}{}
				break
			}
		}
		a.publish()
		s := f.Snapshot()
		want := sortedAlerts(s.Hosts)
		got := s.Alerts
		if got == nil {
			got = &AlertIndex{}
		}
		if n := alertIndexRebuilds.Load(); n != 0 {
			t.Fatalf("round %d: the index was rebuilt %d times (an alert not where the order puts it)", round, n)
		}
		if !slices.Equal(got.Sorted, want.Sorted) || got.Critical != want.Critical || got.Warning != want.Warning || got.Unknown != want.Unknown {
			t.Fatalf("round %d: index of %d alerts (%d/%d/%d), a sort gives %d (%d/%d/%d)", round,
				len(got.Sorted), got.Critical, got.Warning, got.Unknown, len(want.Sorted), want.Critical, want.Warning, want.Unknown)
		}
	}
}

// What a publication costs the alert index with 100,000 hosts, half of
// them alerting, when 1,000 of them changed level: the update against the sort of every alert it replaces (per
// request before).
func BenchmarkAlertIndex(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	hosts := make([]*HostSummary, 100_000)
	for i := range hosts {
		name := fmt.Sprintf("host%06d", i)
		hosts[i] = &HostSummary{Name: name}
		if i%2 == 0 {
			hosts[i].Alerts = []*AlertEntry{{Host: name, Path: "cpu.load", Level: testLevels[r.IntN(3)], Since: t0.Add(time.Duration(r.IntN(3600)) * time.Second)}}
		}
	}
	base := sortedAlerts(hosts)
	var removed, added []*AlertEntry
	for i := 0; i < len(hosts); i += 100 {
		removed = append(removed, hosts[i].Alerts...)
		added = append(added, &AlertEntry{Host: hosts[i].Name, Path: "cpu.load", Level: alert.LevelCritical, Since: t0.Add(2 * time.Hour)})
	}
	b.Run("merge", func(b *testing.B) {
		for b.Loop() {
			updateAlerts(base, removed, slices.Clone(added))
		}
	})
	b.Run("sort", func(b *testing.B) {
		for b.Loop() {
			sortedAlerts(hosts)
		}
	})
}

// Select takes the alerts of the matching hosts that keep takes, in the
// index's order, and counts every alert of those hosts by level (what
// /api/0/alerts?host=GLOB&level=L answers): against a plain filter of
// the index, for every combination.
func TestAlertIndexSelect(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var hosts []*HostSummary
	for i := range 60 {
		name := fmt.Sprintf("%s%02d", []string{"web", "db"}[i%2], i)
		hosts = append(hosts, &HostSummary{Name: name, Alerts: randomAlerts(r, name)})
	}
	ix := sortedAlerts(hosts)
	isDB := func(h string) bool { return strings.HasPrefix(h, "db") }
	critical := func(e *AlertEntry) bool { return e.Level == alert.LevelCritical }
	for _, tc := range []struct {
		name  string
		match func(string) bool
		keep  func(*AlertEntry) bool
	}{{"all", nil, nil}, {"db*", isDB, nil}, {"CRITICAL", nil, critical}, {"db* CRITICAL", isDB, critical}} {
		want := &AlertIndex{}
		for _, e := range ix.Sorted {
			if tc.match != nil && !tc.match(e.Host) {
				continue
			}
			want.count(e, 1)
			if tc.keep == nil || tc.keep(e) {
				want.Sorted = append(want.Sorted, e)
			}
		}
		got := ix.Select(tc.match, tc.keep)
		if !slices.Equal(got.Sorted, want.Sorted) || got.Critical != want.Critical || got.Warning != want.Warning || got.Unknown != want.Unknown {
			t.Errorf("%s: %d alerts (%d/%d/%d), want %d (%d/%d/%d)", tc.name, len(got.Sorted), got.Critical, got.Warning, got.Unknown,
				len(want.Sorted), want.Critical, want.Warning, want.Unknown)
		}
		if tc.match != nil && len(got.Sorted) == len(ix.Sorted) {
			t.Errorf("%s: the filter took every alert; the test's fleet should have others", tc.name)
		}
	}
}
