package wire

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestReplayWindow(t *testing.T) {
	const base = 1767225600000000000 // a boot time in unix ns, as agents use
	type step struct {
		seq  uint64
		want bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{base, true}, {base + 1, true}, {base + 2, true}, {base + 3, true}}},
		{"duplicates", []step{{base, true}, {base, false}, {base + 1, true}, {base + 1, false}, {base, false}}},
		{"reordered within window", []step{{base + 10, true}, {base + 3, true}, {base + 7, true}, {base + 3, false}, {base + 11, true}, {base + 7, false}, {base + 9, true}}},
		{"oldest slot in window", []step{{base + 127, true}, {base, true}, {base, false}}},
		{"older than window", []step{{base + 128, true}, {base, false}, {base + 1, true}}},
		{"far older", []step{{base, true}, {0, false}, {base - 1, true}}},
		{"jump of 64", []step{{base, true}, {base + 1, true}, {base + 64, true}, {base, false}, {base + 1, false}, {base + 2, true}, {base + 65, true}}},
		{"jump over 64 keeps high word", []step{{base, true}, {base + 70, true}, {base, false}, {base + 1, true}, {base + 140, true}, {base + 70, false}, {base + 12, false}}},
		{"big jump forgets window", []step{{base, true}, {base + 1000, true}, {base, false}, {base + 999, true}, {base + 872, false}, {base + 873, true}}},
		{"restart with later boot time", []step{{base, true}, {base + 1, true}, {base + 5e9, true}, {base + 5e9 + 1, true}, {base + 2, false}}},
		{"seq zero first", []step{{0, true}, {0, false}, {1, true}}},
		{"max seq", []step{{math.MaxUint64, true}, {math.MaxUint64, false}, {math.MaxUint64 - 127, true}, {math.MaxUint64 - 128, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w ReplayWindow
			for i, s := range tc.steps {
				if got := w.Check(s.seq); got != s.want {
					t.Fatalf("step %d: Check(base%+d) = %v, want %v", i, int64(s.seq-base), got, s.want)
				}
			}
		})
	}
}

// TestReplayWindowModel compares the bitmap against a plain set-based model
// on random sequences with reordering, duplicates and jumps.
func TestReplayWindowModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for run := range 200 {
		var w ReplayWindow
		seen := map[uint64]bool{}
		var top uint64
		first := true
		cur := uint64(1 << 40)
		for i := range 500 {
			switch r.IntN(10) {
			case 0: // big jump
				cur += uint64(r.IntN(300))
			case 1, 2: // old or duplicate
				cur -= uint64(r.IntN(140))
			default:
				cur += uint64(r.IntN(3))
			}
			want := first || (!seen[cur] && (cur > top || top-cur < ReplayWindowSize))
			if got := w.Check(cur); got != want {
				t.Fatalf("run %d step %d: Check(%d) = %v, want %v (top %d)", run, i, cur, got, want, top)
			}
			if want {
				seen[cur] = true
				if first || cur > top {
					top = cur
				}
				first = false
			}
			if h, ok := w.Highest(); !ok || h != top {
				t.Fatalf("Highest = %d, %v; want %d", h, ok, top)
			}
		}
	}
}

func TestClockOK(t *testing.T) {
	const now = 1767225600000000000
	skew := 5 * time.Minute
	tests := []struct {
		msg, now int64
		skew     time.Duration
		want     bool
	}{
		{now, now, skew, true},
		{now + int64(skew), now, skew, true},
		{now - int64(skew), now, skew, true},
		{now + int64(skew) + 1, now, skew, false},
		{now - int64(skew) - 1, now, skew, false},
		{now, now, 0, true},
		{now + 1, now, 0, false},
		{now, now, -1, false},
		{0, now, skew, false},
		{math.MinInt64, math.MaxInt64, time.Duration(math.MaxInt64), false},
		{math.MaxInt64, math.MinInt64, time.Duration(math.MaxInt64), false},
		{math.MaxInt64, 0, time.Duration(math.MaxInt64), true},
		{math.MinInt64, 0, time.Duration(math.MaxInt64), false},
		{math.MinInt64 + 1, 0, time.Duration(math.MaxInt64), true},
	}
	for _, tc := range tests {
		if got := ClockOK(tc.msg, tc.now, tc.skew); got != tc.want {
			t.Errorf("ClockOK(%d, %d, %v) = %v, want %v", tc.msg, tc.now, tc.skew, got, tc.want)
		}
	}
}

