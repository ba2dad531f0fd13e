package alert

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 24, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// step is one observation in a tracker scenario and what it must return.
type step struct {
	at   time.Duration // since t0
	v    any           // float64, int, or anything else for a non-numeric value
	want string        // "" for no change; else "kind FROM->TO" plus " quiet" when Notify is false
}

func toValue(v any) Value {
	switch x := v.(type) {
	case float64:
		return Number(x)
	case int:
		return Number(float64(x))
	}
	return Value{}
}

func describe(ch Change, ok bool) string {
	if !ok {
		return ""
	}
	s := fmt.Sprintf("%s %s->%s", ch.Kind, ch.From, ch.To)
	if !ch.Notify {
		s += " quiet"
	}
	return s
}

// run feeds steps to a fresh tracker and checks every returned Change.
func run(t *testing.T, rule Rule, fp FlapPolicy, steps []step) *Tracker {
	t.Helper()
	tr := NewTracker("p.m", t0)
	for i, s := range steps {
		now := at(s.at)
		v := toValue(s.v)
		ch, ok := tr.Observe(now, v, &rule, fp)
		if got := describe(ch, ok); got != s.want {
			t.Fatalf("step %d (t+%s, %v): got %q, want %q", i, s.at, s.v, got, s.want)
		}
		if ok && (ch.Path != "p.m" || !ch.At.Equal(now) || ch.Value != v) {
			t.Fatalf("step %d: change %+v lacks path, time or value", i, ch)
		}
		if tr.LastCheck != now || tr.LastValue != v {
			t.Fatalf("step %d: LastCheck/LastValue not updated: %+v", i, tr)
		}
	}
	return tr
}

