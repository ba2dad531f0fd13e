package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// DetectConfig configures RunDetect.
type DetectConfig struct {
	Common
	WSURL string // the daemon's WebSocket URL: its journal messages say when a host went DOWN
	// Warmup runs the fleet before the first kill, so every connection
	// has the history the adaptive detector needs; 0 means 40 intervals.
	Warmup time.Duration
	// Kill clean hosts (picked by Seed) stop sending at times spread
	// evenly over KillSpread after the warm-up.
	Kill       int
	KillSpread time.Duration
	// Duration is the whole run: the warm-up, the kills, and the time
	// false DOWNs are counted over. The run waits, after the last kill,
	// for at least DetectWait (0: 10 intervals) for it to be detected.
	Duration   time.Duration
	DetectWait time.Duration
}

// DetectResult is what RunDetect measured.
type DetectResult struct {
	Killed   int        `json:"killed"`
	Detected int        `json:"detected"`    // killed hosts seen DOWN
	DetectMs *Quantiles `json:"detect_ms"`   // from the kill to the DOWN transition (the daemon's event time)
	MedianMs float64    `json:"median_ms"`   // = detect_ms.p50, for the table
	MaxMs    float64    `json:"max_ms"`      // slowest detection
	Lossy    int        `json:"lossy_hosts"` // hosts on the lossy profile
	// False DOWNs: DOWN transitions of hosts that were not killed (or
	// before their kill), over Hours of observation after the warm-up.
	Hours            float64 `json:"hours"`
	FalseDown        int     `json:"false_down"`
	FalseDownPerHour float64 `json:"false_down_per_hour"`
	FalseDownClean   int     `json:"false_down_clean"`
	FalseDownLossy   int     `json:"false_down_lossy"`
	FalseDownHosts   int     `json:"false_down_hosts"` // distinct hosts with a false DOWN
	SuspectPerHour   float64 `json:"suspect_per_hour"` // transitions to SUSPECT of hosts not killed
	MessagesDropped  bool    `json:"messages_dropped"` // the stream reported a gap: counts are a floor
	WSReconnects     uint64  `json:"ws_reconnects"`
}

// RunDetect is the detection scenario: a fleet (with Gen's network and
// lossy profiles) runs for the warm-up; then Kill clean hosts stop
// sending, one after another; a WebSocket client follows the daemon's
// journal messages ("state X -> DOWN") to time each death's detection and
// to count the DOWN transitions of hosts that were not killed: false
// DOWNs, per hour of observation.
func RunDetect(ctx context.Context, cfg DetectConfig) (*Report, error) {
	iv := cfg.Gen.HeartbeatInterval
	switch {
	case cfg.WSURL == "":
		return nil, errors.New("detect: needs the daemon's WebSocket URL (-ws) to follow its state changes")
	case iv <= 0:
		return nil, errors.New("detect: needs heartbeats (-hb-interval)")
	case cfg.Kill < 0 || cfg.Kill > cfg.Gen.Hosts:
		return nil, fmt.Errorf("detect: cannot kill %d of %d hosts", cfg.Kill, cfg.Gen.Hosts)
	}
	warmup := cfg.Warmup
	if warmup == 0 {
		warmup = 40 * iv
	}
	wait := cfg.DetectWait
	if wait == 0 {
		wait = 10 * iv
	}
	if cfg.Duration < warmup+cfg.KillSpread+wait {
		return nil, fmt.Errorf("detect: -duration %s is shorter than the warm-up (%s), the kill spread (%s) and the detection wait (%s)",
			cfg.Duration, warmup, cfg.KillSpread, wait)
	}
	// Pick the victims among the clean hosts, before the generator
	// exists: its kills are part of its config.
	lossy := pickLossy(cfg.Gen.Hosts, cfg.Gen.LossyFrac, cfg.Gen.Seed)
	var clean []int
	for i, l := range lossy {
		if !l {
			clean = append(clean, i)
		}
	}
	if cfg.Kill > len(clean) {
		return nil, fmt.Errorf("detect: cannot kill %d hosts, %d are clean", cfg.Kill, len(clean))
	}
	r := rand.New(rand.NewPCG(cfg.Gen.Seed, 0xdead))
	r.Shuffle(len(clean), func(i, j int) { clean[i], clean[j] = clean[j], clean[i] })
	cfg.Gen.Kills = nil
	// Deaths and DOWNs are timed by the wall clock, and a pause would be
	// read as deaths: a stalled harness catches up here (and says so).
	cfg.Gen.MaxCatchUp = -1
	for k := range cfg.Kill {
		at := warmup
		if cfg.Kill > 1 {
			at += cfg.KillSpread * time.Duration(k) / time.Duration(cfg.Kill-1)
		}
		cfg.Gen.Kills = append(cfg.Gen.Kills, Kill{Host: clean[k], At: at})
	}

	rep, g, mo, release, err := begin(ctx, &cfg.Common, "detect")
	if err != nil {
		return nil, err
	}
	defer release()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := newDownWatch(cfg.Gen.FirstHost, cfg.Gen.Hosts)
	var side sync.WaitGroup
	side.Go(func() { w.follow(runCtx, cfg.WSURL) })
	start := time.Now()
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		g.Run(runCtx, cfg.Duration)
	}()
	mo.status = "warm-up"
	mo.runFor(ctx, warmup, genDone, nil)
	mo.status = "killing"
	mo.runFor(ctx, cfg.Duration-warmup, genDone, nil)
	<-genDone
	end := time.Now()
	cancel()
	side.Wait()

	res := w.result(g, start, warmup, end, cfg.Gen.Kills)
	rep.Detect = res
	if _, err := mo.finish(ctx, rep, end.Sub(start)); err != nil {
		return rep, err
	}
	if res.Detected < res.Killed {
		rep.warn("%d of %d killed hosts were not seen DOWN within the run", res.Killed-res.Detected, res.Killed)
	}
	if res.MessagesDropped {
		rep.warn("the WebSocket stream dropped messages: the false DOWN count is a floor")
	}
	if cfg.ShutdownRate > 0 {
		g.Shutdown(ctx, cfg.ShutdownRate)
	}
	return rep, ctx.Err()
}

