package config

import "math"

// WebSocket is the [websocket] table: what one client of the WebSocket
// stream may send and make the daemon hold. A client over a limit is
// disconnected and counted on /metrics (hbd_ws_cut_off_total), except a
// subscription over max_globs, which is answered with an error and changes
// nothing.
type WebSocket struct {
	// MessageRate and MessageBurst bound the messages (subscriptions,
	// pings, pongs) one client may send: a token bucket of MessageBurst
	// refilled at MessageRate per second. Defaults 10 and 20; a browser
	// page sends one subscription when it connects.
	MessageRate  float64 `toml:"message_rate"`
	MessageBurst int     `toml:"message_burst"`
	// MaxMessageSize is the largest message a client may send, in bytes;
	// default 65536, between 1024 and 16 MiB.
	MaxMessageSize int `toml:"max_message_size"`
	// MaxGlobs bounds the host globs of one subscription; default 64,
	// between 1 and 1024. Every event is matched against every glob of
	// every client.
	MaxGlobs int `toml:"max_globs"`
	// QueueBytes is how much a client that reads too slowly may have
	// waiting, in bytes, beyond one snapshot of the whole fleet; default
	// 8 MiB, between 64 KiB and 1 GiB.
	QueueBytes int `toml:"queue_bytes"`
	// FanoutRate is the stream's CPU budget: frames a second queued for
	// all clients together (one frame to 20 filtered clients counts 20;
	// the clients that take everything share one batch, where it counts
	// 1). Host and
	// plugin changes past it wait, the newest of each host and plugin in
	// place of the older, so clients get every host's latest state later
	// rather than the stream taking the cores ingest needs. Default
	// 100,000; 0 turns the budget off.
	FanoutRate int `toml:"fanout_rate"`
}

func defaultWebSocket() WebSocket {
	return WebSocket{
		MessageRate:    10,
		MessageBurst:   20,
		MaxMessageSize: 64 << 10,
		MaxGlobs:       64,
		QueueBytes:     8 << 20,
		FanoutRate:     100000,
	}
}

func (w *WebSocket) validate(r *report, p keyPath) {
	if w.MessageRate <= 0 || w.MessageRate > 1e6 || math.IsNaN(w.MessageRate) {
		r.invalid(p.key("message_rate"), "must be greater than 0 and at most 1000000 messages a second, got %v", w.MessageRate)
	}
	intRange(r, p.key("message_burst"), w.MessageBurst, 1, 1000000)
	intRange(r, p.key("max_message_size"), w.MaxMessageSize, 1024, 16<<20)
	intRange(r, p.key("max_globs"), w.MaxGlobs, 1, 1024)
	intRange(r, p.key("queue_bytes"), w.QueueBytes, 64<<10, 1<<30)
	if w.FanoutRate != 0 {
		intRange(r, p.key("fanout_rate"), w.FanoutRate, 1000, 100000000)
	}
}
