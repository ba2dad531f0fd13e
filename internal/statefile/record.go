package statefile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"
)

// Host is one host's durable state. In a full record it is the whole
// state; in a delta, everything but Plugins is whole and Plugins holds only
// the samples stored since the host's previous record, in the order they
// were stored. The numeric codes of State, Conn.Family and the alert levels
// are part of the format (see their fields).
type Host struct {
	Name         string
	Dyn          bool // registered on first contact, not declared
	Ver          uint8
	AgentVersion string
	Interval     time.Duration // the agent's heartbeat interval
	// State is the host state: 0 UNKNOWN, 1 UP, 2 DEGRADED, 3 DOWN, 4 STOPPED,
	// 5 SUSPECT, 6 UNREACHABLE (actors.HostState).
	State    uint8
	Stopped  bool
	LastSeen time.Time
	LastBoot time.Time
	Conns    []Conn
	Replay   Replay // a window per sender instance
	// LastSent is the agent timestamp (unix ns) of the newest datagram
	// accepted and LastRecv when the daemon read it: together they place
	// the agent's clock against the daemon's, so that datagrams sent
	// before a restart can be told from new ones.
	LastSent    int64
	LastRecv    time.Time
	LastSilence int64 // agent timestamp of the last silence request
	Plugins     []Plugin
	Alerts      []Alert
	// RTTs are the connections' windows of recent heartbeat RTTs. Like
	// Plugins, a delta holds only the entries added since the host's
	// previous record, unless Whole says they are the whole window.
	RTTs []RTTWindow
	// Parents are the hosts the host's agent declared it depends on (a
	// parents datagram); the daemon's [[dependencies]] rules are not
	// saved, they come from the config.
	Parents []string
}

// RTTWindow is one connection's recent heartbeats, oldest first.
type RTTWindow struct {
	Family uint8 // as Conn.Family
	// Whole: Entries are the whole window; else they follow the window
	// as the previous records left it (replacing its entries at or after
	// the first one's time).
	Whole   bool
	Entries []RTTEntry
}

// RTTEntry is one heartbeat: when it was received and its RTT.
type RTTEntry struct {
	UnixMilli int64
	Micros    uint32 // 0: none (missed, or sent without a measurement)
}

// Conn is one address family's connection.
type Conn struct {
	Family   uint8 // 0 ipv4, 1 ipv6
	Addr     netip.AddrPort
	Up       bool
	LastSeen time.Time
	RTT      time.Duration
	SRTT     time.Duration
	HasRTT   bool
	Loss     Loss
}

// Loss is a connection's heartbeat loss window.
type Loss struct {
	Top     uint32
	Seen    [2]uint64
	Span    uint32
	Started bool
}

// Replay is a host's replay protection: a window per sender instance.
type Replay struct {
	Windows []ReplayWindow // most recently accepted first
	// Floor is the newest agent timestamp accepted from a sender instance
	// since forgotten: an instance without a window must send newer ones.
	Floor int64
}

// ReplayWindow is one sender instance's sequence window. A record of
// format version 1 held one window for the host, read back as the window of
// instance 0 (the version-1 senders) with Last = Host.LastSent.
type ReplayWindow struct {
	Instance uint64 // 0: the host's version-1 senders
	Top      uint64
	Seen     [2]uint64
	Last     int64 // newest agent timestamp accepted from the instance
	Floor    int64 // datagrams stamped at or before it are refused
}

// Plugin is one plugin's samples, oldest first in a full record: either as
// Samples, each its JSON, or as Ring, the plugin's ring of samples in
// package samplestore's saved form (a whole ring, which replaces the
// plugin's samples even in a delta, or a tail of samples to add). This
// package does not read Ring: it is bytes, checked by its frame's CRC and
// by samplestore when applied. Held is how many samples Ring holds.
type Plugin struct {
	Name    string
	Samples []Sample
	Ring    []byte
	Held    int
}

