package actors

import (
	"log/slog"
	"sync"
	"time"
)

// How often the load watch looks, and how long ingest must keep up before
// the watch says so: long enough for the datagrams that waited in the
// socket while it was behind to be read and applied.
const (
	loadTick   = 250 * time.Millisecond
	loadSettle = 2 * time.Second
)

// When ingest is behind (loadWatch.behind):
//   - ingestBehind: the actors' backlog past which it is, at 40,000
//     datagrams a second 0.4 s of their work waiting;
//   - waitBehind: how long a datagram may wait in a socket. A socket
//     holds seconds of a large fleet's datagrams (a 16 MiB buffer, 2 s
//     at 50,000 a second), so waits well below this lose nothing, and a
//     detector that reads intervals of seconds is not misled by them;
//   - fullReadsBehind: where the sockets give no receive timestamps, the
//     readers finding a whole batch waiting in most of their reads, and
//     in at least this many, within one look.
const (
	ingestBehind    = 16384
	waitBehind      = 200 * time.Millisecond
	fullReadsBehind = 8
)

// loadWatch says whether the daemon itself is behind on ingest, for the
// adaptive detector: while datagrams wait in the socket or in the actors'
// mailboxes, the time between a host's heartbeats as the daemon applies
// them is the daemon's queueing delay as much as the host's timing, and a
// detector that reads it as silence marks half a fleet SUSPECT exactly
// when the daemon is busiest (measured: 48,694 of 100,000 hosts in a
// fleet-100k-full load phase). While overloaded, and for loadSettle after
// it caught up, every host is on the fixed rule, which allows down_after
// whole intervals, and learns nothing. Its verdict is Stats.IngestBehind,
// which the detectors read (Detection.overloaded); the spell is counted
// (Stats.IngestBehindNanos) and logged when it starts (at most once a
// minute) and when it ends.
type loadWatch struct {
	stats *Stats
	clock Clock
	log   *slog.Logger

	mu         sync.Mutex
	lastReads  uint64    // the readers' reads at the previous look
	lastFull   uint64    // and their full reads
	lastBehind time.Time // when ingest was last seen behind
	since      time.Time // when the current spell began
	logged     time.Time // when a spell's start was last logged
	timer      Timer
	stopped    bool
}

func newLoadWatch(stats *Stats, clock Clock, log *slog.Logger) *loadWatch {
	return &loadWatch{stats: stats, clock: clock, log: log}
}

// start looks every loadTick until stop.
func (w *loadWatch) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.arm()
}

func (w *loadWatch) arm() {
	if !w.stopped {
		w.timer = w.clock.AfterFunc(loadTick, w.tick)
	}
}

func (w *loadWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (w *loadWatch) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.look(w.clock.Now())
	w.arm()
}

// behind tells whether ingest is behind, from the counters since the
// previous look: the actors have more than ingestBehind datagrams
// waiting, or a datagram waited in a socket longer than waitBehind. Where
// the sockets do not tell how long datagrams waited, full reads stand for
// it: a coarse sign (a standing queue of a batch is a millisecond at
// 50,000 datagrams a second), kept only as the fallback.
func (w *loadWatch) behind() bool {
	s := w.stats
	reads, full := s.Reads.Load(), s.FullBatches.Load()
	dr, df := reads-w.lastReads, full-w.lastFull
	w.lastReads, w.lastFull = reads, full
	wait, known := s.TakeWait()
	s.IngestWait.Store(int64(wait))
	if s.Backlog.Load() > ingestBehind {
		return true
	}
	if known {
		return wait > waitBehind
	}
	return df >= fullReadsBehind && 2*df > dr
}

// look updates the state from the counters at now.
func (w *loadWatch) look(now time.Time) {
	behind := w.behind()
	w.stats.IngestBehindNow.Store(behind)
	if behind {
		w.lastBehind = now
	}
	switch was := w.stats.IngestBehind.Load(); {
	case behind && !was:
		w.since = now
		w.stats.IngestBehind.Store(true)
		if w.logged.IsZero() || now.Sub(w.logged) >= time.Minute {
			w.logged = now
			w.log.Warn("ingest is behind: until it catches up, the adaptive detector steps back to the fixed rule (down_after intervals) and learns nothing, since the gaps it sees are the daemon's own delays (hbd_ingest_behind, hbd_ingest_behind_seconds_total)",
				"backlog", w.stats.Backlog.Load())
		}
	case was:
		w.stats.IngestBehindNanos.Add(int64(loadTick))
		if !behind && now.Sub(w.lastBehind) >= loadSettle {
			w.stats.IngestBehind.Store(false)
			w.log.Info("ingest caught up: the adaptive detector applies again", "behind_for", now.Sub(w.since).Round(time.Millisecond))
		}
	}
}