func TestOperators(t *testing.T) {
	type probe struct {
		v    float64
		want Level
	}
	W, C, OK := LevelWarning, LevelCritical, LevelOK
	for _, tc := range []struct {
		op     Op
		warn   *float64
		crit   *float64
		probes []probe
	}{
		{OpGT, fp64(80), fp64(90), []probe{{79, OK}, {80, OK}, {80.5, W}, {90, W}, {90.1, C}, {1e9, C}}},
		{OpGT, fp64(80), nil, []probe{{80, OK}, {81, W}, {1e9, W}}},
		{OpGT, nil, fp64(90), []probe{{85, OK}, {90, OK}, {95, C}}},
		{OpGE, fp64(80), fp64(90), []probe{{79.9, OK}, {80, W}, {89.9, W}, {90, C}}},
		{OpGE, fp64(80), nil, []probe{{79.9, OK}, {80, W}}},
		{OpGE, nil, fp64(90), []probe{{89.9, OK}, {90, C}}},
		{OpLT, fp64(20), fp64(10), []probe{{25, OK}, {20, OK}, {15, W}, {10, W}, {9.9, C}, {-5, C}}},
		{OpLT, fp64(20), nil, []probe{{20, OK}, {19, W}}},
		{OpLT, nil, fp64(10), []probe{{10, OK}, {9, C}}},
		{OpLE, fp64(20), fp64(10), []probe{{20.1, OK}, {20, W}, {10.1, W}, {10, C}}},
		{OpLE, fp64(20), nil, []probe{{20.1, OK}, {20, W}}},
		{OpLE, nil, fp64(10), []probe{{10.1, OK}, {10, C}}},
		{OpEQ, fp64(1), fp64(2), []probe{{0, OK}, {1, W}, {1.5, OK}, {2, C}, {3, OK}}},
		{OpEQ, fp64(3), nil, []probe{{3, W}, {3.0000001, OK}}},
		{OpEQ, nil, fp64(0), []probe{{0, C}, {1, OK}}},
		{OpNE, fp64(1), nil, []probe{{1, OK}, {2, W}, {0, W}}},
		{OpNE, nil, fp64(0), []probe{{0, OK}, {1, C}, {-1, C}}},
	} {
		rule := Rule{Metric: "p.m", Op: tc.op, Warning: tc.warn, Critical: tc.crit}
		if _, err := Compile([]Rule{rule}); err != nil {
			t.Fatalf("test rule does not compile: %v", err)
		}
		for _, p := range tc.probes {
			// A fresh tracker per probe: the level comes from the value alone.
			tr := NewTracker("p.m", t0)
			tr.Observe(t0, Number(p.v), &rule, FlapPolicy{})
			if tr.Level != p.want {
				t.Errorf("%s warn %v crit %v: value %v gives %s, want %s",
					tc.op, deref(tc.warn), deref(tc.crit), p.v, tr.Level, p.want)
			}
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return "nil"
	}
	return *f
}

func TestHysteresisEdges(t *testing.T) {
	W, C, OK, U := LevelWarning, LevelCritical, LevelOK, LevelUnknown
	gt := Rule{Op: OpGT, Warning: fp64(80), Critical: fp64(90), Hysteresis: 5}
	ge := Rule{Op: OpGE, Warning: fp64(80), Critical: fp64(90), Hysteresis: 5}
	lt := Rule{Op: OpLT, Warning: fp64(20), Critical: fp64(10), Hysteresis: 5}
	le := Rule{Op: OpLE, Warning: fp64(20), Critical: fp64(10), Hysteresis: 5}
	critOnly := Rule{Op: OpGT, Critical: fp64(90), Hysteresis: 5}
	noHyst := Rule{Op: OpGT, Warning: fp64(80), Critical: fp64(90)}
	for _, tc := range []struct {
		name string
		rule Rule
		cur  Level
		v    float64
		want Level
	}{
		// ">": held while v > threshold-5.
		{"gt crit above threshold", gt, C, 90.5, C},
		{"gt crit at threshold", gt, C, 90, C},
		{"gt crit just above crit-h", gt, C, 85.01, C},
		{"gt crit at crit-h drops", gt, C, 85, W},
		{"gt crit to OK at once", gt, C, 75, OK},
		{"gt crit keeps warning band", gt, C, 75.01, W},
		{"gt warn at warn-h clears", gt, W, 75, OK},
		{"gt warn just above warn-h holds", gt, W, 75.01, W},
		{"gt warn does not use crit hysteresis", gt, W, 90, W},
		{"gt warn escalates above crit", gt, W, 90.01, C},
		{"gt ok enters only past threshold", gt, OK, 80, OK},
		{"gt ok enters warning", gt, OK, 80.01, W},
		{"gt ok enters critical", gt, OK, 90.01, C},
		{"gt unknown has no hysteresis", gt, U, 79, OK},
		{"gt crit-only drops to OK", critOnly, C, 85, OK},
		{"gt crit-only holds", critOnly, C, 85.01, C},
		// ">=": held while v >= threshold-5.
		{"ge crit at crit-h holds", ge, C, 85, C},
		{"ge crit below crit-h drops", ge, C, 84.99, W},
		{"ge warn at warn-h holds", ge, W, 75, W},
		{"ge warn below warn-h clears", ge, W, 74.99, OK},
		{"ge ok enters at threshold", ge, OK, 80, W},
		{"ge ok below threshold", ge, OK, 79.99, OK},
		// "<": held while v < threshold+5.
		{"lt crit just below crit+h holds", lt, C, 14.99, C},
		{"lt crit at crit+h drops", lt, C, 15, W},
		{"lt warn at warn+h clears", lt, W, 25, OK},
		{"lt warn just below warn+h holds", lt, W, 24.99, W},
		{"lt ok enters only past threshold", lt, OK, 20, OK},
		{"lt ok enters critical", lt, OK, 9.99, C},
		// "<=": held while v <= threshold+5.
		{"le crit at crit+h holds", le, C, 15, C},
		{"le crit above crit+h drops", le, C, 15.01, W},
		{"le warn at warn+h holds", le, W, 25, W},
		{"le warn above warn+h clears", le, W, 25.01, OK},
		// Without hysteresis the thresholds alone decide.
		{"no hysteresis crit", noHyst, C, 90, W},
		{"no hysteresis warn", noHyst, W, 80, OK},
	} {
		if got := tc.rule.rawLevel(tc.v, tc.cur); got != tc.want {
			t.Errorf("%s: %s %v at %s gives %s, want %s", tc.name, tc.rule.Op, tc.v, tc.cur, got, tc.want)
		}
	}
}

func TestHysteresisSequence(t *testing.T) {
	rule := Rule{Metric: "p.m", Op: OpGT, Warning: fp64(80), Critical: fp64(90), Hysteresis: 5}
	tr := run(t, rule, FlapPolicy{}, []step{
		{0, 95, "level OK->CRITICAL"},
		{time.Minute, 86, ""},
		{2 * time.Minute, 85, "level CRITICAL->WARNING"},
		{3 * time.Minute, 76, ""},
		{4 * time.Minute, 85, ""},
		{5 * time.Minute, 75, "recovery WARNING->OK"},
		{6 * time.Minute, 79, ""},
	})
	if !tr.Since.Equal(at(5 * time.Minute)) {
		t.Fatalf("Since = %v, want the recovery time", tr.Since)
	}
}

func TestFor(t *testing.T) {
	rule := Rule{Metric: "p.m", Op: OpGT, Warning: fp64(80), Critical: fp64(90), For: time.Minute}
	s := time.Second
	for _, tc := range []struct {
		name  string
		rule  Rule
		steps []step
	}{
		{"raise after exactly For", rule, []step{
			{0, 85, ""},
			{59 * s, 85, ""},
			{60*s - 1, 85, ""},
			{60 * s, 85, "level OK->WARNING"},
			{61 * s, 85, ""},
		}},
		{"cancelled by a dip", rule, []step{
			{0, 85, ""},
			{30 * s, 70, ""},
			{60 * s, 85, ""},
			{119 * s, 85, ""},
			{120 * s, 85, "level OK->WARNING"},
		}},
		{"escalation waits For", rule, []step{
			{0, 85, ""},
			{60 * s, 85, "level OK->WARNING"},
			{70 * s, 95, ""},
			{129 * s, 95, ""},
			{130 * s, 95, "level WARNING->CRITICAL"},
		}},
		{"escalation cancelled by a dip, warning stays", rule, []step{
			{0, 85, ""},
			{60 * s, 85, "level OK->WARNING"},
			{70 * s, 95, ""},
			{100 * s, 85, ""},
			{130 * s, 95, ""},
			{189 * s, 95, ""},
			{190 * s, 95, "level WARNING->CRITICAL"},
		}},
		{"de-escalation is immediate", rule, []step{
			{0, 95, ""},
			{60 * s, 95, "level OK->CRITICAL"},
			{61 * s, 85, "level CRITICAL->WARNING"},
			{62 * s, 50, "recovery WARNING->OK"},
		}},
		{"critical straight from OK when both runs are long enough", rule, []step{
			{0, 95, ""},
			{30 * s, 85, ""}, // the CRITICAL run breaks, the WARNING run goes on
			{40 * s, 95, ""},
			{60 * s, 95, "level OK->WARNING"},
			{100 * s, 95, "level WARNING->CRITICAL"},
		}},
		{"staged raise", rule, []step{
			{0, 85, ""},
			{30 * s, 95, ""},
			{60 * s, 95, "level OK->WARNING"},
			{89 * s, 95, ""},
			{90 * s, 95, "level WARNING->CRITICAL"},
		}},
		{"For 0 is immediate", Rule{Metric: "p.m", Op: OpGT, Warning: fp64(80), Critical: fp64(90)}, []step{
			{0, 95, "level OK->CRITICAL"},
			{s, 85, "level CRITICAL->WARNING"},
			{2 * s, 95, "level WARNING->CRITICAL"},
		}},
		{"no samples, no raise", rule, []step{
			{0, 85, ""},
			{time.Hour, 50, ""}, // the run ended at this sample: nothing happened in between
		}},
		{"hysteresis hold is not a raise", Rule{Metric: "p.m", Op: OpGT, Warning: fp64(80), Hysteresis: 5, For: time.Minute}, []step{
			{0, 85, ""},
			{60 * s, 85, "level OK->WARNING"},
			{61 * s, 78, ""},
			{62 * s, 75, "recovery WARNING->OK"},
			{63 * s, 78, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.rule, FlapPolicy{}, tc.steps) })
	}
}

func TestUnknown(t *testing.T) {
	rule := Rule{Metric: "p.m", Op: OpGT, Warning: fp64(80), Critical: fp64(90), For: time.Minute}
	s := time.Second
	// Seven changes in 131 s would flap by default; this test is about levels.
	noFlap := FlapPolicy{Window: time.Minute, Start: 100, Stop: 0}
	tr := run(t, rule, noFlap, []step{
		{0, "string", "level OK->UNKNOWN"}, // no "for" for UNKNOWN
		{10 * s, nil, ""},
		{20 * s, 50, "recovery UNKNOWN->OK"},
		{30 * s, 85, ""},
		{40 * s, "object", "level OK->UNKNOWN"}, // breaks the WARNING run
		{50 * s, 85, "level UNKNOWN->WARNING"},  // below UNKNOWN: at once
		{60 * s, "x", "level WARNING->UNKNOWN"},
		{70 * s, 95, ""}, // CRITICAL is a raise from UNKNOWN and waits
		{129 * s, 95, ""},
		{130 * s, 95, "level UNKNOWN->CRITICAL"},
		{131 * s, true, "level CRITICAL->UNKNOWN"},
	})
	if tr.Level != LevelUnknown || tr.LastValue.OK {
		t.Fatalf("tracker %+v", tr)
	}
}

func TestUnknownFromEvaluate(t *testing.T) {
	// The whole path: JSON value kinds through Evaluate into a tracker.
	hr := mustCompile(t, Rule{Metric: "p.m", Op: OpGT, Critical: fp64(90)}).ForHost("h", true)
	tr := NewTracker("p.m", t0)
	for i, tc := range []struct {
		data string
		want Level
	}{
		{`{"m":95}`, LevelCritical},
		{`{"m":"95"}`, LevelUnknown},
		{`{"m":50}`, LevelOK},
		{`{"m":null}`, LevelUnknown},
		{`{"m":1}`, LevelOK},
		{`{"m":{"v":95}}`, LevelUnknown},
		{`{"m":false}`, LevelUnknown},
		{`{"m":[95]}`, LevelUnknown},
		{`{"m":96}`, LevelCritical},
		{`{"other":1}`, LevelCritical}, // absent: not evaluated, level kept
	} {
		now := at(time.Duration(i) * time.Second)
		err := hr.Evaluate("p", []byte(tc.data), func(_ string, r *Rule, v Value) {
			tr.Observe(now, v, r, FlapPolicy{})
		})
		if err != nil {
			t.Fatal(err)
		}
		if tr.Level != tc.want {
			t.Fatalf("after %s: level %s, want %s", tc.data, tr.Level, tc.want)
		}
	}
}

func TestFlapping(t *testing.T) {
	rule := Rule{Metric: "p.m", Op: OpGT, Critical: fp64(90)}
	s := time.Second
	// Ten changes 10 s apart: the 7th starts flapping.
	steps := []step{
		{0, 95, "level OK->CRITICAL"},
		{10 * s, 50, "recovery CRITICAL->OK"},
		{20 * s, 95, "level OK->CRITICAL"},
		{30 * s, 50, "recovery CRITICAL->OK"},
		{40 * s, 95, "level OK->CRITICAL"},
		{50 * s, 50, "recovery CRITICAL->OK"},
		{60 * s, 95, "flapping_start OK->CRITICAL"},
		{70 * s, 50, "recovery CRITICAL->OK quiet"},
		{80 * s, 95, "level OK->CRITICAL quiet"},
		{90 * s, 50, "recovery CRITICAL->OK quiet"},
	}
	// Then quiet, observed every 10 s. Changes count while now-at < 10 m;
	// flapping stops once at most 2 remain (those at 80 s and 90 s), i.e.
	// when the change at 70 s leaves the window at 670 s.
	for ts := 100 * s; ts <= 670*s; ts += 10 * s {
		want := ""
		if ts == 670*s {
			want = "flapping_stop OK->OK"
		}
		steps = append(steps, step{ts, 50, want})
	}
	tr := run(t, rule, FlapPolicy{}, steps)
	if tr.Flapping {
		t.Fatal("still flapping")
	}
	if len(tr.changes) != 2 {
		t.Fatalf("%d change times kept, want 2", len(tr.changes))
	}
	// After the window passes, the history is released.
	tr.Observe(at(time.Hour), Number(50), &rule, FlapPolicy{})
	if tr.changes != nil {
		t.Fatalf("idle tracker keeps %d change times", len(tr.changes))
	}
}

func TestFlapWindowBoundary(t *testing.T) {
	rule := Rule{Metric: "p.m", Op: OpGT, Critical: fp64(90)}
	for _, tc := range []struct {
		gap      time.Duration
		flapping bool
	}{
		{99 * time.Second, true},   // 7th change at 594 s: all 7 within 10 m
		{100 * time.Second, false}, // 7th change at 600 s: the 1st has just left
	} {
		tr := NewTracker("p.m", t0)
		starts := 0
		for i := range 7 {
			v := 95.0
			if i%2 == 1 {
				v = 50
			}
			ch, ok := tr.Observe(at(time.Duration(i)*tc.gap), Number(v), &rule, FlapPolicy{})
			if ok && ch.Kind == ChangeFlapStart {
				starts++
				if i != 6 {
					t.Errorf("gap %s: flapping started at change %d", tc.gap, i+1)
				}
			}
		}
		if tr.Flapping != tc.flapping || (starts == 1) != tc.flapping {
			t.Errorf("gap %s: flapping %v after %d starts, want %v", tc.gap, tr.Flapping, starts, tc.flapping)
		}
	}
}

func TestFlapStopWithLevelChange(t *testing.T) {
	// A custom policy: start above 2 changes within 1 m, stop at 1 or fewer.
	fp := FlapPolicy{Window: time.Minute, Start: 2, Stop: 1}
	rule := Rule{Metric: "p.m", Op: OpGT, Warning: fp64(80), Critical: fp64(90)}
	s := time.Second
	run(t, rule, fp, []step{
		{0, 85, "level OK->WARNING"},
		{1 * s, 95, "level WARNING->CRITICAL"},
		{2 * s, 85, "flapping_start CRITICAL->WARNING"},
		{3 * s, 95, "level WARNING->CRITICAL quiet"},
		// At 70 s every earlier change has left the window; this change is
		// the only one in it, so flapping stops in the same call.
		{70 * s, 50, "flapping_stop CRITICAL->OK"},
		{71 * s, 85, "level OK->WARNING"},
	})
}

func TestFlapPolicy(t *testing.T) {
	for _, tc := range []struct {
		fp   FlapPolicy
		err  string
		want FlapPolicy
	}{
		{FlapPolicy{}, "", DefaultFlapPolicy()},
		{FlapPolicy{Window: time.Minute, Start: 3, Stop: 0}, "", FlapPolicy{Window: time.Minute, Start: 3, Stop: 0}},
		{FlapPolicy{Start: 3, Stop: 1}, "window must be positive", FlapPolicy{Window: 10 * time.Minute, Start: 3, Stop: 1}},
		{FlapPolicy{Window: time.Minute, Start: 0}, "start must be at least 1", FlapPolicy{Window: time.Minute, Start: 1, Stop: 0}},
		{FlapPolicy{Window: time.Minute, Start: 3, Stop: 3}, "below start", FlapPolicy{Window: time.Minute, Start: 3, Stop: 2}},
		{FlapPolicy{Window: time.Minute, Start: 3, Stop: -1}, "below start", FlapPolicy{Window: time.Minute, Start: 3, Stop: 0}},
	} {
		err := tc.fp.Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v.Validate() = %v, want %q", tc.fp, err, tc.err)
		}
		if got := tc.fp.effective(); got != tc.want {
			t.Errorf("%+v.effective() = %+v, want %+v", tc.fp, got, tc.want)
		}
	}
}

