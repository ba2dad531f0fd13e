package limits

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options' zero values, as for rejected sources.
const (
	DefaultLogEvery  = time.Minute
	DefaultLogBudget = 20
)

// Options configure Refusals.
type Options struct {
	// LogEvery is how often one source is logged per limit at most
	// (default 1 minute).
	LogEvery time.Duration
	// LogBudget is how many refusal lines are written per LogEvery at most
	// (default 20), however many sources there are.
	LogBudget int
	Logger    *slog.Logger
}

// Source is who caused a refusal: the sender's IP address, the host name,
// or both. Two refusals of one limit with the same Source share a log line.
type Source struct {
	Addr netip.Addr // zero when not known (or not what identifies the sender)
	Host string     // "" when not known
}

// Refusals counts and logs refusals. See the package doc.
type Refusals struct {
	opt    Options
	counts [numLimits]atomic.Uint64

	mu   sync.Mutex // guards all following fields
	seen map[key]*entry
	// The log budget: lines written, and refusals not logged because of
	// it, since windowStart (unix ns; 0: no window yet).
	windowStart int64
	lines       int
	heldBack    uint64
}

type key struct {
	limit Limit
	src   Source
}

// entry is a source logged within the last two periods.
type entry struct {
	loggedAt int64  // unix nanoseconds
	since    uint64 // refusals since that line
}

// NewRefusals returns zeroed counters.
func NewRefusals(opt Options) *Refusals {
	if opt.LogEvery <= 0 {
		opt.LogEvery = DefaultLogEvery
	}
	if opt.LogBudget <= 0 {
		opt.LogBudget = DefaultLogBudget
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Refusals{opt: opt, seen: make(map[key]*entry)}
}

// Count returns how many times l refused something.
func (r *Refusals) Count(l Limit) uint64 {
	if r == nil || l >= numLimits {
		return 0
	}
	return r.counts[l].Load()
}

// Refuse counts one refusal by l of something from src at now and logs it
// as msg with args, unless src was logged for l less than LogEvery ago or
// the log budget is spent. A nil Refusals does nothing.
func (r *Refusals) Refuse(now time.Time, l Limit, src Source, msg string, args ...any) {
	if r == nil || l >= numLimits {
		return
	}
	total := r.counts[l].Add(1)
	ns := now.UnixNano()
	every := int64(r.opt.LogEvery)
	k := key{l, src}

	r.mu.Lock()
	e := r.seen[k]
	if e != nil && ns-e.loggedAt < every && ns >= e.loggedAt {
		// The common case under a flood: nothing to log.
		e.since++
		r.mu.Unlock()
		return
	}
	refused := uint64(1)
	if e != nil {
		refused += e.since
	}
	var heldBack uint64
	if r.windowStart == 0 || ns-r.windowStart >= every || ns < r.windowStart {
		heldBack = r.heldBack
		r.windowStart, r.lines, r.heldBack = ns, 0, 0
		// What was logged a period ago or more may be logged again: forget
		// it, so the map holds at most two periods' lines.
		for k, old := range r.seen {
			if ns-old.loggedAt >= every || ns < old.loggedAt {
				delete(r.seen, k)
			}
		}
	}
	if r.lines >= r.opt.LogBudget {
		// Only reached without a new window, so e, if any, is still held.
		r.heldBack++
		if e != nil {
			e.since++
		}
		r.mu.Unlock()
		return
	}
	r.lines++
	r.seen[k] = &entry{loggedAt: ns}
	r.mu.Unlock()

	r.logHeldBack(heldBack)
	line := make([]any, 0, 10+len(args))
	line = append(line, "limit", l.String())
	if src.Addr.IsValid() {
		line = append(line, "source", src.Addr.String())
	}
	if src.Host != "" {
		line = append(line, "host", src.Host)
	}
	line = append(line, args...)
	line = append(line, "refused", refused, "total", total)
	r.opt.Logger.Warn(msg, line...)
}

func (r *Refusals) logHeldBack(n uint64) {
	if n > 0 {
		r.opt.Logger.Warn("refusal log lines held back: more sources over limits than the log budget; /metrics counts every refusal (hbd_limit_refused_total)",
			"refusals", n, "budget_lines", r.opt.LogBudget, "per", r.opt.LogEvery)
	}
}

// remembered returns how many sources Refusals holds, for tests.
func (r *Refusals) remembered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}