// Sample is one stored sample: the agent's timestamp and the JSON object.
type Sample struct {
	UnixNano int64
	Data     []byte
}

// Alert is the state of one tracked metric path.
type Alert struct {
	Path string
	// Rule is the metric pattern of the threshold rule that evaluates the
	// alert; "" for built-in alerts.
	Rule string
	// Level: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
	Level             uint8
	Since             time.Time
	LastValue         float64
	LastValueOK       bool
	LastCheck         time.Time
	NotificationCount int
	Flapping          bool
	WarnSince         time.Time
	CritSince         time.Time
	WarnRun, CritRun  bool
	Changes           []time.Time // recent level changes, for flap detection
	// NotifiedLevel is the level of the last notification delivered for
	// the alert and NotifiedAt when; zero NotifiedAt: never notified.
	NotifiedLevel uint8
	NotifiedAt    time.Time
	// Routes are the channels that delivered a notification of the current
	// episode, with the time of the last one: where repeats continue from.
	Routes []RouteSent
}

// RouteSent is when a notification channel last delivered an alert.
type RouteSent struct {
	Name string
	At   time.Time
}

// Samples returns how many samples the record holds.
func (h *Host) Samples() int {
	n := 0
	for _, p := range h.Plugins {
		n += len(p.Samples) + p.Held
	}
	return n
}

// Limits the decoder enforces, so that no input can make it allocate
// without bound.
const (
	maxString = 1 << 20 // bytes of a name, path or sample
	maxCount  = 1 << 24 // entries of any list
)

// Host record flags.
const (
	hostDyn = 1 << iota
	hostStopped
	// hostReplayInit: the record's fixed replay fields hold the host's one
	// window (format version 1). Version 2 writes the windows in a section
	// and leaves the fixed fields zero.
	hostReplayInit
)

// Sections follow the fixed part of a host record (format version 2 on):
// a tag, the body's length and the body. A reader skips a section whose tag
// it does not know, so a later field needs no new format version; a
// section it knows must decode whole.
const (
	sectionReplay = 1 // Replay: floor, count, then each window
	sectionRings  = 2 // the Plugins with a Ring: count, then each name, Held and Ring
	sectionRTT    = 3 // RTTs: count, then each window
	// sectionParents: Parents: count, then each name. An earlier daemon
	// skips it (and forgets the parents until the agent sends them again).
	sectionParents = 4
)

// Conn flags.
const (
	connUp = 1 << iota
	connHasRTT
	connLossStarted
)

// Alert flags.
const (
	alertValueOK = 1 << iota
	alertFlapping
	alertWarnRun
	alertCritRun
)

