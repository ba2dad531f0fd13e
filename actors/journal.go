package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Event is one line of the message log: first contact, boot, shutdown,
// state and connection changes. Heartbeats are not events: at one per host
// every few seconds they would drown everything else.
type Event struct {
	Time time.Time
	Host string
	Msg  string
}

// appendJSON appends the seed's message object {time, host, msg}.
func (e *Event) appendJSON(b []byte) []byte {
	b = append(b, `{"time":`...)
	b = appendUnixTime(b, e.Time)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.Host)
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, e.Msg)
	return append(b, '}')
}

// messagesQuery asks the journal for the newest limit events, newest first.
type messagesQuery struct {
	limit int
	reply chan<- APIReply
}

// journalActor keeps the most recent events in memory. It is the only
// owner of its ring; the HTTP API asks it with messagesQuery.
type journalActor struct {
	events []Event
	next   int
	keep   int
	stats  *Stats
}

func newJournalActor(keep int, stats *Stats) *journalActor {
	return &journalActor{keep: keep, stats: stats}
}

func (j *journalActor) Receive(ctx actor.Context) {
	j.stats.journalMsgs.Add(1)
	switch m := ctx.Message().(type) {
	case *Event:
		j.add(*m)
	case messagesQuery:
		m.reply <- APIReply{Status: 200, Body: j.appendRecent(nil, m.limit)}
	}
}

func (j *journalActor) add(e Event) {
	if len(j.events) < j.keep {
		j.events = append(j.events, e)
		return
	}
	j.events[j.next] = e
	j.next = (j.next + 1) % j.keep
}

// appendRecent appends a JSON array of the newest limit events, newest first.
func (j *journalActor) appendRecent(b []byte, limit int) []byte {
	n := min(limit, len(j.events))
	b = append(b, '[')
	for i := 0; i < n; i++ {
		// The newest is just before next (or at the end while filling up).
		k := j.next - 1 - i
		if len(j.events) < j.keep {
			k = len(j.events) - 1 - i
		}
		for k < 0 {
			k += len(j.events)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = j.events[k].appendJSON(b)
	}
	return append(b, ']')
}
