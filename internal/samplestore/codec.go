package samplestore

import (
	"bytes"
	"math/bits"
	"strings"
)

// col is one column's decoding state: the current sample's value and what
// the next one is predicted and coded from. A ring keeps one per column of
// its newest sample, so it is small.
type col struct {
	// A number: the value × 10^scale and its last change. A literal: its
	// offset and length in the state's arena; a number column that holds a
	// literal forgets its value, and codes the next number from zero.
	v, d  int64
	scale uint8 // number: decimals the column keeps
	ewma  uint8 // 4 × running mean of the coded residuals' bit length
	score int8  // > 0: predict v+d (counters), else v (gauges)
	flags uint8
}

const (
	colLiteral = 1 << iota // a literal column
	colIsLit               // the current value is a literal (always, in a literal column)
)

// Score bounds: how much evidence it takes to switch a column's predictor.
const (
	scoreMin = -2
	scoreMax = 2
)

// state is a sample decoded: its template and the state of its columns.
// The ring keeps the newest sample's state, from which the next sample is
// coded; readers rebuild older ones from a keyframe.
type state struct {
	tmpl int // index in the ring's templates
	ts   col // the timestamp, a number column of scale 0
	cols []col
	lit  []byte // arena holding the literal values, some of it garbage
}

// literal returns c's current literal bytes.
func (s *state) literal(c *col) []byte { return s.lit[c.v : c.v+c.d] }

// setLiteral makes b the current value of c.
func (s *state) setLiteral(c *col, b []byte) {
	c.flags |= colIsLit
	c.v, c.d = int64(len(s.lit)), int64(len(b))
	s.lit = append(s.lit, b...)
}

// compactLiterals drops the arena's garbage once it is most of it.
func (s *state) compactLiterals(tmp []byte) []byte {
	live := 0
	for i := range s.cols {
		if s.cols[i].flags&colIsLit != 0 {
			live += int(s.cols[i].d)
		}
	}
	if len(s.lit) < 256 || len(s.lit) <= 2*live {
		return tmp
	}
	tmp = append(tmp[:0], s.lit...)
	s.lit = s.lit[:0]
	for i := range s.cols {
		c := &s.cols[i]
		if c.flags&colIsLit != 0 {
			b := tmp[c.v : c.v+c.d]
			c.v = int64(len(s.lit))
			s.lit = append(s.lit, b...)
		}
	}
	return tmp
}

// reset starts template index ti (text t): every column empty.
func (s *state) reset(ti int, t string) {
	s.tmpl = ti
	s.lit = s.lit[:0]
	if n := strings.Count(t, "\x00"); cap(s.cols) < n {
		s.cols = make([]col, 0, n)
	}
	s.cols = s.cols[:0]
	for i := 0; ; {
		j := strings.IndexByte(t[i:], placeholder)
		if j < 0 {
			break
		}
		i += j + 2
		var c col
		if t[i-1] == kindLiteral {
			c.flags = colLiteral | colIsLit
		}
		s.cols = append(s.cols, c)
	}
}

// appendJSON appends the sample s holds, written with template t.
func (s *state) appendJSON(dst []byte, t string) []byte {
	for i := range s.cols {
		j := strings.IndexByte(t, placeholder)
		dst = append(dst, t[:j]...)
		t = t[j+2:]
		c := &s.cols[i]
		if c.flags&colIsLit != 0 {
			dst = append(dst, s.literal(c)...)
		} else {
			dst = appendDecimal(dst, c.v, int(c.scale))
		}
	}
	return append(dst, t...)
}

// Residuals are Rice coded with a parameter that follows each column's
// recent residual sizes: q = z>>k in unary (q ones and a zero), then the k
// low bits. A q of qMax or more escapes: qMax ones, the bit length L of z
// in 7 bits and z's L-1 bits below its leading one; L = 0 is an event: a
// 0 bit and a literal, or a 1 bit, the column's new scale in 5 bits and
// the value coded again.
const qMax = 10

