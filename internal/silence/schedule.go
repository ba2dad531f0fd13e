package silence

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	// robfig/cron is the cron parser most Go schedulers use (and the one
	// people know the syntax of from it): one less parser of our own to
	// get wrong. Only its parser and its Next are used, on wall-clock
	// times; time zones and DST are ours (see wallNext).
	"github.com/robfig/cron/v3"
)

// Schedule makes a silence recurring: a maintenance window that opens at
// each start of its schedule, in its time zone, and stays open for its
// length. It has two forms:
//
//   - a weekday and time range, "Sat 02:00-04:00", "Mon-Fri 22:00-06:00"
//     (past midnight: it ends the next day), "Sat,Sun 00:00-24:00", "*
//     03:00-03:30" (every day). The window is the wall-clock range.
//   - a cron schedule of its starts (5 fields, or 6 with seconds first,
//     or a descriptor such as "@daily") plus a duration, "0 2 * * 6" for
//     2h. The window lasts the duration in elapsed time.
//
// DST: times are wall-clock times in the zone. A start or end in an hour
// the clocks skip is the moment they skip it (a "Sun 02:30-04:00" window
// in Europe/Berlin opens at 03:00 on the day summer time begins, an hour
// short); a time that happens twice, when the clocks go back, is its first
// occurrence (a window starting at 02:30 opens once, at the first 02:30,
// and "Sun 01:00-03:00" lasts three hours that day). A Schedule is
// immutable.
type Schedule struct {
	spec     string
	zone     *time.Location
	starts   cron.Schedule // evaluated on wall-clock times in UTC (wallNext)
	duration time.Duration // cron form: the window's elapsed length
	wallLen  time.Duration // range form: the window's wall-clock length
}

// Window is one occurrence of a Schedule: [Start, End).
type Window struct{ Start, End time.Time }

// Contains reports whether t is inside the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Bounds of a schedule, so that finding the window around a time takes a
// bounded walk over its starts (Occurrence).
const (
	// MaxWindow is the longest window a cron schedule may ask for.
	MaxWindow = 31 * 24 * time.Hour
	// maxOverlap is how many starts may fall within one window's length:
	// more and the window is always open, which is a mistake, and the
	// walk over the starts would be long.
	maxOverlap = 1000
	// maxWalk bounds Occurrence's walk: the starts within a window's
	// length, and within the hour before it it also looks at (DST), for
	// a schedule that starts every second.
	maxWalk = maxOverlap + 3600 + 2
)

// rangeForm is "days HH:MM-HH:MM".
var rangeForm = regexp.MustCompile(`^\s*([A-Za-z*][A-Za-z,\-*]*)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$`)