// AppendHost appends h's encoding to b.
func AppendHost(b []byte, h *Host) []byte {
	b = appendString(b, h.Name)
	var fl uint64
	if h.Dyn {
		fl |= hostDyn
	}
	if h.Stopped {
		fl |= hostStopped
	}
	b = binary.AppendUvarint(b, fl)
	b = append(b, h.Ver, h.State)
	b = appendString(b, h.AgentVersion)
	b = binary.AppendVarint(b, int64(h.Interval))
	b = appendTime(b, h.LastSeen)
	b = appendTime(b, h.LastBoot)
	// The version-1 window's place: zero, the windows are in their section.
	b = binary.AppendUvarint(b, 0)
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = binary.AppendVarint(b, h.LastSent)
	b = appendTime(b, h.LastRecv)
	b = binary.AppendVarint(b, h.LastSilence)

	b = binary.AppendUvarint(b, uint64(len(h.Conns)))
	for i := range h.Conns {
		c := &h.Conns[i]
		b = append(b, c.Family)
		// The address as netip encodes it, length first (netip's binary
		// form: 0, 4 or 16 bytes, a zone, 2 bytes of port).
		at := len(b)
		b = append(b, 0)
		b, _ = c.Addr.AppendBinary(b) // never fails
		if n := len(b) - at - 1; n < 0x80 {
			b[at] = byte(n)
		} else { // a zone name longer than netip allows on Linux; keep it exact
			ab := slices.Clone(b[at+1:])
			b = appendBytes(b[:at], ab)
		}
		var cf uint64
		if c.Up {
			cf |= connUp
		}
		if c.HasRTT {
			cf |= connHasRTT
		}
		if c.Loss.Started {
			cf |= connLossStarted
		}
		b = binary.AppendUvarint(b, cf)
		b = appendTime(b, c.LastSeen)
		b = binary.AppendVarint(b, int64(c.RTT))
		b = binary.AppendVarint(b, int64(c.SRTT))
		b = binary.AppendUvarint(b, uint64(c.Loss.Top))
		b = binary.LittleEndian.AppendUint64(b, c.Loss.Seen[0])
		b = binary.LittleEndian.AppendUint64(b, c.Loss.Seen[1])
		b = binary.AppendUvarint(b, uint64(c.Loss.Span))
	}

	rings := 0
	for i := range h.Plugins {
		if h.Plugins[i].Ring != nil {
			rings++
		}
	}
	b = binary.AppendUvarint(b, uint64(len(h.Plugins)-rings))
	for i := range h.Plugins {
		p := &h.Plugins[i]
		if p.Ring != nil {
			continue // in sectionRings
		}
		b = appendString(b, p.Name)
		b = binary.AppendUvarint(b, uint64(len(p.Samples)))
		// Timestamps as differences from the previous one: samples of
		// one plugin are close in time, so most take 4 or 5 bytes.
		var prev int64
		for _, s := range p.Samples {
			b = binary.AppendVarint(b, s.UnixNano-prev)
			prev = s.UnixNano
			b = appendBytes(b, s.Data)
		}
	}

	b = binary.AppendUvarint(b, uint64(len(h.Alerts)))
	for i := range h.Alerts {
		a := &h.Alerts[i]
		b = appendString(b, a.Path)
		b = appendString(b, a.Rule)
		var af uint64
		if a.LastValueOK {
			af |= alertValueOK
		}
		if a.Flapping {
			af |= alertFlapping
		}
		if a.WarnRun {
			af |= alertWarnRun
		}
		if a.CritRun {
			af |= alertCritRun
		}
		b = binary.AppendUvarint(b, af)
		b = append(b, a.Level, a.NotifiedLevel)
		b = appendTime(b, a.Since)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.LastValue))
		b = appendTime(b, a.LastCheck)
		b = binary.AppendUvarint(b, uint64(a.NotificationCount))
		b = appendTime(b, a.WarnSince)
		b = appendTime(b, a.CritSince)
		b = binary.AppendUvarint(b, uint64(len(a.Changes)))
		for _, t := range a.Changes {
			b = appendTime(b, t)
		}
		b = appendTime(b, a.NotifiedAt)
		b = binary.AppendUvarint(b, uint64(len(a.Routes)))
		for _, r := range a.Routes {
			b = appendString(b, r.Name)
			b = appendTime(b, r.At)
		}
	}
	if len(h.Replay.Windows) > 0 || h.Replay.Floor != 0 {
		b = appendSection(b, sectionReplay, func(b []byte) []byte { return appendReplay(b, &h.Replay) })
	}
	if rings > 0 {
		b = appendSection(b, sectionRings, func(b []byte) []byte {
			b = binary.AppendUvarint(b, uint64(rings))
			for i := range h.Plugins {
				if p := &h.Plugins[i]; p.Ring != nil {
					b = appendString(b, p.Name)
					b = binary.AppendUvarint(b, uint64(p.Held))
					b = appendBytes(b, p.Ring)
				}
			}
			return b
		})
	}
	if len(h.Parents) > 0 {
		b = appendSection(b, sectionParents, func(b []byte) []byte {
			b = binary.AppendUvarint(b, uint64(len(h.Parents)))
			for _, p := range h.Parents {
				b = appendString(b, p)
			}
			return b
		})
	}
	if len(h.RTTs) > 0 {
		b = appendSection(b, sectionRTT, func(b []byte) []byte { return appendRTTs(b, h.RTTs, rttBase(h)) })
	}
	return b
}

