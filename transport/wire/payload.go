package wire

import (
	"encoding/binary"
	"slices"

	"github.com/klauspost/compress/s2"
)

// Fixed payload sizes in bytes.
const (
	heartbeatSize = 12 // interval_ms, conn_seq, rtt_us: 3 × uint32
	ackSize       = 20 // acked_seq uint64, echoed time int64, hold_ns uint32
	maxStringLen  = 255
)

// Heartbeat is the payload of a KindHeartbeat datagram.
type Heartbeat struct {
	IntervalMS uint32 // the agent's heartbeat interval in milliseconds; never 0
	ConnSeq    uint32 // per-destination-address heartbeat counter, for loss
	RTTMicros  uint32 // agent's last round trip to this address in µs; 0 = none yet
}

// Boot is the payload of a KindBoot datagram, sent once when an agent starts.
type Boot struct {
	IntervalMS   uint32 // heartbeat interval in milliseconds; never 0
	AgentVersion []byte // printable ASCII, at most 255 bytes, may be empty
}

// Shutdown is the payload of a KindShutdown datagram: a clean stop, which
// must not raise a "host down" alert.
type Shutdown struct {
	Reason []byte // printable ASCII, at most 255 bytes, may be empty
}

// Sample is the payload of a KindSample datagram.
type Sample struct {
	Plugin []byte // plugin name, ValidPluginName
	Data   []byte // a JSON object
	// Keys is how many object keys Data holds at any depth (one per
	// member, as limits.CountKeys counts them), found by the scan that
	// validated it, so that the key cap costs no second pass.
	Keys int
}

// Silence is the payload of a KindSilence datagram: the sending host asks
// that its alerts on metrics matching Metric notify nobody for Seconds.
type Silence struct {
	Seconds uint32 // 1 .. MaxSilenceSeconds
	Metric  []byte // metric-path glob, printable ASCII; empty means every metric
	Comment []byte // printable ASCII, may be empty
}

// MaxSilenceSeconds bounds an agent-requested silence (7 days), so a
// forgotten request cannot mute a host for ever.
const MaxSilenceSeconds = 7 * 24 * 3600

// Parents is the payload of a KindParents datagram: the hosts the sending
// host depends on. An empty list withdraws the ones declared before.
type Parents struct {
	Names [][]byte // each a ValidName, none twice, at most MaxParents
}

// MaxParents bounds the parents one datagram declares; with the host
// name limit, the largest parents datagram stays within MaxSmall only if
// the names are short, which AppendParents checks and Parse enforces.
const MaxParents = 8

// Ack is the payload of a KindAck datagram, sent by the daemon to the
// address a heartbeat came from.
type Ack struct {
	Seq       uint64 // the acked datagram's sequence number
	Time      int64  // the acked datagram's timestamp, echoed, unix ns
	HoldNanos uint32 // ns the daemon held the datagram before acking it
}

// expect checks that h is of kind k; decoders of one kind must not be fed
// another, as the payload layouts differ.
func expect(h *Header, k Kind) error {
	if h.Kind != k {
		return errorf(ReasonKind, "%s datagram passed to the %s decoder", h.Kind, k)
	}
	if k != KindSample && h.Flags != 0 {
		return errorf(ReasonBadPayload, "%s datagram with flags 0x%02x", k, h.Flags)
	}
	return nil
}

// DecodeHeartbeat returns the payload of a heartbeat datagram. It does not
// allocate on success.
func DecodeHeartbeat(h *Header) (Heartbeat, error) {
	if err := expect(h, KindHeartbeat); err != nil {
		return Heartbeat{}, err
	}
	p := h.Payload
	if len(p) != heartbeatSize {
		return Heartbeat{}, errorf(ReasonBadPayload, "heartbeat payload is %d bytes, want %d", len(p), heartbeatSize)
	}
	hb := Heartbeat{
		IntervalMS: binary.BigEndian.Uint32(p[0:]),
		ConnSeq:    binary.BigEndian.Uint32(p[4:]),
		RTTMicros:  binary.BigEndian.Uint32(p[8:]),
	}
	if hb.IntervalMS == 0 {
		return Heartbeat{}, errorf(ReasonBadPayload, "heartbeat interval is 0")
	}
	return hb, nil
}

