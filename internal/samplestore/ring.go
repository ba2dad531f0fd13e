package samplestore

import (
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"unique"
	"unsafe"
)

// Ring keeps the last limit samples of one plugin of one host, each a
// timestamp and a JSON object, compactly (see the package documentation).
// It is not safe for concurrent use: like the ring it replaces, it belongs
// to one host's actor.
type Ring struct {
	// buf[start:] is the oldest sample's state (a keyframe), then one record
	// per newer sample, each on whole bytes; buf[:start] is free.
	buf   []byte
	start int
	// n samples are coded, of which the newest limit are visible: the
	// older ones are dropped a few at a time, which halves the cost of
	// a full ring's insert.
	n     int
	limit int
	head  state // the newest sample's state, from which the next is coded
	// templates the stored samples refer to by index; some may be unused
	// until the next rebuild.
	templates []unique.Handle[string]
	// recent are the timestamps of the newest coded samples (up to
	// recentN, the latest at recent[(next+recentN-1)%recentN]), so that a
	// copy of one of them, which arrives late when the agent's two
	// address families are read at different speeds, is found a
	// duplicate without decoding the ring.
	recent [recentN]int64
	next   uint8
	// What persisting a ring needs (see persist.go): seq counts the samples
	// ever coded, app the record bytes ever appended, gen the times the ring
	// was coded again from scratch (which renumbers its templates and
	// rewrites its records); mark is their values when the ring was last
	// saved, from which a tail is taken.
	seq, app, gen uint32
	mark          mark
}

// lateDecodes counts the inserts that decoded a ring (insertLate), so a
// test can tell the slow path from the fast one; it costs nothing next to
// the decode it counts.
var lateDecodes atomic.Uint64

// recentN is how many of the newest timestamps a ring remembers: a copy
// that arrives later than that many newer samples of its plugin takes the
// slow path (decoding the ring) to be found a duplicate.
const recentN = 8

// New returns an empty ring that keeps the newest limit (at least 1)
// samples. It allocates nothing until the first sample.
func New(limit int) *Ring { return &Ring{limit: max(limit, 1)} }

// Len returns how many samples are stored.
func (r *Ring) Len() int { return min(r.n, r.limit) }

// hidden returns how many samples are coded but no longer visible.
func (r *Ring) hidden() int { return r.n - r.Len() }

// evictBatch returns how many samples past the limit are dropped at once:
// more costs memory, fewer costs time (every drop codes a new keyframe).
func (r *Ring) evictBatch() int { return min(max(r.limit/16, 1), 8) }

// Limit returns how many samples the ring keeps.
func (r *Ring) Limit() int { return r.limit }