func TestReplayWindowRestore(t *testing.T) {
	var w ReplayWindow
	for _, s := range []uint64{1000, 998, 1003, 1001} {
		w.Check(s)
	}
	r := RestoreReplayWindow(w.State())
	for _, s := range []uint64{1000, 998, 1003, 1001, 875} {
		if r.Check(s) {
			t.Errorf("restored window accepted %d again", s)
		}
	}
	for _, s := range []uint64{999, 1002, 1004} {
		if !r.Check(s) {
			t.Errorf("restored window refused fresh %d", s)
		}
	}
}

// dg is one datagram as the replay guard sees it.
type dg struct {
	inst, seq uint64
	sent      int64
}

func mustCheck(t *testing.T, g *ReplayGuard, d dg, want Reason) Eviction {
	t.Helper()
	got, ev := g.Check(d.inst, d.seq, d.sent)
	if got != want {
		t.Fatalf("Check(instance %#x, seq %d, sent %d) = %v, want %v", d.inst, d.seq, d.sent, got, want)
	}
	return ev
}

// The bug this guard exists for: a one-shot run started after the running
// agent used to move the host's one window past it. With a window per
// instance, both go on, interleaved, and each one's replays stay out.
func TestReplayGuardInterleavedInstances(t *testing.T) {
	const t0 = 1767225600000000000
	running, oneShot := uint64(t0), uint64(t0+3600e9) // started an hour apart
	var g ReplayGuard
	var sent []dg
	for i := range uint64(50) {
		ts := int64(t0 + 3600e9 + i*1e9)
		for _, d := range []dg{{running, 1000 + i, ts}, {oneShot, 1 + i, ts + 1}} {
			mustCheck(t, &g, d, ReasonNone)
			sent = append(sent, d)
		}
	}
	for _, d := range sent[len(sent)-20:] {
		mustCheck(t, &g, d, ReasonReplay)
	}
	if g.Instances() != 2 {
		t.Fatalf("Instances = %d, want 2", g.Instances())
	}
	// A version-1 sender (instance 0) is one more instance of its own.
	mustCheck(t, &g, dg{0, t0 + 7, t0 + 3700e9}, ReasonNone)
	mustCheck(t, &g, dg{0, t0 + 7, t0 + 3700e9}, ReasonReplay)
	mustCheck(t, &g, dg{running, 1050, t0 + 3700e9}, ReasonNone)
}

// Five instances through four slots: the least recently accepted one is
// forgotten, its datagrams stay replays, and it comes back with a newer one.
func TestReplayGuardEviction(t *testing.T) {
	var g ReplayGuard
	at := int64(1000)
	next := func() int64 { at += 10; return at }
	a := []dg{{1, 1, next()}, {1, 2, next()}}
	for _, d := range a {
		mustCheck(t, &g, d, ReasonNone)
	}
	for inst := uint64(2); inst <= 4; inst++ {
		mustCheck(t, &g, dg{inst, 1, next()}, ReasonNone)
	}
	mustCheck(t, &g, dg{1, 3, next()}, ReasonNone) // 1 is now the most recent; 2 the least
	a = append(a, dg{1, 3, at})
	aLast := at
	ev := mustCheck(t, &g, dg{5, 1, next()}, ReasonNone)
	if !ev.Evicted || ev.Instance != 2 {
		t.Fatalf("eviction = %+v, want instance 2", ev)
	}
	if g.Instances() != MaxInstances {
		t.Fatalf("Instances = %d, want %d", g.Instances(), MaxInstances)
	}
	// Instance 2's datagram again: a replay. So is a datagram of 2 that was
	// never accepted but is stamped no later than its last accepted one:
	// the guard cannot tell it from a replay any more.
	mustCheck(t, &g, dg{2, 1, 1030}, ReasonReplay)
	mustCheck(t, &g, dg{2, 2, 1030}, ReasonReplay)
	// Instance 1 survived: its old datagrams are replays, its new one fresh.
	for _, d := range a {
		mustCheck(t, &g, d, ReasonReplay)
	}
	// Evict 1 as well (3, 4, 5 and a new 6 are more recent), then replay
	// its datagrams: all refused, even though 1 comes back in between with
	// a window that starts just above them.
	for _, inst := range []uint64{3, 4, 5} {
		mustCheck(t, &g, dg{inst, 2, next()}, ReasonNone)
	}
	if ev := mustCheck(t, &g, dg{6, 1, next()}, ReasonNone); ev.Instance != 1 || ev.Last != aLast {
		t.Fatalf("eviction = %+v, want instance 1, last %d", ev, aLast)
	}
	for _, d := range a {
		mustCheck(t, &g, d, ReasonReplay)
	}
	ev = mustCheck(t, &g, dg{1, 10, next()}, ReasonNone) // still running: back
	if ev.Instance != 3 {
		t.Fatalf("eviction = %+v, want instance 3", ev)
	}
	for _, d := range a {
		mustCheck(t, &g, d, ReasonReplay) // seq 1..3 are in the new window's range, unseen
	}
	mustCheck(t, &g, dg{1, 9, next()}, ReasonNone) // reordered, sent after the floor: fresh
}