// DecodeBoot returns the payload of a boot datagram.
func DecodeBoot(h *Header) (Boot, error) {
	if err := expect(h, KindBoot); err != nil {
		return Boot{}, err
	}
	p := h.Payload
	if len(p) < 4 {
		return Boot{}, errorf(ReasonBadPayload, "boot payload is %d bytes, want at least 5", len(p))
	}
	b := Boot{IntervalMS: binary.BigEndian.Uint32(p)}
	if b.IntervalMS == 0 {
		return Boot{}, errorf(ReasonBadPayload, "boot interval is 0")
	}
	v, rest, err := readString(p[4:], "agent version")
	if err != nil {
		return Boot{}, err
	}
	if len(rest) != 0 {
		return Boot{}, errorf(ReasonBadPayload, "%d trailing bytes after the boot payload", len(rest))
	}
	b.AgentVersion = v
	return b, nil
}

// DecodeShutdown returns the payload of a shutdown datagram.
func DecodeShutdown(h *Header) (Shutdown, error) {
	if err := expect(h, KindShutdown); err != nil {
		return Shutdown{}, err
	}
	r, rest, err := readString(h.Payload, "shutdown reason")
	if err != nil {
		return Shutdown{}, err
	}
	if len(rest) != 0 {
		return Shutdown{}, errorf(ReasonBadPayload, "%d trailing bytes after the shutdown payload", len(rest))
	}
	return Shutdown{Reason: r}, nil
}

// DecodeSilence returns the payload of a silence datagram.
func DecodeSilence(h *Header) (Silence, error) {
	if err := expect(h, KindSilence); err != nil {
		return Silence{}, err
	}
	p := h.Payload
	if len(p) < 4 {
		return Silence{}, errorf(ReasonBadPayload, "silence payload is %d bytes, want at least 4", len(p))
	}
	secs := binary.BigEndian.Uint32(p)
	if secs == 0 || secs > MaxSilenceSeconds {
		return Silence{}, errorf(ReasonBadPayload, "silence of %d s is outside 1..%d", secs, MaxSilenceSeconds)
	}
	metric, rest, err := readString(p[4:], "silence metric")
	if err != nil {
		return Silence{}, err
	}
	comment, rest, err := readString(rest, "silence comment")
	if err != nil {
		return Silence{}, err
	}
	if len(rest) != 0 {
		return Silence{}, errorf(ReasonBadPayload, "%d trailing bytes after the silence payload", len(rest))
	}
	return Silence{Seconds: secs, Metric: metric, Comment: comment}, nil
}

// DecodeParents returns the payload of a parents datagram: a count byte,
// then each name as a length byte and the name.
func DecodeParents(h *Header) (Parents, error) {
	if err := expect(h, KindParents); err != nil {
		return Parents{}, err
	}
	p := h.Payload
	if len(p) < 1 {
		return Parents{}, errorf(ReasonBadPayload, "parents payload is empty, want at least its count")
	}
	n := int(p[0])
	if n > MaxParents {
		return Parents{}, errorf(ReasonBadPayload, "%d parents, limit %d", n, MaxParents)
	}
	rest := p[1:]
	names := make([][]byte, 0, n)
	for i := range n {
		if len(rest) == 0 || len(rest) < 1+int(rest[0]) {
			return Parents{}, errorf(ReasonBadPayload, "parent %d is truncated", i)
		}
		name := rest[1 : 1+int(rest[0]) : 1+int(rest[0])]
		rest = rest[1+len(name):]
		if err := checkParent(name, names); err != nil {
			return Parents{}, err
		}
		names = append(names, name)
	}
	if len(rest) != 0 {
		return Parents{}, errorf(ReasonBadPayload, "%d trailing bytes after the parents payload", len(rest))
	}
	return Parents{Names: names}, nil
}

// checkParent checks one parent name against the host-name rule and the
// names before it.
func checkParent(name []byte, before [][]byte) error {
	if !ValidName(name) {
		return errorf(ReasonBadPayload, "parent %q is not a valid host name", name)
	}
	for _, b := range before {
		if string(b) == string(name) {
			return errorf(ReasonBadPayload, "parent %q is listed twice", name)
		}
	}
	return nil
}

