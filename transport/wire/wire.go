package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Protocol constants. Sizes are in bytes.
const (
	// Version is the newest protocol version this package speaks, the one
	// its encoders write for an [Envelope] with an Instance. Version 2 added
	// the sender instance to the header.
	Version = 2
	// MinVersion is the oldest version this package still parses and
	// writes (for an Envelope without an Instance): version-1 agents keep
	// working against a daemon that speaks version 2. A datagram with a
	// version outside MinVersion..Version is rejected with ReasonVersion:
	// fields are only ever added together with a new version.
	MinVersion = 1
	// MACSize is the length of the trailing HMAC-SHA256.
	MACSize = 32
	// MaxDatagram is the largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP).
	MaxDatagram = 65507
	// MaxPayload is the largest payload after decompression (60 KiB).
	MaxPayload = 60 * 1024
	// MaxSmall bounds heartbeat, boot, shutdown and ack datagrams so they fit
	// the IPv6 minimum MTU (1280) with IPv6 and UDP headers, unfragmented.
	MaxSmall = 1200
	// MaxNameLen is the longest host name (the DNS limit).
	MaxNameLen = 253
	// MaxPluginNameLen is the longest plugin name.
	MaxPluginNameLen = 64
	// CompressThreshold: the encoder tries to compress sample payloads larger
	// than this; smaller ones rarely shrink enough to pay for the CPU.
	CompressThreshold = 1024
)

// FlagCompressed marks a sample whose whole payload is an s2 block.
const FlagCompressed uint8 = 1

// Byte offsets of the fixed header fields. Versions 1 and 2 share them up
// to the timestamp; version 2 then has the sender instance, so its host
// name starts 8 bytes later.
const (
	offMagic    = 0
	offVersion  = 2
	offKind     = 3
	offFlags    = 4
	offHostLen  = 5
	offSeq      = 6
	offTime     = 14
	offInstance = 22 // version 2 only
	offHostV1   = 22
	offHostV2   = 30
	// minDatagram is the smallest valid datagram: version 1, one-byte host
	// name, empty payload.
	minDatagram = offHostV1 + 1 + 2 + MACSize

	magic0 = 'h'
	magic1 = 'b'
)

// Kind is the message type of a datagram.
type Kind uint8

// Message kinds.
const (
	KindHeartbeat Kind = 1
	KindSample    Kind = 2
	KindBoot      Kind = 3
	KindShutdown  Kind = 4
	KindAck       Kind = 5
	// KindSilence is an agent asking the daemon not to notify about its own
	// host for a while ("rebooting, expect 10 minutes of silence").
	KindSilence Kind = 6
	// KindParents is an agent declaring the hosts its host depends on
	// (its parents: a switch, a hypervisor). Added after kind 6, like it:
	// a daemon that predates it drops it as an unknown kind and nothing
	// else changes.
	KindParents Kind = 7
)

