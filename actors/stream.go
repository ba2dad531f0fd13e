package actors

import (
	"weak"

	"github.com/hbd-project/hbd/actors/broadcast"
)

// fleetHosts is a published snapshot's hosts as the WebSocket hub lists
// them. Each host's object is encoded once, by whoever reads it first
// (HostSummary.JSON), and kept on the summary: a host that did not change
// since the last snapshot costs a copy, not an encoding.
type fleetHosts []*HostSummary

func (f fleetHosts) Len() int          { return len(f) }
func (f fleetHosts) Name(i int) string { return f[i].Name }
func (f fleetHosts) JSON(i int) []byte { return f[i].JSON() }

// hostBytesGuess is what a host object is taken to weigh before any
// snapshot was built: one with two connections is about 420 bytes.
const hostBytesGuess = 420

// streamSnapshots returns the hub's snapshot source (broadcast.Options'
// Snapshot): one shared *broadcast.Hosts per fleet publication, kept on
// the FleetSnapshot and made when the first client asks for it, so that
// every client (re)subscribing within one publication shares one frame,
// and the frame goes when its publication does. The hub calls it from its
// actor; it costs an atomic load, or a few words once per publication. A
// snapshot counts its size against a client's queue before it is built,
// so the size is estimated per host from the last one that was built
// (held weakly: the estimate must not keep tens of megabytes alive).
func streamSnapshots(fleet *Fleet) func() *broadcast.Hosts {
	perHost := hostBytesGuess + 1
	var prev weak.Pointer[broadcast.Hosts]
	return func() *broadcast.Hosts {
		snap := fleet.Snapshot()
		if h := snap.stream.Load(); h != nil {
			return h
		}
		if p := prev.Value(); p != nil && p.Built() && p.Len() > 0 {
			perHost = p.Size()/p.Len() + 1
		}
		h := broadcast.NewHosts(fleetHosts(snap.Hosts), 64+perHost*len(snap.Hosts))
		if !snap.stream.CompareAndSwap(nil, h) {
			h = snap.stream.Load()
		}
		prev = weak.Make(h)
		return h
	}
}