// rttBase is what the first entry's time of an RTT window is written as
// a difference from: the host's last contact (in ms), which the newest
// entries are close to, so a delta's one or two entries take a few bytes.
func rttBase(h *Host) int64 {
	if h.LastSeen.IsZero() {
		return 0
	}
	return h.LastSeen.UnixMilli()
}

// appendRTTs writes each window: family, whole, count, then per entry its
// time as a difference from the previous one's (the first from base) and
// the RTT: about 5 bytes a heartbeat.
func appendRTTs(b []byte, ws []RTTWindow, base int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(ws)))
	for i := range ws {
		w := &ws[i]
		var whole byte
		if w.Whole {
			whole = 1
		}
		b = append(b, w.Family, whole)
		b = binary.AppendUvarint(b, uint64(len(w.Entries)))
		prev := base
		for _, e := range w.Entries {
			b = binary.AppendVarint(b, e.UnixMilli-prev)
			prev = e.UnixMilli
			b = binary.AppendUvarint(b, uint64(e.Micros))
		}
	}
	return b
}

func (d *decoder) rtts(h *Host) {
	n := d.count()
	if n == 0 {
		return
	}
	h.RTTs = make([]RTTWindow, n)
	for i := range h.RTTs {
		w := &h.RTTs[i]
		w.Family = d.byte()
		switch whole := d.byte(); whole {
		case 0, 1:
			w.Whole = whole == 1
		default:
			d.fail(fmt.Errorf("RTT window %d: whole flag %d", i, whole))
			return
		}
		if m := d.count(); m > 0 {
			w.Entries = make([]RTTEntry, m)
			prev := rttBase(h)
			for j := range w.Entries {
				prev += d.varint()
				w.Entries[j] = RTTEntry{UnixMilli: prev, Micros: d.uint32()}
			}
		}
	}
}

// appendSection appends a section with tag and the body body appends.
func appendSection(b []byte, tag uint64, body func([]byte) []byte) []byte {
	b = binary.AppendUvarint(b, tag)
	at := len(b)
	b = body(b)
	n := len(b) - at
	// The length goes before the body: move the body up by its size.
	var lb [binary.MaxVarintLen64]byte
	ln := binary.PutUvarint(lb[:], uint64(n))
	b = append(b, lb[:ln]...)
	copy(b[at+ln:], b[at:at+n])
	copy(b[at:], lb[:ln])
	return b
}

func appendReplay(b []byte, r *Replay) []byte {
	b = binary.AppendVarint(b, r.Floor)
	b = binary.AppendUvarint(b, uint64(len(r.Windows)))
	for i := range r.Windows {
		w := &r.Windows[i]
		b = binary.AppendUvarint(b, w.Instance)
		b = binary.AppendUvarint(b, w.Top)
		b = binary.LittleEndian.AppendUint64(b, w.Seen[0])
		b = binary.LittleEndian.AppendUint64(b, w.Seen[1])
		b = binary.AppendVarint(b, w.Last)
		b = binary.AppendVarint(b, w.Floor)
	}
	return b
}

func (d *decoder) replay(r *Replay) {
	r.Floor = d.varint()
	if n := d.count(); n > 0 {
		ws := make([]ReplayWindow, n)
		for i := range ws {
			w := &ws[i]
			w.Instance = d.uvarint()
			w.Top = d.uvarint()
			w.Seen[0] = d.uint64()
			w.Seen[1] = d.uint64()
			w.Last = d.varint()
			w.Floor = d.varint()
		}
		r.Windows = append(r.Windows, ws...)
	}
}

