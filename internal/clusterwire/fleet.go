package clusterwire

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
)

// Bounds of the fleet frames, checked by the decoder. A member's whole
// fleet goes out in frames of at most MaxFleetHosts hosts.
const (
	MaxFleetHosts  = 1024
	maxHostConns   = 2    // one per address family
	maxHostAlerts  = 4096 // tracked metric paths of one host
	maxAlertJSON   = 16 << 10
	maxAgentString = 255
)

// FleetHost is one host's summary as its owner publishes it: what the
// API lists, filters and counts, in typed values, so the receiving member
// encodes its JSON the same way its own hosts' is encoded.
type FleetHost struct {
	Name         string
	State        uint8 // actors.HostState
	Dyn          bool
	Ver          uint8
	LastSeen     int64 // unix ns; 0: never heard from
	Interval     int64 // ns
	AgentVersion string
	Conns        []FleetConn
	Alerts       []FleetAlert
}

// FleetConn is one connection of a FleetHost (contract.Conn).
type FleetConn struct {
	Family       uint8 // 0 ipv4, 1 ipv6
	Addr         netip.AddrPort
	Up, HasRTT   bool
	LastSeen     int64 // unix ns
	RTT, SRTT    int64 // ns
	LossPct      float64
	RTTQuantiles [3]uint32
	// Suspicion is the adaptive detector's reading, packed as
	// contract.Suspicion (0: none, not suspected); PhiMean and PhiStd its
	// model in seconds (PhiStd 0: none), so a member computes phi at a
	// request for a host another member owns. Sent only when one is set.
	Suspicion       uint16
	PhiMean, PhiStd float32
}

// connDetector is the connection flag saying the detector's reading and
// model follow.
const connDetector = 4

// FleetAlert is one non-OK alert of a FleetHost.
type FleetAlert struct {
	Path     string
	Level    uint8
	Since    int64  // unix ns
	JSONOpen []byte // the alert's object without its closing brace
}

// Fleet is a KindFleet frame: hosts of Origin's fleet that changed (or
// all of them, in frames of MaxFleetHosts, for a member that asked), and
// hosts it no longer has.
type Fleet struct {
	Origin  string // the sending member's advertised address
	Hosts   []FleetHost
	Removed []string
}

// AppendFleet appends a KindFleet frame. f must respect the bounds the
// decoder checks (at most MaxFleetHosts hosts and removed names).
func AppendFleet(b []byte, f *Fleet) []byte {
	b = AppendHeader(b, KindFleet)
	b = appendString(b, f.Origin)
	b = binary.AppendUvarint(b, uint64(len(f.Hosts)))
	for i := range f.Hosts {
		b = appendFleetHost(b, &f.Hosts[i])
	}
	b = binary.AppendUvarint(b, uint64(len(f.Removed)))
	for _, n := range f.Removed {
		b = appendString(b, n)
	}
	return b
}

func appendFleetHost(b []byte, h *FleetHost) []byte {
	b = appendString(b, h.Name)
	var flags byte
	if h.Dyn {
		flags = 1
	}
	b = append(b, h.State, flags, h.Ver)
	b = binary.AppendVarint(b, h.LastSeen)
	b = binary.AppendVarint(b, h.Interval)
	b = appendString(b, h.AgentVersion)
	b = binary.AppendUvarint(b, uint64(len(h.Conns)))
	for i := range h.Conns {
		c := &h.Conns[i]
		flags = 0
		if c.Up {
			flags |= 1
		}
		if c.HasRTT {
			flags |= 2
		}
		detector := c.Suspicion != 0 || c.PhiStd != 0
		if detector {
			flags |= connDetector
		}
		b = append(b, c.Family, flags)
		b = appendAddrPort(b, c.Addr)
		b = binary.AppendVarint(b, c.LastSeen)
		b = binary.AppendVarint(b, c.RTT)
		b = binary.AppendVarint(b, c.SRTT)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(c.LossPct))
		for _, q := range c.RTTQuantiles {
			b = binary.AppendUvarint(b, uint64(q))
		}
		if detector {
			b = binary.BigEndian.AppendUint16(b, c.Suspicion)
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(c.PhiMean))
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(c.PhiStd))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(h.Alerts)))
	for i := range h.Alerts {
		a := &h.Alerts[i]
		b = appendString(b, a.Path)
		b = append(b, a.Level)
		b = binary.AppendVarint(b, a.Since)
		b = binary.AppendUvarint(b, uint64(len(a.JSONOpen)))
		b = append(b, a.JSONOpen...)
	}
	return b
}