// DecodeAck returns the payload of an ack datagram.
func DecodeAck(h *Header) (Ack, error) {
	if err := expect(h, KindAck); err != nil {
		return Ack{}, err
	}
	p := h.Payload
	if len(p) != ackSize {
		return Ack{}, errorf(ReasonBadPayload, "ack payload is %d bytes, want %d", len(p), ackSize)
	}
	return Ack{
		Seq:       binary.BigEndian.Uint64(p[0:]),
		Time:      int64(binary.BigEndian.Uint64(p[8:])),
		HoldNanos: binary.BigEndian.Uint32(p[16:]),
	}, nil
}

// DecodeSample returns the payload of a sample datagram. A compressed payload
// is decompressed into scratch, which is grown if needed (never beyond
// MaxPayload bytes) and returned for reuse; the returned Sample then aliases
// it. scratch must not overlap h.Payload. An uncompressed Sample aliases the
// datagram and scratch is returned untouched.
func DecodeSample(h *Header, scratch []byte) (Sample, []byte, error) {
	if err := expect(h, KindSample); err != nil {
		return Sample{}, scratch, err
	}
	p := h.Payload
	if h.Flags&FlagCompressed != 0 {
		// Check the declared size before decoding so that a tiny datagram
		// cannot make us allocate more than MaxPayload.
		n, err := s2.DecodedLen(p)
		if err != nil {
			return Sample{}, scratch, wrapf(ReasonBadPayload, err, "corrupt compressed sample: %v", err)
		}
		if n > MaxPayload {
			return Sample{}, scratch, errorf(ReasonOversize, "compressed sample decodes to %d bytes, limit %d", n, MaxPayload)
		}
		if cap(scratch) < n {
			scratch = make([]byte, 0, n)
		}
		d, err := s2.Decode(scratch[:cap(scratch)], p)
		if err != nil {
			return Sample{}, scratch, wrapf(ReasonBadPayload, err, "corrupt compressed sample: %v", err)
		}
		p = d
	}
	s, err := parseSample(p)
	return s, scratch, err
}

func parseSample(p []byte) (Sample, error) {
	if len(p) == 0 {
		return Sample{}, errorf(ReasonBadPayload, "empty sample payload")
	}
	n := int(p[0])
	if len(p) < 1+n {
		return Sample{}, errorf(ReasonBadPayload, "sample plugin name needs %d bytes, have %d", n, len(p)-1)
	}
	plugin := p[1 : 1+n : 1+n]
	if !ValidPluginName(plugin) {
		return Sample{}, errorf(ReasonBadPayload, "invalid plugin name %q", plugin)
	}
	data := p[1+n:]
	keys, err := checkObject(data)
	if err != nil {
		return Sample{}, err
	}
	return Sample{Plugin: plugin, Data: data, Keys: keys}, nil
}

// checkObject accepts exactly what the daemon can store as a sample: one
// valid JSON object with no leading whitespace. It returns the object's
// key count (see scanObject).
func checkObject(data []byte) (keys int, err error) {
	if len(data) == 0 || data[0] != '{' {
		return 0, errorf(ReasonBadPayload, "sample data is not a JSON object")
	}
	keys, ok := scanObject(data)
	if !ok {
		return 0, errorf(ReasonBadPayload, "sample data is not valid JSON")
	}
	return keys, nil
}

// readString reads a u8-length-prefixed printable ASCII string.
func readString(p []byte, what string) (s, rest []byte, err error) {
	if len(p) == 0 {
		return nil, nil, errorf(ReasonBadPayload, "%s: missing length byte", what)
	}
	n := int(p[0])
	if len(p) < 1+n {
		return nil, nil, errorf(ReasonBadPayload, "%s: needs %d bytes, have %d", what, n, len(p)-1)
	}
	s = p[1 : 1+n : 1+n]
	if !printable(s) {
		return nil, nil, errorf(ReasonBadPayload, "%s is not printable ASCII", what)
	}
	return s, p[1+n:], nil
}