// downEvent is one state transition of a bench host, as the daemon's
// journal message told it.
type downEvent struct {
	host int // index from 0
	at   time.Time
	to   string // DOWN or SUSPECT
}

// downWatch follows the daemon's journal messages over the stream.
type downWatch struct {
	first, hosts int
	mu           sync.Mutex
	events       []downEvent
	dropped      bool
	reconnects   uint64
}

func newDownWatch(first, hosts int) *downWatch {
	if first == 0 {
		first = 1
	}
	return &downWatch{first: first, hosts: hosts}
}

// maxDownEvents bounds what the watch keeps: a run that makes more
// transitions than this is measuring something other than detection.
const maxDownEvents = 1 << 20

// follow reads message frames until ctx is done, reconnecting after a
// lost connection (1 s later).
func (w *downWatch) follow(ctx context.Context, url string) {
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	for n := 0; ctx.Err() == nil; n++ {
		if n > 0 {
			w.mu.Lock()
			w.reconnects++
			w.dropped = true // what came while disconnected is lost
			w.mu.Unlock()
			waitCtx(ctx, time.Second)
		}
		conn, _, err := dialer.DialContext(ctx, url, nil)
		if err != nil {
			continue
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		sub := `{"subscribe":{"hosts":["bench-*"],"types":["message"]}}`
		if err := conn.WriteMessage(websocket.TextMessage, []byte(sub)); err == nil {
			w.read(conn)
		}
		stop()
		_ = conn.Close()
	}
}

func (w *downWatch) read(conn *websocket.Conn) {
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		for line := range strings.SplitSeq(string(msg), "\n") {
			w.note([]byte(line))
		}
	}
}

// note records a journal message that says a bench host went DOWN or
// SUSPECT ("state UP -> DOWN").
func (w *downWatch) note(line []byte) {
	var f struct {
		Type string `json:"type"`
		Data struct {
			Time float64 `json:"time"`
			Host string  `json:"host"`
			Msg  string  `json:"msg"`
		} `json:"data"`
	}
	if json.Unmarshal(line, &f) != nil {
		return
	}
	to := ""
	switch {
	case f.Type != "message" || !strings.HasPrefix(f.Data.Msg, "state "):
		return
	case strings.HasSuffix(f.Data.Msg, "-> DOWN"):
		to = "DOWN"
	case strings.HasSuffix(f.Data.Msg, "-> SUSPECT"):
		to = "SUSPECT"
	default:
		return
	}
	num, ok := hostNumber([]byte(f.Data.Host))
	if i := num - w.first; ok && i >= 0 && i < w.hosts {
		sec := int64(f.Data.Time)
		at := time.Unix(sec, int64((f.Data.Time-float64(sec))*1e9))
		w.mu.Lock()
		if len(w.events) < maxDownEvents {
			w.events = append(w.events, downEvent{host: i, at: at, to: to})
		} else {
			w.dropped = true
		}
		w.mu.Unlock()
	}
}

// result sorts the events into detections and false DOWNs. Transitions
// during the warm-up are not counted: every host goes through its first
// heartbeats then.
func (w *downWatch) result(g *Generator, start time.Time, warmup time.Duration, end time.Time, kills []Kill) *DetectResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	killAt := map[int]time.Time{}
	for _, k := range kills {
		killAt[k.Host] = start.Add(k.At)
	}
	observed := start.Add(warmup)
	res := &DetectResult{Killed: len(kills), MessagesDropped: w.dropped, WSReconnects: w.reconnects}
	for i := range g.cfg.Hosts {
		if g.Lossy(i) {
			res.Lossy++
		}
	}
	var h Histogram
	detected := map[int]bool{}
	falseHosts := map[int]bool{}
	suspects := 0
	for _, e := range w.events {
		if e.at.Before(observed) {
			continue
		}
		k, killed := killAt[e.host]
		dead := killed && !e.at.Before(k)
		switch {
		case e.to == "SUSPECT":
			if !dead {
				suspects++
			}
		case dead:
			if !detected[e.host] {
				detected[e.host] = true
				d := e.at.Sub(k)
				h.Record(d)
				res.MaxMs = max(res.MaxMs, float64(d)/1e6)
			}
		default:
			res.FalseDown++
			falseHosts[e.host] = true
			if g.Lossy(e.host) {
				res.FalseDownLossy++
			} else {
				res.FalseDownClean++
			}
		}
	}
	res.Detected = len(detected)
	if res.Detected > 0 {
		res.DetectMs = h.Summary()
		res.MedianMs = res.DetectMs.P50
	}
	res.FalseDownHosts = len(falseHosts)
	res.Hours = end.Sub(observed).Hours()
	if res.Hours > 0 {
		res.FalseDownPerHour = float64(res.FalseDown) / res.Hours
		res.SuspectPerHour = float64(suspects) / res.Hours
	}
	return res
}