func TestSet(t *testing.T) {
	tr := NewTracker("heartbeat", t0)
	for i, tc := range []struct {
		l    Level
		want string
	}{
		{LevelCritical, "level OK->CRITICAL"},
		{LevelCritical, ""},
		{LevelWarning, "level CRITICAL->WARNING"},
		{LevelOK, "recovery WARNING->OK"},
		{Level(200), "level OK->UNKNOWN"},
		{LevelCritical, "level UNKNOWN->CRITICAL"}, // no "for" with Set
	} {
		now := at(time.Duration(i) * time.Second)
		v := Number(float64(i))
		ch, ok := tr.Set(now, tc.l, v, FlapPolicy{})
		if got := describe(ch, ok); got != tc.want {
			t.Fatalf("Set %d (%s): %q, want %q", i, tc.l, got, tc.want)
		}
		if tr.LastValue != v || !tr.LastCheck.Equal(now) {
			t.Fatalf("Set %d: LastValue/LastCheck not updated", i)
		}
	}
	if !tr.Since.Equal(at(5 * time.Second)) {
		t.Fatalf("Since = %v", tr.Since)
	}
	// Set flaps like Observe.
	fp := FlapPolicy{Window: time.Minute, Start: 1, Stop: 0}
	tr = NewTracker("heartbeat", t0)
	tr.Set(t0, LevelCritical, Value{}, fp)
	ch, ok := tr.Set(at(time.Second), LevelOK, Value{}, fp)
	if got := describe(ch, ok); got != "flapping_start CRITICAL->OK" {
		t.Fatalf("second change: %q", got)
	}
}

