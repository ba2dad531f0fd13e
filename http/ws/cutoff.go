package ws

import (
	"log/slog"
	"sync"
	"time"
)

// CutReason is why the daemon disconnected a client.
type CutReason uint8

// The reasons a client is cut off.
const (
	CutQueue        CutReason = iota // its queue would exceed QueueFrames or its byte bound
	CutWriteTimeout                  // writing one frame took longer than WriteTimeout
	CutPongTimeout                   // it sent nothing, not even a pong, for two ping intervals
	CutRate                          // it sent messages faster than MessageRate allows
	CutMessageSize                   // it sent a message larger than ReadLimit
	numCutReasons
)

// String is the reason's label on /metrics.
func (r CutReason) String() string {
	switch r {
	case CutQueue:
		return "queue"
	case CutWriteTimeout:
		return "write_timeout"
	case CutPongTimeout:
		return "pong_timeout"
	case CutRate:
		return "rate"
	case CutMessageSize:
		return "message_size"
	}
	return "unknown"
}

// explain is the reason in words, for the log.
func (r CutReason) explain() string {
	switch r {
	case CutQueue:
		return "it fell too far behind"
	case CutWriteTimeout:
		return "writing to it timed out"
	case CutPongTimeout:
		return "it answered no ping"
	case CutRate:
		return "it sent messages too fast"
	case CutMessageSize:
		return "it sent a message over the size limit"
	}
	return "unknown"
}

// CutReasons lists every reason, in label order.
func CutReasons() []CutReason {
	rs := make([]CutReason, numCutReasons)
	for i := range rs {
		rs[i] = CutReason(i)
	}
	return rs
}

// logEvery is how often one kind of refusal is logged at most; the
// counters on /metrics have every one. A flood of cut-offs must not become
// a flood of log lines.
const logEvery = time.Minute

// logLimiter logs one line per key per logEvery and says how many it left
// out since the last one.
type logLimiter struct {
	now func() time.Time
	mu  sync.Mutex
	at  map[string]*limitedLog
}

type limitedLog struct {
	last    time.Time
	skipped int
}

func newLogLimiter(now func() time.Time) *logLimiter {
	return &logLimiter{now: now, at: make(map[string]*limitedLog)}
}

// warn writes msg with args as a warning to log unless a line with the same key
// was written less than logEvery ago. Keys are a fixed set (the reasons),
// so the map stays small.
func (l *logLimiter) warn(log *slog.Logger, key, msg string, args ...any) {
	now := l.now()
	l.mu.Lock()
	e := l.at[key]
	if e == nil {
		e = &limitedLog{}
		l.at[key] = e
	}
	if !e.last.IsZero() && now.Sub(e.last) < logEvery {
		e.skipped++
		l.mu.Unlock()
		return
	}
	skipped := e.skipped
	e.last, e.skipped = now, 0
	l.mu.Unlock()
	if skipped > 0 {
		args = append(args, "not_logged_before", skipped)
	}
	log.Warn(msg, args...)
}