func zigzag(x int64) uint64   { return uint64(x<<1) ^ uint64(x>>63) }
func unzigzag(z uint64) int64 { return int64(z>>1) ^ -int64(z&1) }

// riceK is the Rice parameter for a column's running mean bit length.
func (c *col) riceK() uint {
	return uint(max(int(c.ewma)+2, 4)/4 - 1)
}

func (c *col) predict() int64 {
	switch {
	case c.flags&colIsLit != 0:
		return 0
	case c.score > 0:
		return c.v + c.d
	}
	return c.v
}

// update moves c to value v after coding residual z.
func (c *col) update(v int64, z uint64) {
	if c.flags&colIsLit != 0 {
		c.v, c.d = 0, 0
	}
	d := v - c.v
	// Would the other predictor have done better? Keep count.
	zd, zdd := zigzag(d), zigzag(d-c.d)
	switch {
	case zdd < zd && c.score < scoreMax:
		c.score++
	case zdd > zd && c.score > scoreMin:
		c.score--
	}
	c.ewma = uint8(min(int(c.ewma)-int(c.ewma>>2)+bits.Len64(z), 255))
	c.v, c.d = v, d
	c.flags &^= colIsLit
}

func (w *bitWriter) residual(c *col, z uint64) {
	k := c.riceK()
	if q := z >> k; q < qMax {
		// q ones, a zero, then k bits of z.
		code := uint64(1)<<q - 1
		if n := uint(q) + 1 + k; n <= 32 {
			w.write(code|z<<(q+1), n)
			return
		}
		w.write(code, uint(q)+1)
		w.write64(z, k)
		return
	}
	w.ones(qMax)
	l := uint(bits.Len64(z))
	w.write(uint64(l), 7)
	w.write64(z, l-1)
}

// number codes v (at c's scale) into c.
func (w *bitWriter) number(c *col, v int64) {
	z := zigzag(v - c.predict())
	w.residual(c, z)
	c.update(v, z)
}

// rescale raises c's scale to scale, as an event in the stream.
func (w *bitWriter) rescale(c *col, scale int) {
	w.ones(qMax)
	w.write(0, 7)
	w.write(1, 1)
	w.write(uint64(scale), 5)
	c.rescale(scale)
}

func (c *col) rescale(scale int) {
	if c.flags&colIsLit != 0 {
		c.scale = uint8(scale)
		return
	}
	p := pow10[scale-int(c.scale)]
	c.v = int64(uint64(c.v) * p) // wrapping: the decoder does the same
	c.d = int64(uint64(c.d) * p)
	c.scale = uint8(scale)
}

// numberLiteral stores b, a number not in canonical form, in number column c.
func (w *bitWriter) numberLiteral(s *state, c *col, b []byte) {
	w.ones(qMax)
	w.write(0, 7)
	w.write(0, 1)
	w.bytes(b)
	s.setLiteral(c, b)
}

// value codes the bytes b of a value into column c of s.
func (w *bitWriter) value(s *state, c *col, b []byte) {
	if c.flags&colLiteral != 0 {
		if bytes.Equal(b, s.literal(c)) {
			w.write(0, 1)
			return
		}
		w.write(1, 1)
		w.bytes(b)
		s.setLiteral(c, b)
		return
	}
	m, scale, ok := parseDecimal(b)
	if !ok {
		w.numberLiteral(s, c, b)
		return
	}
	if scale > int(c.scale) {
		w.rescale(c, scale)
	}
	v, ok := rescale(m, int(c.scale)-scale)
	if !ok {
		w.numberLiteral(s, c, b)
		return
	}
	w.number(c, v)
}

// record codes the sample (unixNano, data cut at vals, template index ti
// with text t) as the successor of s, and moves s to it.
func (w *bitWriter) record(s *state, ti int, t string, unixNano int64, data []byte, vals []span) {
	switched := ti != s.tmpl
	w.bit(switched)
	if switched {
		w.varint(uint64(ti))
		s.reset(ti, t)
	}
	w.number(&s.ts, unixNano)
	for i, v := range vals {
		w.value(s, &s.cols[i], data[v.start:v.end])
	}
}

