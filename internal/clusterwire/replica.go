package clusterwire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hbd-project/hbd/internal/statefile"
)

// Replication and hand-over frames. The owner of a host sends its record to
// the host's successor (KindReplica: the small state, no rings), which
// answers with a KindReplicaAck; a member hands hosts to their new owner
// (KindHandoff: the whole record, rings included), which answers with a
// KindHandoffAck. A record is a host as internal/statefile encodes it
// (statefile.AppendHost), so a replica is restored by the same code as a
// host read back from the state files.
//
// Body of KindReplica and KindHandoff:
//
//	from    string   the sender's advertised address
//	seq     uvarint  the frame's number from this sender (echoed in the ack)
//	sent    varint   unix ns when the frame was sent (the ack echoes it: lag)
//	count   uvarint  ≤ MaxRecords
//	count × (host string, rseq uvarint, record bytes)
//
// rseq numbers the host's records from its owner, so a replica never goes
// back to an older one when frames pass each other. Body of the acks:
//
//	from string, seq uvarint, sent varint, taken uvarint, refused uvarint

// Bounds the decoders enforce: no input makes them allocate without bound.
const (
	// MaxRecords is the most records one frame holds.
	MaxRecords = 256
	// MaxRecordBytes bounds one encoded record: a host with every ring
	// full is well under it.
	MaxRecordBytes = 4 << 20
	// MaxHandoffBytes is what a sender packs into one KindHandoff frame
	// before it starts another: gRPC refuses messages over 4 MiB.
	MaxHandoffBytes = 2 << 20
	maxAddr         = 1024 // bytes of a member address
	maxHost         = 1024 // bytes of a host name
)

// Record is one host's record in a KindReplica or KindHandoff frame.
type Record struct {
	Host string
	Seq  uint64 // the owner's number of this record of the host
	// Bytes is the host's record, statefile.AppendHost-encoded. A decoded
	// Record's Bytes point into the frame: copy them to keep them.
	Bytes []byte
}

// Records is the body of a KindReplica or KindHandoff frame.
type Records struct {
	From    string
	Seq     uint64
	Sent    int64
	Records []Record
}

// Ack is the body of a KindReplicaAck or KindHandoffAck frame: the
// receiver's answer to frame Seq. Taken records were stored (replica) or
// restored as hosts (hand-over); Refused ones were not (a full store, a
// host the receiver does not accept).
type Ack struct {
	From           string
	Seq            uint64
	Sent           int64 // the acknowledged frame's Sent
	Taken, Refused uint64
}

// ErrRecords is wrapped by every decoding error of this file.
var ErrRecords = errors.New("clusterwire: bad replica frame")

// AppendRecords appends a frame of kind k (KindReplica or KindHandoff)
// holding r to b. It panics on another kind or on more than MaxRecords
// records: both are the caller's bug, not input.
func AppendRecords(b []byte, k Kind, r *Records) []byte {
	if k != KindReplica && k != KindHandoff {
		panic("clusterwire: AppendRecords of kind " + k.String())
	}
	if len(r.Records) > MaxRecords {
		panic(fmt.Sprintf("clusterwire: %d records in one frame (at most %d)", len(r.Records), MaxRecords))
	}
	b = AppendHeader(b, k)
	b = appendRString(b, r.From)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendVarint(b, r.Sent)
	b = binary.AppendUvarint(b, uint64(len(r.Records)))
	for i := range r.Records {
		rec := &r.Records[i]
		b = appendRString(b, rec.Host)
		b = binary.AppendUvarint(b, rec.Seq)
		b = binary.AppendUvarint(b, uint64(len(rec.Bytes)))
		b = append(b, rec.Bytes...)
	}
	return b
}

// DecodeRecords decodes the body of a KindReplica or KindHandoff frame (as
// ParseHeader returns it). Every record must decode as a statefile host
// record named as its entry says: a frame with one bad record is refused
// whole, so bad input changes nothing.
func DecodeRecords(body []byte) (Records, error) {
	d := rdecoder{b: body}
	r := Records{From: d.str(maxAddr), Seq: d.uvarint(), Sent: d.varint()}
	n := d.uvarint()
	if d.err == nil && n > MaxRecords {
		d.fail(fmt.Errorf("%d records (at most %d)", n, MaxRecords))
	}
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("%d records in %d bytes", n, len(d.b)))
	}
	if d.err == nil && n > 0 {
		r.Records = make([]Record, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		rec := Record{Host: d.str(maxHost), Seq: d.uvarint(), Bytes: d.bytes(MaxRecordBytes)}
		if d.err != nil {
			break
		}
		if rec.Host == "" {
			d.fail(fmt.Errorf("record %d: no host name", i))
			break
		}
		h, err := statefile.DecodeHost(rec.Bytes)
		switch {
		case err != nil:
			d.fail(fmt.Errorf("record %d (%q): %w", i, rec.Host, err))
		case h.Name != rec.Host:
			d.fail(fmt.Errorf("record %d: entry names %q, record %q", i, rec.Host, h.Name))
		}
		r.Records = append(r.Records, rec)
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d bytes after the last record", len(d.b)))
	}
	if d.err != nil {
		return Records{}, fmt.Errorf("%w: %w", ErrRecords, d.err)
	}
	return r, nil
}

// AppendAck appends a frame of kind k (KindReplicaAck or KindHandoffAck)
// holding a to b. It panics on another kind.
func AppendAck(b []byte, k Kind, a *Ack) []byte {
	if k != KindReplicaAck && k != KindHandoffAck {
		panic("clusterwire: AppendAck of kind " + k.String())
	}
	b = AppendHeader(b, k)
	b = appendRString(b, a.From)
	b = binary.AppendUvarint(b, a.Seq)
	b = binary.AppendVarint(b, a.Sent)
	b = binary.AppendUvarint(b, a.Taken)
	return binary.AppendUvarint(b, a.Refused)
}

// DecodeAck decodes the body of a KindReplicaAck or KindHandoffAck frame.
func DecodeAck(body []byte) (Ack, error) {
	d := rdecoder{b: body}
	a := Ack{From: d.str(maxAddr), Seq: d.uvarint(), Sent: d.varint(), Taken: d.bounded(MaxRecords), Refused: d.bounded(MaxRecords)}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d bytes after the ack", len(d.b)))
	}
	if d.err != nil {
		return Ack{}, fmt.Errorf("%w: ack: %w", ErrRecords, d.err)
	}
	return a, nil
}

func appendRString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errRShort = errors.New("frame ends early")

// rdecoder reads a body; the first error sticks and later reads return
// zero values.
type rdecoder struct {
	b   []byte
	err error
}

func (d *rdecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *rdecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errRShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *rdecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errRShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *rdecoder) bounded(limit uint64) uint64 {
	v := d.uvarint()
	if v > limit {
		d.fail(fmt.Errorf("value %d is over its limit %d", v, limit))
		return 0
	}
	return v
}

func (d *rdecoder) bytes(limit uint64) []byte {
	n := d.bounded(limit)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(errRShort)
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *rdecoder) str(limit uint64) string { return string(d.bytes(limit)) }
