package alert

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// FlapPolicy configures flap detection, after Icinga's but counting level
// changes instead of weighting them: an alert starts flapping when it has
// changed level more than Start times within the last Window, and stops
// when the changes within Window fall to Stop or fewer. The gap between
// Start and Stop is the hysteresis that keeps the flapping state itself
// from flapping.
//
// The zero FlapPolicy means [DefaultFlapPolicy]. A non-zero policy that
// fails [FlapPolicy.Validate] is clamped to the nearest valid one rather
// than rejected, so a Tracker never fails; validate it when loading config.
type FlapPolicy struct {
	Window      time.Duration
	Start, Stop int
}

// DefaultFlapPolicy returns the policy used for the zero FlapPolicy:
// flapping starts on the 7th level change within 10 minutes and stops once
// at most 2 changes remain in the window.
func DefaultFlapPolicy() FlapPolicy {
	return FlapPolicy{Window: 10 * time.Minute, Start: 6, Stop: 2}
}

// Validate reports whether fp is usable as given: Window > 0, Start >= 1,
// 0 <= Stop < Start. The zero FlapPolicy is valid (it means the default).
func (fp FlapPolicy) Validate() error {
	if fp == (FlapPolicy{}) {
		return nil
	}
	var errs []error
	if fp.Window <= 0 {
		errs = append(errs, fmt.Errorf("flap window must be positive, got %s", fp.Window))
	}
	if fp.Start < 1 {
		errs = append(errs, fmt.Errorf("flap start must be at least 1, got %d", fp.Start))
	}
	if fp.Stop < 0 || fp.Stop >= fp.Start {
		errs = append(errs, fmt.Errorf("flap stop must be >= 0 and below start (%d), got %d", fp.Start, fp.Stop))
	}
	return errors.Join(errs...)
}

// effective returns the policy a Tracker applies for fp.
func (fp FlapPolicy) effective() FlapPolicy {
	if fp == (FlapPolicy{}) {
		return DefaultFlapPolicy()
	}
	if fp.Window <= 0 {
		fp.Window = DefaultFlapPolicy().Window
	}
	fp.Start = max(fp.Start, 1)
	fp.Stop = min(max(fp.Stop, 0), fp.Start-1)
	return fp
}

// ChangeKind says what a [Change] reports.
type ChangeKind uint8

// The kinds of change.
const (
	// ChangeLevel is a new problem, an escalation or a de-escalation
	// between non-OK levels.
	ChangeLevel ChangeKind = iota
	// ChangeRecovery is a change to OK from any other level.
	ChangeRecovery
	// ChangeFlapStart: the alert began flapping. From and To describe the
	// level change that tipped it over.
	ChangeFlapStart
	// ChangeFlapStop: the alert stopped flapping; To is the current level,
	// which the caller should now report. From differs from To only when a
	// level change happened in the same call.
	ChangeFlapStop
)

var changeKindNames = [...]string{
	ChangeLevel:     "level",
	ChangeRecovery:  "recovery",
	ChangeFlapStart: "flapping_start",
	ChangeFlapStop:  "flapping_stop",
}

