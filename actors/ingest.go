package actors

import (
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/transport/ingest"
)

// ingestRouter is how the UDP readers (transport/ingest) reach the
// actors: a registered host's HostActor directly, any other host through
// the registry actor, which spawns it. Its methods run on the readers'
// goroutines and only read the Registry's lock-free maps and send.
type ingestRouter struct {
	reg  *Registry
	root *actor.RootContext
}

func (r ingestRouter) Lookup(host string) (ingest.Route, bool) {
	pid, ok := r.reg.Lookup(host)
	if !ok {
		return nil, false
	}
	return hostRoute{root: r.root, pid: pid}, true
}

func (r ingestRouter) SourceFull(addr netip.Addr) bool { return r.reg.sourceFull(addr) }

func (r ingestRouter) Unrouted(m ingest.Message) { r.root.Send(r.reg.pid, m) }

// hostRoute delivers one host's messages to its HostActor's mailbox, which
// never blocks the reader.
type hostRoute struct {
	root *actor.RootContext
	pid  *actor.PID
}

func (h hostRoute) Deliver(m ingest.Message) { h.root.Send(h.pid, m) }