// readResidual reads a residual coded for c; ev is true for an event
// (then z is 0).
func (r *bitReader) readResidual(c *col) (z uint64, ev bool) {
	k := c.riceK()
	if q := r.ones(qMax); q < qMax {
		return uint64(q)<<k | r.read64(k), false
	}
	l := uint(r.read(7))
	switch {
	case l == 0:
		return 0, true
	case l > 64:
		r.bad = true
		return 0, false
	}
	return 1<<(l-1) | r.read64(l-1), false
}

// number reads a value of number column c (events included).
func (r *bitReader) number(s *state, c *col) {
	for range 2 { // a rescale event is followed by the value
		z, ev := r.readResidual(c)
		if !ev {
			c.update(c.predict()+unzigzag(z), z)
			return
		}
		if !r.bit() {
			r.literal(s, c)
			return
		}
		scale := int(r.read(5))
		if scale <= int(c.scale) || scale > maxScale {
			r.bad = true
			return
		}
		c.rescale(scale)
	}
	r.bad = true
}

// literal reads a literal into c.
func (r *bitReader) literal(s *state, c *col) {
	off := len(s.lit)
	s.lit = r.bytes(s.lit)
	c.flags |= colIsLit
	c.v, c.d = int64(off), int64(len(s.lit)-off)
}

// record reads a record into s; templates are the ring's.
func (r *bitReader) record(s *state, templates func(int) (string, bool)) {
	if r.bit() {
		ti := int(r.varint())
		t, ok := templates(ti)
		if !ok {
			r.bad = true
			return
		}
		s.reset(ti, t)
	}
	r.number(s, &s.ts)
	for i := range s.cols {
		c := &s.cols[i]
		if c.flags&colLiteral != 0 {
			if r.bit() {
				r.literal(s, c)
			}
			continue
		}
		r.number(s, c)
	}
}

// A keyframe is a whole state: the oldest sample's, from which the records
// of the newer ones are decoded.

func (w *bitWriter) keyframe(s *state) {
	w.varint(uint64(s.tmpl))
	w.params(&s.ts)
	w.varint(zigzag(s.ts.v))
	w.varint(zigzag(s.ts.d))
	for i := range s.cols {
		c := &s.cols[i]
		if c.flags&colLiteral != 0 {
			w.bytes(s.literal(c))
			continue
		}
		w.params(c)
		isLit := c.flags&colIsLit != 0
		w.bit(isLit)
		if isLit {
			w.bytes(s.literal(c))
			continue
		}
		w.varint(zigzag(c.v))
		w.varint(zigzag(c.d))
	}
}

// params writes how a number column codes its values.
func (w *bitWriter) params(c *col) {
	w.write(uint64(c.scale), 5)
	w.write(uint64(c.ewma), 8)
	w.write(uint64(c.score-scoreMin), 3)
}

func (r *bitReader) keyframe(s *state, templates func(int) (string, bool)) {
	ti := int(r.varint())
	t, ok := templates(ti)
	if !ok {
		r.bad = true
		return
	}
	s.reset(ti, t)
	r.params(&s.ts)
	s.ts.v = unzigzag(r.varint())
	s.ts.d = unzigzag(r.varint())
	for i := range s.cols {
		c := &s.cols[i]
		if c.flags&colLiteral != 0 {
			r.literal(s, c)
			continue
		}
		r.params(c)
		if r.bit() {
			r.literal(s, c)
			continue
		}
		c.v = unzigzag(r.varint())
		c.d = unzigzag(r.varint())
	}
}

func (r *bitReader) params(c *col) {
	c.scale = uint8(r.read(5))
	c.ewma = uint8(r.read(8))
	c.score = int8(r.read(3)) + scoreMin
	if c.scale > maxScale || c.score > scoreMax {
		r.bad = true
	}
}
