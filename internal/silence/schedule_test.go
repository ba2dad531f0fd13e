package silence

import (
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustSchedule(t *testing.T, spec string, d time.Duration, zone string) *Schedule {
	t.Helper()
	s, err := ParseSchedule(spec, d, zone)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// at is a wall-clock time in loc; the tests below use times that exist
// once.
func at(loc *time.Location, y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, loc)
}

func utc(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, time.UTC)
}

func checkWindow(t *testing.T, s *Schedule, now time.Time, start, end time.Time) {
	t.Helper()
	w, ok := s.Occurrence(now)
	if !ok {
		t.Fatalf("%s at %s: no window", s, now)
	}
	if !w.Start.Equal(start) || !w.End.Equal(end) {
		t.Errorf("%s at %s: window %s..%s, want %s..%s", s, now.UTC(), w.Start.UTC(), w.End.UTC(), start.UTC(), end.UTC())
	}
}

func TestScheduleRangeAcrossWeekBoundaries(t *testing.T) {
	ber := mustZone(t, "Europe/Berlin")
	// 2026-01-07 is a Wednesday; the 10th a Saturday.
	sat := mustSchedule(t, "Sat 02:00-04:00", 0, "Europe/Berlin")
	checkWindow(t, sat, at(ber, 2026, 1, 7, 12, 0), at(ber, 2026, 1, 10, 2, 0), at(ber, 2026, 1, 10, 4, 0))
	checkWindow(t, sat, at(ber, 2026, 1, 10, 3, 0), at(ber, 2026, 1, 10, 2, 0), at(ber, 2026, 1, 10, 4, 0))
	// The end is not in the window: the next one is a week later.
	checkWindow(t, sat, at(ber, 2026, 1, 10, 4, 0), at(ber, 2026, 1, 17, 2, 0), at(ber, 2026, 1, 17, 4, 0))
	// Berlin is UTC+1 in January: 02:00 there is 01:00 UTC.
	if w, _ := sat.Occurrence(at(ber, 2026, 1, 7, 12, 0)); !w.Start.Equal(utc(2026, 1, 10, 1, 0)) {
		t.Errorf("start %s, want 01:00 UTC", w.Start.UTC())
	}

	// Sunday night into Monday: the window that opened on Sunday is still
	// open on Monday, across the week's end and a year's.
	sun := mustSchedule(t, "Sun 23:00-01:00", 0, "Europe/Berlin")
	checkWindow(t, sun, at(ber, 2025, 12, 29, 0, 30), at(ber, 2025, 12, 28, 23, 0), at(ber, 2025, 12, 29, 1, 0))
	checkWindow(t, sun, at(ber, 2025, 12, 29, 1, 0), at(ber, 2026, 1, 4, 23, 0), at(ber, 2026, 1, 5, 1, 0))

	wk := mustSchedule(t, "mon-fri 22:00-06:00", 0, "Europe/Berlin")
	// Friday's window runs into Saturday; the next opens Monday.
	checkWindow(t, wk, at(ber, 2026, 1, 10, 5, 0), at(ber, 2026, 1, 9, 22, 0), at(ber, 2026, 1, 10, 6, 0))
	checkWindow(t, wk, at(ber, 2026, 1, 10, 7, 0), at(ber, 2026, 1, 12, 22, 0), at(ber, 2026, 1, 13, 6, 0))

	all := mustSchedule(t, "Sat,Sun 00:00-24:00", 0, "UTC")
	checkWindow(t, all, utc(2026, 1, 11, 23, 59), utc(2026, 1, 11, 0, 0), utc(2026, 1, 12, 0, 0))
}

func TestScheduleCron(t *testing.T) {
	ber := mustZone(t, "Europe/Berlin")
	s := mustSchedule(t, "0 2 * * 6", 2*time.Hour, "Europe/Berlin")
	checkWindow(t, s, at(ber, 2026, 1, 7, 12, 0), at(ber, 2026, 1, 10, 2, 0), at(ber, 2026, 1, 10, 4, 0))
	checkWindow(t, s, at(ber, 2026, 1, 10, 3, 59), at(ber, 2026, 1, 10, 2, 0), at(ber, 2026, 1, 10, 4, 0))

	// Six fields: seconds first.
	sec := mustSchedule(t, "*/10 * * * * *", 5*time.Second, "UTC")
	now := utc(2026, 1, 1, 12, 0).Add(12 * time.Second)
	checkWindow(t, sec, now, now.Add(-2*time.Second), now.Add(3*time.Second))
	checkWindow(t, sec, now.Add(3*time.Second), now.Add(8*time.Second), now.Add(13*time.Second))
}

