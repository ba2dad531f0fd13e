// Package silence is the store of silences: globs over host names and
// metric paths that mute notifications until they expire, or, with a
// Schedule, during recurring maintenance windows.
//
// Match is lock-free and may be called from any goroutine (HostActors and
// the notifier call it on every alert change); Add and Delete serialize on
// a mutex. The set is saved as JSON to one file by a background goroutine,
// at most once a second; Close writes what is pending.
//
// A timer on the store's clock wakes it at the next edge of any silence
// (an expiry, a window opening or closing), never by polling; the
// silences that stopped muting then are handed to OnEnd's function, which
// sends what they held back (see actors).
package silence

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbd-project/hbd/internal/clock"
	"github.com/hbd-project/hbd/internal/limits"
)

// Silence mutes notifications for the alerts of matching hosts and
// metrics until it expires. Silenced alerts still change level and show
// "silenced": true; they only send nothing. Its API form is
// internal/contract's; its file form is fileRecord.
type Silence struct {
	ID      string
	Host    string // host-name glob (path.Match)
	Metric  string // metric-path glob; "*" matches one segment, "" or "**" every metric
	Until   time.Time
	Comment string
	Created time.Time
	Origin  string // "api", "agent" or "config"

	// Name is a [[maintenance]] window's name ("" for the others).
	Name string
	// Schedule makes the silence a recurring maintenance window (Until
	// is then zero: it lasts until deleted, or removed from the config);
	// nil for a one-shot silence.
	Schedule *Schedule
	// Window is a recurring silence's window open at the store's last
	// edge, or the next one (see Store.settle).
	Window Window
	// Narrowed marks, in what OnEnd reports, a silence that still mutes
	// but whose host or metric glob changed (a reload): it ended for
	// what it no longer covers. The copy reported has the old globs.
	Narrowed bool
}

// Recurring reports whether the silence is a maintenance window.
func (s *Silence) Recurring() bool { return s.Schedule != nil }

// Label names the silence in the journal: its comment, or what it is.
func (s *Silence) Label() string {
	switch {
	case s.Comment != "":
		return s.Comment
	case s.Name != "":
		return "maintenance window " + s.Name
	}
	return "silence " + s.ID
}

// OriginConfig marks the silences a [[maintenance]] table makes: the API
// cannot delete them; the config's next reload replaces them.
const OriginConfig = "config"

// ConfigID is the ID of the [[maintenance]] window named name.
func ConfigID(name string) string { return "config:" + name }

// fileRecord is a silence in the file, times as unix seconds. The file is
// the store's own format, not the API's; it has the same names because
// the API once wrote the file, and files written then must still load.
type fileRecord struct {
	ID      string  `json:"id"`
	Host    string  `json:"host"`
	Metric  string  `json:"metric"`
	Comment string  `json:"comment"`
	Origin  string  `json:"origin"`
	Until   float64 `json:"until"`
	Created float64 `json:"created"`
	// A maintenance window's schedule: until is 0, duration in seconds.
	Schedule string  `json:"schedule,omitempty"`
	Duration float64 `json:"duration,omitempty"`
	Timezone string  `json:"timezone,omitempty"`
}

func recordOf(s *Silence) fileRecord {
	r := fileRecord{ID: s.ID, Host: s.Host, Metric: s.Metric, Comment: s.Comment, Origin: s.Origin,
		Until: unixSeconds(s.Until), Created: unixSeconds(s.Created)}
	if s.Schedule != nil {
		r.Until = 0
		r.Schedule, r.Duration, r.Timezone = s.Schedule.String(), s.Schedule.Duration().Seconds(), s.Schedule.Zone().String()
	}
	return r
}