// DecodeHost decodes a record written by AppendHost, or by the AppendHost
// of format version 1. Sample data alias b; strings are copied. It never
// panics, whatever b holds.
func DecodeHost(b []byte) (Host, error) { return decodeHost(b, Version) }

// decodeHost decodes a record of a file of format version v: version 1
// has no sections.
func decodeHost(b []byte, v uint16) (Host, error) {
	d := decoder{b: b}
	var h Host
	h.Name = d.string()
	fl := d.uvarint()
	h.Dyn, h.Stopped = fl&hostDyn != 0, fl&hostStopped != 0
	h.Ver = d.byte()
	h.State = d.byte()
	h.AgentVersion = d.string()
	h.Interval = time.Duration(d.varint())
	h.LastSeen = d.time()
	h.LastBoot = d.time()
	var legacy ReplayWindow
	legacy.Top = d.uvarint()
	legacy.Seen[0] = d.uint64()
	legacy.Seen[1] = d.uint64()
	h.LastSent = d.varint()
	if fl&hostReplayInit != 0 {
		legacy.Last = h.LastSent
		h.Replay.Windows = []ReplayWindow{legacy}
	}
	h.LastRecv = d.time()
	h.LastSilence = d.varint()

	if n := d.count(); n > 0 {
		h.Conns = make([]Conn, n)
		for i := range h.Conns {
			c := &h.Conns[i]
			c.Family = d.byte()
			if ab := d.bytes(); d.err == nil {
				if err := c.Addr.UnmarshalBinary(ab); err != nil {
					d.fail(fmt.Errorf("connection %d: %w", i, err))
				}
			}
			cf := d.uvarint()
			c.Up, c.HasRTT, c.Loss.Started = cf&connUp != 0, cf&connHasRTT != 0, cf&connLossStarted != 0
			c.LastSeen = d.time()
			c.RTT = time.Duration(d.varint())
			c.SRTT = time.Duration(d.varint())
			c.Loss.Top = d.uint32()
			c.Loss.Seen[0] = d.uint64()
			c.Loss.Seen[1] = d.uint64()
			c.Loss.Span = d.uint32()
		}
	}

	if n := d.count(); n > 0 {
		h.Plugins = make([]Plugin, n)
		for i := range h.Plugins {
			p := &h.Plugins[i]
			p.Name = d.string()
			if m := d.count(); m > 0 {
				p.Samples = make([]Sample, m)
				var prev int64
				for j := range p.Samples {
					prev += d.varint()
					p.Samples[j] = Sample{UnixNano: prev, Data: slices.Clone(d.bytes())}
				}
			}
		}
	}

	if n := d.count(); n > 0 {
		h.Alerts = make([]Alert, n)
		for i := range h.Alerts {
			a := &h.Alerts[i]
			a.Path = d.string()
			a.Rule = d.string()
			af := d.uvarint()
			a.LastValueOK, a.Flapping = af&alertValueOK != 0, af&alertFlapping != 0
			a.WarnRun, a.CritRun = af&alertWarnRun != 0, af&alertCritRun != 0
			a.Level = d.byte()
			a.NotifiedLevel = d.byte()
			a.Since = d.time()
			a.LastValue = math.Float64frombits(d.uint64())
			a.LastCheck = d.time()
			a.NotificationCount = int(d.bounded(math.MaxInt32))
			a.WarnSince = d.time()
			a.CritSince = d.time()
			if m := d.count(); m > 0 {
				a.Changes = make([]time.Time, m)
				for j := range a.Changes {
					a.Changes[j] = d.time()
				}
			}
			a.NotifiedAt = d.time()
			if m := d.count(); m > 0 {
				a.Routes = make([]RouteSent, m)
				for j := range a.Routes {
					a.Routes[j] = RouteSent{Name: d.string(), At: d.time()}
				}
			}
		}
	}
	if v >= 2 {
		d.sections(&h)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Errorf("%d bytes after the record", len(d.b)))
	}
	if d.err != nil {
		return Host{}, fmt.Errorf("bad host record: %w", d.err)
	}
	return h, nil
}

