package actors

import (
	"slices"
	"strings"

	"github.com/hbd-project/hbd/internal/alert"
)

// alertSet is a host's alert trackers, one per metric path, sorted by
// path. Every host has one (the heartbeat alert) and most have a few: a
// sorted slice of one costs 8 bytes where a map of one cost 250, and the
// API and the checkpoints want the trackers in path order anyway.
// Lookups are binary searches; alerts_per_host bounds the length.
type alertSet struct {
	list []*alert.Tracker
}

func (s *alertSet) find(path string) (int, bool) {
	return slices.BinarySearchFunc(s.list, path, func(t *alert.Tracker, p string) int { return strings.Compare(t.Path, p) })
}

// get returns the tracker of path, or nil.
func (s *alertSet) get(path string) *alert.Tracker {
	if i, ok := s.find(path); ok {
		return s.list[i]
	}
	return nil
}

// put adds t, replacing the tracker of the same path.
func (s *alertSet) put(t *alert.Tracker) {
	i, ok := s.find(t.Path)
	if ok {
		s.list[i] = t
		return
	}
	if s.list == nil {
		s.list = make([]*alert.Tracker, 0, 1)
	}
	s.list = slices.Insert(s.list, i, t)
}

// remove forgets the tracker of path, if any.
func (s *alertSet) remove(path string) {
	if i, ok := s.find(path); ok {
		s.list = slices.Delete(s.list, i, i+1)
	}
}

// len is how many paths are tracked.
func (s *alertSet) len() int { return len(s.list) }

// all returns the trackers sorted by path. The caller must not modify
// the slice, nor keep it past a put or remove.
func (s *alertSet) all() []*alert.Tracker { return s.list }

// reset forgets every tracker.
func (s *alertSet) reset() {
	clear(s.list)
	s.list = s.list[:0]
}
