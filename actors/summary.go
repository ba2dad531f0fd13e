package actors

import (
	"sync"
	"time"

	"github.com/hbd-project/hbd/internal/contract"
	"github.com/hbd-project/hbd/internal/phi"
)

// HostSummary is one host's entry in the fleet view. It is immutable once
// sent to the fleet index: readers on any goroutine may use it without
// locks. Its host object (JSON) is encoded at most once, by whoever needs
// it first, from the typed fields it holds.
type HostSummary struct {
	Name     string
	LastSeen time.Time // the last datagram from the host; zero: never heard from
	// Conns are the host's connections, one per address family, IPv4
	// first: address, state, last seen, RTT (last, smoothed, and p50,
	// p95 and p99 of the recent heartbeats) and loss, for readers that
	// need values (a per-host metrics collector) rather than JSON.
	Conns []contract.Conn
	// Alerts are the host's non-OK alerts, sorted by metric path.
	Alerts []*AlertEntry

	// The rest of the host object, as the HostActor had it.
	interval     time.Duration
	agentVersion string

	// json is the host object, encoded once (see JSON): by its first
	// reader, or by the HostActor for the stream before sending the summary.
	json     []byte
	jsonOnce sync.Once

	// State is with the other small fields, after jsonOnce's 12 bytes,
	// so that they share a word: one summary is kept per host.
	State HostState
	dyn   bool
	ver   uint8

	conns [numFamilies]contract.Conn // Conns' storage: one allocation per summary
	// models are Conns' detector models (models[i] is Conns[i]'s), so
	// JSONAt reads φ at any time after the summary was built; the zero
	// value is none (fixed rule, too little history, connection down, or
	// another member's host). 16 bytes: a summary is 400 bytes, in the
	// 416-byte size class.
	models [numFamilies]connModel

	// src is the HostActor, for what it exposes to readers on other
	// goroutines (exposed); nil in summaries made by tests.
	src *hostActor
}

// summary builds the host's immutable fleet entry: typed values only. A
// heartbeat of a host whose state does not change moves last_seen, RTT
// and loss, so encoding the object on every one would be work thrown away
// by the next; it is encoded when somebody reads it (JSON), or when the
// stream needs it anyway (encodeFrame).
func (h *hostState) summary() *HostSummary { return h.summaryAt(time.Time{}) }

// summaryAt is summary with each connection's suspicion (the adaptive
// detector's φ) as of now; the zero now reads none.
func (h *hostState) summaryAt(now time.Time) *HostSummary {
	s := &HostSummary{Name: h.name, State: h.state, LastSeen: h.lastSeen,
		dyn: h.dyn, ver: h.ver, interval: h.interval, agentVersion: h.agentVersion}
	n := 0
	for f, c := range h.conns {
		if c == nil {
			continue
		}
		s.conns[n] = contract.Conn{Family: family(f).String(), Address: c.addr, Up: c.up, LastSeen: c.lastSeen,
			RTT: c.rtt, SmoothedRTT: c.srtt, HasRTT: c.hasRTT, LossPct: c.loss.lossPct()}
		// h.suspicion, with the model it reads kept for JSONAt.
		var p float64
		ok := false
		if c.up {
			if m, has := h.model(c); has {
				s.models[n] = makeConnModel(m)
				if !now.IsZero() {
					p, ok = m.Phi(now.Sub(c.lastSeen)), true
				}
			}
		}
		s.conns[n].Suspicion = contract.MakeSuspicion(p, ok, c.suspect)
		if c.rtts != nil {
			// Three lookups: the window keeps its RTTs sorted.
			s.conns[n].RTTQuantiles = c.rtts.Quantiles()
		}
		n++
	}
	s.Conns = s.conns[:n:n]
	return s
}

// host is s as the contract encodes it.
func (s *HostSummary) host() contract.Host {
	return contract.Host{Name: s.Name, Dyn: s.dyn, Ver: s.ver, State: s.State.String(), LastSeen: s.LastSeen,
		Interval: s.interval, AgentVersion: s.agentVersion, Conns: s.Conns, Parents: s.parents()}
}

// parents are the host's declared parents, as its HostActor publishes
// them; none for a summary of another member's host or made by a test.
func (s *HostSummary) parents() []string {
	if s.src == nil {
		return nil
	}
	if p := s.src.exp.parents.Load(); p != nil {
		return *p
	}
	return nil
}

// JSON returns the host's object in /api/0/hosts, the WebSocket snapshot
// and host frames. It is encoded on first use and kept, so listing 100,000
// hosts is a concatenation for every host that did not change since the
// last listing. Safe for concurrent use; the result must not be modified.
func (s *HostSummary) JSON() []byte {
	s.jsonOnce.Do(func() {
		h := s.host()
		s.json = contract.EncodeHost(&h)
	})
	return s.json
}

// JSONAt is JSON with each connection's suspicion read at now rather
// than when the summary was built (the host's last heartbeat or change of
// state, when φ is lowest): φ of the connection's detector model, as its
// HostActor published it with the summary, after the silence since the
// connection's last_seen. The "state" of the connection and the host stay
// as published (a connection turns SUSPECT when its actor says so). For
// GET /api/0/hosts/{hostname}, which reads the fleet snapshot like the
// lists and needs no round trip to the actor.
//
// Without a model on any connection (the fixed rule, too little history,
// every connection down) it returns JSON itself: no work. A summary of a
// host another cluster member owns carries the reading and the model its
// owner sent in the fleet exchange (remoteSummary), so it reads the same.
// Safe for concurrent use; each call with a model encodes the object anew.
func (s *HostSummary) JSONAt(now time.Time) []byte {
	if s.models == [numFamilies]connModel{} {
		return s.JSON()
	}
	var conns [numFamilies]contract.Conn
	n := copy(conns[:], s.Conns)
	for i := range n {
		if m, ok := s.models[i].model(); ok {
			c := &conns[i]
			c.Suspicion = contract.MakeSuspicion(m.Phi(now.Sub(c.LastSeen)), true, c.Suspicion.Suspect())
		}
	}
	h := s.host()
	h.Conns = conns[:n]
	return contract.EncodeHost(&h)
}

// connModel is a connection's phi.Model as a summary keeps it: mean and
// standard deviation in seconds as float32 (7 significant digits, and
// no bound to overflow at a long interval); a zero std is no model (a
// model's is at least 1 ms).
type connModel struct {
	mean, std float32
}

func makeConnModel(m phi.Model) connModel {
	return connModel{mean: float32(m.Mean.Seconds()), std: float32(m.Std.Seconds())}
}

// model is the phi.Model c holds, and false for none.
func (c connModel) model() (phi.Model, bool) {
	if c.std <= 0 {
		return phi.Model{}, false
	}
	return phi.Model{Mean: time.Duration(float64(c.mean) * float64(time.Second)),
		Std: time.Duration(float64(c.std) * float64(time.Second))}, true
}

// encodeFrame encodes the host frame for the stream and keeps its "data"
// as s's object, so the API and snapshots reuse the bytes. Only the
// HostActor calls it, before sending s to the fleet index.
func (s *HostSummary) encodeFrame() []byte {
	h := s.host()
	frame, obj := contract.EncodeHostFrame(&h)
	s.jsonOnce.Do(func() { s.json = obj })
	return frame
}