// sections reads the sections that end a record.
func (d *decoder) sections(h *Host) {
	var seen uint64 // bit t: section t was read (known tags are < 64)
	for d.err == nil && len(d.b) > 0 {
		tag := d.uvarint()
		body := d.bytes()
		if d.err != nil {
			return
		}
		if tag < 64 && seen&(1<<tag) != 0 && (tag == sectionReplay || tag == sectionRings || tag == sectionRTT || tag == sectionParents) {
			d.fail(fmt.Errorf("section %d twice", tag))
			return
		}
		switch tag {
		case sectionRings:
			seen |= 1 << tag
			sd := decoder{b: body}
			n := sd.count()
			for i := 0; i < n && sd.err == nil; i++ {
				// The ring is copied out of the record's buffer, so that the
				// buffer (the host's small state, which a later record
				// replaces) can go as soon as the record is decoded: a
				// snapshot of 40 M samples would otherwise hold every
				// record's buffer until the whole file is read.
				p := Plugin{Name: sd.string(), Held: int(sd.bounded(maxCount)), Ring: slices.Clone(sd.bytesUpTo(maxPayload))}
				if sd.err == nil && len(p.Ring) == 0 {
					sd.fail(fmt.Errorf("plugin %q: an empty ring", p.Name))
				}
				h.Plugins = append(h.Plugins, p)
			}
			if sd.err == nil && len(sd.b) != 0 {
				sd.fail(fmt.Errorf("%d bytes after the rings section", len(sd.b)))
			}
			if sd.err != nil {
				d.fail(fmt.Errorf("rings section: %w", sd.err))
			}
		case sectionReplay, sectionRTT:
			seen |= 1 << tag
			name := "replay"
			sd := decoder{b: body}
			if tag == sectionReplay {
				sd.replay(&h.Replay)
			} else {
				name = "RTT"
				sd.rtts(h)
			}
			if sd.err == nil && len(sd.b) != 0 {
				sd.fail(fmt.Errorf("%d bytes after the %s section", len(sd.b), name))
			}
			if sd.err != nil {
				d.fail(fmt.Errorf("%s section: %w", name, sd.err))
			}
		case sectionParents:
			seen |= 1 << tag
			sd := decoder{b: body}
			n := sd.count()
			for i := 0; i < n && sd.err == nil; i++ {
				h.Parents = append(h.Parents, sd.string())
			}
			if sd.err == nil && len(sd.b) != 0 {
				sd.fail(fmt.Errorf("%d bytes after the parents section", len(sd.b)))
			}
			if sd.err != nil {
				d.fail(fmt.Errorf("parents section: %w", sd.err))
			}
		default:
			// A later version's addition: skipped, as promised above.
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime stores t as unix nanoseconds, the zero time as 0.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

var errShort = errors.New("record ends early")

// decoder reads a record; the first error sticks and every later read
// returns a zero value, so decoding code needs no error checks of its own.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bounded(limit uint64) uint64 {
	v := d.uvarint()
	if v > limit {
		d.fail(fmt.Errorf("value %d is over its limit %d", v, limit))
		return 0
	}
	return v
}

func (d *decoder) uint32() uint32 { return uint32(d.bounded(math.MaxUint32)) }

// count reads a list length. Every entry takes at least one byte, so a
// count above the bytes left is corrupt, which bounds the allocation.
func (d *decoder) count() int {
	n := d.bounded(maxCount)
	if n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("list of %d entries in %d bytes", n, len(d.b)))
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail(errShort)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) bytes() []byte { return d.bytesUpTo(maxString) }

// bytesUpTo reads a length-prefixed byte string of at most limit bytes.
func (d *decoder) bytesUpTo(limit uint64) []byte {
	n := d.bounded(limit)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) time() time.Time {
	ns := d.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
