package samplestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unique"
)

// A ring is saved as its coded bytes, not as JSON: writing one is a copy,
// and reading one back decodes it once to check it, with no coding. Between
// two saves a ring has usually only gained samples at its end; then what it
// gained is saved alone, as a tail: the records coded since the last save
// (and the templates they introduced), which apply to the ring as that save
// left it, because each record is coded from the state of the sample
// before it. A ring coded again since (a late sample, a template clean-up)
// or one that has dropped records of the tail is saved whole.
//
// Both forms start with a kind byte; numbers are uvarints:
//
//	whole: 'W' seq n templates (len bytes)... len body
//	tail:  'T' fromSeq k fromTemplates newTemplates (len bytes)... len body
//
// A whole ring's body is its keyframe and records; a tail's, its k
// records. seq is the count of samples ever coded, which a tail names to
// say which state it follows.
const (
	kindWhole = 'W'
	kindTail  = 'T'
)

// mark is a ring's position at its last save.
type mark struct{ seq, app, gen, templates uint32 }

// Mark records that the ring was saved as it is now: the next
// AppendChanges gives what it gains from here.
func (r *Ring) Mark() {
	r.mark = mark{seq: r.seq, app: r.app, gen: r.gen, templates: uint32(len(r.templates))}
}

// Changed reports whether the ring has coded a sample since Mark.
func (r *Ring) Changed() bool { return r.seq != r.mark.seq || r.gen != r.mark.gen }

// Gained returns how many samples the ring coded since Mark.
func (r *Ring) Gained() int { return int(r.seq - r.mark.seq) }

// AppendWhole appends the whole ring's saved form to b.
func (r *Ring) AppendWhole(b []byte) []byte {
	b = append(b, kindWhole)
	b = binary.AppendUvarint(b, uint64(r.seq))
	b = binary.AppendUvarint(b, uint64(r.n))
	b = appendTemplates(b, r.templates)
	body := r.buf[r.start:]
	if r.n == 0 {
		body = nil
	}
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// AppendChanges appends what the ring gained since Mark: a tail when it
// can, else the whole ring. It reports whether it wrote a tail.
func (r *Ring) AppendChanges(b []byte) ([]byte, bool) {
	m := r.mark
	k := r.seq - m.seq
	// The tail's records must all still be records (not folded into the
	// keyframe), and the ring not coded again since the mark (m.seq > 0:
	// the mark's sample was coded, so the tail's first one is a record).
	if r.gen != m.gen || m.seq == 0 || k == 0 || int(k) > r.n-1 || int(m.templates) > len(r.templates) {
		return r.AppendWhole(b), false
	}
	size := int(r.app - m.app)
	if size > len(r.buf)-r.start {
		return r.AppendWhole(b), false
	}
	b = append(b, kindTail)
	b = binary.AppendUvarint(b, uint64(m.seq))
	b = binary.AppendUvarint(b, uint64(k))
	b = binary.AppendUvarint(b, uint64(m.templates))
	b = appendTemplates(b, r.templates[m.templates:])
	b = binary.AppendUvarint(b, uint64(size))
	return append(b, r.buf[len(r.buf)-size:]...), true
}

func appendTemplates(b []byte, ts []unique.Handle[string]) []byte {
	b = binary.AppendUvarint(b, uint64(len(ts)))
	for _, t := range ts {
		b = binary.AppendUvarint(b, uint64(len(t.Value())))
		b = append(b, t.Value()...)
	}
	return b
}

// Errors of Restore.
var (
	// ErrCorrupt: the saved form does not decode.
	ErrCorrupt = errors.New("samplestore: corrupt saved ring")
	// ErrNotNext: a tail that does not follow the ring's state (a save
	// in between was lost).
	ErrNotNext = errors.New("samplestore: tail does not follow the ring")
)

// maxSavedSample bounds a restored sample's JSON: more means the saved
// form is not one this package wrote.
const maxSavedSample = 1 << 20

// Restore applies a saved form to the ring: a whole ring replaces it, a
// tail adds its samples. It checks the form by decoding it (a tail's
// samples are also written out as JSON once) and leaves the ring as it
// was on error. The ring keeps its own limit: a saved ring of a longer
// history keeps its newest samples. The ring is marked: it holds what the
// saved form holds.
func (r *Ring) Restore(b []byte) error { return r.restore(b, false) }

// Adopt is Restore that may keep b's memory as the ring's buffer, which
// saves a copy of every ring when a large state is read back: the caller
// must neither use nor change b afterwards.
func (r *Ring) Adopt(b []byte) error { return r.restore(b, true) }

func (r *Ring) restore(b []byte, own bool) (err error) {
	if len(b) == 0 {
		return ErrCorrupt
	}
	d := reader{b: b[1:]}
	switch b[0] {
	case kindWhole:
		err = r.restoreWhole(&d, own)
	case kindTail:
		err = r.restoreTail(&d)
	default:
		return fmt.Errorf("%w: kind %#x", ErrCorrupt, b[0])
	}
	if err == nil {
		r.Mark()
	}
	return err
}

func (r *Ring) restoreWhole(d *reader, own bool) (err error) {
	seq := d.count(1 << 32)
	n := d.count(1 << 24)
	ts := d.templates(nil)
	body := d.bytes()
	if d.bad || len(d.b) != 0 || (n == 0) != (len(body) == 0) {
		return ErrCorrupt
	}
	buf := body[:len(body):len(body)] // the next record reallocates it
	if !own {
		buf = append([]byte(nil), body...)
	}
	nr := Ring{limit: r.limit, buf: buf, n: n, templates: ts, seq: uint32(seq), app: r.app, gen: r.gen + 1}
	if n > 0 {
		if err := nr.verify(); err != nil {
			return err
		}
	}
	if nr.n >= nr.limit+nr.evictBatch() { // as push keeps it; a shorter history keeps the newest
		sc := getScratch()
		nr.evict(sc, nr.n-nr.limit)
		putScratch(sc)
	}
	*r = nr
	return nil
}

// verify decodes every sample of a ring just read: it finds the newest
// state (the head, from which the next sample is coded) and the newest
// timestamps, and that the body holds exactly n samples.
func (r *Ring) verify() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	st := new(state)
	var rd bitReader
	rd.reset(r.buf, 0)
	rd.keyframe(st, r.templateAt)
	// A state that decodes cleanly writes out as JSON without fail (its
	// columns are its template's, its literals its own bytes): decoding
	// is the check, and costs half of writing every sample out.
	var tmp []byte
	for i := 0; ; i++ {
		if rd.bad {
			return ErrCorrupt
		}
		if i > 0 && st.ts.v <= r.recent[(int(r.next)+recentN-1)%recentN] {
			return fmt.Errorf("%w: samples out of order", ErrCorrupt)
		}
		r.noteRecent(st.ts.v)
		tmp = st.compactLiterals(tmp)
		if i == r.n-1 {
			break
		}
		rd.reset(r.buf, rd.end())
		rd.record(st, r.templateAt)
	}
	if rd.end() != len(r.buf) {
		return fmt.Errorf("%w: %d bytes after the last sample", ErrCorrupt, len(r.buf)-rd.end())
	}
	r.head = *st
	return nil
}