func TestNotificationCount(t *testing.T) {
	rule := Rule{Metric: "p.m", Op: OpGT, Warning: fp64(80), Critical: fp64(90)}
	tr := NewTracker("p.m", t0)
	for i, tc := range []struct {
		v        float64
		notified int // NoteNotified calls after the observation
		want     int
	}{
		{50, 0, 0},
		{85, 2, 2}, // new problem, notified twice (e.g. a re-notification)
		{95, 1, 3}, // escalation: same episode
		{50, 1, 4}, // recovery's notification counts in the episode it ends
		{85, 0, 0}, // a new episode starts at 0
		{86, 1, 1},
	} {
		tr.Observe(at(time.Duration(i)*time.Minute), Number(tc.v), &rule, FlapPolicy{})
		for range tc.notified {
			tr.NoteNotified("r", tr.Level, at(time.Duration(i)*time.Minute))
		}
		if tr.NotificationCount != tc.want {
			t.Fatalf("step %d: NotificationCount %d, want %d", i, tr.NotificationCount, tc.want)
		}
	}
}

func TestObserveNilRule(t *testing.T) {
	tr := NewTracker("p.m", t0)
	if _, ok := tr.Observe(t0, Number(1e9), nil, FlapPolicy{}); ok || tr.Level != LevelOK {
		t.Fatalf("nil rule raised the level to %s", tr.Level)
	}
	if ch, ok := tr.Observe(t0, Value{}, nil, FlapPolicy{}); !ok || ch.To != LevelUnknown {
		t.Fatal("nil rule: non-numeric value is not UNKNOWN")
	}
}