// String returns the lower-case kind name, e.g. "heartbeat".
func (k Kind) String() string {
	switch k {
	case KindHeartbeat:
		return "heartbeat"
	case KindSample:
		return "sample"
	case KindBoot:
		return "boot"
	case KindShutdown:
		return "shutdown"
	case KindAck:
		return "ack"
	case KindSilence:
		return "silence"
	case KindParents:
		return "parents"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is a kind of this protocol version.
func (k Kind) Valid() bool { return k >= KindHeartbeat && k <= KindParents }

// small reports whether datagrams of kind k must stay within MaxSmall.
func (k Kind) small() bool { return k != KindSample }

// Reason classifies why a datagram was rejected, for per-reason drop counters.
type Reason uint8

// Rejection reasons. ReasonReplay, ReasonClock, ReasonUnknownHost and
// ReasonSeqJump are not produced by this package's parsers; they exist so that receivers count
// every drop with one vocabulary.
const (
	ReasonNone Reason = iota
	ReasonTruncated
	ReasonBadMagic
	ReasonVersion
	ReasonKind
	ReasonOversize
	ReasonBadHost
	ReasonBadMAC
	ReasonBadPayload
	ReasonReplay
	ReasonClock
	ReasonUnknownHost
	// ReasonSeqJump is a sequence number that leaps further ahead of its
	// sender instance's highest one than any real sender could (see
	// MaxSeqJump): accepting it would make the instance's every later
	// datagram look like a replay.
	ReasonSeqJump
	numReasons
)

// String returns the lower_snake name used as a metric label.
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonTruncated:
		return "truncated"
	case ReasonBadMagic:
		return "bad_magic"
	case ReasonVersion:
		return "version"
	case ReasonKind:
		return "kind"
	case ReasonOversize:
		return "oversize"
	case ReasonBadHost:
		return "bad_host"
	case ReasonBadMAC:
		return "bad_mac"
	case ReasonBadPayload:
		return "bad_payload"
	case ReasonReplay:
		return "replay"
	case ReasonClock:
		return "clock_skew"
	case ReasonUnknownHost:
		return "unknown_host"
	case ReasonSeqJump:
		return "seq_jump"
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// AllReasons returns every reason except ReasonNone, for registering metrics
// up front so that a counter exists (at zero) before its first drop.
func AllReasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Error is a rejected datagram or an encoder input that would produce one.
// Use errors.As to get at the Reason, or ReasonOf.
type Error struct {
	Reason Reason
	Msg    string // full human-readable message
	cause  error  // underlying error, if any, for errors.Is/As
}

// Unwrap returns the underlying error, if any (e.g. the s2 decoder's).
func (e *Error) Unwrap() error { return e.cause }

// Error returns Msg, or the reason name if Msg is empty.
func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Reason.String()
	}
	return e.Msg
}

// ReasonOf returns the Reason of the first *Error in err's chain, ReasonNone
// when err is nil or carries no *Error.
func ReasonOf(err error) Reason {
	var we *Error
	if errors.As(err, &we) {
		return we.Reason
	}
	return ReasonNone
}

func errorf(r Reason, format string, args ...any) error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// wrapf is errorf with an underlying cause; the message should include it.
func wrapf(r Reason, cause error, format string, args ...any) error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...), cause: cause}
}

func truncated(need, have int) error {
	return errorf(ReasonTruncated, "truncated datagram: need %d bytes, have %d", need, have)
}

// Header is a parsed datagram. Host and Payload alias the input buffer.
type Header struct {
	Version uint8
	Kind    Kind
	Flags   uint8
	Seq     uint64 // sender's sequence number, counted per Instance
	Time    int64  // sender's clock, unix nanoseconds
	// Instance identifies the sending process (version 2; never 0 there).
	// 0 for version 1, which has no such field: all of a host's version-1
	// senders share one sequence space.
	Instance uint64
	Host     []byte
	Payload  []byte // as sent: still compressed when Flags has FlagCompressed
}

// hostOffset is where the host name starts in a datagram of version v.
func hostOffset(v uint8) int {
	if v == 1 {
		return offHostV1
	}
	return offHostV2
}

// Compressed reports whether the payload is an s2 block.
func (h *Header) Compressed() bool { return h.Flags&FlagCompressed != 0 }

