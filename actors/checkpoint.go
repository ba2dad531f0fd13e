package actors

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/statefile"
)

// StateConfig turns durable host state on (see internal/statefile).
type StateConfig struct {
	Dir string
	// Every is the checkpoint interval: what a crash loses at most.
	Every time.Duration
}

// StateStats are the checkpointer's counters, read by /metrics.
type StateStats struct {
	Snapshots, Deltas atomic.Uint64 // files written
	Failures          atomic.Uint64 // checkpoints that could not be written
	BytesWritten      atomic.Uint64
	WriteNanos        atomic.Uint64 // time spent in checkpoints, summed (wall time: waits and rests included)
	WorkNanos         atomic.Uint64 // of which encoding, compressing and writing: close to the checkpointer's CPU
	LastNanos         atomic.Int64  // how long the last checkpoint took
	LastBytes         atomic.Int64  // size of the last file written
	LastSuccess       atomic.Int64  // unix ns of the last checkpoint that succeeded
	DiskBytes         atomic.Int64  // size of the files the state is read from
	RestoreNanos      atomic.Int64  // how long reading the state back took at start
	RestoredHosts     atomic.Int64
}

// Checkpoint pacing and bounds.
const (
	// ckptBatch is how many HostActors are asked at once. A snapshot
	// holds every host's rings; asking in batches bounds the records in
	// flight (and so the memory) whatever the fleet's size.
	ckptBatch = 1024
	// ckptWait is how long a batch may take to answer before the round
	// gives up on it (and writes every host whole next time).
	ckptWait = 30 * time.Second
	// A snapshot replaces the deltas once they outgrow it (or this floor,
	// so a small fleet does not rewrite itself every round), or once there
	// are maxDeltas of them: restoring reads at most about twice the
	// snapshot's size.
	minCompactBytes = 4 << 20
	maxDeltas       = 64
	// ckptDuty is the share of one core a periodic checkpoint may take:
	// after each batch the checkpointer rests three times as long as it
	// worked. A snapshot of a large fleet is seconds of encoding; in one
	// burst it would take a core from ingest long enough to overflow the
	// sockets' buffers. The last save on shutdown is not paced.
	ckptDuty = 0.25
)