// scratch is what coding a sample needs and nothing keeps.
type scratch struct {
	vals  []span
	st    state
	w     bitWriter
	tmp   []byte
	out   []byte
	times []int64
	ends  []int
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// maxPooled bounds the buffers the pool keeps: reading a ring of large
// samples needs a large one once, which need not stay.
const maxPooled = 256 << 10

func putScratch(s *scratch) {
	if cap(s.out) > maxPooled || cap(s.tmp) > maxPooled || cap(s.w.buf) > maxPooled || cap(s.st.lit) > maxPooled {
		return
	}
	scratchPool.Put(s)
}

// Insert stores a sample and reports whether it was stored. Samples are
// kept in time order: one newer than everything is the common case; one
// that arrives late (UDP reorders) is put in its place; one with a
// timestamp already stored is a duplicate and is not stored, nor is one
// older than everything in a full ring (it would be evicted at once). A
// full ring drops its oldest sample to make room. data is copied.
func (r *Ring) Insert(unixNano int64, data []byte) bool {
	if r.n == 0 || unixNano > r.head.ts.v {
		if len(r.templates) >= r.maxTemplates() {
			r.compactTemplates()
		}
		r.push(unixNano, data)
		return true
	}
	if unixNano == r.head.ts.v || r.isRecent(unixNano) {
		return false
	}
	return r.insertLate(unixNano, data)
}

// isRecent reports whether unixNano is the timestamp of one of the newest
// coded samples. Such a sample is stored, or hidden (older than every
// visible sample of a full ring): either way a sample with its timestamp
// is not stored.
func (r *Ring) isRecent(unixNano int64) bool {
	for i := range min(r.n, recentN) {
		if r.recent[(int(r.next)+recentN-1-i)%recentN] == unixNano {
			return true
		}
	}
	return false
}

// noteRecent remembers the timestamp of a sample just coded as the newest.
func (r *Ring) noteRecent(unixNano int64) {
	r.recent[r.next] = unixNano
	r.next = (r.next + 1) % recentN
}

// push stores a sample newer than all others.
func (r *Ring) push(unixNano int64, data []byte) {
	sc := getScratch()
	defer putScratch(sc)
	vals, ok := split(data, sc.vals[:0])
	if !ok {
		vals = append(vals[:0], span{0, int32(len(data))})
	}
	sc.vals = vals
	ti, t := r.template(data, vals, ok, sc)
	r.noteRecent(unixNano)
	if r.n == 0 {
		// The first sample is the keyframe, coded from an empty state.
		r.head.tmpl = -1
		r.head.ts = col{}
		sc.w = bitWriter{buf: sc.w.buf[:0]}
		sc.w.record(&r.head, ti, t, unixNano, data, vals)
		sc.w = bitWriter{buf: sc.w.buf[:0]}
		sc.w.keyframe(&r.head)
		r.start = 0
		r.buf = r.buf[:0]
		r.appendBytes(sc.w.flush())
		r.n = 1
		r.seq++
		return
	}
	sc.w = bitWriter{buf: sc.w.buf[:0]}
	sc.w.record(&r.head, ti, t, unixNano, data, vals)
	rec := sc.w.flush()
	r.appendBytes(rec)
	r.app += uint32(len(rec))
	sc.tmp = r.head.compactLiterals(sc.tmp)
	r.n++
	r.seq++
	switch {
	case r.n >= r.limit+r.evictBatch():
		r.evict(sc, r.n-r.limit)
	case r.n == r.limit:
		r.fit()
	}
}

// template returns the index and text of the template of data (cut at
// vals; ok false for a raw sample), adding it to the ring's if new.
func (r *Ring) template(data []byte, vals []span, ok bool, sc *scratch) (int, string) {
	if r.n > 0 {
		if t := r.templates[r.head.tmpl].Value(); sameShape(t, data, vals) {
			return r.head.tmpl, t
		}
	}
	for i, h := range r.templates {
		if t := h.Value(); sameShape(t, data, vals) {
			return i, t
		}
	}
	var t string
	if ok {
		sc.tmp = appendTemplate(sc.tmp[:0], data, vals)
		t = string(sc.tmp)
	} else {
		t = rawTemplate
	}
	h := unique.Make(t)
	r.templates = append(r.templates, h)
	return len(r.templates) - 1, h.Value()
}

// maxTemplates bounds a ring's template list: past it the ring is rebuilt
// with only the templates its samples use.
func (r *Ring) maxTemplates() int { return 2*r.limit + 8 }

// appendBytes appends b to buf, reclaiming the free space before start or
// growing buf when it is full.
func (r *Ring) appendBytes(b []byte) {
	if len(r.buf)+len(b) <= cap(r.buf) {
		r.buf = append(r.buf, b...)
		return
	}
	live := len(r.buf) - r.start
	need := live + len(b)
	switch {
	case r.n < r.limit:
		// Still filling: grow geometrically; fit trims the slack once full.
		r.realloc(need * 3 / 2)
	case need+need/64 <= cap(r.buf) && cap(r.buf) <= need+need/8:
		// Move the samples to the front: every few records, a copy of a
		// few KiB, which keeps the slack small.
		copy(r.buf, r.buf[r.start:])
		r.buf = r.buf[:live]
		r.start = 0
	default:
		r.realloc(need + need/32 + 16)
	}
	r.buf = append(r.buf, b...)
}

// realloc moves the samples to a new buffer of at least size bytes.
func (r *Ring) realloc(size int) {
	nb := slices.Grow([]byte(nil), size) // the whole size class
	r.buf = append(nb, r.buf[r.start:]...)
	r.start = 0
}

// fit trims buf's slack to a little room for the next records.
func (r *Ring) fit() {
	if live := len(r.buf) - r.start; cap(r.buf) > live+live/8 {
		r.realloc(live + live/16 + 16)
	}
}

// evict drops the k oldest samples: the next one becomes the keyframe.
func (r *Ring) evict(sc *scratch, k int) {
	st := &sc.st
	var rd bitReader
	rd.reset(r.buf, r.start)
	rd.keyframe(st, r.templateAt)
	for range k {
		rd.reset(r.buf, rd.end())
		rd.record(st, r.templateAt)
	}
	end := rd.end()
	if rd.bad {
		panic("samplestore: corrupt ring")
	}
	sc.w = bitWriter{buf: sc.w.buf[:0]}
	sc.w.keyframe(st)
	kf := sc.w.flush()
	r.n -= k
	if len(kf) <= end-r.start {
		r.start = end - len(kf)
		copy(r.buf[r.start:], kf)
		return
	}
	// The new keyframe is longer than the two it replaces (a long literal
	// came in): shift the rest.
	sc.tmp = append(append(sc.tmp[:0], kf...), r.buf[end:]...)
	r.buf, r.start = r.buf[:0], 0
	r.appendBytes(sc.tmp)
}

func (r *Ring) templateAt(i int) (string, bool) {
	if i < 0 || i >= len(r.templates) {
		return "", false
	}
	return r.templates[i].Value(), true
}

// decode calls fn with the state of every visible sample, oldest first
// (i = 0), until fn returns false. The state is sc.st, valid during the
// call.
func (r *Ring) decode(sc *scratch, fn func(i int, st *state) bool) {
	if r.n == 0 {
		return
	}
	st := &sc.st
	var rd bitReader
	rd.reset(r.buf, r.start)
	rd.keyframe(st, r.templateAt)
	for i := -r.hidden(); ; i++ {
		if rd.bad {
			panic("samplestore: corrupt ring")
		}
		if i >= 0 && !fn(i, st) || i == r.Len()-1 {
			return
		}
		rd.reset(r.buf, rd.end())
		rd.record(st, r.templateAt)
	}
}

// Newest returns the timestamp of the i-th newest sample (0 = the latest);
// 0 ≤ i < Len().
func (r *Ring) Newest(i int) (unixNano int64) {
	r.check(i)
	if i == 0 {
		return r.head.ts.v
	}
	sc := getScratch()
	defer putScratch(sc)
	r.decode(sc, func(j int, st *state) bool {
		unixNano = st.ts.v
		return j < r.Len()-1-i
	})
	return unixNano
}

// AppendJSON appends the JSON of the i-th newest sample (0 = the latest)
// to dst: the bytes it was inserted with. 0 ≤ i < Len(). The latest is
// written from memory; an older one is decoded from the oldest on.
func (r *Ring) AppendJSON(dst []byte, i int) []byte {
	r.check(i)
	if i == 0 {
		return r.head.appendJSON(dst, r.templates[r.head.tmpl].Value())
	}
	sc := getScratch()
	defer putScratch(sc)
	r.decode(sc, func(j int, st *state) bool {
		if j < r.Len()-1-i {
			return true
		}
		dst = st.appendJSON(dst, r.templates[st.tmpl].Value())
		return false
	})
	return dst
}

// All returns the samples oldest first: each timestamp and its JSON, which
// is valid until the next iteration. The ring must not change meanwhile.
func (r *Ring) All() iter.Seq2[int64, []byte] {
	return func(yield func(int64, []byte) bool) {
		sc := getScratch()
		defer putScratch(sc)
		r.decode(sc, func(_ int, st *state) bool {
			sc.out = st.appendJSON(sc.out[:0], r.templates[st.tmpl].Value())
			return yield(st.ts.v, sc.out)
		})
	}
}

// Latest returns the n newest samples (all if n ≥ Len()), newest first:
// each timestamp and its JSON, which is valid until the next iteration.
// It decodes the ring once. The ring must not change meanwhile.
func (r *Ring) Latest(n int) iter.Seq2[int64, []byte] {
	return func(yield func(int64, []byte) bool) {
		n := min(n, r.Len())
		if n <= 0 {
			return
		}
		if n == 1 {
			sc := getScratch()
			defer putScratch(sc)
			sc.out = r.AppendJSON(sc.out[:0], 0)
			yield(r.head.ts.v, sc.out)
			return
		}
		sc := getScratch()
		defer putScratch(sc)
		sc.times, sc.ends, sc.out = sc.times[:0], sc.ends[:0], sc.out[:0]
		first := r.Len() - n
		r.decode(sc, func(i int, st *state) bool {
			if i >= first {
				sc.times = append(sc.times, st.ts.v)
				sc.out = st.appendJSON(sc.out, r.templates[st.tmpl].Value())
				sc.ends = append(sc.ends, len(sc.out))
			}
			return true
		})
		for j := len(sc.times) - 1; j >= 0; j-- {
			from := 0
			if j > 0 {
				from = sc.ends[j-1]
			}
			if !yield(sc.times[j], sc.out[from:sc.ends[j]]) {
				return
			}
		}
	}
}

// Size returns about how many bytes of memory the ring holds.
func (r *Ring) Size() int {
	return int(unsafe.Sizeof(*r)) + cap(r.buf) + cap(r.head.cols)*int(unsafe.Sizeof(col{})) +
		cap(r.head.lit) + cap(r.templates)*int(unsafe.Sizeof(unique.Handle[string]{}))
}

func (r *Ring) check(i int) {
	if i < 0 || i >= r.Len() {
		panic("samplestore: sample index out of range")
	}
}

// insertLate stores a sample older than the newest: the slow path, which
// decodes the ring and codes it again.
func (r *Ring) insertLate(unixNano int64, data []byte) bool {
	lateDecodes.Add(1)
	sc := getScratch()
	defer putScratch(sc)
	// Timestamps first: a copy or a sample too old to keep is refused
	// without writing out every sample's JSON.
	sc.times = sc.times[:0]
	r.decode(sc, func(_ int, st *state) bool {
		sc.times = append(sc.times, st.ts.v)
		return true
	})
	if slices.Contains(sc.times, unixNano) {
		return false
	}
	if r.Len() == r.limit && unixNano < sc.times[0] {
		return false
	}
	r.collect(sc)
	r.rebuild(sc, unixNano, data, true)
	return true
}

// compactTemplates codes the ring again, keeping only the templates its
// samples use.
func (r *Ring) compactTemplates() {
	sc := getScratch()
	defer putScratch(sc)
	r.collect(sc)
	r.rebuild(sc, 0, nil, false)
}

// collect decodes every sample into sc: times, and the JSON in out, the
// j-th ending at ends[j].
func (r *Ring) collect(sc *scratch) {
	sc.times, sc.ends, sc.out = sc.times[:0], sc.ends[:0], sc.out[:0]
	r.decode(sc, func(_ int, st *state) bool {
		sc.times = append(sc.times, st.ts.v)
		sc.out = st.appendJSON(sc.out, r.templates[st.tmpl].Value())
		sc.ends = append(sc.ends, len(sc.out))
		return true
	})
}

// rebuild codes the samples collect put in sc again, with the sample
// (unixNano, data) in its place if add; the oldest makes room for it in a
// full ring.
func (r *Ring) rebuild(sc *scratch, unixNano int64, data []byte, add bool) {
	at, first := len(sc.times)+1, 0
	if add {
		at, _ = slices.BinarySearch(sc.times, unixNano)
		if r.Len() == r.limit {
			first = 1
		}
	}
	r.reset()
	// push takes its own scratch from the pool: sc stays intact.
	for j := first; j <= len(sc.times); j++ {
		if j == at {
			r.push(unixNano, data)
		}
		if j == len(sc.times) {
			break
		}
		from := 0
		if j > 0 {
			from = sc.ends[j-1]
		}
		r.push(sc.times[j], sc.out[from:sc.ends[j]])
	}
}

// reset empties the ring, keeping its buffers. What it codes next is
// coded afresh: no tail from an earlier mark applies to it.
func (r *Ring) reset() {
	r.gen++
	r.buf, r.start, r.n, r.next = r.buf[:0], 0, 0, 0
	r.templates = r.templates[:0]
	r.head.cols, r.head.lit = r.head.cols[:0], r.head.lit[:0]
}
