package actors

import (
	"runtime"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// poolDispatcher runs actor mailboxes on a fixed set of long-lived
// goroutines. protoactor's default dispatcher starts a new goroutine each
// time a mailbox has work; under load (100,000 datagrams/s) every one of
// them grew its stack by copying, which a CPU profile showed taking a
// third of the daemon's time. Pool goroutines keep their grown stacks.
//
// Schedule never blocks: when every worker is busy and the queue is full it
// falls back to a new goroutine, as the default dispatcher always does.
type poolDispatcher struct {
	work       chan func()
	done       chan struct{}
	wg         sync.WaitGroup
	throughput int
	once       sync.Once
}

var _ actor.Dispatcher = (*poolDispatcher)(nil)

// newPoolDispatcher starts workers goroutines (0 = 4 per CPU).
func newPoolDispatcher(workers, throughput int) *poolDispatcher {
	if workers <= 0 {
		workers = 4 * runtime.GOMAXPROCS(0)
	}
	d := &poolDispatcher{work: make(chan func(), 4096), done: make(chan struct{}), throughput: throughput}
	d.wg.Add(workers)
	for i := 0; i < workers; i++ {
		go d.worker()
	}
	return d
}

func (d *poolDispatcher) worker() {
	defer d.wg.Done()
	for {
		select {
		case fn := <-d.work:
			fn()
		case <-d.done:
			for {
				select {
				case fn := <-d.work:
					fn()
				default:
					return
				}
			}
		}
	}
}

// Schedule runs fn on a worker.
func (d *poolDispatcher) Schedule(fn func()) {
	select {
	case <-d.done:
		go fn()
		return
	default:
	}
	select {
	case d.work <- fn:
	default:
		go fn()
	}
}

// Throughput is how many messages a mailbox processes before yielding its worker.
func (d *poolDispatcher) Throughput() int { return d.throughput }

// stop lets the workers finish what is queued and waits for them. Safe to call twice.
func (d *poolDispatcher) stop() {
	d.once.Do(func() { close(d.done) })
	d.wg.Wait()
}
