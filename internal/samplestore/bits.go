package samplestore

import (
	"encoding/binary"
	"math/bits"
)

// bitWriter appends bits to a byte slice, least significant bit first. A
// record starts and ends on a byte boundary (flush), so records can be
// found, dropped and moved as bytes.
type bitWriter struct {
	buf []byte
	acc uint64 // pending bits, the oldest in bit 0
	n   uint   // how many bits acc holds (< 8 between calls)
}

// write appends the low n bits of v; n ≤ 32.
func (w *bitWriter) write(v uint64, n uint) {
	w.acc |= (v & (1<<n - 1)) << w.n
	w.n += n
	if w.n >= 32 {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(w.acc))
		w.acc >>= 32
		w.n -= 32
	}
}

// write64 appends the low n bits of v; n ≤ 64.
func (w *bitWriter) write64(v uint64, n uint) {
	if n > 32 {
		w.write(v, 32)
		v >>= 32
		n -= 32
	}
	w.write(v, n)
}

func (w *bitWriter) bit(b bool) {
	if b {
		w.write(1, 1)
	} else {
		w.write(0, 1)
	}
}

// ones appends n (≤ 32) one bits.
func (w *bitWriter) ones(n uint) { w.write(1<<n-1, n) }

// varint appends v as its bit length L in 7 bits and then its L-1 bits
// below the leading one: 7 bits for 0, 8 for 1, 47 for 2^40.
func (w *bitWriter) varint(v uint64) {
	l := uint(bits.Len64(v))
	w.write(uint64(l), 7)
	if l > 1 {
		w.write64(v, l-1)
	}
}

// bytes appends a length-prefixed byte string.
func (w *bitWriter) bytes(b []byte) {
	w.varint(uint64(len(b)))
	for _, c := range b {
		w.write(uint64(c), 8)
	}
}

// flush pads the last byte with zeros and returns the buffer.
func (w *bitWriter) flush() []byte {
	for w.n > 0 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n = max(w.n, 8) - 8
	}
	return w.buf
}

// bitReader reads what bitWriter wrote. Reading past the end yields zeros
// and sets bad: the ring only decodes what it encoded, so that is a bug,
// which the tests and the fuzz target look for.
type bitReader struct {
	buf []byte
	pos int // next byte of buf to load into acc
	// acc holds n unread bits, the next in bit 0; above them it may hold
	// some bits of buf[pos], which the next fill loads again.
	acc uint64
	n   uint
	bad bool
}

func (r *bitReader) reset(buf []byte, pos int) {
	*r = bitReader{buf: buf, pos: pos}
}

// fill loads bytes until acc holds at least 56 bits, or all that is left.
func (r *bitReader) fill() {
	if r.pos+8 <= len(r.buf) {
		r.acc |= binary.LittleEndian.Uint64(r.buf[r.pos:]) << r.n
		k := (63 - r.n) >> 3
		r.pos += int(k)
		r.n += k << 3
		return
	}
	for r.n <= 56 && r.pos < len(r.buf) {
		r.acc |= uint64(r.buf[r.pos]) << r.n
		r.pos++
		r.n += 8
	}
}

// read returns the next n bits; n ≤ 56.
func (r *bitReader) read(n uint) uint64 {
	if r.n < n {
		r.fill()
		if r.n < n {
			// Past the end: the missing bits read as zeros.
			r.bad = true
			r.acc &= 1<<r.n - 1
			r.n = n
		}
	}
	v := r.acc & (1<<n - 1)
	r.acc >>= n
	r.n -= n
	return v
}

func (r *bitReader) read64(n uint) uint64 {
	if n > 32 {
		lo := r.read(32)
		return lo | r.read(n-32)<<32
	}
	return r.read(n)
}

func (r *bitReader) bit() bool { return r.read(1) == 1 }

// ones counts one bits up to the next zero, which it consumes, or up to
// max (≤ 56) ones, after which it stops without consuming anything more.
func (r *bitReader) ones(max uint) uint {
	if r.n <= max {
		r.fill()
	}
	t := min(uint(bits.TrailingZeros64(^r.acc)), max)
	used := t + 1 // and the zero
	if t == max {
		used = t
	}
	if used > r.n {
		// Past the end.
		r.bad = true
		r.acc, r.n = 0, 0
		return t
	}
	r.acc >>= used
	r.n -= used
	return t
}

func (r *bitReader) varint() uint64 {
	l := uint(r.read(7))
	switch {
	case l == 0:
		return 0
	case l > 64:
		r.bad = true
		return 0
	}
	return 1<<(l-1) | r.read64(l-1)
}

// bytes returns a length-prefixed byte string, appended to dst.
func (r *bitReader) bytes(dst []byte) []byte {
	n := r.varint()
	if n > uint64(len(r.buf)-r.pos)+8 {
		r.bad = true
		return dst
	}
	for range n {
		dst = append(dst, byte(r.read(8)))
	}
	return dst
}

// end returns the offset just past the last byte read from (records are
// padded to whole bytes).
func (r *bitReader) end() int { return r.pos - int(r.n/8) }
