package samplestore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// model is the ring of plain samples the daemon keeps today
// (actors/ring.go), which Ring must behave exactly like.
type model struct {
	limit   int
	samples []modelSample // oldest first
}

type modelSample struct {
	unixNano int64
	data     []byte
}

func (m *model) insert(ts int64, data []byte) bool {
	n := len(m.samples)
	if n == 0 || ts > m.samples[n-1].unixNano {
		m.samples = append(m.samples, modelSample{ts, bytes.Clone(data)})
		if len(m.samples) > m.limit {
			m.samples = m.samples[1:]
		}
		return true
	}
	for _, s := range m.samples {
		if s.unixNano == ts {
			return false
		}
	}
	if n == m.limit && ts < m.samples[0].unixNano {
		return false
	}
	at := n
	for at > 0 && m.samples[at-1].unixNano > ts {
		at--
	}
	m.samples = slices.Insert(m.samples, at, modelSample{ts, bytes.Clone(data)})
	if len(m.samples) > m.limit {
		m.samples = m.samples[1:]
	}
	return true
}

// newest returns the i-th newest sample (0 = the latest).
func (m *model) newest(i int) modelSample { return m.samples[len(m.samples)-1-i] }

// checkRing fails unless r holds exactly m's samples.
func checkRing(t testing.TB, r *Ring, m *model) {
	t.Helper()
	if r.Len() != len(m.samples) {
		t.Fatalf("Len %d, want %d", r.Len(), len(m.samples))
	}
	for i := 0; i < r.Len(); i++ {
		want := m.newest(i)
		if got := r.Newest(i); got != want.unixNano {
			t.Fatalf("Newest(%d) = %d, want %d", i, got, want.unixNano)
		}
		prefix := []byte("prefix:")
		got := r.AppendJSON(prefix, i)
		if !bytes.Equal(got[:len(prefix)], []byte("prefix:")) || !bytes.Equal(got[len(prefix):], want.data) {
			t.Fatalf("AppendJSON(%d) (ts %d):\n got %q\nwant %q", i, want.unixNano, got[len(prefix):], want.data)
		}
	}
	j := 0
	for ts, data := range r.All() {
		want := m.samples[j]
		if ts != want.unixNano || !bytes.Equal(data, want.data) {
			t.Fatalf("All()[%d] = %d %q, want %d %q", j, ts, data, want.unixNano, want.data)
		}
		j++
	}
	if j != len(m.samples) {
		t.Fatalf("All() gave %d samples, want %d", j, len(m.samples))
	}
	for _, n := range []int{len(m.samples), 3, 1} {
		j = 0
		for ts, data := range r.Latest(n) {
			want := m.newest(j)
			if ts != want.unixNano || !bytes.Equal(data, want.data) {
				t.Fatalf("Latest(%d)[%d] = %d %q, want %d %q", n, j, ts, data, want.unixNano, want.data)
			}
			j++
		}
		if want := min(n, len(m.samples)); j != want {
			t.Fatalf("Latest(%d) gave %d samples, want %d", n, j, want)
		}
	}
}

// sampleAt returns a cpu_monitor-like object carrying ts, so a sample put
// in the wrong place shows.
func sampleAt(ts int64) []byte {
	return fmt.Appendf(nil, `{"cpu_percent":%s,"load_1min":0.5,"seq":%d}`,
		strconv.FormatFloat(float64(ts%1000)/10, 'f', -1, 64), ts)
}

// TestRingNewestFirst mirrors actors' test of the same name.
func TestRingNewestFirst(t *testing.T) {
	for _, tc := range []struct {
		limit, pushed int
	}{
		{limit: 1, pushed: 0},
		{limit: 1, pushed: 1},
		{limit: 1, pushed: 5},
		{limit: 3, pushed: 2},
		{limit: 3, pushed: 3},
		{limit: 3, pushed: 4},
		{limit: 3, pushed: 7},
		{limit: 100, pushed: 250},
	} {
		r := New(tc.limit)
		for i := 1; i <= tc.pushed; i++ {
			if !r.Insert(int64(i), sampleAt(int64(i))) {
				t.Fatalf("limit %d: sample %d not stored", tc.limit, i)
			}
		}
		want := min(tc.limit, tc.pushed)
		if r.Len() != want {
			t.Fatalf("limit %d pushed %d: len %d, want %d", tc.limit, tc.pushed, r.Len(), want)
		}
		for i := 0; i < r.Len(); i++ {
			if got, exp := r.Newest(i), int64(tc.pushed-i); got != exp {
				t.Fatalf("limit %d pushed %d: Newest(%d) = %d, want %d", tc.limit, tc.pushed, i, got, exp)
			}
			if got, exp := r.AppendJSON(nil, i), sampleAt(int64(tc.pushed-i)); !bytes.Equal(got, exp) {
				t.Fatalf("limit %d pushed %d: AppendJSON(%d) = %s, want %s", tc.limit, tc.pushed, i, got, exp)
			}
		}
		// Never more than limit samples, plus the few dropped in a batch.
		if r.n > tc.limit+r.evictBatch() {
			t.Fatalf("limit %d: %d samples coded", tc.limit, r.n)
		}
	}
}

