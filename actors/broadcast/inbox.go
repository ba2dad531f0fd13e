package broadcast

import (
	"sync"
	"sync/atomic"

	"github.com/hbd-project/hbd/internal/contract"
)

// DefaultInboxBytes bounds the frames waiting for the hub: see inbox.
const DefaultInboxBytes = 64 << 20

// inbox is where the Broadcaster's callers leave work for the hub: events
// from the HostActors and the journal, and the connections' registrations,
// subscriptions, rejections and departures, in the order they were made.
// The hub takes everything at once on one drain message, so publishing
// costs a short lock and a map lookup instead of a mailbox message per
// event, and a hub that falls behind cannot make memory grow with the
// publishers' rate:
//
//   - when the hub coalesces (Options.Coalesce > 0), a host or plugin
//     frame replaces the one of the same (type, host, key) still waiting,
//     in its place: the inbox holds at most one per host and plugin
//     (counted as conflated);
//   - the frames waiting are bounded in bytes; past the bound a new frame
//     is dropped, counted and logged. Control items are never dropped:
//     their number is bounded by the connections, and losing an
//     unregistration would leak a client.
//
// One mutex, shared by every publisher, not per-host state: its critical
// section is an append or a map update, far shorter than the mailbox
// push it replaces.
type inbox struct {
	mu       sync.Mutex
	items    []item
	slot     map[coalesceKey]int // index in items of a coalescible frame
	bytes    int                 // frame bytes in items
	posted   bool                // a drain message is on its way to the hub
	coalesce bool
	limit    int

	conflated atomic.Uint64 // frames replaced by a newer one before the hub took them
	dropped   atomic.Uint64 // frames dropped because the inbox was full
}

// item is an event or a control message (register, subscribe, rejected,
// unregister).
type item struct {
	e   *Event
	ctl any
}

// drain tells the hub that the inbox has work.
type drain struct{}

func newInbox(coalesce bool, limit int) *inbox {
	return &inbox{slot: make(map[coalesceKey]int), coalesce: coalesce, limit: limit}
}

func coalescible(e *Event) bool {
	return e.Type == contract.FrameHost || e.Type == contract.FramePlugin
}

// put adds e; it reports whether the caller must post a drain message and
// whether e was dropped.
func (in *inbox) put(e *Event) (post, dropped bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.coalesce && coalescible(e) {
		k := coalesceKey{e.Type, e.Host, e.Key}
		if i, ok := in.slot[k]; ok {
			in.bytes += e.size() - in.items[i].e.size()
			in.items[i].e = e
			in.conflated.Add(1)
			return false, false
		}
		if in.bytes+e.size() > in.limit {
			in.dropped.Add(1)
			return false, true
		}
		in.slot[k] = len(in.items)
	} else if in.bytes+e.size() > in.limit {
		in.dropped.Add(1)
		return false, true
	}
	in.bytes += e.size()
	in.items = append(in.items, item{e: e})
	return in.post(), false
}

// putControl adds a control message.
func (in *inbox) putControl(m any) (post bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.items = append(in.items, item{ctl: m})
	return in.post()
}

// post reports whether a drain message must be sent: the first item since
// the hub last took the inbox. Called with mu held.
func (in *inbox) post() bool {
	if in.posted {
		return false
	}
	in.posted = true
	return true
}

// take hands the hub everything waiting and leaves spare, emptied, in its
// place, so two slices alternate and taking allocates nothing.
func (in *inbox) take(spare []item) []item {
	in.mu.Lock()
	defer in.mu.Unlock()
	items := in.items
	in.items = spare[:0]
	clear(in.slot)
	in.bytes = 0
	in.posted = false
	return items
}
