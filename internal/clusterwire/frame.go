// Package clusterwire holds the frames the members of an hbd cluster send
// each other. Every frame travels inside a protobuf BytesValue (the only
// message type the members exchange, so a rolling upgrade never meets a
// type name it does not know) and starts with a four-byte header: the magic
// 'H' 'C', the frame version and the kind. The body of each kind is coded
// with varints and bounded lengths, like internal/statefile, by its own file
// of this package; every decoder returns an error on bad input and never
// panics (each has a fuzz test).
package clusterwire

import (
	"errors"
	"fmt"
)

// Kind says what a frame's body holds.
type Kind byte

// The kinds of frame. Numbers are part of the wire format: never reuse one.
const (
	KindForward      Kind = 1  // datagrams a member received for a host another member owns
	KindAcks         Kind = 2  // the ACKs the owner asks the receiving member to send
	KindFleet        Kind = 3  // changed host summaries of one member's fleet
	KindFleetRequest Kind = 4  // a member asks another for its whole fleet
	KindQuery        Kind = 5  // a per-host API query for the owner
	KindQueryReply   Kind = 6  // the owner's answer to a KindQuery
	KindReplica      Kind = 7  // host records the owner replicates to the successor
	KindReplicaAck   Kind = 8  // the successor's acknowledgement of a KindReplica
	KindHandoff      Kind = 9  // host records handed to their new owner
	KindHandoffAck   Kind = 10 // the new owner's acknowledgement of a KindHandoff
	maxKnownKind          = KindHandoffAck
	headerLen             = 4
	magic0, magic1        = 'H', 'C'
	Version          byte = 1 // the frame version this build writes and reads
)

var kindNames = [...]string{
	KindForward: "forward", KindAcks: "acks", KindFleet: "fleet", KindFleetRequest: "fleet-request",
	KindQuery: "query", KindQueryReply: "query-reply", KindReplica: "replica", KindReplicaAck: "replica-ack",
	KindHandoff: "handoff", KindHandoffAck: "handoff-ack",
}

func (k Kind) String() string {
	if k >= 1 && k <= maxKnownKind {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Errors of ParseHeader, for errors.Is.
var (
	ErrShort   = errors.New("clusterwire: frame shorter than its header")
	ErrMagic   = errors.New("clusterwire: not an hbd cluster frame")
	ErrVersion = errors.New("clusterwire: unsupported frame version")
	ErrKind    = errors.New("clusterwire: unknown frame kind")
)

// AppendHeader appends the header of a frame of kind k to b.
func AppendHeader(b []byte, k Kind) []byte {
	return append(b, magic0, magic1, Version, byte(k))
}

// ParseHeader checks the header of frame b and returns its kind and body.
// A short frame, another magic, another version or a kind this build does
// not know is an error.
func ParseHeader(b []byte) (Kind, []byte, error) {
	if len(b) < headerLen {
		return 0, nil, fmt.Errorf("%w (%d bytes)", ErrShort, len(b))
	}
	if b[0] != magic0 || b[1] != magic1 {
		return 0, nil, fmt.Errorf("%w (magic %#x %#x)", ErrMagic, b[0], b[1])
	}
	if b[2] != Version {
		return 0, nil, fmt.Errorf("%w %d (this build speaks %d)", ErrVersion, b[2], Version)
	}
	k := Kind(b[3])
	if k < 1 || k > maxKnownKind {
		return 0, nil, fmt.Errorf("%w %d", ErrKind, b[3])
	}
	return k, b[headerLen:], nil
}