// TestRingInsertInTimeOrder mirrors actors' test of the same name.
func TestRingInsertInTimeOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		in     []int64
		stored []bool
		want   []int64 // newest first
	}{
		{"in order", 3, []int64{1, 2, 3}, []bool{true, true, true}, []int64{3, 2, 1}},
		{"late one fills its place", 5, []int64{1, 3, 2}, []bool{true, true, true}, []int64{3, 2, 1}},
		{"duplicate of newest", 3, []int64{1, 2, 2}, []bool{true, true, false}, []int64{2, 1}},
		{"duplicate of an older one", 3, []int64{1, 2, 3, 1}, []bool{true, true, true, false}, []int64{3, 2, 1}},
		{"full ring, late one evicts the oldest", 3, []int64{1, 3, 4, 2}, []bool{true, true, true, true}, []int64{4, 3, 2}},
		{"full ring, older than all", 3, []int64{5, 6, 7, 1}, []bool{true, true, true, false}, []int64{7, 6, 5}},
		{"wrapped ring then late", 3, []int64{1, 2, 3, 4, 6, 5}, []bool{true, true, true, true, true, true}, []int64{6, 5, 4}},
		{"late then keeps pushing", 3, []int64{2, 1, 3, 4}, []bool{true, true, true, true}, []int64{4, 3, 2}},
		// With a limit of 32, two samples past it are still coded, waiting
		// to be dropped: they must not count.
		{"dropped sample's timestamp again", 32, append(seq(1, 34), 2), append(trues(34), false), seq(34, 3)},
		{"late into a ring with dropped samples", 32, append(seq(2, 68, 2), 35), append(trues(34), true), slices.Concat(seq(68, 36, -2), []int64{35}, seq(34, 8, -2))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.limit)
			m := &model{limit: tc.limit}
			for i, ts := range tc.in {
				if got := r.Insert(ts, sampleAt(ts)); got != tc.stored[i] {
					t.Fatalf("Insert(%d) = %v, want %v", ts, got, tc.stored[i])
				}
				m.insert(ts, sampleAt(ts))
				checkRing(t, r, m)
			}
			var got []int64
			for i := 0; i < r.Len(); i++ {
				got = append(got, r.Newest(i))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ring %v, want %v", got, tc.want)
			}
		})
	}
}

// seq returns from, from+step ... to (inclusive); step defaults to ±1.
func seq(from, to int64, step ...int64) []int64 {
	s := int64(1)
	if from > to {
		s = -1
	}
	if len(step) > 0 {
		s = step[0]
	}
	var out []int64
	for v := from; s > 0 && v <= to || s < 0 && v >= to; v += s {
		out = append(out, v)
	}
	return out
}

func trues(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

// TestRingMatchesModel inserts random sequences (mostly in order, some
// late, some duplicates, samples of changing shape) and compares every
// step with the model.
func TestRingMatchesModel(t *testing.T) {
	shapes := [][]byte{
		[]byte(`{"a":1,"b":2.5}`),
		[]byte(`{"a":1,"b":2.5,"c":"x"}`),
		[]byte(`{"b":2.5,"a":1}`),
		[]byte(`{"a": 1, "b": [1, 2, {"c": null}]}`),
		[]byte(`not json at all`),
	}
	for _, limit := range []int{1, 2, 3, 5, 16, 17, 40, 100} {
		rng := rand.New(rand.NewPCG(uint64(limit), 7))
		r := New(limit)
		m := &model{limit: limit}
		ts := int64(1_000_000)
		for step := 0; step < 600; step++ {
			var at int64
			switch p := rng.IntN(100); {
			case p < 70:
				ts += 1 + rng.Int64N(20)
				at = ts
			case p < 85:
				at = ts - rng.Int64N(int64(3*limit)+10) // late or duplicate
			default:
				at = ts
			}
			data := randomSample(rng, shapes)
			want := m.insert(at, data)
			if got := r.Insert(at, data); got != want {
				t.Fatalf("limit %d step %d: Insert(%d) = %v, want %v", limit, step, at, got, want)
			}
			checkRing(t, r, m)
		}
	}
}

// randomSample returns one of shapes with its numbers moved, or, now and
// then, numbers written in forms that must be kept as literals.
func randomSample(rng *rand.Rand, shapes [][]byte) []byte {
	s := shapes[rng.IntN(len(shapes))]
	odd := []string{"1.0", "-0", "1e400", "12345678901234567890", "0.000001", "1E5", "-0.0", "1e-7"}
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' || i > 0 && (s[i-1] >= '0' && s[i-1] <= '9' || s[i-1] == '.') {
			out = append(out, s[i])
			continue
		}
		switch rng.IntN(10) {
		case 0:
			out = append(out, odd[rng.IntN(len(odd))]...)
		case 1, 2, 3:
			out = strconv.AppendFloat(out, float64(rng.IntN(100000))/100, 'f', -1, 64)
		default:
			out = strconv.AppendInt(out, rng.Int64N(1000)-500, 10)
		}
		for i+1 < len(s) && (s[i+1] >= '0' && s[i+1] <= '9' || s[i+1] == '.') {
			i++
		}
	}
	return out
}