// checkpointer writes the fleet's state: every Every a delta of the hosts
// that changed, and a snapshot when the deltas have grown. It asks each
// HostActor for its record and writes on its own goroutine, so no actor
// ever waits on the disk; a HostActor's part is copying its small state
// and the headers of its samples. One round runs at a time.
type checkpointer struct {
	cfg      StateConfig
	registry *Registry
	root     *actor.RootContext
	clock    Clock
	log      *slog.Logger
	stats    *StateStats
	journal  func(Event)

	mu sync.Mutex // held by a round; guards what follows
	// seq is the next file's sequence number; hasBase: a snapshot exists;
	// needFull: the next round must be a snapshot (no base yet, or a
	// round failed after hosts had handed their changes over).
	seq                   uint64
	hasBase, needFull     bool
	baseBytes, deltaBytes int64
	deltas                int
	failing               bool

	stopc chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newCheckpointer(cfg StateConfig, st *statefile.State, reg *Registry, root *actor.RootContext, clock Clock, log *slog.Logger, stats *StateStats, journal func(Event)) *checkpointer {
	c := &checkpointer{cfg: cfg, registry: reg, root: root, clock: clock, log: log, stats: stats, journal: journal,
		seq: st.NextSeq, stopc: make(chan struct{}), done: make(chan struct{})}
	c.hasBase = st.Snapshot != nil
	c.baseBytes, c.deltaBytes = st.Bytes()
	c.deltas = len(st.Deltas)
	// Files were set aside, or the state is only deltas: start again from
	// a whole snapshot.
	c.needFull = !c.hasBase || len(st.Problems) > 0
	stats.DiskBytes.Store(c.baseBytes + c.deltaBytes)
	return c
}

// start runs a round every cfg.Every until stop.
func (c *checkpointer) start() {
	go func() {
		defer close(c.done)
		tick := make(chan struct{}, 1)
		for {
			t := c.clock.AfterFunc(c.cfg.Every, func() {
				select {
				case tick <- struct{}{}:
				default:
				}
			})
			select {
			case <-c.stopc:
				t.Stop()
				return
			case <-tick:
				c.round()
			}
		}
	}()
}

// stop ends the periodic rounds and waits for one in progress. Safe to
// call twice.
func (c *checkpointer) stop() {
	c.once.Do(func() { close(c.stopc) })
	<-c.done
}

// round writes one checkpoint and reports whether it succeeded. Periodic
// rounds are paced (see ckptDuty); the final one is not.
func (c *checkpointer) round() bool { return c.roundPaced(true) }

// final writes the last checkpoint as fast as it can.
func (c *checkpointer) final() bool { return c.roundPaced(false) }

func (c *checkpointer) roundPaced(paced bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	began := time.Now()
	full := c.needFull || !c.hasBase || c.deltas >= maxDeltas || c.deltaBytes > max(c.baseBytes, minCompactBytes)
	kind := statefile.KindDelta
	if full {
		kind = statefile.KindSnapshot
	}
	seq := c.seq
	c.seq++
	w, err := statefile.Create(c.cfg.Dir, kind, seq, c.clock.Now())
	if err != nil {
		c.failed(fmt.Errorf("cannot start %s: %w", kind, err))
		return false
	}
	missing, work, writeErr := c.collect(w, full, paced)
	if writeErr != nil {
		w.Abort()
		c.failed(writeErr)
		return false
	}
	if missing > 0 {
		// Those hosts may hand their changes over later, to nobody: the
		// next round writes everyone whole. A snapshot without them must
		// not replace the files that still hold them.
		c.needFull = true
		if kind == statefile.KindSnapshot {
			w.Abort()
			c.failed(fmt.Errorf("%d hosts did not answer within %s", missing, ckptWait))
			return false
		}
		c.log.Warn("hosts did not answer the checkpoint in time; the next one writes every host whole", "hosts", missing)
	}
	var size int64
	var written *atomic.Uint64 // the file counter, bumped once the stats above it are stored
	switch {
	case kind == statefile.KindDelta && w.Count() == 0:
		w.Abort() // nothing changed: no file
	default:
		committing := time.Now()
		path, err := w.Commit()
		work += time.Since(committing)
		if err != nil {
			c.failed(err)
			return false
		}
		size = w.Bytes()
		if kind == statefile.KindSnapshot {
			if err := statefile.Prune(c.cfg.Dir, seq); err != nil {
				c.log.Warn("cannot remove state files older than the new snapshot", "err", err)
			}
			c.hasBase, c.baseBytes, c.deltaBytes, c.deltas = true, size, 0, 0
			written = &c.stats.Snapshots
		} else {
			c.deltaBytes += size
			c.deltas++
			written = &c.stats.Deltas
		}
		c.log.Debug("checkpoint written", "file", path, "hosts", w.Count(), "bytes", size, "took", time.Since(began))
	}
	if kind == statefile.KindSnapshot {
		c.needFull = false
	}
	took := time.Since(began)
	c.stats.BytesWritten.Add(uint64(size))
	c.stats.WriteNanos.Add(uint64(took))
	c.stats.WorkNanos.Add(uint64(work))
	c.stats.LastNanos.Store(int64(took))
	c.stats.LastBytes.Store(size)
	c.stats.LastSuccess.Store(c.clock.Now().UnixNano())
	c.stats.DiskBytes.Store(c.baseBytes + c.deltaBytes)
	if written != nil {
		// Last, so that whoever sees the count sees the round's figures.
		written.Add(1)
	}
	if c.failing {
		c.failing = false
		c.log.Info("checkpoints succeed again")
		c.journal(Event{Kind: "system", Msg: "state checkpoints succeed again"})
	}
	return true
}

// collect asks every host for its record, batch by batch, and adds the
// records to w. It returns how many hosts did not answer, the time spent
// adding records, and the first write error; after an error it still
// collects every answer, so that no reply is left to a host that thinks it
// was written.
func (c *checkpointer) collect(w *statefile.Writer, full, paced bool) (missing int, work time.Duration, err error) {
	pids := c.registry.PIDs()
	var busy time.Duration // encoding and writing in this batch
	for i := 0; i < len(pids); i += ckptBatch {
		work += busy
		if paced && busy > 0 {
			select {
			case <-time.After(time.Duration(float64(busy) * (1/ckptDuty - 1))):
			case <-c.stopc:
				paced = false // the daemon is stopping: finish quickly
			}
		}
		busy = 0
		batch := pids[i:min(i+ckptBatch, len(pids))]
		reply := make(chan *statefile.Record, len(batch))
		req := &checkpointReq{full: full, reply: reply}
		for _, pid := range batch {
			c.root.Send(pid, req)
		}
		timeout := time.NewTimer(ckptWait)
	wait:
		for got := 0; got < len(batch); got++ {
			select {
			case rec := <-reply:
				if rec != nil && err == nil {
					began := time.Now()
					err = w.Add(rec.Type, &rec.Host)
					busy += time.Since(began)
				}
			case <-timeout.C:
				missing += len(batch) - got
				break wait
			}
		}
		timeout.Stop()
	}
	return missing, work + busy, err
}

// failed records a checkpoint that could not be written: counted, logged
// and journaled once per run of failures, and the next round is a
// snapshot, since hosts handed over changes that were not written.
func (c *checkpointer) failed(err error) {
	c.needFull = true
	c.stats.Failures.Add(1)
	c.log.Error("cannot write a state checkpoint; a crash now would lose more than one interval", "dir", c.cfg.Dir, "err", err)
	if !c.failing {
		c.failing = true
		c.journal(Event{Kind: "system", Msg: "state checkpoint failed: " + err.Error()})
	}
}
