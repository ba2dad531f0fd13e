package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// WSConfig configures RunWS.
type WSConfig struct {
	URL     string // e.g. ws://127.0.0.1:50005/hbd
	Clients int
	// HostPrefix selects the frames measured: plugin frames of hosts whose
	// name starts with it (the harness's own hosts, whose sample timestamps
	// come from this process's clock).
	HostPrefix string
	// Now is the clock frames are timed with; nil means time.Now. It must
	// be the clock the generator stamps samples with.
	Now func() time.Time
	// Retry is the pause before reconnecting; 0 means 1 s.
	Retry time.Duration
	// Steady, when not nil, also gets the latencies of the frames
	// received from SteadyFrom on: the fleet past its start, when every
	// host's first contact (its boot, its new alerts) has been streamed.
	Steady     *Histogram
	SteadyFrom time.Time
}

// WSStats are the WebSocket clients' counters; safe for concurrent use.
type WSStats struct {
	Frames      atomic.Uint64 // WebSocket messages received
	Measured    atomic.Uint64 // plugin messages of bench hosts timed
	Connects    atomic.Uint64
	Disconnects atomic.Uint64 // connections lost while the run went on
	DialErrors  atomic.Uint64
}

// RunWS runs cfg.Clients WebSocket clients until ctx is done. Each records,
// for every plugin message of a bench host, receive time - the sample's
// "timestamp" into e2e. A client that is disconnected (for example cut off
// by the daemon as a slow consumer) counts it and reconnects.
func RunWS(ctx context.Context, cfg WSConfig, e2e *Histogram, st *WSStats) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retry == 0 {
		cfg.Retry = time.Second
	}
	var wg sync.WaitGroup
	for range cfg.Clients {
		wg.Go(func() { wsClient(ctx, cfg, e2e, st) })
	}
	wg.Wait()
}

func wsClient(ctx context.Context, cfg WSConfig, e2e *Histogram, st *WSStats) {
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	buf := make([]byte, 0, 64<<10)
	for ctx.Err() == nil {
		conn, _, err := dialer.DialContext(ctx, cfg.URL, nil)
		if err != nil {
			if ctx.Err() == nil {
				st.DialErrors.Add(1)
				waitCtx(ctx, cfg.Retry)
			}
			continue
		}
		st.Connects.Add(1)
		// Closing the connection is what unblocks a pending read when the
		// run ends; say goodbye properly first.
		stop := context.AfterFunc(ctx, func() {
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bench finished"), time.Now().Add(time.Second))
			_ = conn.Close()
		})
		for {
			_, r, err := conn.NextReader()
			if err != nil {
				break
			}
			buf, err = readInto(buf[:0], r)
			if err != nil {
				break
			}
			st.Frames.Add(1)
			now := cfg.Now()
			steady := cfg.Steady
			if now.Before(cfg.SteadyFrom) {
				steady = nil
			}
			st.Measured.Add(uint64(measureFrame(buf, cfg.HostPrefix, now, e2e, steady)))
		}
		if stop() {
			_ = conn.Close()
		}
		if ctx.Err() == nil {
			st.Disconnects.Add(1)
			waitCtx(ctx, cfg.Retry)
		}
	}
}

// readInto appends all of r to b, reusing b's memory.
func readInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// waitCtx waits for d or until ctx is done.
func waitCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// measureFrame records the latency of every bench plugin message in one
// WebSocket frame into h, and into h2 unless it is nil, and returns how
// many it recorded. A frame is one JSON message, several separated by
// newlines, or a JSON array of messages.
func measureFrame(frame []byte, prefix string, now time.Time, h, h2 *Histogram) int {
	frame = bytes.TrimSpace(frame)
	n := 0
	if len(frame) > 0 && frame[0] == '[' {
		var msgs []json.RawMessage
		if json.Unmarshal(frame, &msgs) != nil {
			return 0
		}
		for _, m := range msgs {
			if d, ok := pluginLatency(m, prefix, now); ok {
				record(d, h, h2)
				n++
			}
		}
		return n
	}
	for len(frame) > 0 {
		msg := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			msg, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		if d, ok := pluginLatency(msg, prefix, now); ok {
			record(d, h, h2)
			n++
		}
	}
	return n
}

func record(d time.Duration, h, h2 *Histogram) {
	h.Record(d)
	if h2 != nil {
		h2.Record(d)
	}
}

// pluginLatency returns now - the sample timestamp of msg when msg is a
// plugin message ({"type":"plugin","data":{"host":...,"timestamp":...}})
// of a host named with prefix. It scans for the keys rather than decoding
// the message: twenty clients each receive every sample of the fleet, and
// a full decode of each would make the harness, not the daemon, the
// bottleneck. The scan is sound for bench hosts because their sample
// objects contain no "type", "host" or "timestamp" keys of their own.
// The daemon sends timestamps in seconds with millisecond resolution, so
// latencies are over-stated by up to 1 ms.
func pluginLatency(msg []byte, prefix string, now time.Time) (time.Duration, bool) {
	t := fieldValue(msg, `"type"`)
	if !bytes.HasPrefix(t, []byte(`"plugin"`)) {
		return 0, false
	}
	h := fieldValue(msg, `"host"`)
	if len(h) < 1+len(prefix) || h[0] != '"' || string(h[1:1+len(prefix)]) != prefix {
		return 0, false
	}
	ts := fieldValue(msg, `"timestamp"`)
	end := 0
	for end < len(ts) && (ts[end] >= '0' && ts[end] <= '9' || ts[end] == '.' || ts[end] == 'e' || ts[end] == 'E' || ts[end] == '-' || ts[end] == '+') {
		end++
	}
	sec, err := strconv.ParseFloat(string(ts[:end]), 64)
	if err != nil || sec <= 0 {
		return 0, false
	}
	ms := int64(math.Round(sec * 1e3))
	return now.Sub(time.UnixMilli(ms)), true
}

// fieldValue returns msg from the first value of key on (after the colon
// and any spaces), or nil.
// key is given with its quotes ("\"host\""), so the search needs no
// allocation.
func fieldValue(msg []byte, key string) []byte {
	for off := 0; ; {
		i := bytes.Index(msg[off:], []byte(key))
		if i < 0 {
			return nil
		}
		rest := bytes.TrimLeft(msg[off+i+len(key):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			return bytes.TrimLeft(rest[1:], " \t\r\n")
		}
		// The key appeared as a value ("host":"type"); look further.
		off += i + len(key)
	}
}