func TestChangeKindString(t *testing.T) {
	for k, want := range map[ChangeKind]string{
		ChangeLevel: "level", ChangeRecovery: "recovery", ChangeFlapStart: "flapping_start",
		ChangeFlapStop: "flapping_stop", ChangeKind(9): "ChangeKind(9)",
	} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}

func TestTrackerStateRoundTrip(t *testing.T) {
	rule := Rule{Metric: "p.m", Op: OpGT, Warning: fp64(80), Critical: fp64(90), For: time.Minute}
	tr := NewTracker("p.m", t0)
	// Build up every kind of state: runs towards a raise, flap history,
	// notifications on two routes.
	tr.Observe(at(0), Number(95), &rule, FlapPolicy{})
	tr.Observe(at(2*time.Minute), Number(95), &rule, FlapPolicy{})
	tr.NoteNotified("pager", LevelCritical, at(2*time.Minute))
	tr.NoteNotified("mail", LevelCritical, at(3*time.Minute))
	tr.Observe(at(4*time.Minute), Number(85), &rule, FlapPolicy{})
	st := tr.State()
	back := RestoreTracker(st)
	if !reflect.DeepEqual(back, tr) {
		t.Fatalf("restored tracker differs:\n got %+v\nwant %+v", back, tr)
	}
	// The copy shares nothing: changing the original leaves it alone.
	tr.NoteNotified("pager", LevelWarning, at(5*time.Minute))
	tr.Observe(at(6*time.Minute), Number(10), &rule, FlapPolicy{})
	if !reflect.DeepEqual(RestoreTracker(st), back) {
		t.Fatal("State shares memory with the tracker")
	}
	// The restored tracker continues exactly as the original would.
	a, b := RestoreTracker(st), RestoreTracker(st)
	for i, v := range []float64{95, 95, 50, 95, 50, 95, 50, 95, 50} {
		now := at(time.Duration(10+i) * time.Minute)
		cha, oka := a.Observe(now, Number(v), &rule, FlapPolicy{})
		chb, okb := b.Observe(now, Number(v), &rule, FlapPolicy{})
		if oka != okb || !reflect.DeepEqual(cha, chb) {
			t.Fatalf("step %d: %v %+v vs %v %+v", i, oka, cha, okb, chb)
		}
	}
}

