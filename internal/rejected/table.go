package rejected

import (
	"bytes"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// Defaults for Options' zero values.
const (
	DefaultCapacity  = 1024
	DefaultLogEvery  = time.Minute
	DefaultLogBudget = 20
)

// Options configure the Tables of a Sources.
type Options struct {
	// Capacity is how many sources one Table keeps (default 1024); when
	// full, the least recently seen is forgotten.
	Capacity int
	// LogEvery is how often one source is logged at most (default 1 minute).
	LogEvery time.Duration
	// LogBudget is how many source lines one Table writes per LogEvery at
	// most (default 20), however many sources there are.
	LogBudget int
	Logger    *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Capacity <= 0 {
		o.Capacity = DefaultCapacity
	}
	if o.LogEvery <= 0 {
		o.LogEvery = DefaultLogEvery
	}
	if o.LogBudget <= 0 {
		o.LogBudget = DefaultLogBudget
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Source is what one Table knows of one source, as Top reports it.
type Source struct {
	Addr     netip.AddrPort // the address of the latest datagram (its port may vary)
	Host     string         // the host name it claimed, "" if the header did not parse
	Reason   wire.Reason
	Count    uint64    // datagrams rejected since the source entered the table
	LastSeen time.Time // when the latest one arrived
}

// Sources is a set of Tables, one per goroutine that rejects datagrams.
type Sources struct {
	tables []*Table
}

// New returns n Tables with the same options.
func New(n int, opt Options) *Sources {
	opt.setDefaults()
	s := &Sources{tables: make([]*Table, n)}
	for i := range s.tables {
		s.tables[i] = newTable(opt)
	}
	return s
}

// Table returns table i (0 <= i < n).
func (s *Sources) Table(i int) *Table { return s.tables[i] }

// Evicted returns how many sources the Tables forgot because they were full.
func (s *Sources) Evicted() uint64 {
	var n uint64
	for _, t := range s.tables {
		t.mu.Lock()
		n += t.evicted
		t.mu.Unlock()
	}
	return n
}

// Len returns how many sources the Tables hold.
func (s *Sources) Len() int {
	n := 0
	for _, t := range s.tables {
		t.mu.Lock()
		n += len(t.entries)
		t.mu.Unlock()
	}
	return n
}

// Top returns the n sources with the most rejected datagrams, most first
// (ties: most recent first). The same IP address and reason held by several
// Tables is one source: counts are added, the rest is the most recent.
func (s *Sources) Top(n int) []Source {
	var all []Source
	for _, t := range s.tables {
		all = t.appendAll(all)
	}
	// Merging in place is safe: merged never gets ahead of the loop.
	merged := all[:0]
	at := make(map[key]int, len(all))
	for _, src := range all {
		k := key{src.Addr.Addr(), src.Reason}
		i, ok := at[k]
		if !ok {
			at[k] = len(merged)
			merged = append(merged, src)
			continue
		}
		m := &merged[i]
		m.Count += src.Count
		if src.LastSeen.After(m.LastSeen) {
			m.Addr, m.Host, m.LastSeen = src.Addr, src.Host, src.LastSeen
		}
	}
	sort.Slice(merged, func(i, j int) bool {
		a, b := merged[i], merged[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.After(b.LastSeen)
		}
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c < 0
		}
		return a.Reason < b.Reason
	})
	if len(merged) > n {
		merged = merged[:n]
	}
	return merged
}

// key identifies a source: one IP address rejected for one reason, so an
// address that fails in two ways is logged for each.
type key struct {
	addr   netip.Addr
	reason wire.Reason
}

// entry is one source; entries form a list from the most to the least
// recently seen.
type entry struct {
	key
	port       uint16
	host       []byte // reused: rewritten in place when the claimed name changes
	count      uint64
	sinceLog   uint64 // datagrams since the source's last log line
	lastSeen   int64  // unix nanoseconds
	loggedAt   int64  // unix nanoseconds; 0: never logged
	prev, next *entry
}

// Table counts the rejected datagrams of one reader. See the package doc.
type Table struct {
	opt Options

	mu         sync.Mutex // guards all following fields
	entries    map[key]*entry
	head, tail *entry // most and least recently seen
	evicted    uint64
	fullLogged int64 // when the table last said it was full (unix ns; 0: never)
	// The log budget: lines written, and datagrams not logged because of
	// it, since windowStart (unix ns; 0: no window yet).
	windowStart int64
	lines       int
	heldBack    uint64
}

func newTable(opt Options) *Table {
	return &Table{opt: opt, entries: make(map[key]*entry)}
}

// line is a log line decided under the lock and written after it.
type line struct {
	src    netip.AddrPort
	host   string
	reason wire.Reason
	count  uint64 // datagrams since the source's previous line
	total  uint64
}

// Note records one datagram from `from` rejected for reason r at now;
// host is the name its header claimed, nil if the header did not parse.
// It allocates only when a new source enters a table that is not yet
// full, when the claimed name outgrows the entry's buffer, or to log.
func (t *Table) Note(now time.Time, from netip.AddrPort, host []byte, r wire.Reason) {
	ns := now.UnixNano()
	t.mu.Lock()
	e, full := t.touch(ns, key{from.Addr().Unmap(), r})
	e.port = from.Port()
	if !bytes.Equal(e.host, host) {
		e.host = append(e.host[:0], host...)
	}
	e.count++
	e.sinceLog++
	// The common case under a flood: nothing to log.
	if !full && e.loggedAt != 0 && ns-e.loggedAt < int64(t.opt.LogEvery) {
		t.mu.Unlock()
		return
	}
	var logFull bool
	var evicted, heldBack uint64
	if full && (t.fullLogged == 0 || ns-t.fullLogged >= int64(t.opt.LogEvery)) {
		t.fullLogged, logFull, evicted = ns, true, t.evicted
	}
	var src *line
	if e.loggedAt == 0 || ns-e.loggedAt >= int64(t.opt.LogEvery) {
		if t.windowStart == 0 || ns-t.windowStart >= int64(t.opt.LogEvery) {
			heldBack = t.heldBack
			t.windowStart, t.lines, t.heldBack = ns, 0, 0
		}
		if t.lines < t.opt.LogBudget {
			t.lines++
			src = &line{src: netip.AddrPortFrom(e.addr, e.port), host: string(e.host), reason: r, count: e.sinceLog, total: e.count}
			e.loggedAt, e.sinceLog = ns, 0
		} else {
			t.heldBack++
		}
	}
	t.mu.Unlock()
	log := t.opt.Logger
	if logFull {
		log.Warn("rejected-source table full: forgetting the least recently seen sources (many sources, possibly spoofed)",
			"capacity", t.opt.Capacity, "evicted_total", evicted)
	}
	if heldBack > 0 {
		log.Warn("rejected-source log lines held back: more sources than the log budget; GET /api/0/stats lists the busiest",
			"datagrams", heldBack, "budget_lines", t.opt.LogBudget, "per", t.opt.LogEvery)
	}
	if src != nil {
		args := make([]any, 0, 12)
		args = append(args, "source", src.src.String())
		if src.host != "" {
			args = append(args, "host", src.host)
		}
		args = append(args, "reason", src.reason.String(), "datagrams", src.count, "total", src.total)
		if h := Hint(src.reason); h != "" {
			args = append(args, "hint", h)
		}
		log.Warn("rejected datagrams", args...)
	}
}

// touch returns k's entry, moved to the front of the list, creating it (and
// evicting the least recently seen when the table is full, which it
// reports) if it is new.
func (t *Table) touch(now int64, k key) (e *entry, evicted bool) {
	e = t.entries[k]
	switch {
	case e != nil:
		t.unlink(e)
	case len(t.entries) < t.opt.Capacity:
		e = &entry{key: k}
		t.entries[k] = e
	default:
		// Reuse the oldest entry, host buffer included: a table that is
		// full allocates nothing.
		e = t.tail
		t.unlink(e)
		delete(t.entries, e.key)
		t.evicted++
		evicted = true
		*e = entry{key: k, host: e.host[:0]}
		t.entries[k] = e
	}
	e.lastSeen = now
	e.next = t.head
	if t.head != nil {
		t.head.prev = e
	}
	t.head = e
	if t.tail == nil {
		t.tail = e
	}
	return e, evicted
}

func (t *Table) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// appendAll appends a Source for every entry, most recent first.
func (t *Table) appendAll(dst []Source) []Source {
	t.mu.Lock()
	defer t.mu.Unlock()
	for e := t.head; e != nil; e = e.next {
		dst = append(dst, Source{Addr: netip.AddrPortFrom(e.addr, e.port), Host: string(e.host), Reason: e.reason, Count: e.count, LastSeen: time.Unix(0, e.lastSeen).UTC()})
	}
	return dst
}

// Hint says in a few words what usually causes a rejection for reason r,
// for the log line; "" when there is nothing useful to say.
func Hint(r wire.Reason) string {
	switch r {
	case wire.ReasonBadMAC:
		return "signed with another key: the agent's key_file differs from the daemon's (or host_keys)"
	case wire.ReasonClock:
		return "the sender's clock is further from the daemon's than max_clock_skew"
	case wire.ReasonUnknownHost:
		return "host not in watchhosts and accept_dynamic is off"
	case wire.ReasonReplay:
		return "sequence number already seen: a replay, or another agent process sending as the same host"
	case wire.ReasonVersion:
		return "the sender speaks a protocol version this daemon does not"
	case wire.ReasonBadMagic:
		return "not an hbd datagram"
	}
	return ""
}
