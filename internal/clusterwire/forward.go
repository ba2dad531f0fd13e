package clusterwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Bounds of the forward and ACK frames, checked by the decoders.
const (
	MaxBatch    = 4096  // entries in one frame
	MaxDatagram = 65535 // bytes of one forwarded datagram
	maxName     = 255   // bytes of a member address or a host name
)

// Forwarded is one datagram a member received for a host another member
// owns, with what the owner needs to apply it as if it had read it
// itself: the receiving socket (for the ACK), when and from where.
type Forwarded struct {
	Socket int
	Recv   int64 // unix nanoseconds, the receiving member's clock
	From   netip.AddrPort
	Raw    []byte // the datagram, verified by the receiving member
}

// AckEntry asks the member that received a datagram to ACK it from the
// socket it came in on; the owner sends it once it accepted the datagram.
type AckEntry struct {
	Socket int
	To     netip.AddrPort
	Host   string
	V1     bool // answer in protocol version 1
	Seq    uint64
	Sent   int64 // the datagram's timestamp, echoed
	Recv   int64 // when the receiving member read it, for hold_ns
}

// AppendForwardEntry appends one forwarded datagram's entry to b: the
// forward frame's body after its origin is a count and these entries
// (see AppendForward).
func AppendForwardEntry(b []byte, f *Forwarded) []byte {
	b = binary.AppendUvarint(b, uint64(f.Socket))
	b = binary.AppendVarint(b, f.Recv)
	b = appendAddrPort(b, f.From)
	b = binary.AppendUvarint(b, uint64(len(f.Raw)))
	return append(b, f.Raw...)
}

// AppendForward appends a whole KindForward frame: origin is the
// receiving member's advertised address, entries n entries made by
// AppendForwardEntry, concatenated.
func AppendForward(b []byte, origin string, n int, entries []byte) []byte {
	b = AppendHeader(b, KindForward)
	b = appendString(b, origin)
	b = binary.AppendUvarint(b, uint64(n))
	return append(b, entries...)
}

// DecodeForward decodes a KindForward frame's body (after ParseHeader).
// The datagrams alias body. fn is called for each entry only once the
// whole body has decoded, so a bad frame applies nothing.
func DecodeForward(body []byte, fn func(origin string, f *Forwarded)) error {
	d := decoder{b: body}
	origin := d.str("origin")
	n := d.count()
	fs := make([]Forwarded, 0, min(n, 64))
	for i := 0; i < n && d.err == nil; i++ {
		var f Forwarded
		f.Socket = d.socket()
		f.Recv = d.varint("recv")
		f.From = d.addrPort()
		f.Raw = d.bytes("datagram", MaxDatagram)
		fs = append(fs, f)
	}
	if err := d.end(); err != nil {
		return fmt.Errorf("forward frame: %w", err)
	}
	for i := range fs {
		fn(origin, &fs[i])
	}
	return nil
}

// AppendAckEntry appends one ACK request to b (see AppendAcks).
func AppendAckEntry(b []byte, a *AckEntry) []byte {
	b = binary.AppendUvarint(b, uint64(a.Socket))
	b = appendAddrPort(b, a.To)
	b = appendString(b, a.Host)
	var flags byte
	if a.V1 {
		flags = 1
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, a.Seq)
	b = binary.AppendVarint(b, a.Sent)
	return binary.AppendVarint(b, a.Recv)
}

// AppendAcks appends a whole KindAcks frame of n entries made by
// AppendAckEntry, concatenated.
func AppendAcks(b []byte, n int, entries []byte) []byte {
	b = AppendHeader(b, KindAcks)
	b = binary.AppendUvarint(b, uint64(n))
	return append(b, entries...)
}

// DecodeAcks decodes a KindAcks frame's body; fn is called for each entry
// once the whole body has decoded.
func DecodeAcks(body []byte, fn func(a *AckEntry)) error {
	d := decoder{b: body}
	n := d.count()
	as := make([]AckEntry, 0, min(n, 64))
	for i := 0; i < n && d.err == nil; i++ {
		var a AckEntry
		a.Socket = d.socket()
		a.To = d.addrPort()
		a.Host = d.str("host")
		switch f := d.byte("flags"); f {
		case 0, 1:
			a.V1 = f == 1
		default:
			d.fail(fmt.Errorf("flags %#x", f))
		}
		a.Seq = d.uvarint("seq")
		a.Sent = d.varint("sent")
		a.Recv = d.varint("recv")
		as = append(as, a)
	}
	if err := d.end(); err != nil {
		return fmt.Errorf("acks frame: %w", err)
	}
	for i := range as {
		fn(&as[i])
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendAddrPort writes the address's length (0, 4 or 16), its bytes and
// the port.
func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr()
	switch {
	case !a.IsValid():
		b = append(b, 0)
	case a.Is4():
		v := a.As4()
		b = append(append(b, 4), v[:]...)
	default:
		v := a.As16()
		b = append(append(b, 16), v[:]...)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

var errTruncated = errors.New("truncated")

// decoder reads a body, keeping the first error; every read after it
// returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(fmt.Errorf("%s: bad varint", what))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(fmt.Errorf("%s: bad varint", what))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail(fmt.Errorf("%s: %w", what, errTruncated))
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes(what string, max int) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(max) {
		d.fail(fmt.Errorf("%s: %d bytes, at most %d", what, n, max))
		return nil
	}
	if uint64(len(d.b)) < n {
		d.fail(fmt.Errorf("%s: %w", what, errTruncated))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(what string) string { return string(d.bytes(what, maxName)) }

func (d *decoder) count() int {
	n := d.uvarint("count")
	if n > MaxBatch {
		d.fail(fmt.Errorf("count %d, at most %d", n, MaxBatch))
		return 0
	}
	return int(n)
}

func (d *decoder) socket() int {
	s := d.uvarint("socket")
	if s > 255 {
		d.fail(fmt.Errorf("socket %d", s))
		return 0
	}
	return int(s)
}

func (d *decoder) addrPort() netip.AddrPort {
	var a netip.Addr
	switch l := d.byte("address length"); l {
	case 0:
	case 4, 16:
		raw := d.fixed("address", int(l))
		if d.err == nil {
			a, _ = netip.AddrFromSlice(raw)
		}
	default:
		d.fail(fmt.Errorf("address length %d", l))
	}
	p := d.fixed("port", 2)
	if d.err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(p))
}

func (d *decoder) fixed(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail(fmt.Errorf("%s: %w", what, errTruncated))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// end is the decoder's error, or one for bytes left over.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d bytes after the last entry", len(d.b)))
	}
	return d.err
}