// String returns "level", "recovery", "flapping_start" or "flapping_stop".
func (k ChangeKind) String() string {
	if int(k) < len(changeKindNames) {
		return changeKindNames[k]
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is what one Observe or Set call changed.
type Change struct {
	Kind     ChangeKind
	Path     string
	From, To Level
	Value    Value
	At       time.Time
	// Notify says whether to tell people. It is false only for level
	// changes and recoveries while the alert is flapping: a flapping alert
	// sends one "flapping started" and one "flapping stopped" instead of
	// one notification per change.
	Notify bool
}

// Tracker is the alert state of one metric path on one host. It is not safe
// for concurrent use: the host's actor owns it.
type Tracker struct {
	Path string
	// RuleMetric is the metric pattern of the rule that last evaluated the
	// alert ("" for built-in alerts set with Set): a restarted daemon drops
	// the alerts whose rule is no longer configured.
	RuleMetric string
	// Level is the effective level; Since is when it last changed.
	Level Level
	// Flapping is set between a ChangeFlapStart and the ChangeFlapStop.
	Flapping bool
	// NotifiedLevel: see NotifiedAt. The one-byte fields are together
	// (warnRun and critRun too), so that they share a word: every host has
	// a Tracker (its heartbeat alert).
	NotifiedLevel    Level
	warnRun, critRun bool
	Since            time.Time
	// LastValue and LastCheck are the value and time of the latest Observe
	// or Set, whether or not anything changed.
	LastValue Value
	LastCheck time.Time
	// NotificationCount is the number of notifications sent for the current
	// episode: the caller calls NoteNotified per notification sent, and a
	// change away from OK starts a new episode at 0. A recovery's own
	// notification is counted in the episode it ends.
	NotificationCount int
	// NotifiedLevel is the level of the last notification delivered for
	// the alert, NotifiedAt when (zero: never), and RouteSent when each
	// channel last delivered one in the current episode: what a restarted
	// daemon needs so that it neither pages twice nor forgets to page.
	NotifiedAt time.Time
	RouteSent  map[string]time.Time

	// warnSince and critSince start the current unbroken run of raw levels
	// at or above WARNING and CRITICAL (on the OK < WARNING < CRITICAL
	// ladder); a raise to a level takes effect once its run has lasted
	// Rule.For. warnRun and critRun (above) say whether such a run is open.
	warnSince, critSince time.Time
	// changes holds the times of the recent level changes, oldest first,
	// pruned to the flap window and capped at Start+1 entries: enough to
	// tell "more than Start" from "at most Stop".
	changes []time.Time
}

// NewTracker returns a Tracker for path at OK since now.
func NewTracker(path string, now time.Time) *Tracker {
	return &Tracker{Path: path, Level: LevelOK, Since: now}
}

// NoteNotified records one notification of level delivered on route at
// time at: it counts towards NotificationCount and sets NotifiedLevel.
func (t *Tracker) NoteNotified(route string, level Level, at time.Time) {
	t.NotificationCount++
	if !at.Before(t.NotifiedAt) {
		t.NotifiedLevel, t.NotifiedAt = level, at
	}
	if t.RouteSent == nil {
		t.RouteSent = make(map[string]time.Time, 1)
	}
	if at.After(t.RouteSent[route]) {
		t.RouteSent[route] = at
	}
}

// Unnotified reports whether the alert's level has not been delivered to
// anyone yet: a problem never notified, or a change since the last
// notification (a recovery included). A flapping alert sends nothing per
// change, so it is never unnotified.
func (t *Tracker) Unnotified() bool {
	if t.Flapping {
		return false
	}
	if t.NotifiedAt.IsZero() {
		return t.Level != LevelOK
	}
	return t.NotifiedLevel != t.Level
}

// TrackerState is everything a Tracker holds, for saving it and restoring
// it exactly (State and RestoreTracker).
type TrackerState struct {
	Path                 string
	RuleMetric           string
	Level                Level
	Since                time.Time
	LastValue            Value
	LastCheck            time.Time
	NotificationCount    int
	Flapping             bool
	WarnSince, CritSince time.Time
	WarnRun, CritRun     bool
	Changes              []time.Time
	NotifiedLevel        Level
	NotifiedAt           time.Time
	RouteSent            map[string]time.Time
}

// State returns a copy of the tracker's state that shares nothing with it.
func (t *Tracker) State() TrackerState {
	return TrackerState{
		Path: t.Path, RuleMetric: t.RuleMetric, Level: t.Level, Since: t.Since, LastValue: t.LastValue, LastCheck: t.LastCheck,
		NotificationCount: t.NotificationCount, Flapping: t.Flapping,
		WarnSince: t.warnSince, CritSince: t.critSince, WarnRun: t.warnRun, CritRun: t.critRun,
		Changes:       slices.Clone(t.changes),
		NotifiedLevel: t.NotifiedLevel, NotifiedAt: t.NotifiedAt, RouteSent: maps.Clone(t.RouteSent),
	}
}

// RestoreTracker rebuilds a tracker from its State. An out-of-range level
// is taken as UNKNOWN, as Set does.
func RestoreTracker(s TrackerState) *Tracker {
	if s.Level.Severity() < 0 {
		s.Level = LevelUnknown
	}
	if s.NotifiedLevel.Severity() < 0 {
		s.NotifiedLevel = LevelUnknown
	}
	return &Tracker{
		Path: s.Path, RuleMetric: s.RuleMetric, Level: s.Level, Since: s.Since, LastValue: s.LastValue, LastCheck: s.LastCheck,
		NotificationCount: s.NotificationCount, Flapping: s.Flapping,
		warnSince: s.WarnSince, critSince: s.CritSince, warnRun: s.WarnRun, critRun: s.CritRun,
		changes:       slices.Clone(s.Changes),
		NotifiedLevel: s.NotifiedLevel, NotifiedAt: s.NotifiedAt, RouteSent: maps.Clone(s.RouteSent),
	}
}

// Observe applies one value of the metric, evaluated under rule, at time
// now and returns what changed, if anything (at most one Change per call).
// See the package documentation for the level, hysteresis and "for"
// semantics. A nil rule rates every number OK.
func (t *Tracker) Observe(now time.Time, v Value, rule *Rule, fp FlapPolicy) (Change, bool) {
	t.LastValue, t.LastCheck = v, now
	if rule != nil {
		t.RuleMetric = rule.Metric
	}
	if !v.OK {
		// UNKNOWN is immediate, and it breaks any run towards a raise.
		t.warnRun, t.critRun = false, false
		return t.transition(now, LevelUnknown, v, fp)
	}
	raw := rule.rawLevel(v.Num, t.Level)
	t.warnSince, t.warnRun = extendRun(t.warnSince, t.warnRun, raw == LevelWarning || raw == LevelCritical, now)
	t.critSince, t.critRun = extendRun(t.critSince, t.critRun, raw == LevelCritical, now)

	next := raw
	if raw.Severity() > t.Level.Severity() {
		// A raise: take the highest level above the current one whose run
		// has lasted For; if none has, stay.
		var wait time.Duration
		if rule != nil {
			wait = rule.For
		}
		next = t.Level
		switch {
		case t.critRun && now.Sub(t.critSince) >= wait:
			next = LevelCritical
		case t.warnRun && now.Sub(t.warnSince) >= wait && LevelWarning.Severity() > t.Level.Severity():
			next = LevelWarning
		}
	}
	return t.transition(now, next, v, fp)
}

// extendRun updates one run: it starts at now when holding begins and ends
// when holding stops.
func extendRun(since time.Time, running, holding bool, now time.Time) (time.Time, bool) {
	switch {
	case !holding:
		return time.Time{}, false
	case !running:
		return now, true
	}
	return since, true
}

// Set forces the level to l at now, with v as the value to report. It is
// for built-in alerts computed elsewhere (the heartbeat alert: CRITICAL when
// the host is DOWN, WARNING when DEGRADED, OK otherwise). Hysteresis and
// "for" do not apply; flapping and Change semantics are those of Observe.
// An out-of-range l is taken as UNKNOWN.
func (t *Tracker) Set(now time.Time, l Level, v Value, fp FlapPolicy) (Change, bool) {
	if l.Severity() < 0 {
		l = LevelUnknown
	}
	t.LastValue, t.LastCheck = v, now
	t.warnRun, t.critRun = false, false
	return t.transition(now, l, v, fp)
}

// transition moves the tracker to next (possibly its current level),
// updates the flap state and builds the Change to report.
func (t *Tracker) transition(now time.Time, next Level, v Value, fp FlapPolicy) (Change, bool) {
	fp = fp.effective()
	from := t.Level
	changed := next != from
	if changed {
		if from == LevelOK {
			t.NotificationCount = 0
			t.RouteSent = nil
		}
		t.Level, t.Since = next, now
		if t.changes == nil {
			// One allocation for the tracker's flap history: pruning keeps
			// at most Start+1 entries, plus the one just appended.
			t.changes = make([]time.Time, 0, fp.Start+2)
		}
		t.changes = append(t.changes, now)
	}
	t.pruneChanges(now, fp)

	ch := Change{Path: t.Path, From: from, To: t.Level, Value: v, At: now, Notify: true}
	switch {
	case !t.Flapping && len(t.changes) > fp.Start:
		t.Flapping = true
		ch.Kind = ChangeFlapStart
		return ch, true
	case t.Flapping && len(t.changes) <= fp.Stop:
		t.Flapping = false
		ch.Kind = ChangeFlapStop
		return ch, true
	case !changed:
		return Change{}, false
	}
	ch.Kind = ChangeLevel
	if next == LevelOK {
		ch.Kind = ChangeRecovery
	}
	ch.Notify = !t.Flapping
	return ch, true
}

// pruneChanges drops change times that have left the window (a change
// counts while now - at < Window) and keeps at most Start+1 of them.
func (t *Tracker) pruneChanges(now time.Time, fp FlapPolicy) {
	drop := max(0, len(t.changes)-(fp.Start+1))
	for drop < len(t.changes) && now.Sub(t.changes[drop]) >= fp.Window {
		drop++
	}
	switch {
	case drop == len(t.changes):
		// Idle trackers are the vast majority; give the memory back.
		t.changes = nil
	case drop > 0:
		t.changes = t.changes[:copy(t.changes, t.changes[drop:])]
	}
}

// rawLevel is the level v deserves under r, given the current level cur
// (hysteresis keeps an active level while v is within Hysteresis of its
// threshold). A nil rule rates everything OK.
func (r *Rule) rawLevel(v float64, cur Level) Level {
	if r == nil {
		return LevelOK
	}
	var shift float64 // moves a threshold towards the clearing side
	if h := r.Hysteresis; h > 0 && !math.IsInf(h, 0) {
		switch r.Op {
		case OpGT, OpGE:
			shift = -h
		case OpLT, OpLE:
			shift = h
		}
	}
	if t := r.Critical; t != nil {
		if r.Op.breaches(v, *t) || (cur == LevelCritical && r.Op.breaches(v, *t+shift)) {
			return LevelCritical
		}
	}
	if t := r.Warning; t != nil {
		held := cur == LevelWarning || cur == LevelCritical
		if r.Op.breaches(v, *t) || (held && r.Op.breaches(v, *t+shift)) {
			return LevelWarning
		}
	}
	return LevelOK
}