// Envelope holds the header fields an encoder needs besides the payload.
type Envelope struct {
	Host string // ValidName
	// Seq is the sender's sequence number, +1 per datagram across kinds and
	// destinations. Agents count from 1 per Instance; version-1 agents
	// started at their boot time in unix ns.
	Seq  uint64
	Time int64 // sender's clock, unix nanoseconds
	// Instance identifies the sending process, so that every process has a
	// sequence space of its own: hbd-agent uses its start time in unix ns
	// with random low bits. Non-zero makes a version-2 datagram; 0 makes a
	// version-1 datagram, which has no instance field.
	Instance uint64
}

// begin appends the fixed header, the host name and a zero payload length
// that finish fills in.
func begin(dst []byte, k Kind, e Envelope) ([]byte, error) {
	if !validName(e.Host, MaxNameLen) {
		return dst, errorf(ReasonBadHost, "invalid host name %q", e.Host)
	}
	ver := byte(Version)
	if e.Instance == 0 {
		ver = 1
	}
	dst = append(dst, magic0, magic1, ver, byte(k), 0, byte(len(e.Host)))
	dst = binary.BigEndian.AppendUint64(dst, e.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Time))
	if ver >= 2 {
		dst = binary.BigEndian.AppendUint64(dst, e.Instance)
	}
	dst = append(dst, e.Host...)
	return append(dst, 0, 0), nil
}

// finish fills in the payload length of the datagram that starts at
// dst[start], enforces the size limits and appends the MAC. On error it
// returns dst[:start], as if nothing had been appended.
func finish(dst []byte, start int, s *Signer) ([]byte, error) {
	d := dst[start:]
	offPayLen := hostOffset(d[offVersion]) + int(d[offHostLen])
	payLen := len(d) - offPayLen - 2
	total := len(d) + MACSize
	if Kind(d[offKind]).small() && total > MaxSmall {
		return dst[:start], errorf(ReasonOversize, "%s datagram of %d bytes exceeds the %d-byte limit", Kind(d[offKind]), total, MaxSmall)
	}
	if total > MaxDatagram || payLen > 0xffff {
		return dst[:start], errorf(ReasonOversize, "datagram of %d bytes exceeds the %d-byte limit", total, MaxDatagram)
	}
	binary.BigEndian.PutUint16(d[offPayLen:], uint16(payLen))
	return s.appendMAC(dst, start), nil
}

// AppendHeartbeat appends a signed heartbeat datagram to dst.
func AppendHeartbeat(dst []byte, s *Signer, e Envelope, hb Heartbeat) ([]byte, error) {
	if hb.IntervalMS == 0 {
		return dst, errorf(ReasonBadPayload, "heartbeat interval is 0")
	}
	start := len(dst)
	dst, err := begin(dst, KindHeartbeat, e)
	if err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(dst, hb.IntervalMS)
	dst = binary.BigEndian.AppendUint32(dst, hb.ConnSeq)
	dst = binary.BigEndian.AppendUint32(dst, hb.RTTMicros)
	return finish(dst, start, s)
}

// AppendBoot appends a signed boot datagram to dst.
func AppendBoot(dst []byte, s *Signer, e Envelope, b Boot) ([]byte, error) {
	if b.IntervalMS == 0 {
		return dst, errorf(ReasonBadPayload, "boot interval is 0")
	}
	if err := checkString(b.AgentVersion, "agent version"); err != nil {
		return dst, err
	}
	start := len(dst)
	dst, err := begin(dst, KindBoot, e)
	if err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(dst, b.IntervalMS)
	dst = append(dst, byte(len(b.AgentVersion)))
	dst = append(dst, b.AgentVersion...)
	return finish(dst, start, s)
}

// AppendShutdown appends a signed shutdown datagram to dst.
func AppendShutdown(dst []byte, s *Signer, e Envelope, sd Shutdown) ([]byte, error) {
	if err := checkString(sd.Reason, "shutdown reason"); err != nil {
		return dst, err
	}
	start := len(dst)
	dst, err := begin(dst, KindShutdown, e)
	if err != nil {
		return dst, err
	}
	dst = append(dst, byte(len(sd.Reason)))
	dst = append(dst, sd.Reason...)
	return finish(dst, start, s)
}

