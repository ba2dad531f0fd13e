// Package deadman is the daemon's own outbound heartbeat, a dead man's
// switch: while hbd runs it pings someone every interval, so that when it
// dies the pings stop and that someone raises the alarm. Two targets, each
// optional:
//
//   - a URL, requested with GET or POST, as healthchecks.io-style services
//     and Alertmanager Watchdog receivers expect;
//   - a peer hbd, sent signed heartbeats exactly as an agent sends them
//     (boot first, shutdown on a clean stop), so that two daemons watch
//     each other. A ping to the peer succeeds when its ACK comes back.
//
// Each target has its own goroutine, timed by the injected clock; a ping
// never waits longer than the timeout and nothing else ever waits on a
// ping. Failures are counted (Counts) and logged, rate-limited: the first
// failure, every tenth one in a row, and the recovery.
//
// Start starts everything; Stop, safe to call more than once and from any
// goroutine, stops it and returns when every goroutine has ended.
package deadman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbd-project/hbd/actors"
)

// Options configure a Deadman. At least one of URL and Peer must be set.
type Options struct {
	URL    string // http or https; "" = none
	Method string // "GET" or "POST"; "" = GET

	Peer string // host:port of another hbd's UDP port; "" = none
	Name string // host name sent to the peer
	Key  []byte // key the peer verifies Name's datagrams with (the fleet key)

	Interval time.Duration // between pings, > Timeout
	Timeout  time.Duration // bounds one ping

	Clock  actors.Clock // nil = the wall clock
	Logger *slog.Logger
	// Resolve looks up the peer's addresses; nil = the system resolver
	// (IP literals and "localhost" are never looked up).
	Resolve Resolver
}

// Counts are one target's counters, for /metrics.
type Counts struct {
	Target      string // "url" or "peer"
	OK, Failed  uint64
	LastSuccess time.Time // zero until the first success
}

// Deadman pings its targets until Stop.
type Deadman struct {
	opt     Options
	log     *slog.Logger
	clock   actors.Clock
	timeout error // the cause of a ping cancelled by its timeout
	targets []*target

	ctx      context.Context // cancelled by Stop: ends waits and pings in flight
	cancel   context.CancelFunc
	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// target is one destination and its loop's state.
type target struct {
	name string // "url" or "peer"
	desc string // what logs call it (never a URL's path, which may be a secret)
	ping func(ctx context.Context) error
	// close releases what ping used, after the loop has ended: idle
	// connections, sockets (the peer announces the shutdown first).
	close func()

	ok, failed  atomic.Uint64
	lastSuccess atomic.Int64 // unix nanoseconds; 0 = never

	// Owned by the target's loop goroutine.
	failing int // failures in a row
}

// Start checks opt, opens what the targets need and starts one goroutine
// per target; the first pings go out at once.
func Start(opt Options) (*Deadman, error) {
	if opt.URL == "" && opt.Peer == "" {
		return nil, errors.New("deadman: neither url nor peer is set")
	}
	if opt.Interval <= 0 || opt.Timeout <= 0 || opt.Timeout >= opt.Interval {
		return nil, fmt.Errorf("deadman: timeout %s must be positive and less than interval %s", opt.Timeout, opt.Interval)
	}
	if opt.Clock == nil {
		opt.Clock = actors.RealClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	d := &Deadman{
		opt: opt, log: opt.Logger, clock: opt.Clock, stop: make(chan struct{}),
		timeout: fmt.Errorf("no answer within %s", opt.Timeout),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if opt.URL != "" {
		u, err := newURLPinger(opt.URL, opt.Method)
		if err != nil {
			return nil, err
		}
		d.targets = append(d.targets, &target{name: "url", desc: u.desc, ping: u.ping, close: u.close})
	}
	if opt.Peer != "" {
		p, err := newPeer(opt, d.clock, d.log)
		if err != nil {
			return nil, err
		}
		d.targets = append(d.targets, &target{name: "peer", desc: "hbd peer " + opt.Peer, ping: p.ping, close: p.close})
	}
	d.wg.Add(len(d.targets))
	for _, t := range d.targets {
		go d.loop(t)
	}
	d.log.Info("dead man's switch started", "targets", d.describe(), "interval", opt.Interval)
	return d, nil
}

func (d *Deadman) describe() []string {
	var out []string
	for _, t := range d.targets {
		out = append(out, t.desc)
	}
	return out
}

// Stop ends the pings, cancelling one in flight, announces a clean shutdown
// to the peer, and returns when every goroutine has ended. A nil Deadman
// (no [deadman] configured) does nothing.
func (d *Deadman) Stop() {
	if d == nil {
		return
	}
	d.stopOnce.Do(func() {
		close(d.stop)
		d.cancel()
		d.wg.Wait()
		for _, t := range d.targets {
			t.close()
		}
	})
}

// Counts returns every target's counters.
func (d *Deadman) Counts() []Counts {
	if d == nil {
		return nil
	}
	out := make([]Counts, len(d.targets))
	for i, t := range d.targets {
		out[i] = Counts{Target: t.name, OK: t.ok.Load(), Failed: t.failed.Load()}
		if ns := t.lastSuccess.Load(); ns != 0 {
			out[i].LastSuccess = time.Unix(0, ns)
		}
	}
	return out
}

// loop pings t now and then every interval until Stop. The next ping is
// scheduled before this one starts, so the period stays the interval
// whatever a ping takes (at most the timeout, which is shorter). There is
// no jitter: one daemon pinging a few targets cannot form a herd.
func (d *Deadman) loop(t *target) {
	defer d.wg.Done()
	for {
		due := make(chan struct{})
		next := d.clock.AfterFunc(d.opt.Interval, func() { close(due) })
		d.pingOnce(t)
		select {
		case <-due:
		case <-d.stop:
			next.Stop()
			return
		}
	}
}

// pingOnce makes one ping, bounded by the timeout on the injected clock,
// and records its outcome.
func (d *Deadman) pingOnce(t *target) {
	ctx, cancel := context.WithCancelCause(d.ctx)
	defer cancel(nil)
	timer := d.clock.AfterFunc(d.opt.Timeout, func() { cancel(d.timeout) })
	err := t.ping(ctx)
	timer.Stop()
	if d.ctx.Err() != nil {
		return // stopping: a ping cut short by Stop says nothing about the target
	}
	if err != nil && errors.Is(context.Cause(ctx), d.timeout) {
		err = fmt.Errorf("%w: %w", d.timeout, err)
	}
	d.record(t, err)
}

// record logs the first failure, every tenth in a row, and the recovery
// (a target down for a day logs 144 lines at the default interval, not
// 1440), then counts the outcome: the log line comes first, so whoever
// sees the counter move also finds the line.
func (d *Deadman) record(t *target, err error) {
	if err == nil {
		if t.failing > 0 {
			d.log.Info("dead man's switch ping works again", "target", t.desc, "failures", t.failing)
		}
		t.failing = 0
		t.lastSuccess.Store(d.clock.Now().UnixNano())
		t.ok.Add(1)
		return
	}
	t.failing++
	if t.failing == 1 || t.failing%10 == 0 {
		d.log.Warn("dead man's switch ping failed", "target", t.desc, "err", err, "failures_in_a_row", t.failing)
	}
	t.failed.Add(1)
}
