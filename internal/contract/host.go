package contract

import (
	"iter"
	"net/netip"
	"time"
)

// Host is a host object: an entry of GET /api/0/hosts, the answer of
// GET /api/0/hosts/{hostname}, and the data of the WebSocket snapshot's
// hosts and of a host frame.
type Host struct {
	Name         string
	Dyn          bool          // registered on first contact, not declared
	Ver          uint8         // wire-protocol version; 0 (not known yet) is null
	State        string        // UP, DEGRADED, SUSPECT, DOWN, UNREACHABLE, STOPPED, UNKNOWN
	LastSeen     time.Time     // zero: null
	Interval     time.Duration // the agent's heartbeat interval
	AgentVersion string        // "": null
	Conns        []Conn        // one per address family, IPv4 first
	// Parents are the hosts it depends on ([[dependencies]] rules, then
	// its agent's declaration): an empty array when none.
	Parents []string
}

// Conn is one address family's path from a host: an entry of the host
// object's "connections".
type Conn struct {
	Family   string // "ipv4" or "ipv6"
	Address  netip.AddrPort
	LastSeen time.Time
	// RTT is the last round trip the agent reported and SmoothedRTT its
	// moving average; both are null until HasRTT.
	RTT, SmoothedRTT time.Duration
	LossPct          float64 // heartbeats missing in the window, in percent; written to 2 decimals
	// RTTQuantiles are p50, p95 and p99 of the RTTs of the connection's
	// recent heartbeats in µs (see /api/0/hosts/{h}/rtt); 0 is null, the
	// window holds no RTT (an RTT is at least 1 µs).
	RTTQuantiles [3]uint32
	Up           bool
	HasRTT       bool
	// Suspicion is the adaptive failure detector's reading: "state"
	// SUSPECT and "suspicion".
	Suspicion Suspicion
}

// Suspicion is a connection's failure-detector reading in 16 bits, so a
// Conn stays in its 112 bytes (a host summary holds two): the top bit
// says the detector suspects the connection (its "state" is SUSPECT),
// the other 15 hold φ in hundredths plus one, 0 meaning no reading
// ("suspicion": null: the fixed rule, too little history, or the
// connection is down). φ is written to 2 decimals and saturates at
// 327.66, far past any threshold (at most 50).
type Suspicion uint16

const (
	suspectBit  Suspicion = 1 << 15
	maxPhiValue           = 1<<15 - 2 // hundredths
)

// MakeSuspicion packs phi (ok: there is a reading) and suspect.
func MakeSuspicion(phi float64, ok, suspect bool) Suspicion {
	var s Suspicion
	if ok {
		s = Suspicion(min(max(phi*100+0.5, 0), maxPhiValue)) + 1
	}
	if suspect {
		s |= suspectBit
	}
	return s
}

// Phi is the φ read, and false when there was no reading.
func (s Suspicion) Phi() (float64, bool) {
	v := s &^ suspectBit
	if v == 0 {
		return 0, false
	}
	return float64(v-1) / 100, true
}

// Suspect reports whether the detector suspects the connection.
func (s Suspicion) Suspect() bool { return s&suspectBit != 0 }

// State is the connection's "state": UP, SUSPECT or DOWN.
func (c *Conn) State() string {
	switch {
	case !c.Up:
		return "DOWN"
	case c.Suspicion.Suspect():
		return "SUSPECT"
	default:
		return "UP"
	}
}

// hostSize is the buffer for h's host object: 150 bytes and the strings
// for the host and its parents, 280 for a connection with every RTT field
// set, a global IPv6 address and a suspicion (TestHostSizeHint), so that
// encoding allocates once, and a host on one family does not pay for two.
func hostSize(h *Host) int {
	n := 150 + len(h.Name) + len(h.AgentVersion) + 280*len(h.Conns)
	for _, p := range h.Parents {
		n += len(p) + 3 // quotes and comma
	}
	return n
}

// AppendHost appends h as a host object.
func AppendHost(b []byte, h *Host) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, h.Name)
	b = append(b, `,"dyn":`...)
	b = appendBool(b, h.Dyn)
	b = append(b, `,"ver":`...)
	if h.Ver == 0 {
		b = append(b, "null"...)
	} else {
		b = appendFloat(b, float64(h.Ver))
	}
	b = append(b, `,"state":`...)
	b = appendString(b, h.State)
	b = append(b, `,"last_seen":`...)
	b = appendUnixTime(b, h.LastSeen)
	b = append(b, `,"interval":`...)
	b = appendFloat(b, h.Interval.Seconds())
	b = append(b, `,"agent_version":`...)
	if h.AgentVersion == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, h.AgentVersion)
	}
	b = append(b, `,"connections":[`...)
	for i := range h.Conns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendConn(b, &h.Conns[i])
	}
	b = append(b, `],"parents":[`...)
	for i, p := range h.Parents {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, p)
	}
	return append(b, "]}"...)
}

// EncodeHost returns h's host object in a new buffer sized for the usual host.
func EncodeHost(h *Host) []byte { return AppendHost(make([]byte, 0, hostSize(h)), h) }

func appendConn(b []byte, c *Conn) []byte {
	b = append(b, `{"family":`...)
	b = appendString(b, c.Family)
	b = append(b, `,"address":`...)
	b = appendAddrPort(b, c.Address)
	b = append(b, `,"state":"`...)
	b = append(b, c.State()...)
	b = append(b, `","last_seen":`...)
	b = appendUnixTime(b, c.LastSeen)
	b = append(b, `,"rtt_ms":`...)
	if c.HasRTT {
		b = appendMillis(b, c.RTT)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"rtt_smoothed_ms":`...)
	if c.HasRTT {
		b = appendMillis(b, c.SmoothedRTT)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"loss_pct":`...)
	b = appendFloat(b, float64(int(c.LossPct*100+0.5))/100)
	for i, name := range rttQuantileKeys {
		b = append(b, name...)
		b = appendMicros(b, c.RTTQuantiles[i])
	}
	b = append(b, `,"suspicion":`...)
	if p, ok := c.Suspicion.Phi(); ok {
		b = appendFloat(b, p)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

var rttQuantileKeys = [3]string{`,"rtt_p50_ms":`, `,"rtt_p95_ms":`, `,"rtt_p99_ms":`}

// appendMicros appends us in milliseconds like appendMillis, 0 as null.
func appendMicros(b []byte, us uint32) []byte {
	if us == 0 {
		return append(b, "null"...)
	}
	return appendMillis(b, time.Duration(us)*time.Microsecond)
}

// appendAddrPort appends a as a JSON string without building the string
// first: an address has nothing to escape. The zero AddrPort, which
// AppendTo writes as nothing, keeps String's "invalid AddrPort".
func appendAddrPort(b []byte, a netip.AddrPort) []byte {
	if !a.IsValid() {
		return appendString(b, a.String())
	}
	b = append(b, '"')
	b = a.AppendTo(b)
	return append(b, '"')
}

// AppendHosts appends the answer of GET /api/0/hosts: a JSON array of the
// host objects hosts yields, each already encoded (AppendHost).
func AppendHosts(b []byte, hosts iter.Seq[[]byte]) []byte {
	b = append(b, '[')
	first := true
	for h := range hosts {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, h...)
	}
	return append(b, ']')
}