// A running agent beats once a "second"; between two beats a burst of
// one-shot runs (more than the guard holds) each send two datagrams. The
// running agent is never refused, nor is any fresh datagram.
func TestReplayGuardRunningAgentOutlivesOneShots(t *testing.T) {
	var g ReplayGuard
	at := int64(1e18)
	seq := uint64(0)
	for beat := range 20 {
		at += 1e6
		seq++
		mustCheck(t, &g, dg{7, seq, at}, ReasonNone)
		for shot := range 3 + beat%5 {
			inst := uint64(1000*beat + shot + 100)
			at += 1e3
			mustCheck(t, &g, dg{inst, 1, at}, ReasonNone)
			mustCheck(t, &g, dg{inst, 2, at}, ReasonNone) // the copy to the other address
		}
	}
}

func TestReplayGuardSeqJump(t *testing.T) {
	var g ReplayGuard
	const inst = 9
	mustCheck(t, &g, dg{inst, 100, 10}, ReasonNone)
	mustCheck(t, &g, dg{inst, 100 + MaxSeqJump + 1, 11}, ReasonSeqJump)
	mustCheck(t, &g, dg{inst, math.MaxUint64, 12}, ReasonSeqJump)
	mustCheck(t, &g, dg{inst, 101, 13}, ReasonNone) // the window did not move
	mustCheck(t, &g, dg{inst, 101 + MaxSeqJump, 14}, ReasonNone)
	mustCheck(t, &g, dg{inst, 101, 15}, ReasonReplay)
	// The first datagram of an instance may have any sequence number.
	mustCheck(t, &g, dg{10, math.MaxUint64, 16}, ReasonNone)
	mustCheck(t, &g, dg{10, math.MaxUint64, 17}, ReasonReplay)
}

// Version-1 senders start their sequence at their boot time: a restart
// jumps by the downtime in ns and is accepted, a sequence number far ahead
// of the datagram's own timestamp is not.
func TestReplayGuardLegacyJump(t *testing.T) {
	const boot = 1767225600000000000
	var g ReplayGuard
	mustCheck(t, &g, dg{0, boot + 1, boot + 1e6}, ReasonNone)
	mustCheck(t, &g, dg{0, math.MaxUint64, boot + 2e6}, ReasonSeqJump)
	mustCheck(t, &g, dg{0, boot + 2, boot + 3e6}, ReasonNone)
	restart := uint64(boot + 86400e9) // a day later
	mustCheck(t, &g, dg{0, restart + 1, int64(restart) + 1e6}, ReasonNone)
	mustCheck(t, &g, dg{0, boot + 3, boot + 86401e9}, ReasonReplay)
	// Ahead of its timestamp by MaxLegacyLead: still accepted (a clock
	// stepped back after the agent started); by one more: refused.
	now := int64(restart) + 2e9
	mustCheck(t, &g, dg{0, uint64(now) + MaxLegacyLead + 1, now}, ReasonSeqJump)
	mustCheck(t, &g, dg{0, uint64(now) + MaxLegacyLead, now}, ReasonNone)
	// The rule is exact at the ends of the timestamp range.
	for _, tc := range []struct {
		seq  uint64
		sent int64
		want bool
	}{
		{math.MaxUint64, math.MaxInt64, false},
		{MaxLegacyLead, 0, true},
		{MaxLegacyLead + 1, 0, false},
		{0, -MaxLegacyLead, true},
		{1, -MaxLegacyLead, false},
		{0, -MaxLegacyLead - 1, false},
		{0, math.MinInt64, false},
		{uint64(math.MaxInt64) + MaxLegacyLead, math.MaxInt64, true},
	} {
		if got := legacyLeadOK(tc.seq, tc.sent); got != tc.want {
			t.Errorf("legacyLeadOK(%d, %d) = %v, want %v", tc.seq, tc.sent, got, tc.want)
		}
	}
}