func (r *fileRecord) silence() (Silence, error) {
	s := Silence{ID: r.ID, Host: r.Host, Metric: r.Metric, Comment: r.Comment, Origin: r.Origin,
		Until: time.UnixMilli(int64(r.Until * 1e3)), Created: time.UnixMilli(int64(r.Created * 1e3))}
	if r.Schedule != "" {
		sched, err := ParseSchedule(r.Schedule, time.Duration(r.Duration*float64(time.Second)), r.Timezone)
		if err != nil {
			return Silence{}, err
		}
		s.Until, s.Schedule = time.Time{}, sched
	}
	return s, nil
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

// matches reports whether the silence covers host's metric at now.
func (s *Silence) matches(host, metric string, now time.Time) bool {
	if !s.activeAt(now) {
		return false
	}
	if ok, _ := path.Match(s.Host, host); !ok {
		return false
	}
	return metricMatch(s.Metric, metric)
}

// activeAt reports whether the silence mutes at now: before its expiry,
// or inside one of its windows. Window is refreshed at every edge, so it
// almost always answers; between an edge and the timer that refreshes it
// the schedule is asked.
func (s *Silence) activeAt(now time.Time) bool {
	if s.Schedule == nil {
		return now.Before(s.Until)
	}
	if now.Before(s.Window.End) {
		return !now.Before(s.Window.Start)
	}
	w, ok := s.Schedule.Occurrence(now)
	return ok && w.Contains(now)
}

// expired reports whether the silence will never mute again.
func (s *Silence) expired(now time.Time) bool {
	if s.Schedule == nil {
		return !now.Before(s.Until)
	}
	return s.refreshed(now).Window.End.IsZero()
}

// refreshed is the silence with Window set to the window open at now or
// the next one (End zero: no more windows).
func (s Silence) refreshed(now time.Time) Silence {
	if s.Schedule == nil || now.Before(s.Window.End) {
		return s
	}
	w, ok := s.Schedule.Occurrence(now)
	if !ok {
		w = Window{}
	}
	s.Window = w
	return s
}

// MatchMetric reports whether metric matches the metric glob of a
// silence (see Silence.Metric).
func MatchMetric(pattern, metric string) bool { return metricMatch(pattern, metric) }

// metricMatch matches a metric path against a glob: segments are separated
// by dots and "*" stands for one segment ("disk_monitor.*.percent"). Unlike
// path.Match, a segment may contain "/" (mount points), and "*" or "?"
// inside a segment match any characters. "" and "**" match every path.
func metricMatch(pattern, metric string) bool {
	if pattern == "" || pattern == "**" {
		return true
	}
	ps, ms := strings.Split(pattern, "."), strings.Split(metric, ".")
	if len(ps) != len(ms) {
		return false
	}
	for i := range ps {
		if !wildcard(ps[i], ms[i]) {
			return false
		}
	}
	return true
}

// wildcard matches s against p, where '*' is any run of characters and '?'
// any one character.
func wildcard(p, s string) bool {
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(p) && (p[i] == '?' || p[i] == s[j]):
			i++
			j++
		case i < len(p) && p[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			i = star + 1
			mark++
			j = mark
		default:
			return false
		}
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}

// Store is the set of silences. Match is lock-free (it reads an
// immutable snapshot), so HostActors and the notifier may call it on every
// alert change; Add and Delete, which are rare, take a mutex, publish a new
// snapshot and ask a background goroutine to save it to disk.
type Store struct {
	mu    sync.Mutex
	cur   atomic.Pointer[[]Silence]
	file  string // "" = not persisted
	clock clock.Clock
	log   *slog.Logger
	save  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
	// caps bound how many silences Add keeps and how long their globs
	// are; nil: no caps (set by limit before the first Add).
	caps   atomic.Pointer[capsOf]
	writes atomic.Int64 // files written, for tests

	// The edges (under mu): muting holds the silences that muted at the
	// last settle, by ID, so the next one tells which stopped; edge is
	// the timer to the next expiry or window edge; onEnd gets the
	// silences that stopped muting.
	muting map[string]Silence
	edge   clock.Timer
	edgeAt time.Time
	// edgeGen numbers the edge timers: a timer that fired while armAt
	// replaced it (both wait for mu) finds another number and does
	// nothing, rather than dropping the new timer unstopped.
	edgeGen uint64
	onEnd   func([]Silence)
	// unheard holds what ended before OnEnd was set (the daemon is
	// starting), for OnEnd to get at once; bounded by the store's size.
	unheard []Silence
}

// saveEvery paces the saver: at most one write of the file per this
// interval, whatever the rate of changes, so a flood of silence requests
// costs one rewrite a second rather than one per request. Close writes
// what is pending at once: a clean stop loses nothing.
const saveEvery = time.Second

// ErrTooMany is returned (wrapped) by Add when a [limits] cap on
// active silences is reached.
var ErrTooMany = errors.New("too many silences")

// errGlobTooLong is wrapped by Add's error for a glob over [limits]
// glob_length.
var errGlobTooLong = errors.New("glob too long")

// ErrNotFound is returned (wrapped) by Remove for an ID no silence has.
var ErrNotFound = errors.New("no such silence")

// ErrFromConfig is returned (wrapped) by Remove for a [[maintenance]]
// window, which only the config removes.
var ErrFromConfig = errors.New("the silence is a [[maintenance]] window of the config file")

// RefusedByCap reports whether Add's error comes from a [limits] cap, which
// counted and logged it already.
func RefusedByCap(err error) bool {
	return errors.Is(err, ErrTooMany) || errors.Is(err, errGlobTooLong)
}

// Open loads file (if it exists) and starts the saver. file "" keeps
// silences in memory only.
func Open(file string, clk clock.Clock, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{file: file, clock: clk, log: log, save: make(chan struct{}, 1), done: make(chan struct{}), muting: map[string]Silence{}}
	list := []Silence{}
	if file != "" {
		b, err := os.ReadFile(file)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("cannot read silences: %w", err)
		default:
			var stored []fileRecord
			if err := json.Unmarshal(b, &stored); err != nil {
				return nil, fmt.Errorf("cannot read silences from %s: %w", file, err)
			}
			now := clk.Now()
			for i := range stored {
				sil, err := stored[i].silence()
				if err != nil {
					// A zone the system's tzdata no longer knows: the
					// rest of the silences still count.
					log.Error("silence dropped: its schedule no longer parses", "file", file, "id", stored[i].ID, "err", err)
					continue
				}
				if sil = sil.refreshed(now); !sil.expired(now) {
					list = append(list, sil)
				}
			}
		}
	}
	s.cur.Store(&list)
	s.mu.Lock()
	s.settle(s.clock.Now())
	s.mu.Unlock()
	s.wg.Add(1)
	go s.saver()
	return s, nil
}