// Parse checks the framing of datagram b: magic, version, kind, flags,
// lengths and host-name charset. It does NOT check the MAC (see
// Signer.Verify) and does not look inside the payload (see the Decode*
// functions). It never allocates on success.
//
// Fixed fields are checked in wire order as soon as they are present, so a
// short datagram of garbage is reported by its first wrong byte (bad_magic)
// rather than as merely truncated.
func Parse(b []byte) (Header, error) {
	n := len(b)
	if n > MaxDatagram {
		return Header{}, errorf(ReasonOversize, "datagram of %d bytes exceeds the %d-byte limit", n, MaxDatagram)
	}
	if n < offVersion {
		return Header{}, truncated(minDatagram, n)
	}
	if b[offMagic] != magic0 || b[offMagic+1] != magic1 {
		return Header{}, errorf(ReasonBadMagic, "bad magic 0x%02x%02x, want 0x%02x%02x", b[0], b[1], magic0, magic1)
	}
	if n <= offVersion {
		return Header{}, truncated(minDatagram, n)
	}
	ver := b[offVersion]
	if ver < MinVersion || ver > Version {
		return Header{}, errorf(ReasonVersion, "unsupported protocol version %d, want %d..%d", ver, MinVersion, Version)
	}
	least := hostOffset(ver) + 1 + 2 + MACSize // this version's smallest datagram
	if n <= offKind {
		return Header{}, truncated(least, n)
	}
	kind := Kind(b[offKind])
	if !kind.Valid() {
		return Header{}, errorf(ReasonKind, "unknown message kind %d", b[offKind])
	}
	if n <= offFlags {
		return Header{}, truncated(least, n)
	}
	flags := b[offFlags]
	// Flags describe the payload encoding, so unknown or misplaced ones make
	// the payload unreadable: bad_payload.
	if flags&^FlagCompressed != 0 {
		return Header{}, errorf(ReasonBadPayload, "reserved flag bits set: 0x%02x", flags)
	}
	if flags&FlagCompressed != 0 && kind != KindSample {
		return Header{}, errorf(ReasonBadPayload, "compressed flag set on a %s datagram", kind)
	}
	if n <= offHostLen {
		return Header{}, truncated(least, n)
	}
	hostLen := int(b[offHostLen])
	if hostLen == 0 || hostLen > MaxNameLen {
		return Header{}, errorf(ReasonBadHost, "host name length %d out of range 1..%d", hostLen, MaxNameLen)
	}
	offHost := hostOffset(ver)
	offPayLen := offHost + hostLen
	if n < offPayLen+2 {
		return Header{}, truncated(offPayLen+2+MACSize, n)
	}
	var instance uint64
	if ver >= 2 {
		// 0 is what version 1 means by "no instance": a version-2 sender
		// claiming it would share the version-1 senders' window.
		if instance = binary.BigEndian.Uint64(b[offInstance:]); instance == 0 {
			return Header{}, errorf(ReasonBadPayload, "sender instance 0 in a version-%d datagram", ver)
		}
	}
	host := b[offHost:offPayLen:offPayLen]
	if !ValidName(host) {
		return Header{}, errorf(ReasonBadHost, "invalid host name %q", host)
	}
	payLen := int(binary.BigEndian.Uint16(b[offPayLen:]))
	offPayload := offPayLen + 2
	total := offPayload + payLen + MACSize
	if kind.small() && total > MaxSmall {
		return Header{}, errorf(ReasonOversize, "%s datagram of %d bytes exceeds the %d-byte limit", kind, total, MaxSmall)
	}
	if flags&FlagCompressed == 0 && payLen > MaxPayload {
		return Header{}, errorf(ReasonOversize, "payload of %d bytes exceeds the %d-byte limit", payLen, MaxPayload)
	}
	if n < total {
		return Header{}, truncated(total, n)
	}
	if n > total {
		return Header{}, errorf(ReasonBadPayload, "payload length field says %d bytes but %d follow the header", payLen, n-offPayload-MACSize)
	}
	end := offPayload + payLen
	return Header{
		Version:  ver,
		Kind:     kind,
		Flags:    flags,
		Seq:      binary.BigEndian.Uint64(b[offSeq:]),
		Time:     int64(binary.BigEndian.Uint64(b[offTime:])),
		Instance: instance,
		Host:     host,
		Payload:  b[offPayload:end:end],
	}, nil
}

// ValidName reports whether b is an acceptable host name: 1..253 bytes of
// ASCII letters, digits, '-', '.' and '_', not starting with '.' or '-'.
// Config and HTTP validation use the same rule, so a name accepted anywhere
// is accepted everywhere.
func ValidName(b []byte) bool { return validName(b, MaxNameLen) }

// ValidPluginName reports whether b is an acceptable plugin name: the host
// name rule with a length of 1..64 bytes.
func ValidPluginName(b []byte) bool { return validName(b, MaxPluginNameLen) }

func validName[T ~string | ~[]byte](b T, maxLen int) bool {
	if len(b) == 0 || len(b) > maxLen || b[0] == '.' || b[0] == '-' {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

// printable reports whether b is printable ASCII (0x20..0x7e), the charset of
// the free-text fields (agent version, shutdown reason).
func printable[T ~string | ~[]byte](b T) bool {
	for i := 0; i < len(b); i++ {
		if b[i] < 0x20 || b[i] > 0x7e {
			return false
		}
	}
	return true
}
