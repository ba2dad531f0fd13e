package notify

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Route is a channel plus which notifications it takes.
type Route struct {
	Channel Channel
	// MinLevel is "WARNING", "UNKNOWN" or "CRITICAL" (severity
	// OK < WARNING < UNKNOWN < CRITICAL); empty means "WARNING". A
	// notification passes when its Level is at least MinLevel; a recovery
	// (whose Level is OK) passes when its PrevLevel is, so the people told
	// about a problem are also told it is over.
	MinLevel string
	// Hosts are path.Match globs on the host name; empty means all hosts.
	Hosts []string
	// Repeat is how often the caller re-sends a notification for an alert
	// that stays active on this route; 0 means no repeats. The Dispatcher
	// does not schedule repeats: the alert logic does, and submits them with
	// Dispatcher.SubmitRoute.
	Repeat time.Duration
	// Group lets the caller gather this route's transitions into grouped
	// notifications (see Group); false sends each on its own at once.
	Group bool
}

// Validate reports every configuration error in r at once.
func (r *Route) Validate() error {
	var errs []error
	if r.Channel == nil {
		errs = append(errs, errors.New("route has no channel"))
	}
	switch strings.ToUpper(r.MinLevel) {
	case "", LevelWarning, LevelUnknown, LevelCritical:
	default:
		errs = append(errs, fmt.Errorf("min_level %q: want WARNING, UNKNOWN or CRITICAL", r.MinLevel))
	}
	for _, g := range r.Hosts {
		// Matching against "" still parses the whole pattern.
		if _, err := path.Match(g, ""); err != nil {
			errs = append(errs, fmt.Errorf("host glob %q: %w", g, err))
		}
	}
	if r.Repeat < 0 {
		errs = append(errs, fmt.Errorf("repeat %s: must not be negative", r.Repeat))
	}
	return errors.Join(errs...)
}

// Accepts reports whether n should be sent on this route. A malformed host
// glob matches nothing (Validate reports it).
func (r *Route) Accepts(n Notification) bool {
	level := n.Level
	if n.Kind == KindRecovery {
		level = n.PrevLevel
	}
	minLevel := r.MinLevel
	if minLevel == "" {
		minLevel = LevelWarning
	}
	if severity(level) < severity(minLevel) {
		return false
	}
	if len(r.Hosts) == 0 {
		return true
	}
	for _, g := range r.Hosts {
		if ok, err := path.Match(g, n.Host); ok && err == nil {
			return true
		}
	}
	return false
}
