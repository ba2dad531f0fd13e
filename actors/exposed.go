package actors

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
)

// AlertLevel is one metric path a host's alerts track, at its level.
type AlertLevel struct {
	Path  string
	Level alert.Level
}

// PluginSample is the newest sample of one of a host's plugins: the
// agent's timestamp and the JSON object it sent.
type PluginSample struct {
	Plugin   string
	UnixNano int64
	JSON     []byte

	start, end int // JSON's place in the buffer while it grows
}

// exposed is what a HostActor lets readers on other goroutines (the fleet
// exposition, GET /metrics/fleet) see without a message: the newest
// sample of each plugin, read from its rings, and the level of every
// tracked metric path. A scrape of 100,000 hosts must not send 100,000
// messages, and copying each sample out for it would cost an allocation
// per sample on the ingest path; a mutex per host costs 8 bytes and an
// uncontended lock per stored sample. The actor changes its plugin map,
// its rings and levels only under mu; it reads them without it, since it
// is their only writer. Readers hold mu for as long as it takes to copy a
// sample's JSON out of a ring.
type exposed struct {
	mu sync.Mutex
	// levels are the tracked paths sorted by path; the slice is replaced,
	// never modified.
	levels []AlertLevel
	// parents are the host's declared parents (deps.go), for its host
	// object: replaced whole, read without mu.
	parents atomic.Pointer[[]string]
}

// heartbeatOnly are the levels of a host whose alerts track only the
// heartbeat, the common case, one shared slice per level: most hosts pay
// nothing for their levels.
var heartbeatOnly = func() (out [alert.LevelUnknown + 1][]AlertLevel) {
	for l := range out {
		out[l] = []AlertLevel{{Path: heartbeatMetric, Level: alert.Level(l)}}
	}
	return out
}()

// publishLevels replaces the levels readers see with the trackers'.
func (a *hostActor) publishLevels() {
	all := a.alerts.all()
	var levels []AlertLevel
	if len(all) == 1 && all[0].Path == heartbeatMetric && int(all[0].Level) < len(heartbeatOnly) {
		levels = heartbeatOnly[all[0].Level]
	} else {
		levels = make([]AlertLevel, len(all))
		for i, t := range all {
			levels[i] = AlertLevel{Path: t.Path, Level: t.Level}
		}
	}
	a.exp.mu.Lock()
	a.exp.levels = levels
	a.exp.mu.Unlock()
}

// AlertLevels returns the level of every metric path the host's alerts
// track, OK included, sorted by path. The slice must not be modified.
func (s *HostSummary) AlertLevels() []AlertLevel {
	if s.src == nil {
		return nil
	}
	s.src.exp.mu.Lock()
	defer s.src.exp.mu.Unlock()
	return s.src.exp.levels
}

// NewestSamples appends the newest sample of each of the host's plugins
// to dst, sorted by plugin name, their JSON appended to buf (each
// PluginSample.JSON is a slice of the returned buf). With dst and buf
// reused, it allocates nothing once they are large enough.
func (s *HostSummary) NewestSamples(dst []PluginSample, buf []byte) ([]PluginSample, []byte) {
	if s.src == nil {
		return dst, buf
	}
	first := len(dst)
	a := s.src
	a.exp.mu.Lock()
	for name, r := range a.plugins {
		if r.len() == 0 {
			continue // a new plugin whose first sample was not stored
		}
		start := len(buf)
		buf = r.appendNewest(buf)
		dst = append(dst, PluginSample{Plugin: name, UnixNano: r.newestTime(), start: start, end: len(buf)})
	}
	a.exp.mu.Unlock()
	// Sliced at the end: buf may have moved while it grew.
	for i := first; i < len(dst); i++ {
		dst[i].JSON = buf[dst[i].start:dst[i].end:dst[i].end]
	}
	slices.SortFunc(dst[first:], func(x, y PluginSample) int { return strings.Compare(x.Plugin, y.Plugin) })
	return dst, buf
}

// NewestSample appends the JSON of the newest sample of the host's plugin
// to buf and returns it with the sample's timestamp; ok is false if the
// host has no sample of that plugin.
func (s *HostSummary) NewestSample(plugin string, buf []byte) (unixNano int64, json []byte, ok bool) {
	if s.src == nil {
		return 0, buf, false
	}
	a := s.src
	a.exp.mu.Lock()
	defer a.exp.mu.Unlock()
	r := a.plugins[plugin]
	if r == nil || r.len() == 0 {
		return 0, buf, false
	}
	return r.newestTime(), r.appendNewest(buf), true
}

// Dyn reports whether the host registered itself (not in watchhosts).
func (s *HostSummary) Dyn() bool { return s.dyn }

// Interval is the heartbeat interval the host's agent announced (or the
// one assumed until it does).
func (s *HostSummary) Interval() time.Duration { return s.interval }

// AgentVersion is the version the host's agent announced; "" until it does.
func (s *HostSummary) AgentVersion() string { return s.agentVersion }