// maxUnheard bounds what is kept for OnEnd before it is set: a daemon sets
// it while starting, so only a store without one (a test) gets near it.
const maxUnheard = 4096

// OnEnd sets the function the store calls, on its own goroutine, with
// the silences that stopped muting: expired, deleted, removed from the
// config, or whose window closed. Set it before the first of them ends;
// it must not call back into the store's Add, Remove or SetConfig.
func (s *Store) OnEnd(f func([]Silence)) {
	s.mu.Lock()
	s.onEnd = f
	unheard := s.unheard
	s.unheard = nil
	s.mu.Unlock()
	if f != nil && len(unheard) > 0 {
		f(unheard)
	}
}

// settle brings the set to now, with s.mu held: it drops what expired,
// moves each window on to the one open now or next, publishes that, and
// arms the timer for the next edge. It returns the silences that muted at
// the last settle and no longer do, for the caller to hand to onEnd once
// it has let go of s.mu.
func (s *Store) settle(now time.Time) []Silence {
	cur := *s.cur.Load()
	next := make([]Silence, 0, len(cur))
	changed := false
	for _, x := range cur {
		y := x.refreshed(now)
		if y.expired(now) {
			changed = true
			continue
		}
		changed = changed || y.Window != x.Window
		next = append(next, y)
	}
	if changed {
		s.cur.Store(&next)
	}
	var ended []Silence
	muting := make(map[string]Silence, len(s.muting))
	for i := range next {
		if next[i].activeAt(now) {
			muting[next[i].ID] = next[i]
		}
	}
	for id, x := range s.muting {
		// One that still mutes but covers other hosts or metrics (a
		// reload narrowed a window's globs) counts as ended too: what
		// it held back for what it no longer covers is released, and
		// what it still covers stays held (the HostActors check).
		if y, still := muting[id]; !still {
			ended = append(ended, x)
		} else if y.Host != x.Host || y.Metric != x.Metric {
			x.Narrowed = true
			ended = append(ended, x)
		}
	}
	slices.SortFunc(ended, func(a, b Silence) int { return strings.Compare(a.ID, b.ID) })
	s.muting = muting
	s.arm(now, next)
	return ended
}

// arm sets the edge timer to the soonest expiry or window edge of list
// after now.
func (s *Store) arm(now time.Time, list []Silence) {
	var at time.Time
	for i := range list {
		if e := list[i].nextEdge(now); !e.IsZero() && (at.IsZero() || e.Before(at)) {
			at = e
		}
	}
	s.armAt(now, at)
}

