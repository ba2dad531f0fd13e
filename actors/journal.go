package actors

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/contract"
	"github.com/hbd-project/hbd/internal/journal"
)

// Event is one line of the message log: first contact, boot, shutdown,
// state and connection changes, alert transitions, notifications,
// silences. Heartbeats are not events: at one per host every few seconds
// they would drown everything else.
type Event struct {
	Time time.Time
	Host string
	// Kind classifies the event for the journal file: "state",
	// "connection", "boot", "shutdown", "alert", "notify", "notify_failed",
	// "silence", "system", "dropped".
	Kind   string
	Msg    string
	Fields map[string]any // structured details, journaled with the event
}

// message is e as the API shows it.
func (e *Event) message() contract.Message {
	return contract.Message{Time: e.Time, Host: e.Host, Msg: e.Msg, Kind: e.Kind}
}

// frame is e's WebSocket frame.
func (e *Event) frame() []byte {
	m := e.message()
	return contract.MessageFrame(&m)
}

// unixSeconds is t as seconds since the epoch with millisecond precision,
// for journal event fields.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

// MessagesQuery selects journal events for /api/0/messages.
type MessagesQuery struct {
	Limit int
	Host  string    // exact host name; "" = all
	Since time.Time // events at or after; zero = no bound
}

// messagesQuery asks the journal actor for the newest matching events,
// newest first.
type messagesQuery struct {
	q     MessagesQuery
	reply chan<- messagesReply
}

type messagesReply struct {
	body []byte // the JSON array (contract.AppendMessages)
	// partial: the in-memory ring may not hold every match (it is full and
	// fewer than limit matched), so the caller should read the file.
	partial bool
}

// journalFlush tells the journal actor to hand its pending batch to the writer.
type journalFlush struct{}

// journalActor keeps the newest events in memory for the API and, when the
// journal file is enabled, hands them in batches to a writer goroutine. It
// never touches the disk itself: a slow disk fills the writer's queue, the
// batches that do not fit are counted, and a record saying how many were
// lost is written as soon as the writer catches up. Loss is never silent.
type journalActor struct {
	events []Event
	next   int
	keep   int
	stats  *Stats
	log    *slog.Logger

	writer  chan []journal.Record // nil: journal file disabled
	pending []journal.Record
	lost    int // events dropped since the last batch that reached the writer
	timer   *time.Timer
	done    chan struct{}
	// publish sends "message" frames to the WebSocket stream; nil without one.
	publish   func(ctx actor.Context, typ, host, key string, frame []byte)
	listening func() bool // closed when the writer goroutine has finished
}

// batchSize is how many events make a batch that is sent at once rather
// than at the next flush tick.
const batchSize = 256

// flushEvery is how long an event may wait in the actor before it is handed
// to the writer, in wall-clock time.
const flushEvery = 100 * time.Millisecond

func newJournalActor(keep int, stats *Stats, warm []Event) *journalActor {
	j := &journalActor{keep: keep, stats: stats}
	for _, e := range warm {
		j.add(e)
	}
	return j
}

// startWriter starts the goroutine that owns the journal file.
func (j *journalActor) startWriter(w *journal.Writer, log *slog.Logger) {
	j.writer = make(chan []journal.Record, 64)
	j.done = make(chan struct{})
	j.log = log
	go func() {
		defer close(j.done)
		f := journalFailures{w: w, stats: j.stats, log: log}
		for batch := range j.writer {
			f.note("write", w.Write(batch))
			if len(j.writer) == 0 {
				f.note("sync", w.Sync())
			}
		}
		f.note("close", w.Close())
	}()
}

// journalFailureLogEvery is how often the writer logs that the journal
// file still cannot be written: a full disk fails every batch, ten a
// second, and must not flood the log as well.
const journalFailureLogEvery = time.Minute

// journalFailures counts the journal file's write errors and lost events
// for /metrics and logs them: the first failure at once, then at most once
// per journalFailureLogEvery while failing, and the recovery, when the
// file records what was lost. Owned by the writer goroutine.
type journalFailures struct {
	w        *journal.Writer
	stats    *Stats
	log      *slog.Logger
	failing  bool
	loggedAt time.Time
	lost     uint64 // events lost since the failures began
}