// The Sunday summer time begins in Europe/Berlin (2026-03-29) the clocks
// jump from 02:00 to 03:00 (01:00 UTC); the Sunday it ends (2026-10-25)
// they go back from 03:00 to 02:00 (01:00 UTC).
func TestScheduleDSTSkippedHour(t *testing.T) {
	sat := utc(2026, 3, 28, 12, 0)
	// A window starting in the skipped hour opens when the clocks jump.
	s := mustSchedule(t, "Sun 02:30-04:00", 0, "Europe/Berlin")
	checkWindow(t, s, sat, utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0))
	// One wholly inside it does not happen that day.
	s = mustSchedule(t, "Sun 02:00-02:30", 0, "Europe/Berlin")
	checkWindow(t, s, sat, utc(2026, 4, 5, 0, 0), utc(2026, 4, 5, 0, 30))
	// A cron start in it: at the jump, for the whole duration.
	s = mustSchedule(t, "30 2 * * 0", time.Hour, "Europe/Berlin")
	checkWindow(t, s, sat, utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0))
	// The week after, back to normal (02:30 CEST = 00:30 UTC).
	checkWindow(t, s, utc(2026, 3, 29, 3, 0), utc(2026, 4, 5, 0, 30), utc(2026, 4, 5, 1, 30))
	// A range across the jump is an hour short.
	s = mustSchedule(t, "Sun 01:00-04:00", 0, "Europe/Berlin")
	checkWindow(t, s, sat, utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0))
}

func TestScheduleDSTRepeatedHour(t *testing.T) {
	sat := utc(2026, 10, 24, 12, 0)
	// 02:30 happens twice; the window opens once, at the first.
	s := mustSchedule(t, "30 2 * * 0", 30*time.Minute, "Europe/Berlin")
	checkWindow(t, s, sat, utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 0))
	// During the second 02:30 the next window is a week later.
	checkWindow(t, s, utc(2026, 10, 25, 1, 30), utc(2026, 11, 1, 1, 30), utc(2026, 11, 1, 2, 0))
	// A range across the repeated hour is an hour longer: 01:00 CEST to
	// 03:00 CET.
	s = mustSchedule(t, "Sun 01:00-03:00", 0, "Europe/Berlin")
	checkWindow(t, s, sat, utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 2, 0))
	// A range ending inside it ends at the first occurrence.
	s = mustSchedule(t, "Sun 01:00-02:30", 0, "Europe/Berlin")
	checkWindow(t, s, sat, utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 0, 30))
	// Inside the window during the repeat, it is still the same window.
	s = mustSchedule(t, "Sun 02:00-04:00", 0, "Europe/Berlin")
	checkWindow(t, s, utc(2026, 10, 25, 1, 15), utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 3, 0))
}

func TestScheduleErrors(t *testing.T) {
	for _, tc := range []struct {
		spec string
		d    time.Duration
		zone string
		want string
	}{
		{"Sat 02:00-04:00", 0, "Europe/Nowhere", "unknown timezone"},
		{"Sat 02:00-04:00", 0, "Local", "not allowed"},
		{"Sat 02:00-04:00", time.Hour, "", "drop the duration"},
		{"Sam 02:00-04:00", 0, "", "unknown weekday"},
		{"Sat 25:00-04:00", 0, "", "not a time of day"},
		{"Sat 02:60-04:00", 0, "", "not a time of day"},
		{"Sat 24:00-04:00", 0, "", "not a time of day"},
		{"Sat 02:00-02:00", 0, "", "empty"},
		{"Mon-Wed-Fri 02:00-04:00", 0, "", "more than two ends"},
		{"0 2 * * 6", 0, "", "needs a duration"},
		{"0 2 * * 6", 40 * 24 * time.Hour, "", "longer than"},
		{"CRON_TZ=UTC 0 2 * * 6", time.Hour, "", "timezone"},
		{"0 2 * *", time.Hour, "", "neither"},
		{"", time.Hour, "", "empty"},
		{"0 0 30 2 *", time.Hour, "", "never starts"},
		{"* * * * * *", time.Hour, "", "never close"},
		{"@every 2h", time.Hour, "", "not a schedule of times"},
	} {
		_, err := ParseSchedule(tc.spec, tc.d, tc.zone)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSchedule(%q, %s, %q) = %v, want an error with %q", tc.spec, tc.d, tc.zone, err, tc.want)
		}
	}
}