// nextEdge is the silence's next expiry or window edge after now; zero if
// none.
func (s *Silence) nextEdge(now time.Time) time.Time {
	e := s.Until
	if s.Schedule != nil {
		e = s.Window.End
		if now.Before(s.Window.Start) {
			e = s.Window.Start
		}
	}
	if !e.After(now) {
		return time.Time{}
	}
	return e
}

// added is settle for one silence just added, with s.mu held: nothing
// else changed, so a flood of adds costs no walk over the whole set.
func (s *Store) added(now time.Time, sil *Silence) {
	if sil.activeAt(now) {
		s.muting[sil.ID] = *sil
	}
	if e := sil.nextEdge(now); !e.IsZero() && (s.edge == nil || e.Before(s.edgeAt)) {
		s.armAt(now, e)
	}
}

// armAt sets the edge timer to at (zero: none).
func (s *Store) armAt(now, at time.Time) {
	if at.Equal(s.edgeAt) && s.edge != nil {
		return
	}
	if s.edge != nil {
		s.edge.Stop()
		s.edge = nil
	}
	s.edgeAt = at
	if at.IsZero() {
		return
	}
	s.edgeGen++
	gen := s.edgeGen
	s.edge = s.clock.AfterFunc(min(at.Sub(now), maxEdgeWait), func() { s.onEdge(gen) })
}

// maxEdgeWait caps the edge timer: it runs on the monotonic clock, which
// neither a step of the wall clock (NTP) nor a suspended machine moves, so
// a timer for an edge hours ahead could fire hours after it. Waking once
// a minute to find nothing due costs one look over the set.
const maxEdgeWait = time.Minute

// onEdge runs when the edge timer fires.
func (s *Store) onEdge(gen uint64) {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return
	default:
	}
	if gen != s.edgeGen {
		s.mu.Unlock()
		return // replaced after it fired: the new timer is armed
	}
	s.edge, s.edgeAt = nil, time.Time{}
	ended := s.settle(s.clock.Now())
	s.mu.Unlock()
	s.ended(ended)
}

// ended hands what stopped muting to onEnd.
func (s *Store) ended(list []Silence) {
	if len(list) == 0 {
		return
	}
	s.mu.Lock()
	f := s.onEnd
	if f == nil {
		for _, x := range list {
			if len(s.unheard) < maxUnheard && !slices.ContainsFunc(s.unheard, func(y Silence) bool { return y.ID == x.ID }) {
				s.unheard = append(s.unheard, x)
			}
		}
	}
	s.mu.Unlock()
	for i := range list {
		msg := "silence ended"
		if list[i].Narrowed {
			msg = "silence changed while open: ended for what it no longer covers"
		}
		s.log.Info(msg, "id", list[i].ID, "host", list[i].Host, "metric", list[i].Metric, "label", list[i].Label())
	}
	if f != nil {
		f(list)
	}
}