func (f *journalFailures) note(op string, err error) {
	if err == nil {
		f.recovered()
		return
	}
	var ioe *journal.IOError
	if !errors.As(err, &ioe) {
		// Not the disk: a record too large, a failed rotation.
		f.log.Error("journal: "+op+" incomplete", "file", f.w.Path(), "err", err)
		f.recovered()
		return
	}
	f.stats.JournalWriteErrors.Add(1)
	f.stats.JournalEventsLost.Add(uint64(ioe.Lost))
	f.lost += uint64(ioe.Lost)
	now := time.Now()
	if f.failing && now.Sub(f.loggedAt) < journalFailureLogEvery {
		return
	}
	msg := "cannot write the journal file; events are kept in memory and counted as lost (hbd_journal_events_lost_total)"
	if f.failing {
		msg = "the journal file still cannot be written"
	}
	f.failing, f.loggedAt = true, now
	f.log.Error(msg, "file", f.w.Path(), "op", ioe.Op, "lost_events", f.lost, "err", ioe.Err)
}

// recovered logs the end of a run of failures once the file has recorded
// the loss.
func (f *journalFailures) recovered() {
	if n, _, _ := f.w.Lost(); !f.failing || n > 0 {
		return
	}
	f.log.Warn("the journal file is written again; it records how many events were lost", "file", f.w.Path(), "lost_events", f.lost)
	f.failing, f.lost = false, 0
}

func (j *journalActor) Receive(ctx actor.Context) {
	j.stats.journalMsgs.Add(1)
	switch m := ctx.Message().(type) {
	case *Event:
		j.add(*m)
		if j.publish != nil && (j.listening == nil || j.listening()) {
			j.publish(ctx, contract.FrameMessage, m.Host, "", m.frame())
		}
		if j.writer != nil {
			j.pending = append(j.pending, journal.Record{Time: m.Time, Host: m.Host, Kind: m.Kind, Msg: m.Msg, Fields: m.Fields})
			if len(j.pending) >= batchSize {
				j.flush()
			} else if j.timer == nil {
				self, root := ctx.Self(), ctx.ActorSystem().Root
				j.timer = time.AfterFunc(flushEvery, func() { root.Send(self, &journalFlush{}) })
			}
		}
	case *journalFlush:
		j.timer = nil
		j.flush()
	case *messagesQuery:
		m.reply <- j.query(m.q)
	case *actor.Stopping:
		if j.timer != nil {
			j.timer.Stop()
		}
		if j.writer != nil {
			j.flush()
			close(j.writer)
			// Stopping is the one place the actor waits: the daemon is
			// shutting down and nothing may be lost.
			<-j.done
			j.writer = nil
		}
	default:
		unexpected("journal", ctx.Message())
	}
}

// flush hands the pending batch to the writer without blocking.
func (j *journalActor) flush() {
	if len(j.pending) == 0 {
		return
	}
	batch := j.pending
	if j.lost > 0 {
		batch = append([]journal.Record{journal.Dropped(j.lost, time.Now())}, batch...)
	}
	select {
	case j.writer <- batch:
		j.lost = 0
	default:
		n := len(j.pending)
		j.lost += n
		j.stats.EventsDropped.Add(uint64(n))
	}
	j.pending = nil
}

func (j *journalActor) add(e Event) {
	if len(j.events) < j.keep {
		j.events = append(j.events, e)
		return
	}
	j.events[j.next] = e
	j.next = (j.next + 1) % j.keep
}

// query answers a JSON array of the newest matching events, newest first.
func (j *journalActor) query(q MessagesQuery) messagesReply {
	n, full := 0, len(j.events) == j.keep
	body := contract.AppendMessages(make([]byte, 0, 64+q.Limit*128), func(yield func(contract.Message) bool) {
		for i := 0; i < len(j.events) && n < q.Limit; i++ {
			// The newest is just before next (or at the end while filling up).
			k := j.next - 1 - i
			if !full {
				k = len(j.events) - 1 - i
			}
			for k < 0 {
				k += len(j.events)
			}
			e := &j.events[k]
			if !q.Since.IsZero() && e.Time.Before(q.Since) {
				return
			}
			if q.Host != "" && e.Host != q.Host {
				continue
			}
			n++
			if !yield(e.message()) {
				return
			}
		}
	})
	return messagesReply{body: body, partial: full && n < q.Limit}
}

// appendRecords appends file records as the API's JSON array.
func appendRecords(b []byte, recs []journal.Record) []byte {
	return contract.AppendMessages(b, func(yield func(contract.Message) bool) {
		for _, r := range recs {
			if !yield(contract.Message{Time: r.Time, Host: r.Host, Msg: r.Msg, Kind: r.Kind}) {
				return
			}
		}
	})
}

// eventsFromRecords converts file records (oldest first) for warming the ring.
func eventsFromRecords(recs []journal.Record) []Event {
	out := make([]Event, 0, len(recs))
	for _, r := range recs {
		if strings.TrimSpace(r.Msg) == "" && r.Kind == "" {
			continue
		}
		out = append(out, Event{Time: r.Time, Host: r.Host, Kind: r.Kind, Msg: r.Msg, Fields: r.Fields})
	}
	return out
}
