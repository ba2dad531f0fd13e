package silence

import (
	"fmt"
	"testing"
	"time"
)

// Match runs on every alert change; a store full of maintenance windows
// must cost it no schedule arithmetic (Window is cached at each edge).
func BenchmarkMatchThousandWindows(b *testing.B) {
	clk := newFakeClock(utc(2026, 1, 7, 12, 0))
	s, err := Open("", clk, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sched, err := ParseSchedule("Sat 02:00-04:00", 0, "Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := s.Add(Silence{Host: fmt.Sprintf("db%d*", i), Schedule: sched, Origin: "api"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if s.Match("web01", "heartbeat") != nil {
			b.Fatal("matched")
		}
	}
}

// Occurrence runs when a window is added and at its edges.
func BenchmarkOccurrence(b *testing.B) {
	for _, tc := range []struct {
		spec string
		d    time.Duration
	}{{"Sat 02:00-04:00", 0}, {"0 2 * * 6", 2 * time.Hour}, {"*/10 * * * * *", 5 * time.Second}} {
		sched, err := ParseSchedule(tc.spec, tc.d, "Europe/Berlin")
		if err != nil {
			b.Fatal(err)
		}
		now := utc(2026, 3, 28, 12, 0)
		b.Run(tc.spec, func(b *testing.B) {
			for b.Loop() {
				if _, ok := sched.Occurrence(now); !ok {
					b.Fatal("no window")
				}
			}
		})
	}
}