// Close saves pending changes and stops the saver. Safe to call twice.
func (s *Store) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	if s.edge != nil {
		s.edge.Stop()
		s.edge = nil
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Validate checks a silence's globs and expiry.
func Validate(sil *Silence, now time.Time) error {
	if sil.Host == "" {
		return errors.New("host is required (a host name or glob, e.g. \"web*\")")
	}
	if _, err := path.Match(sil.Host, ""); err != nil {
		return fmt.Errorf("invalid host glob %q", sil.Host)
	}
	if strings.Contains(sil.Metric, "..") || strings.HasPrefix(sil.Metric, ".") || strings.HasSuffix(sil.Metric, ".") {
		return fmt.Errorf("invalid metric glob %q: empty segment", sil.Metric)
	}
	if sil.Schedule != nil {
		if !sil.Until.IsZero() {
			return errors.New("a recurring window has no until: it lasts until deleted")
		}
	} else if !sil.Until.After(now) {
		return errors.New("until must be in the future")
	}
	if len(sil.Comment) > 1024 {
		return errors.New("comment is longer than 1024 bytes")
	}
	return nil
}

// capsOf is what Limit set: the caps and who counts their refusals.
type capsOf struct {
	*limits.Config
	refusals *limits.Refusals
}

// Limit sets the caps Add applies; refusals counts what they refuse. It
// may be called at any time (a reload changes the caps); silences already
// active stay.
func (s *Store) Limit(caps *limits.Config, refusals *limits.Refusals) {
	s.caps.Store(&capsOf{Config: caps, refusals: refusals})
}

// Add validates and stores a silence, returning it with its ID. Beyond
// Validate it applies the [limits] caps: the globs' length, and the
// active silences per host and in total (an error wrapping
// ErrTooMany).
func (s *Store) Add(sil Silence) (Silence, error) {
	now := s.clock.Now()
	if err := s.checkGlobs(now, &sil); err != nil {
		return Silence{}, err
	}
	if err := Validate(&sil, now); err != nil {
		return Silence{}, err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	sil.ID = hex.EncodeToString(id[:])
	sil.Created = now
	s.mu.Lock()
	next := s.active(now)
	if err := s.admit(now, next, &sil); err != nil {
		s.mu.Unlock()
		return Silence{}, err
	}
	sil = sil.refreshed(now)
	if sil.expired(now) {
		s.mu.Unlock()
		return Silence{}, errors.New("the schedule has no window ahead")
	}
	next = append(next, sil)
	s.cur.Store(&next)
	s.added(now, &sil)
	s.mu.Unlock()
	s.requestSave()
	return sil, nil
}

// Delete removes a silence; false if there was none with that ID, or it
// is a [[maintenance]] window (see Remove).
func (s *Store) Delete(id string) bool { return s.Remove(id) == nil }

// Remove removes a silence. A [[maintenance]] window is refused (an error
// wrapping ErrFromConfig): the config would bring it back at the next
// reload, so it is removed there.
func (s *Store) Remove(id string) error {
	s.mu.Lock()
	cur := *s.cur.Load()
	i := slices.IndexFunc(cur, func(x Silence) bool { return x.ID == id })
	if i < 0 {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if cur[i].Origin == OriginConfig {
		s.mu.Unlock()
		return fmt.Errorf("%w: remove [[maintenance]] %q from the config and reload", ErrFromConfig, cur[i].Name)
	}
	next := slices.Delete(slices.Clone(cur), i, i+1)
	s.cur.Store(&next)
	ended := s.settle(s.clock.Now())
	s.mu.Unlock()
	s.ended(ended)
	s.requestSave()
	return nil
}

// SetConfig replaces the [[maintenance]] windows with list (the config's,
// at start and at each reload). Each needs a Name and a Schedule; its ID
// is ConfigID(Name), so a window that stays keeps its ID and creation
// time. They are not saved to the file: the config is their source. The
// caps do not apply (the config's validation holds them to the caps).
func (s *Store) SetConfig(list []Silence) error {
	now := s.clock.Now()
	for i := range list {
		if list[i].Name == "" || list[i].Schedule == nil {
			return fmt.Errorf("maintenance window %d has no name or no schedule", i)
		}
		if err := Validate(&list[i], now); err != nil {
			return fmt.Errorf("maintenance window %q: %w", list[i].Name, err)
		}
	}
	s.mu.Lock()
	cur := *s.cur.Load()
	created := map[string]time.Time{}
	next := make([]Silence, 0, len(cur)+len(list))
	for _, x := range cur {
		if x.Origin == OriginConfig {
			created[x.ID] = x.Created
			continue
		}
		next = append(next, x)
	}
	for _, w := range list {
		w.ID, w.Origin = ConfigID(w.Name), OriginConfig
		w.Created = now
		if at, ok := created[w.ID]; ok {
			w.Created = at
		}
		if w = w.refreshed(now); !w.expired(now) {
			next = append(next, w)
		}
	}
	s.cur.Store(&next)
	ended := s.settle(now)
	s.mu.Unlock()
	s.ended(ended)
	return nil
}

// List returns the silences that have not expired, soonest expiry (or
// window end) first.
func (s *Store) List() []Silence {
	now := s.clock.Now()
	out := s.active(now)
	for i := range out {
		out[i] = out[i].refreshed(now)
	}
	slices.SortFunc(out, func(a, b Silence) int { return a.ends().Compare(b.ends()) })
	return out
}

// ends is when a silence stops muting next.
func (s *Silence) ends() time.Time {
	if s.Schedule != nil {
		return s.Window.End
	}
	return s.Until
}

// Match returns the first silence covering host's metric now, or nil.
func (s *Store) Match(host, metric string) *Silence {
	cur := *s.cur.Load()
	if len(cur) == 0 {
		return nil
	}
	now := s.clock.Now()
	for i := range cur {
		if cur[i].matches(host, metric, now) {
			return &cur[i]
		}
	}
	return nil
}

func (s *Store) active(now time.Time) []Silence {
	cur := *s.cur.Load()
	out := make([]Silence, 0, len(cur)+1)
	for _, x := range cur {
		if !x.expired(now) {
			out = append(out, x)
		}
	}
	return out
}

func (s *Store) requestSave() {
	select {
	case s.save <- struct{}{}:
	default: // a save is already pending; it will write the latest set
	}
}

// checkGlobs refuses a silence whose host or metric glob is longer than
// [limits] glob_length: matching costs time in the glob's length on every
// alert change, and no host name is longer than 253 bytes anyway.
func (s *Store) checkGlobs(now time.Time, sil *Silence) error {
	caps := s.caps.Load()
	if caps == nil {
		return nil
	}
	for _, g := range []struct{ what, glob string }{{"host", sil.Host}, {"metric", sil.Metric}} {
		if len(g.glob) > caps.GlobLength {
			caps.refusals.Refuse(now, limits.GlobLength, limits.Source{Host: limits.Snippet(sil.Host)},
				"silence refused: a glob is longer than [limits] glob_length", "origin", sil.Origin, "glob", g.what, "bytes", len(g.glob), "max", caps.GlobLength)
			return fmt.Errorf("%w: the %s glob is %d bytes, longer than the %d [limits] glob_length allows", errGlobTooLong, g.what, len(g.glob), caps.GlobLength)
		}
	}
	return nil
}

// admit applies the caps on active silences to sil, given the active set.
// Agents may fill only AgentSilences of the total, so that an operator can
// still silence something while agents flood the daemon with requests.
func (s *Store) admit(now time.Time, active []Silence, sil *Silence) error {
	caps := s.caps.Load()
	if caps == nil {
		return nil
	}
	same := 0
	for i := range active {
		if active[i].Host == sil.Host {
			same++
		}
	}
	src := limits.Source{Host: limits.Snippet(sil.Host)}
	if same >= caps.SilencesPerHost {
		caps.refusals.Refuse(now, limits.SilencesPerHost, src, "silence refused: the host has as many active silences as [limits] silences_per_host allows",
			"origin", sil.Origin, "max", caps.SilencesPerHost)
		return fmt.Errorf("%w: %d active for host %q, the most [limits] silences_per_host allows", ErrTooMany, same, sil.Host)
	}
	total := caps.SilencesTotal
	if sil.Origin == "agent" {
		total = caps.AgentSilences()
	}
	if len(active) >= total {
		caps.refusals.Refuse(now, limits.SilencesTotal, src, "silence refused: as many active silences as [limits] silences_total allows",
			"origin", sil.Origin, "active", len(active), "max", total)
		return fmt.Errorf("%w: %d active, the most [limits] silences_total allows for %s silences", ErrTooMany, len(active), originName(sil.Origin))
	}
	return nil
}

func originName(origin string) string {
	if origin == "" {
		return "api"
	}
	return origin
}

// saver writes the set to disk off every caller's path, at most once per
// saveEvery; changes meanwhile are written together.
func (s *Store) saver() {
	defer s.wg.Done()
	var last time.Time
	for {
		select {
		case <-s.save:
		case <-s.done:
			select {
			case <-s.save:
				s.write()
			default:
			}
			return
		}
		if wait := saveEvery - time.Since(last); wait > 0 && !last.IsZero() {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				s.write()
				return
			}
		}
		// This write covers any request that came in while waiting.
		select {
		case <-s.save:
		default:
		}
		s.write()
		last = time.Now()
	}
}

func (s *Store) write() {
	if s.file == "" {
		return
	}
	s.writes.Add(1)
	cur := *s.cur.Load()
	recs := make([]fileRecord, 0, len(cur))
	for i := range cur {
		if cur[i].Origin != OriginConfig { // the config is their source
			recs = append(recs, recordOf(&cur[i]))
		}
	}
	b, err := json.MarshalIndent(recs, "", "  ")
	if err == nil {
		tmp := s.file + ".tmp"
		if err = os.MkdirAll(filepath.Dir(s.file), 0o750); err == nil {
			if err = os.WriteFile(tmp, append(b, '\n'), 0o640); err == nil {
				err = os.Rename(tmp, s.file)
			}
		}
	}
	if err != nil {
		s.log.Error("cannot save silences", "file", s.file, "err", err)
	}
}
