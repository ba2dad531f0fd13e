package actors

import (
	"time"

	"github.com/hbd-project/hbd/internal/contract"
)

// HostSummary is one host's entry in the fleet view. It is immutable once
// sent to the fleet index: readers on any goroutine may use it without locks.
type HostSummary struct {
	Name     string
	State    HostState
	LastSeen time.Time // the last datagram from the host; zero: never heard from
	// Conns are the host's connections, one per address family, IPv4
	// first: address, state, last seen, RTT (last and smoothed) and loss,
	// for readers that need values (a per-host metrics collector) rather
	// than JSON.
	Conns []contract.Conn
	// JSON is the host's object in /api/0/hosts, encoded once by its
	// HostActor so that listing 100,000 hosts is a concatenation.
	JSON []byte
	// Alerts are the host's non-OK alerts, sorted by metric path.
	Alerts []*AlertEntry

	conns [numFamilies]contract.Conn // Conns' storage: one allocation per summary
}

// summary builds the host's immutable fleet entry.
func (h *hostState) summary() *HostSummary {
	s := &HostSummary{Name: h.name, State: h.state, LastSeen: h.lastSeen}
	n := 0
	for f, c := range h.conns {
		if c == nil {
			continue
		}
		s.conns[n] = contract.Conn{Family: family(f).String(), Address: c.addr, Up: c.up, LastSeen: c.lastSeen,
			RTT: c.rtt, SmoothedRTT: c.srtt, HasRTT: c.hasRTT, LossPct: c.loss.lossPct()}
		n++
	}
	s.Conns = s.conns[:n:n]
	s.JSON = contract.EncodeHost(&contract.Host{Name: h.name, Dyn: h.dyn, Ver: h.ver, State: h.state.String(), LastSeen: h.lastSeen,
		Interval: h.interval, AgentVersion: h.agentVersion, Conns: s.Conns})
	return s
}
