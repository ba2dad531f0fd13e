package contract

import (
	"iter"
	"time"
)

// Message is one journal event as the API shows it: an entry of
// GET /api/0/messages and the data of a message frame.
type Message struct {
	Time time.Time
	Host string // "" for daemon-wide events
	Msg  string
	Kind string // "": omitted
}

// AppendMessage appends m as the seed's message object {time, host, msg},
// plus kind.
func AppendMessage(b []byte, m *Message) []byte {
	b = append(b, `{"time":`...)
	b = appendUnixTime(b, m.Time)
	b = append(b, `,"host":`...)
	b = appendString(b, m.Host)
	b = append(b, `,"msg":`...)
	b = appendString(b, m.Msg)
	if m.Kind != "" {
		b = append(b, `,"kind":`...)
		b = appendString(b, m.Kind)
	}
	return append(b, '}')
}

// AppendMessages appends the answer of GET /api/0/messages: a JSON array
// of the messages msgs yields, in that order.
func AppendMessages(b []byte, msgs iter.Seq[Message]) []byte {
	b = append(b, '[')
	first := true
	for m := range msgs {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = AppendMessage(b, &m)
	}
	return append(b, ']')
}

// MessageFrame is the WebSocket frame of a journal event.
func MessageFrame(m *Message) []byte {
	b := append(make([]byte, 0, 64+len(m.Host)+len(m.Msg)), `{"type":"message","data":`...)
	b = AppendMessage(b, m)
	return append(b, '}')
}
