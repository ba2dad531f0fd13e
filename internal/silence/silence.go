// Package silence is the store of silences: globs over host names and
// metric paths that mute notifications until they expire.
//
// Match is lock-free and may be called from any goroutine (HostActors and
// the notifier call it on every alert change); Add and Delete serialize on
// a mutex. The set is saved as JSON to one file by a background goroutine,
// at most once a second; Close writes what is pending.
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
	Origin  string // "api" or "agent"
}

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
}

func recordOf(s *Silence) fileRecord {
	return fileRecord{ID: s.ID, Host: s.Host, Metric: s.Metric, Comment: s.Comment, Origin: s.Origin,
		Until: unixSeconds(s.Until), Created: unixSeconds(s.Created)}
}

func (r *fileRecord) silence() Silence {
	return Silence{ID: r.ID, Host: r.Host, Metric: r.Metric, Comment: r.Comment, Origin: r.Origin,
		Until: time.UnixMilli(int64(r.Until * 1e3)), Created: time.UnixMilli(int64(r.Created * 1e3))}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

// matches reports whether the silence covers host's metric at now.
func (s *Silence) matches(host, metric string, now time.Time) bool {
	if !now.Before(s.Until) {
		return false
	}
	if ok, _ := path.Match(s.Host, host); !ok {
		return false
	}
	return metricMatch(s.Metric, metric)
}

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

// RefusedByCap reports whether Add's error comes from a [limits] cap, which
// counted and logged it already.
func RefusedByCap(err error) bool {
	return errors.Is(err, ErrTooMany) || errors.Is(err, errGlobTooLong)
}

// Open loads file (if it exists) and starts the saver. file "" keeps
// silences in memory only.
func Open(file string, clk clock.Clock, log *slog.Logger) (*Store, error) {
	s := &Store{file: file, clock: clk, log: log, save: make(chan struct{}, 1), done: make(chan struct{})}
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
				sil := stored[i].silence()
				if now.Before(sil.Until) {
					list = append(list, sil)
				}
			}
		}
	}
	s.cur.Store(&list)
	s.wg.Add(1)
	go s.saver()
	return s, nil
}

// Close saves pending changes and stops the saver. Safe to call twice.
func (s *Store) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
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
	if !sil.Until.After(now) {
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
	next = append(next, sil)
	s.cur.Store(&next)
	s.mu.Unlock()
	s.requestSave()
	return sil, nil
}

// Delete removes a silence; false if there was none with that ID.
func (s *Store) Delete(id string) bool {
	s.mu.Lock()
	cur := *s.cur.Load()
	i := slices.IndexFunc(cur, func(x Silence) bool { return x.ID == id })
	if i < 0 {
		s.mu.Unlock()
		return false
	}
	next := slices.Delete(slices.Clone(cur), i, i+1)
	s.cur.Store(&next)
	s.mu.Unlock()
	s.requestSave()
	return true
}

// List returns the silences that have not expired, soonest expiry first.
func (s *Store) List() []Silence {
	out := s.active(s.clock.Now())
	slices.SortFunc(out, func(a, b Silence) int { return a.Until.Compare(b.Until) })
	return out
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
		if now.Before(x.Until) {
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
	recs := make([]fileRecord, len(cur))
	for i := range cur {
		recs[i] = recordOf(&cur[i])
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