// AppendSilence appends a signed silence datagram to dst.
func AppendSilence(dst []byte, s *Signer, e Envelope, si Silence) ([]byte, error) {
	if si.Seconds == 0 || si.Seconds > MaxSilenceSeconds {
		return dst, errorf(ReasonBadPayload, "silence of %d s is outside 1..%d", si.Seconds, MaxSilenceSeconds)
	}
	if err := checkString(si.Metric, "silence metric"); err != nil {
		return dst, err
	}
	if err := checkString(si.Comment, "silence comment"); err != nil {
		return dst, err
	}
	start := len(dst)
	dst, err := begin(dst, KindSilence, e)
	if err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(dst, si.Seconds)
	dst = append(dst, byte(len(si.Metric)))
	dst = append(dst, si.Metric...)
	dst = append(dst, byte(len(si.Comment)))
	dst = append(dst, si.Comment...)
	return finish(dst, start, s)
}

// AppendParents appends a signed parents datagram to dst. It fails if
// the datagram would exceed MaxSmall (long names).
func AppendParents(dst []byte, s *Signer, e Envelope, ps Parents) ([]byte, error) {
	if len(ps.Names) > MaxParents {
		return dst, errorf(ReasonBadPayload, "%d parents, limit %d", len(ps.Names), MaxParents)
	}
	for i, n := range ps.Names {
		if err := checkParent(n, ps.Names[:i]); err != nil {
			return dst, err
		}
	}
	start := len(dst)
	dst, err := begin(dst, KindParents, e)
	if err != nil {
		return dst, err
	}
	dst = append(dst, byte(len(ps.Names)))
	for _, n := range ps.Names {
		dst = append(dst, byte(len(n)))
		dst = append(dst, n...)
	}
	return finish(dst, start, s) // which refuses one over MaxSmall
}

// AppendAck appends a signed ack datagram to dst. e.Host is the host name of
// the agent being answered and s must hold that agent's key.
func AppendAck(dst []byte, s *Signer, e Envelope, a Ack) ([]byte, error) {
	start := len(dst)
	dst, err := begin(dst, KindAck, e)
	if err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint64(dst, a.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.Time))
	dst = binary.BigEndian.AppendUint32(dst, a.HoldNanos)
	return finish(dst, start, s)
}

// AppendSample appends a signed sample datagram to dst. data must be a JSON
// object. The payload is s2-compressed when it is larger than
// CompressThreshold and compression makes it smaller. With enough spare
// capacity in dst (about twice the payload) it does not allocate: the
// payload is compressed into the tail of dst and moved into place.
func AppendSample(dst []byte, s *Signer, e Envelope, plugin string, data []byte) ([]byte, error) {
	if !validName(plugin, MaxPluginNameLen) {
		return dst, errorf(ReasonBadPayload, "invalid plugin name %q", plugin)
	}
	if _, err := checkObject(data); err != nil {
		return dst, err
	}
	payLen := 1 + len(plugin) + len(data)
	if payLen > MaxPayload {
		return dst, errorf(ReasonOversize, "sample payload of %d bytes exceeds the %d-byte limit", payLen, MaxPayload)
	}
	start := len(dst)
	dst, err := begin(dst, KindSample, e)
	if err != nil {
		return dst, err
	}
	offPayload := len(dst)
	dst = append(dst, byte(len(plugin)))
	dst = append(dst, plugin...)
	dst = append(dst, data...)
	if payLen > CompressThreshold {
		dst = slices.Grow(dst, s2.MaxEncodedLen(payLen)+MACSize)
		// The tail past len(dst) does not overlap the source, as s2 requires.
		c := s2.Encode(dst[len(dst):cap(dst)], dst[offPayload:])
		if len(c) < payLen {
			n := copy(dst[offPayload:], c)
			dst = dst[:offPayload+n]
			dst[start+offFlags] |= FlagCompressed
		}
	}
	return finish(dst, start, s)
}

func checkString(b []byte, what string) error {
	if len(b) > maxStringLen {
		return errorf(ReasonBadPayload, "%s is %d bytes, limit %d", what, len(b), maxStringLen)
	}
	if !printable(b) {
		return errorf(ReasonBadPayload, "%s is not printable ASCII", what)
	}
	return nil
}