func TestReplayGuardRestore(t *testing.T) {
	var g ReplayGuard
	at := int64(5000)
	for inst := uint64(1); inst <= 6; inst++ { // 1 and 2 are evicted
		for seq := uint64(1); seq <= 3; seq++ {
			at++
			mustCheck(t, &g, dg{inst, seq, at}, ReasonNone)
		}
	}
	at++
	mustCheck(t, &g, dg{3, 4, at}, ReasonNone) // 3 is now the most recent
	st := g.State()
	if len(st.Instances) != 4 || st.Instances[0].Instance != 3 || st.Instances[1].Instance != 6 || st.Instances[3].Instance != 4 {
		t.Fatalf("state not most recent first: %+v", st)
	}
	r := RestoreReplayGuard(st)
	if !reflect.DeepEqual(r.State(), st) {
		t.Fatalf("restored state differs:\n got %+v\nwant %+v", r.State(), st)
	}
	// The same verdicts as the original, and the same instance is evicted next.
	for _, d := range []dg{{1, 3, 5003}, {2, 9, 5006}, {3, 4, at}, {5, 2, 5014}} {
		mustCheck(t, &r, d, ReasonReplay)
	}
	mustCheck(t, &r, dg{5, 4, at + 1}, ReasonNone)
	if ev := mustCheck(t, &r, dg{7, 1, at + 2}, ReasonNone); ev.Instance != 4 {
		t.Fatalf("restored guard evicted %+v, want instance 4", ev)
	}

	// A state with more instances than the guard holds (or broken entries)
	// forgets the extra ones into the floor.
	big := GuardState{Floor: 10}
	for i := range uint64(6) {
		big.Instances = append(big.Instances, InstanceState{Instance: i + 1, Window: ReplayState{Top: 5, Seen: [2]uint64{1, 0}, Init: true}, Last: int64(100 - i)})
	}
	big.Instances = append(big.Instances, InstanceState{Instance: 1, Window: ReplayState{Top: 1, Init: true}, Last: 200}, InstanceState{Instance: 50, Last: 300})
	r = RestoreReplayGuard(big)
	if got := r.State(); len(got.Instances) != MaxInstances || got.Floor != 300 || got.Instances[0].Instance != 1 || got.Instances[0].Window.Top != 5 {
		t.Fatalf("restored oversized state: %+v", got)
	}
	mustCheck(t, &r, dg{5, 6, 300}, ReasonReplay) // forgotten, not after the floor
	mustCheck(t, &r, dg{5, 6, 301}, ReasonNone)

	// An instance twice: the first (most recent) entry counts, the other
	// joins the floor.
	dup := GuardState{Instances: []InstanceState{
		{Instance: 1, Window: ReplayState{Top: 9, Seen: [2]uint64{1, 0}, Init: true}, Last: 90},
		{Instance: 1, Window: ReplayState{Top: 3, Seen: [2]uint64{1, 0}, Init: true}, Last: 95},
		{Instance: 2, Window: ReplayState{Top: 4, Seen: [2]uint64{1, 0}, Init: true}, Last: 80},
	}}
	r = RestoreReplayGuard(dup)
	if got := r.State(); len(got.Instances) != 2 || got.Floor != 95 || got.Instances[0].Window.Top != 9 || got.Instances[1].Instance != 2 {
		t.Fatalf("restored state with an instance twice: %+v", got)
	}
}

// TestReplayGuardModel drives the guard with random traffic from more
// instances than it holds, mixed with replays of accepted datagrams, and
// checks the two properties that matter: no datagram is ever accepted
// twice, and a fresh datagram stamped after everything accepted so far,
// with its instance's next sequence number, is always accepted.
func TestReplayGuardModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for run := range 100 {
		var g ReplayGuard
		accepted := map[dg]bool{}
		var log []dg
		next := map[uint64]uint64{}
		at := int64(1 << 40)
		for step := range 2000 {
			var d dg
			fresh := false
			switch k := r.IntN(10); {
			case k < 6 || len(log) == 0: // a fresh datagram, in order
				inst := uint64(r.IntN(8))
				next[inst]++
				at += int64(1 + r.IntN(1000))
				d, fresh = dg{inst, next[inst], at}, true
			case k < 9: // a replay
				d = log[r.IntN(len(log))]
			default: // reordered: a skipped sequence number, stamped a little earlier
				inst := uint64(r.IntN(8))
				next[inst] += 2
				d = dg{inst, next[inst] - 1, at - int64(r.IntN(3000))}
			}
			got, _ := g.Check(d.inst, d.seq, d.sent)
			if got == ReasonNone && accepted[d] {
				t.Fatalf("run %d step %d: %+v accepted twice", run, step, d)
			}
			if fresh && got != ReasonNone {
				t.Fatalf("run %d step %d: fresh %+v refused: %v", run, step, d, got)
			}
			if got == ReasonNone {
				accepted[d] = true
				log = append(log, d)
			}
		}
	}
}