// cronParser takes 5 fields, or 6 with seconds first (so a test can open
// a window a few seconds from now), and the @ descriptors. Time zone
// prefixes (CRON_TZ=) are refused: the zone is the silence's timezone.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses spec in the IANA zone ("" is UTC). duration is
// the window's length for a cron spec and must be 0 for a time range,
// which has its own.
func ParseSchedule(spec string, duration time.Duration, zone string) (*Schedule, error) {
	loc, err := LoadZone(zone)
	if err != nil {
		return nil, err
	}
	s := &Schedule{spec: strings.TrimSpace(spec), zone: loc}
	if m := rangeForm.FindStringSubmatch(spec); m != nil {
		if duration != 0 {
			return nil, fmt.Errorf("schedule %q is a time range, which has its own length: drop the duration", spec)
		}
		if err := s.parseRange(m); err != nil {
			return nil, fmt.Errorf("schedule %q: %w", spec, err)
		}
	} else {
		if err := s.parseCron(duration); err != nil {
			return nil, fmt.Errorf("schedule %q: %w", spec, err)
		}
	}
	if err := s.checkOccurs(); err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

// LoadZone loads the IANA zone of a schedule: "" is UTC; "Local" is
// refused.
func LoadZone(zone string) (*time.Location, error) {
	if zone == "" || zone == "UTC" {
		return time.UTC, nil
	}
	if strings.EqualFold(zone, "local") {
		// The daemon's own zone would change with the machine it runs
		// on; a window must mean the same everywhere.
		return nil, errors.New(`timezone "Local" is not allowed: give an IANA name such as "Europe/Berlin"`)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("unknown timezone %q: give an IANA name such as \"Europe/Berlin\"", zone)
	}
	return loc, nil
}

func (s *Schedule) parseCron(duration time.Duration) error {
	if strings.Contains(s.spec, "TZ=") {
		return errors.New("give the zone in timezone, not in the schedule")
	}
	if s.spec == "" {
		return errors.New(`empty: give a weekday and time range ("Sat 02:00-04:00") or a cron schedule and a duration`)
	}
	sched, err := cronParser.Parse(s.spec)
	if err != nil {
		return fmt.Errorf("neither a weekday and time range (\"Sat 02:00-04:00\") nor a cron schedule: %v", err)
	}
	if _, ok := sched.(cron.ConstantDelaySchedule); ok {
		// "@every D" counts from whenever it is asked, not from the
		// clock: its windows would move with every look.
		return errors.New(`"@every" is not a schedule of times: give a cron schedule ("0 2 * * sat") or a weekday and time range`)
	}
	switch {
	case duration <= 0:
		return errors.New(`a cron schedule needs a duration, the length of each window ("2h")`)
	case duration > MaxWindow:
		return fmt.Errorf("duration %s is longer than %s", duration, MaxWindow)
	}
	s.starts, s.duration = sched, duration
	return nil
}

// weekdays are the day names of the range form, as cron spells them.
var weekdays = map[string]string{"sun": "SUN", "mon": "MON", "tue": "TUE", "wed": "WED", "thu": "THU", "fri": "FRI", "sat": "SAT"}

// parseRange turns "Mon-Fri 22:00-06:00" into the cron schedule of its
// starts ("0 0 22 * * MON-FRI") and its wall-clock length.
func (s *Schedule) parseRange(m []string) error {
	days, err := cronDays(m[1])
	if err != nil {
		return err
	}
	from, err := clockTime(m[2], m[3], false)
	if err != nil {
		return err
	}
	to, err := clockTime(m[4], m[5], true)
	if err != nil {
		return err
	}
	length := to - from
	if length <= 0 {
		length += 24 * time.Hour // past midnight: it ends the next day
	}
	if length == 24*time.Hour && from != 0 {
		return errors.New("the range is empty (start and end are the same time)")
	}
	spec := fmt.Sprintf("0 %d %d * * %s", int(from.Minutes())%60, int(from.Hours()), days)
	sched, err := cronParser.Parse(spec)
	if err != nil {
		return err
	}
	s.starts, s.wallLen = sched, length
	return nil
}

// cronDays turns "Mon-Fri", "Sat,Sun" or "*" into cron's day of week.
func cronDays(days string) (string, error) {
	if days == "*" {
		return "*", nil
	}
	var out []string
	for item := range strings.SplitSeq(days, ",") {
		var names []string
		for d := range strings.SplitSeq(item, "-") {
			c, ok := weekdays[strings.ToLower(d)]
			if !ok {
				return "", fmt.Errorf("unknown weekday %q: use Mon Tue Wed Thu Fri Sat Sun, ranges (Mon-Fri), lists (Sat,Sun) or *", d)
			}
			names = append(names, c)
		}
		if len(names) > 2 {
			return "", fmt.Errorf("weekday range %q has more than two ends", item)
		}
		out = append(out, strings.Join(names, "-"))
	}
	return strings.Join(out, ","), nil
}

// clockTime parses HH and MM; 24:00 is allowed as an end.
func clockTime(hh, mm string, end bool) (time.Duration, error) {
	h, _ := strconv.Atoi(hh)
	m, _ := strconv.Atoi(mm)
	if m > 59 || h > 24 || (h == 24 && (m != 0 || !end)) {
		return 0, fmt.Errorf("%s:%s is not a time of day (00:00 to 23:59, or 24:00 as an end)", hh, mm)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// checkOccurs refuses a schedule that never starts (February 30th) or
// whose windows overlap more than maxOverlap times.
func (s *Schedule) checkOccurs() error {
	ref := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := s.starts.Next(ref)
	if first.IsZero() {
		return errors.New("never starts")
	}
	n, t := 0, first
	for t.Before(first.Add(s.duration + s.wallLen)) {
		if n++; n > maxOverlap {
			return fmt.Errorf("starts more than %d times within one window: it would never close", maxOverlap)
		}
		t = s.starts.Next(t)
		if t.IsZero() {
			break
		}
	}
	return nil
}

// String is the schedule as given.
func (s *Schedule) String() string { return s.spec }

// Zone is the schedule's time zone.
func (s *Schedule) Zone() *time.Location { return s.zone }

// Duration is the cron form's window length; 0 for a time range.
func (s *Schedule) Duration() time.Duration { return s.duration }

// Occurrence returns the window open at now, or else the next one to
// open; ok is false if the schedule never opens again (a cron
// schedule's starts run out five years ahead).
func (s *Schedule) Occurrence(now time.Time) (Window, bool) {
	// The walk starts one window's length before now, so it finds a
	// window that opened then and is still open; an hour more if the
	// clocks changed meanwhile (after they go back, the wall-clock time a
	// window's length ago can be later than its start).
	back := s.duration + s.wallLen
	_, then := now.Add(-back - time.Hour).In(s.zone).Zone()
	if _, off := now.In(s.zone).Zone(); off != then {
		back += time.Hour
	}
	wall := wallOf(now.Add(-back), s.zone)
	for range maxWalk {
		start, next := s.wallNext(wall)
		if next.IsZero() {
			return Window{}, false
		}
		wall = next
		w := s.window(start, next)
		if w.End.After(now) && w.End.After(w.Start) {
			return w, true
		}
	}
	return Window{}, false
}

// window is the occurrence starting at start, whose wall-clock start is
// wallStart.
func (s *Schedule) window(start, wallStart time.Time) Window {
	if s.wallLen > 0 {
		return Window{Start: start, End: instant(wallStart.Add(s.wallLen), s.zone)}
	}
	return Window{Start: start, End: start.Add(s.duration)}
}

// wallNext returns the next start after the wall-clock time wall, as an
// instant and as the wall-clock time it was computed from. The cron
// schedule runs on wall-clock times written as UTC, which has no DST, so
// every wall-clock time happens exactly once; instant then maps it into
// the zone.
func (s *Schedule) wallNext(wall time.Time) (time.Time, time.Time) {
	next := s.starts.Next(wall)
	if next.IsZero() {
		return time.Time{}, time.Time{}
	}
	return instant(next, s.zone), next
}

// wallOf is t's wall-clock time in loc, written as UTC.
func wallOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// instant is the moment the wall-clock time wall (written as UTC) happens
// in loc: its first occurrence if it happens twice, the end of the gap if
// the clocks skip it. time.Date leaves both cases unspecified (and picks
// differently in different zones), so this decides from the offsets in
// force a day before and a day after.
func instant(wall time.Time, loc *time.Location) time.Time {
	var found time.Time
	for _, probe := range []time.Duration{-24 * time.Hour, 24 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		t := wall.Add(-time.Duration(off) * time.Second)
		if wallOf(t, loc).Equal(wall) && (found.IsZero() || t.Before(found)) {
			found = t
		}
	}
	if !found.IsZero() {
		return found
	}
	// Skipped: with the offset before the jump the time lands after it;
	// the jump is where that offset's zone period begins.
	_, before := wall.Add(-24 * time.Hour).In(loc).Zone()
	after := wall.Add(-time.Duration(before) * time.Second).In(loc)
	start, _ := after.ZoneBounds()
	return start
}