// DecodeFleet decodes a KindFleet frame's body (after ParseHeader). The
// result shares no memory with body. A bad frame returns an error and no
// hosts.
func DecodeFleet(body []byte) (Fleet, error) {
	d := decoder{b: body}
	var f Fleet
	f.Origin = d.str("origin")
	n := d.bounded("hosts", MaxFleetHosts)
	for i := 0; i < n && d.err == nil; i++ {
		f.Hosts = append(f.Hosts, d.fleetHost())
	}
	n = d.bounded("removed", MaxFleetHosts)
	for i := 0; i < n && d.err == nil; i++ {
		f.Removed = append(f.Removed, d.name("removed host"))
	}
	if err := d.end(); err != nil {
		return Fleet{}, fmt.Errorf("fleet frame: %w", err)
	}
	return f, nil
}

func (d *decoder) fleetHost() FleetHost {
	var h FleetHost
	h.Name = d.name("host")
	h.State = d.byte("state")
	switch flags := d.byte("flags"); flags {
	case 0, 1:
		h.Dyn = flags == 1
	default:
		d.fail(fmt.Errorf("host flags %#x", flags))
	}
	h.Ver = d.byte("version")
	h.LastSeen = d.varint("last seen")
	h.Interval = d.varint("interval")
	h.AgentVersion = string(d.bytes("agent version", maxAgentString))
	n := d.bounded("connections", maxHostConns)
	for i := 0; i < n && d.err == nil; i++ {
		var c FleetConn
		c.Family = d.byte("family")
		if c.Family > 1 {
			d.fail(fmt.Errorf("family %d", c.Family))
		}
		flags := d.byte("connection flags")
		if flags&^(3|connDetector) != 0 {
			d.fail(fmt.Errorf("connection flags %#x", flags))
		}
		c.Up, c.HasRTT = flags&1 != 0, flags&2 != 0
		c.Addr = d.addrPort()
		c.LastSeen = d.varint("connection last seen")
		c.RTT = d.varint("rtt")
		c.SRTT = d.varint("smoothed rtt")
		if raw := d.fixed("loss", 8); raw != nil {
			c.LossPct = math.Float64frombits(binary.BigEndian.Uint64(raw))
		}
		for q := range c.RTTQuantiles {
			v := d.uvarint("rtt quantile")
			if v > math.MaxUint32 {
				d.fail(fmt.Errorf("rtt quantile %d", v))
			}
			c.RTTQuantiles[q] = uint32(v)
		}
		if flags&connDetector != 0 {
			if raw := d.fixed("suspicion", 10); raw != nil {
				c.Suspicion = binary.BigEndian.Uint16(raw)
				c.PhiMean = math.Float32frombits(binary.BigEndian.Uint32(raw[2:]))
				c.PhiStd = math.Float32frombits(binary.BigEndian.Uint32(raw[6:]))
				if !(c.PhiStd >= 0) || math.IsInf(float64(c.PhiStd), 0) || math.IsNaN(float64(c.PhiMean)) || math.IsInf(float64(c.PhiMean), 0) {
					d.fail(fmt.Errorf("detector model %g / %g", c.PhiMean, c.PhiStd))
				}
			}
		}
		h.Conns = append(h.Conns, c)
	}
	n = d.bounded("alerts", maxHostAlerts)
	for i := 0; i < n && d.err == nil; i++ {
		var a FleetAlert
		a.Path = string(d.bytes("alert path", maxAlertJSON))
		a.Level = d.byte("level")
		a.Since = d.varint("since")
		a.JSONOpen = append([]byte(nil), d.bytes("alert JSON", maxAlertJSON)...)
		h.Alerts = append(h.Alerts, a)
	}
	return h
}

// name reads a host name: 1 to 255 bytes.
func (d *decoder) name(what string) string {
	s := d.str(what)
	if d.err == nil && s == "" {
		d.fail(fmt.Errorf("%s: empty name", what))
	}
	return s
}

// bounded reads a count of at most max.
func (d *decoder) bounded(what string, max int) int {
	n := d.uvarint(what + " count")
	if n > uint64(max) {
		d.fail(fmt.Errorf("%s: %d, at most %d", what, n, max))
		return 0
	}
	// Every entry takes at least a byte: a count beyond the body is a
	// lie, refused before anything is allocated for it.
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("%s: %d entries in %d bytes: %w", what, n, len(d.b), errTruncated))
		return 0
	}
	return int(n)
}

// AppendFleetRequest appends a KindFleetRequest frame: origin asks for the
// receiver's whole fleet (it joined, or it lost track).
func AppendFleetRequest(b []byte, origin string) []byte {
	return appendString(AppendHeader(b, KindFleetRequest), origin)
}

// DecodeFleetRequest decodes a KindFleetRequest frame's body.
func DecodeFleetRequest(body []byte) (origin string, err error) {
	d := decoder{b: body}
	origin = d.name("origin")
	if err := d.end(); err != nil {
		return "", fmt.Errorf("fleet request frame: %w", err)
	}
	return origin, nil
}
