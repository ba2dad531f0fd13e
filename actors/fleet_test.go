package actors

import (
	"slices"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
)

// alertHosts are the names of the hosts in s's alert index, sorted.
func alertHosts(s *FleetSnapshot) []string {
	var out []string
	if s.Alerts != nil {
		for _, e := range s.Alerts.Sorted {
			out = append(out, e.Host)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// The snapshot keeps hosts sorted, counts states, and lists exactly the
// hosts with active alerts, following every change.
func TestFleetPublish(t *testing.T) {
	f := &Fleet{}
	a := newFleetActor(f, RealClock{}, time.Hour, nil, NewStats())
	put := func(s *HostSummary) { a.pending[s.Name] = s }
	alerting := func() []string { return alertHosts(f.Snapshot()) }
	put(&HostSummary{Name: "web02", State: StateUp})
	put(&HostSummary{Name: "db01", State: StateDown, Alerts: []*AlertEntry{{Host: "db01", Path: "heartbeat", Level: alert.LevelCritical}}})
	put(&HostSummary{Name: "web01", State: StateUp})
	a.publish()
	s := f.Snapshot()
	if names := []string{s.Hosts[0].Name, s.Hosts[1].Name, s.Hosts[2].Name}; names[0] != "db01" || names[1] != "web01" || names[2] != "web02" {
		t.Fatalf("hosts not sorted: %v", names)
	}
	if s.CountByState(StateUp) != 2 || s.CountByState(StateDown) != 1 {
		t.Fatalf("by state %v", s.ByState)
	}
	if got := alerting(); len(got) != 1 || got[0] != "db01" {
		t.Fatalf("alerting %v, want [db01]", got)
	}
	if s.Find("web02") == nil || s.Find("nope") != nil {
		t.Fatal("Find")
	}

	// web01 starts alerting, db01 recovers.
	put(&HostSummary{Name: "web01", State: StateDegraded, Alerts: []*AlertEntry{{Host: "web01", Path: "heartbeat", Level: alert.LevelWarning}}})
	put(&HostSummary{Name: "db01", State: StateUp})
	a.publish()
	if got := alerting(); len(got) != 1 || got[0] != "web01" {
		t.Fatalf("alerting %v, want [web01]", got)
	}
	if s := f.Snapshot(); s.CountByState(StateUp) != 2 || s.CountByState(StateDegraded) != 1 || s.CountByState(StateDown) != 0 {
		t.Fatalf("by state %v", s.ByState)
	}
	// A change that touches no alert keeps the list.
	put(&HostSummary{Name: "web02", State: StateDown})
	a.publish()
	if got := alerting(); len(got) != 1 || got[0] != "web01" {
		t.Fatalf("alerting %v after an unrelated change", got)
	}
}
