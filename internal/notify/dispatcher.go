package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is the error reported for notifications the Dispatcher did not
// finish sending because it was closed.
var ErrClosed = errors.New("notify: dispatcher closed")

// DispatcherOptions tune a Dispatcher; zero values take the defaults.
type DispatcherOptions struct {
	QueueSize   int           // per route, default 1024 notifications
	MaxAttempts int           // per notification and route, default 5
	Backoff     time.Duration // first retry delay, default 1 s, doubling
	MaxBackoff  time.Duration // cap on the retry delay, default 1 min
	// Result is called from the route's worker goroutine with the final
	// outcome of each notification on each route: sent (Err nil), given up
	// after MaxAttempts, or not sent because the dispatcher closed (Err
	// wraps ErrClosed). It must not block for long: the route's queue waits.
	Result func(Result)
	// Sleep waits d between retries and returns early with an error when ctx
	// is done (the dispatcher is closing). nil means a timer. Tests inject
	// an instant one that records the delays.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Result is the final outcome of one notification on one route.
type Result struct {
	Route        string // the route's Channel.Name()
	Notification Notification
	Attempts     int   // sends tried; 0 when closed before the first
	Err          error // nil when sent
}

// Dispatcher sends notifications on routes, each route with its own bounded
// queue and worker goroutine, so a channel that is down never slows the
// caller or the other channels. It is safe for concurrent use.
type Dispatcher struct {
	opt     DispatcherOptions
	workers []*worker

	// ctx is cancelled by Close; it ends the workers' idle waits and retry
	// sleeps, but not a send in progress (that one is bounded by its
	// channel's timeout and allowed to finish).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu orders Submit against Close: Submit sends under the read lock,
	// so once Close has set closed under the write lock, no send is in
	// flight and none will start, and a worker that drains its queue after
	// the cancel sees everything that was ever queued.
	mu     sync.RWMutex
	closed bool

	// closing is closed by CloseWithin: each worker delivers what is left
	// in its queue, then exits; ctx ends what the grace period did not.
	closing   chan struct{}
	closeOnce sync.Once
}

type worker struct {
	route Route
	name  string
	queue chan Notification
	// Notifications offered to this route and not queued, by reason.
	dropFull, dropClosed atomic.Uint64
}

// Drops are the notifications one route could not queue, by reason.
type Drops struct {
	QueueFull uint64 // its queue was full: the channel is slower than the alerts
	Closed    uint64 // the dispatcher was closing (the daemon is stopping)
}

// NewDispatcher starts one worker goroutine per route. Routes should have
// passed Route.Validate; a route with a nil Channel panics here. The
// Dispatcher owns the routes' channels from now on: Close closes those that
// implement io.Closer.
func NewDispatcher(routes []Route, opt DispatcherOptions) *Dispatcher {
	if opt.QueueSize <= 0 {
		opt.QueueSize = 1024
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 5
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = time.Minute
	}
	if opt.MaxBackoff < opt.Backoff {
		opt.MaxBackoff = opt.Backoff
	}
	if opt.Result == nil {
		opt.Result = func(Result) {}
	}
	if opt.Sleep == nil {
		opt.Sleep = sleepCtx
	}
	d := &Dispatcher{opt: opt, closing: make(chan struct{})}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, r := range routes {
		if r.Channel == nil {
			panic("notify: route without a channel")
		}
		r.Hosts = append([]string(nil), r.Hosts...)
		d.workers = append(d.workers, &worker{
			route: r,
			name:  r.Channel.Name(),
			queue: make(chan Notification, opt.QueueSize),
		})
	}
	d.wg.Add(len(d.workers))
	for _, w := range d.workers {
		go d.run(w)
	}
	return d
}

// Routes returns a copy of the dispatcher's routes, in the order given to
// NewDispatcher; SubmitRoute takes an index into it.
func (d *Dispatcher) Routes() []Route {
	rs := make([]Route, len(d.workers))
	for i, w := range d.workers {
		rs[i] = w.route
	}
	return rs
}

// Submit offers n to every route that accepts it; it never blocks. It
// returns how many routes queued it and how many could not (queue full, or
// the dispatcher is closed); the caller counts and journals drops.
func (d *Dispatcher) Submit(n Notification) (queued, dropped int) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, w := range d.workers {
		if !w.route.Accepts(n) {
			continue
		}
		if d.offer(w, n) {
			queued++
		} else {
			dropped++
		}
	}
	return queued, dropped
}

