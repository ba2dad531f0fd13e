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
	b = appendString(b, r.From)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendVarint(b, r.Sent)
	b = binary.AppendUvarint(b, uint64(len(r.Records)))
	for i := range r.Records {
		rec := &r.Records[i]
		b = appendString(b, rec.Host)
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
	d := decoder{b: body}
	r := Records{From: string(d.bytes("from", maxAddr)), Seq: d.uvarint("seq"), Sent: d.varint("sent")}
	n := d.bounded("records", MaxRecords)
	if d.err == nil && n > 0 {
		r.Records = make([]Record, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		rec := Record{Host: string(d.bytes("host", maxHost)), Seq: d.uvarint("record seq"), Bytes: d.bytes("record", MaxRecordBytes)}
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
	b = appendString(b, a.From)
	b = binary.AppendUvarint(b, a.Seq)
	b = binary.AppendVarint(b, a.Sent)
	b = binary.AppendUvarint(b, a.Taken)
	return binary.AppendUvarint(b, a.Refused)
}

// DecodeAck decodes the body of a KindReplicaAck or KindHandoffAck frame.
func DecodeAck(body []byte) (Ack, error) {
	d := decoder{b: body}
	a := Ack{From: string(d.bytes("from", maxAddr)), Seq: d.uvarint("seq"), Sent: d.varint("sent"), Taken: d.uvarint("taken"), Refused: d.uvarint("refused")}
	if d.err == nil && (a.Taken > MaxRecords || a.Refused > MaxRecords) {
		d.fail(fmt.Errorf("ack of %d taken and %d refused records (at most %d each)", a.Taken, a.Refused, MaxRecords))
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d bytes after the ack", len(d.b)))
	}
	if d.err != nil {
		return Ack{}, fmt.Errorf("%w: ack: %w", ErrRecords, d.err)
	}
	return a, nil
}