func TestUnnotified(t *testing.T) {
	rule := Rule{Metric: "p.m", Op: OpGT, Warning: fp64(80), Critical: fp64(90)}
	tr := NewTracker("p.m", t0)
	if tr.Unnotified() {
		t.Fatal("a new OK alert is unnotified")
	}
	tr.Observe(at(0), Number(95), &rule, FlapPolicy{})
	if !tr.Unnotified() {
		t.Fatal("a CRITICAL never notified is not unnotified")
	}
	tr.NoteNotified("r", LevelCritical, at(time.Second))
	if tr.Unnotified() {
		t.Fatal("a notified CRITICAL is unnotified")
	}
	tr.Observe(at(time.Minute), Number(10), &rule, FlapPolicy{})
	if !tr.Unnotified() {
		t.Fatal("an undelivered recovery is not unnotified")
	}
	tr.NoteNotified("r", LevelOK, at(time.Minute))
	if tr.Unnotified() || tr.NotifiedLevel != LevelOK {
		t.Fatal("a delivered recovery is unnotified")
	}
	// A late delivery of an older notification does not move NotifiedAt back.
	tr.NoteNotified("other", LevelCritical, at(time.Second))
	if tr.NotifiedLevel != LevelOK || !tr.RouteSent["other"].Equal(at(time.Second)) {
		t.Fatalf("late delivery: level %s, routes %v", tr.NotifiedLevel, tr.RouteSent)
	}
	// A new episode forgets the routes of the last one.
	tr.Observe(at(2*time.Minute), Number(85), &rule, FlapPolicy{})
	if tr.RouteSent != nil || tr.NotificationCount != 0 {
		t.Fatalf("new episode: routes %v count %d", tr.RouteSent, tr.NotificationCount)
	}
}