func (r *Ring) restoreTail(d *reader) (err error) {
	from := d.count(1 << 32)
	k := d.count(1 << 24)
	tmpls := d.count(1 << 24)
	ts := d.templates(nil)
	body := d.bytes()
	if d.bad || len(d.b) != 0 || k == 0 || len(body) == 0 {
		return ErrCorrupt
	}
	if r.n == 0 || uint32(from) != r.seq || tmpls != len(r.templates) {
		return ErrNotNext
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	// Decode the records from a copy of the head: the ring changes only
	// once they all decode.
	all := append(r.templates[:len(r.templates):len(r.templates)], ts...)
	at := func(i int) (string, bool) {
		if i < 0 || i >= len(all) {
			return "", false
		}
		return all[i].Value(), true
	}
	st := state{tmpl: r.head.tmpl, ts: r.head.ts, cols: append([]col(nil), r.head.cols...), lit: append([]byte(nil), r.head.lit...)}
	recent, next := r.recent, r.next
	var rd bitReader
	pos := 0
	var out, tmp []byte
	for range k {
		prev := st.ts.v
		rd.reset(body, pos)
		rd.record(&st, at)
		if rd.bad {
			return ErrCorrupt
		}
		if st.ts.v <= prev {
			return fmt.Errorf("%w: samples out of order", ErrCorrupt)
		}
		if out = st.appendJSON(out[:0], all[st.tmpl].Value()); len(out) > maxSavedSample {
			return fmt.Errorf("%w: a sample of %d bytes", ErrCorrupt, len(out))
		}
		recent[next] = st.ts.v
		next = (next + 1) % recentN
		tmp = st.compactLiterals(tmp)
		pos = rd.end()
	}
	if pos != len(body) {
		return fmt.Errorf("%w: %d bytes after the last sample", ErrCorrupt, len(body)-pos)
	}
	r.templates, r.head, r.recent, r.next = all, st, recent, next
	r.appendBytes(body)
	r.app += uint32(len(body))
	r.n += k
	r.seq += uint32(k)
	if r.n >= r.limit+r.evictBatch() {
		sc := getScratch()
		r.evict(sc, r.n-r.limit)
		putScratch(sc)
	}
	return nil
}

// reader reads the saved form's framing; bad is set on any error.
type reader struct {
	b   []byte
	bad bool
}

func (d *reader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number below limit.
func (d *reader) count(limit uint64) int {
	v := d.uvarint()
	if v >= limit {
		d.bad = true
		return 0
	}
	return int(v)
}

func (d *reader) bytes() []byte {
	n := d.count(1 << 31)
	if n > len(d.b) {
		d.bad = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *reader) templates(ts []unique.Handle[string]) []unique.Handle[string] {
	n := d.count(1 << 16)
	for range n {
		if d.bad {
			return nil
		}
		t := d.bytes()
		// A template has a placeholder per value; the raw template is
		// one placeholder alone. Any string decodes: the records say
		// how many columns it has.
		ts = append(ts, unique.Make(string(t)))
	}
	return ts
}
