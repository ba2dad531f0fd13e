package actors

import (
	"sync/atomic"

	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

// Stats are the daemon's ingest counters. They are plain atomics, written
// from the UDP readers and the HostActors and read by /metrics; a counter is
// never behind a lock on the ingest path.
type Stats struct {
	// Counters are transport/ingest's own (Received, AcksSent,
	// AcksDropped, drops by reason): the readers and ACK writers write
	// them, and the HostActors add the replays they drop through Drop.
	ingest.Counters
	Accepted atomic.Uint64 // datagrams that passed every check and were applied

	// Cluster fleet exchange (one API, any node): frames of host
	// summaries sent to and received from the other members, bad frames
	// ignored, and other members' hosts refused because the view was full.
	ClusterFleetFramesOut atomic.Uint64
	ClusterFleetFramesIn  atomic.Uint64
	ClusterBadFrames      atomic.Uint64
	ClusterFleetRefused   atomic.Uint64
	byKind                [8]atomic.Uint64 // accepted datagrams by wire.Kind

	HostsRegistered atomic.Uint64 // HostActors spawned (declared and dynamic)
	SamplesReceived atomic.Uint64 // plugin samples stored (including those that overwrote old ones)
	SamplesHeld     atomic.Int64  // plugin samples currently held in all ring buffers
	SamplesBytes    atomic.Int64  // memory the ring buffers hold (samplestore.Ring.Size)
	// StateRingsLost counts plugins whose saved samples did not apply at
	// restore (a corrupt ring, or a delta whose predecessor was lost): each
	// kept the samples restored before, and is logged.
	StateRingsLost atomic.Uint64
	// SamplesDuplicate counts sample copies not stored: the agent sends each
	// sample to every daemon address, and late (out-of-order) samples.
	SamplesDuplicate atomic.Uint64
	EventsDropped    atomic.Uint64 // journal events lost because the journal could not keep up
	// ReplayEvictions counts sender instances whose replay window a host
	// forgot to make room for another (wire.MaxInstances per host).
	ReplayEvictions atomic.Uint64
	// ChecksInvalid counts check results (samples of [[exec]] format =
	// "nagios") whose status was not 0..3 matching its status_text: forged
	// or broken; each raised its alert as UNKNOWN.
	ChecksInvalid atomic.Uint64
	// JournalWriteErrors counts failed writes and fsyncs of the journal
	// file; JournalEventsLost the events of the batches that did not reach
	// it (a full disk, an I/O error).
	JournalWriteErrors atomic.Uint64
	JournalEventsLost  atomic.Uint64

	NotifySent    atomic.Uint64 // notifications delivered (per channel)
	NotifyFailed  atomic.Uint64 // notifications given up on after retries
	NotifyDropped atomic.Uint64 // notifications not queued: a channel's queue was full

	// IngestBehind is whether the daemon is behind on ingest, as the
	// load watch says it (load.go, settle included): the adaptive
	// detectors read it and stand aside meanwhile. IngestBehindNanos is the time it has been so.
	IngestBehind      atomic.Bool
	IngestBehindNanos atomic.Int64
	// IngestBehindNow is the load watch's last look alone, without the
	// settle (the stream's hub yields to it); IngestWait is the longest
	// a datagram waited in a socket within that look, in nanoseconds.
	IngestBehindNow atomic.Bool
	IngestWait      atomic.Int64

	// DependencyLoops counts the dependencies left out of the dependency
	// graph because they closed a loop (agents' declarations, alone or
	// with the [[dependencies]] rules), each counted and logged once.
	DependencyLoops atomic.Uint64

	// Messages processed per actor kind.
	hostMsgs, fleetMsgs, journalMsgs, registryMsgs atomic.Uint64
}

// ActorMessages returns the messages processed so far by each kind of actor.
func (s *Stats) ActorMessages() map[string]uint64 {
	return map[string]uint64{
		"host":     s.hostMsgs.Load(),
		"fleet":    s.fleetMsgs.Load(),
		"journal":  s.journalMsgs.Load(),
		"registry": s.registryMsgs.Load(),
	}
}

// NewStats returns zeroed counters.
func NewStats() *Stats { return &Stats{} }

func (s *Stats) accept(k wire.Kind) {
	s.Accepted.Add(1)
	if int(k) < len(s.byKind) {
		s.byKind[k].Add(1)
	}
}

// acceptedTotal is how many datagrams of every kind were applied.
func (s *Stats) acceptedTotal() uint64 {
	var n uint64
	for i := range s.byKind {
		n += s.byKind[i].Load()
	}
	return n
}

// AcceptedKind returns how many datagrams of kind k were applied.
func (s *Stats) AcceptedKind(k wire.Kind) uint64 {
	if int(k) < len(s.byKind) {
		return s.byKind[k].Load()
	}
	return 0
}