// TestRingShapeChurn feeds a ring samples of a new shape each time: it
// keeps its list of templates bounded and its samples intact.
func TestRingShapeChurn(t *testing.T) {
	const limit = 5
	r := New(limit)
	m := &model{limit: limit}
	for i := range 200 {
		data := fmt.Appendf(nil, `{"key%d":%d,"n":1.5}`, i, i)
		ts := int64(i + 1)
		if !r.Insert(ts, data) || !m.insert(ts, data) {
			t.Fatalf("sample %d not stored", i)
		}
		if len(r.templates) > r.maxTemplates() {
			t.Fatalf("sample %d: %d templates, bound %d", i, len(r.templates), r.maxTemplates())
		}
		checkRing(t, r, m)
	}
}

// TestRingKeyframeGrows makes the new keyframe longer than the keyframe
// and record it replaces: values that jump from 0 to 2^60 take few bits
// as one record's residuals, but a keyframe carries each value and its
// change in full.
func TestRingKeyframeGrows(t *testing.T) {
	small := []byte(`{"a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"h":0}`)
	large := []byte(`{"a":1152921504606846976,"b":-1152921504606846976,"c":1152921504606846977,"d":1152921504606846978,"e":1152921504606846979,"f":1152921504606846980,"g":1152921504606846981,"h":1152921504606846982}`)
	for _, limit := range []int{1, 2} {
		r := New(limit)
		m := &model{limit: limit}
		for i, data := range [][]byte{small, small, large, small, large, large, small} {
			ts := int64(i + 1)
			if !r.Insert(ts, data) || !m.insert(ts, data) {
				t.Fatalf("limit %d: sample %d not stored", limit, i)
			}
			checkRing(t, r, m)
		}
	}
}

func TestRingIndexOutOfRange(t *testing.T) {
	r := New(0)
	if r.Limit() != 1 {
		t.Fatalf("New(0).Limit() = %d, want 1", r.Limit())
	}
	r.Insert(1, []byte(`{}`))
	for _, i := range []int{-1, 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendJSON(%d) of a ring of 1 did not panic", i)
				}
			}()
			r.AppendJSON(nil, i)
		}()
	}
}

// A copy of one of the newest samples that arrives after newer ones (the
// agent's IPv6 copy read later than its next IPv4 samples) is a duplicate;
// so is a copy of an older one, found the slow way; a late sample that is
// not a copy is stored in its place.
func TestLateCopies(t *testing.T) {
	r := New(100)
	m := &model{limit: 100}
	obj := func(i int) []byte { return []byte(`{"v":` + strconv.Itoa(i) + `}`) }
	for i := 1; i <= 30; i++ {
		r.Insert(int64(i)*10, obj(i))
		m.insert(int64(i)*10, obj(i))
	}
	for _, tc := range []struct {
		at     int64
		want   bool
		decode bool // takes the slow path, decoding the ring
	}{
		{300, false, false}, // the newest
		{290, false, false}, // within the recent window
		{230, false, false}, // its oldest entry
		{220, false, true},  // older: the slow path
		{10, false, true},   // the oldest stored
		{225, true, true},   // late, not a copy
		{225, false, true},  // now a copy of it, older than the 8 newest
		{5, true, true},     // older than everything, room left
	} {
		data := obj(int(tc.at))
		before := lateDecodes.Load()
		if got, want := r.Insert(tc.at, data), m.insert(tc.at, data); got != tc.want || want != tc.want {
			t.Errorf("Insert(%d) = %v (model %v), want %v", tc.at, got, want, tc.want)
		}
		if decoded := lateDecodes.Load() != before; decoded != tc.decode {
			t.Errorf("Insert(%d) decoded the ring: %v, want %v", tc.at, decoded, tc.decode)
		}
		checkRing(t, r, m)
	}
}