// SubmitRoute offers n to route i only (an index into Routes), if that route
// accepts it; it never blocks. Repeats use it, since each route has its own
// repeat interval. It reports whether n was queued; a notification the route
// does not accept is not queued and not a drop.
func (d *Dispatcher) SubmitRoute(i int, n Notification) (queued, dropped bool) {
	if i < 0 || i >= len(d.workers) {
		return false, false
	}
	w := d.workers[i]
	if !w.route.Accepts(n) {
		return false, false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	ok := d.offer(w, n)
	return ok, !ok
}

// offer queues n on w without blocking, counting a drop; d.mu must be
// read-locked.
func (d *Dispatcher) offer(w *worker, n Notification) bool {
	if d.closed {
		w.dropClosed.Add(1)
		return false
	}
	select {
	case w.queue <- n:
		return true
	default:
		w.dropFull.Add(1)
		return false
	}
}

// Drops returns what route i (an index into Routes) could not queue since
// the dispatcher started, for metrics and the journal.
func (d *Dispatcher) Drops(i int) Drops {
	if i < 0 || i >= len(d.workers) {
		return Drops{}
	}
	w := d.workers[i]
	return Drops{QueueFull: w.dropFull.Load(), Closed: w.dropClosed.Load()}
}

// QueueSize is the capacity of every route's queue, in notifications.
func (d *Dispatcher) QueueSize() int { return d.opt.QueueSize }

// QueueLen returns how many notifications wait in route i's queue, for
// metrics.
func (d *Dispatcher) QueueLen(i int) int {
	if i < 0 || i >= len(d.workers) {
		return 0
	}
	return len(d.workers[i].queue)
}

// Close stops accepting, lets each worker finish the send in hand
// (cancelling retry waits), reports notifications still queued through
// Result with ErrClosed, waits for the workers, then closes the channels that
// implement io.Closer. It is safe to call more than once and from several
// goroutines; every call returns after the workers are done.
func (d *Dispatcher) Close() { d.CloseWithin(0) }

// CloseWithin is Close for a clean shutdown: it stops accepting, then lets
// the workers deliver what is already queued, retries included, for up to
// grace; only what is left then is reported with ErrClosed.
func (d *Dispatcher) CloseWithin(grace time.Duration) {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		if grace > 0 {
			close(d.closing)
			t := time.AfterFunc(grace, d.cancel)
			defer t.Stop()
		} else {
			d.cancel()
		}
		d.wg.Wait()
		d.cancel()
		for _, w := range d.workers {
			if c, ok := w.route.Channel.(io.Closer); ok {
				_ = c.Close()
			}
		}
	})
}

func (d *Dispatcher) run(w *worker) {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			d.drain(w)
			return
		case n := <-w.queue:
			// Both cases may be ready after Close; closing wins, so
			// nothing queued is started once Close has begun.
			if d.ctx.Err() != nil {
				d.report(w, n, 0, ErrClosed)
				d.drain(w)
				return
			}
			d.deliver(w, n)
		case <-d.closing:
			// Submit is closed, so the queue only shrinks: deliver the
			// rest until it is empty or the grace period ends.
			for {
				select {
				case n := <-w.queue:
					if d.ctx.Err() != nil {
						d.report(w, n, 0, ErrClosed)
						d.drain(w)
						return
					}
					d.deliver(w, n)
				default:
					return
				}
			}
		}
	}
}

// drain reports everything left in w's queue as closed. Close has already
// stopped Submit, so the queue only shrinks.
func (d *Dispatcher) drain(w *worker) {
	for {
		select {
		case n := <-w.queue:
			d.report(w, n, 0, ErrClosed)
		default:
			return
		}
	}
}

// deliver sends n on w's channel, retrying failures with doubling backoff.
// An HTTP answer that says a retry cannot help (a 4xx other than 408, 425
// and 429) ends it at once; one with Retry-After waits that long if it is
// longer than the backoff, at most MaxBackoff.
// Retries need no jitter: there is one worker per route, so failures do not
// line up into a thundering herd.
func (d *Dispatcher) deliver(w *worker, n Notification) {
	// The send itself is not cancelled by Close (see Dispatcher.ctx).
	sendCtx := context.WithoutCancel(d.ctx)
	delay := d.opt.Backoff
	for attempt := 1; ; attempt++ {
		err := d.send(sendCtx, w, n)
		if err == nil {
			d.report(w, n, attempt, nil)
			return
		}
		var se *HTTPStatusError
		isStatus := errors.As(err, &se)
		if isStatus && !se.Temporary() {
			// A bad token or an unknown room fails the same way again.
			d.report(w, n, attempt, fmt.Errorf("giving up after %d attempts (not retryable): %w", attempt, err))
			return
		}
		if attempt >= d.opt.MaxAttempts {
			d.report(w, n, attempt, fmt.Errorf("giving up after %d attempts: %w", attempt, err))
			return
		}
		wait := delay
		if isStatus && se.RetryAfter > wait {
			// A 429's or 503's Retry-After, within our own cap.
			wait = min(se.RetryAfter, d.opt.MaxBackoff)
		}
		if d.opt.Sleep(d.ctx, wait) != nil || d.ctx.Err() != nil {
			d.report(w, n, attempt, fmt.Errorf("%w after %d attempts: %w", ErrClosed, attempt, err))
			return
		}
		if delay > d.opt.MaxBackoff/2 { // doubling would pass the cap, or overflow
			delay = d.opt.MaxBackoff
		} else {
			delay *= 2
		}
	}
}

// send makes one attempt. A panicking channel becomes an error, so one bad
// channel cannot take the daemon down.
func (d *Dispatcher) send(ctx context.Context, w *worker, n Notification) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("channel %s panicked: %v", w.name, p)
		}
	}()
	return w.route.Channel.Send(ctx, n)
}

func (d *Dispatcher) report(w *worker, n Notification, attempts int, err error) {
	d.opt.Result(Result{Route: w.name, Notification: n, Attempts: attempts, Err: err})
}

// sleepCtx waits d, or less when ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
