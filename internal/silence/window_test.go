package silence

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/limits"
)

// endLog records what the store hands to OnEnd.
type endLog struct {
	mu  sync.Mutex
	ids []string
}

func (l *endLog) add(list []Silence) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range list {
		id := s.ID
		if s.Narrowed {
			id += " narrowed"
		}
		l.ids = append(l.ids, id)
	}
}

func (l *endLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ids
	l.ids = nil
	return out
}

func TestWindowMutesOnlyInsideAndEndsOnItsEdge(t *testing.T) {
	// Wednesday 2026-01-07 12:00 UTC.
	clk := newFakeClock(utc(2026, 1, 7, 12, 0))
	file := filepath.Join(t.TempDir(), "silences.json")
	s, err := Open(file, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ends endLog
	s.OnEnd(ends.add)
	sched := mustSchedule(t, "Wed 12:10-12:20", 0, "UTC")
	w, err := s.Add(Silence{Host: "db*", Metric: "heartbeat", Schedule: sched, Origin: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Window.Start.Equal(utc(2026, 1, 7, 12, 10)) || !w.Window.End.Equal(utc(2026, 1, 7, 12, 20)) {
		t.Fatalf("window %+v", w.Window)
	}
	if s.Match("db1", "heartbeat") != nil {
		t.Error("muted before the window")
	}
	clk.Advance(10 * time.Minute)
	if s.Match("db1", "heartbeat") == nil || s.Match("web1", "heartbeat") != nil || s.Match("db1", "cpu.x") != nil {
		t.Error("inside the window: want db1's heartbeat muted and nothing else")
	}
	if got := ends.take(); len(got) != 0 {
		t.Errorf("ended at the window's start: %v", got)
	}
	clk.Advance(10*time.Minute - time.Millisecond)
	if got := ends.take(); len(got) != 0 {
		t.Errorf("ended before the window's end: %v", got)
	}
	clk.Advance(time.Millisecond)
	if got := ends.take(); !slices.Equal(got, []string{w.ID}) {
		t.Errorf("at the window's end, ended %v, want [%s]", got, w.ID)
	}
	if s.Match("db1", "heartbeat") != nil {
		t.Error("muted after the window")
	}
	// Still listed, with next week's window.
	list := s.List()
	if len(list) != 1 || !list[0].Window.Start.Equal(utc(2026, 1, 14, 12, 10)) {
		t.Fatalf("List = %+v", list)
	}
	clk.Advance(7*24*time.Hour - 5*time.Minute) // Wednesday the 14th, 12:15
	if s.Match("db1", "heartbeat") == nil {
		t.Error("next week's window does not mute")
	}
	s.Close()

	// The window comes back from the file, still open.
	s2, err := Open(file, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	list = s2.List()
	if len(list) != 1 || list[0].Schedule.String() != "Wed 12:10-12:20" || s2.Match("db7", "heartbeat") == nil {
		t.Fatalf("reloaded: %+v", list)
	}
}

func TestEveryWayASilenceEndsIsReported(t *testing.T) {
	clk := newFakeClock(utc(2026, 1, 7, 12, 0))
	s, err := Open("", clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ends endLog
	s.OnEnd(ends.add)
	// A one-shot silence expiring ends like a window closing.
	one, err := s.Add(Silence{Host: "a", Until: clk.Now().Add(time.Minute), Origin: "api"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if got := ends.take(); !slices.Equal(got, []string{one.ID}) {
		t.Errorf("expiry: ended %v", got)
	}
	// Deleting an open window ends it; deleting one that is not open
	// ends nothing.
	open, _ := s.Add(Silence{Host: "b", Schedule: mustSchedule(t, "* 00:00-24:00", 0, "UTC"), Origin: "api"})
	shut, _ := s.Add(Silence{Host: "c", Schedule: mustSchedule(t, "Sat 02:00-04:00", 0, "UTC"), Origin: "api"})
	if err := s.Remove(shut.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(open.ID); err != nil {
		t.Fatal(err)
	}
	if got := ends.take(); !slices.Equal(got, []string{open.ID}) {
		t.Errorf("deletes: ended %v, want only the open one", got)
	}
	if err := s.Remove("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(nope) = %v", err)
	}

	// Config windows: not removable by the API; a reload that drops an
	// open one ends it.
	cfg := []Silence{{Name: "nightly", Host: "d*", Schedule: mustSchedule(t, "* 00:00-24:00", 0, "UTC")}}
	if err := s.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if s.Match("d1", "x") == nil {
		t.Fatal("config window does not mute")
	}
	if err := s.Remove(ConfigID("nightly")); !errors.Is(err, ErrFromConfig) {
		t.Errorf("Remove(config window) = %v, want ErrFromConfig", err)
	}
	if err := s.SetConfig(cfg); err != nil { // a reload that keeps it ends nothing
		t.Fatal(err)
	}
	if got := ends.take(); len(got) != 0 {
		t.Errorf("reload keeping the window: ended %v", got)
	}
	// A reload that narrows an open window's hosts ends it for what it
	// no longer covers: reported as ended (the HostActors still covered
	// keep what they hold), and it mutes only the narrower set.
	narrow := []Silence{{Name: "nightly", Host: "d1*", Schedule: cfg[0].Schedule}}
	if err := s.SetConfig(narrow); err != nil {
		t.Fatal(err)
	}
	if got := ends.take(); !slices.Equal(got, []string{ConfigID("nightly") + " narrowed"}) {
		t.Errorf("reload narrowing the window: ended %v, want it reported narrowed", got)
	}
	if s.Match("d2", "x") != nil || s.Match("d1", "x") == nil {
		t.Error("the narrowed window mutes the wrong hosts")
	}
	if err := s.SetConfig(nil); err != nil {
		t.Fatal(err)
	}
	if got := ends.take(); !slices.Equal(got, []string{ConfigID("nightly")}) {
		t.Errorf("reload dropping the window: ended %v", got)
	}
	if err := s.SetConfig([]Silence{{Name: "x", Host: "d*"}}); err == nil {
		t.Error("SetConfig took a window without a schedule")
	}
}

func TestRecurringWindowsCountTowardsTheCaps(t *testing.T) {
	clk := newFakeClock(utc(2026, 1, 7, 12, 0))
	s, _ := newCappedSilences(t, "", clk, limits.Config{SilencesPerHost: 1, SilencesTotal: 10, GlobLength: 64})
	sched := mustSchedule(t, "Sat 02:00-04:00", 0, "UTC")
	if _, err := s.Add(Silence{Host: "h", Schedule: sched, Origin: "api"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(Silence{Host: "h", Schedule: sched, Origin: "api"}); !errors.Is(err, ErrTooMany) {
		t.Errorf("second window for the host: %v, want ErrTooMany", err)
	}
	if _, err := s.Add(Silence{Host: "h2", Schedule: sched, Until: clk.Now().Add(time.Hour), Origin: "api"}); err == nil {
		t.Error("a window with until was accepted")
	}
}
