package config

import (
	"errors"
	"path"
	"slices"
	"strings"
)

// Liveness is the [liveness] table: how a connection that stops sending is
// detected. "fixed" is the down_after rule alone: DOWN after down_after
// missed intervals. "adaptive" (the default) adds a phi accrual failure
// detector per connection (internal/phi): the connection is SUSPECT when
// its silence passes suspect_phi by its own recent heartbeats' timing, and
// DOWN when it passes down_phi after an acceptable pause; down_after stays
// the ceiling, and the rule for connections with fewer than min_samples
// heartbeats behind them (just up, or after a daemon restart: the window
// is not saved).
//
// min_std and acceptable_pause are in heartbeat intervals, as down_after
// is, so one setting fits hosts with any interval.
//
// [[liveness.hosts]] tables override any of these (and down_after) for the
// hosts whose name matches their glob; the first table that matches a host
// applies, keys it does not set come from [liveness].
type Liveness struct {
	Detector   string  `toml:"detector"`    // "adaptive" (default) or "fixed"
	SuspectPhi float64 `toml:"suspect_phi"` // SUSPECT at this φ; default 5 (a live host is this late 1 time in 100,000); 0.5..50
	DownPhi    float64 `toml:"down_phi"`    // DOWN at this φ after acceptable_pause; default 8; suspect_phi..50
	Window     int     `toml:"window"`      // inter-arrival times kept per connection; default 32; 2..32
	MinSamples int     `toml:"min_samples"` // fewer: the fixed rule alone; default 8; 2..window
	// MinStd is the least standard deviation assumed, in intervals
	// (default 0.1): the agent's timer has ±10 % jitter, and a perfectly
	// regular sender must not be SUSPECT at its first late millisecond.
	MinStd float64 `toml:"min_std"`
	// AcceptablePause is how much longer than usual a heartbeat may be
	// before φ counts against DOWN, in intervals (default 1): one lost
	// heartbeat must not make a host DOWN. 0..100.
	AcceptablePause float64 `toml:"acceptable_pause"`

	Hosts []LivenessHosts `toml:"hosts"` // [[liveness.hosts]] overrides, first match wins
}

// LivenessHosts is one [[liveness.hosts]] table: settings for the hosts
// whose name matches Match (path.Match syntax). Nil fields are [liveness]'s.
type LivenessHosts struct {
	Match           string   `toml:"match"`
	Detector        *string  `toml:"detector"`
	DownAfter       *int     `toml:"down_after"` // the fixed rule, and the adaptive one's ceiling
	SuspectPhi      *float64 `toml:"suspect_phi"`
	DownPhi         *float64 `toml:"down_phi"`
	Window          *int     `toml:"window"`
	MinSamples      *int     `toml:"min_samples"`
	MinStd          *float64 `toml:"min_std"`
	AcceptablePause *float64 `toml:"acceptable_pause"`
}

// Detectors are the values of detector.
func Detectors() []string { return []string{"adaptive", "fixed"} }

// MaxPhiWindow is the most inter-arrival times a connection keeps (the
// size of internal/phi's window).
const MaxPhiWindow = 32

func defaultLiveness() Liveness {
	return Liveness{Detector: "adaptive", SuspectPhi: 5, DownPhi: 8, Window: MaxPhiWindow, MinSamples: 8, MinStd: 0.1, AcceptablePause: 1}
}

// Detection is one host's detector settings, [liveness] with the first
// matching [[liveness.hosts]] applied.
type Detection struct {
	Adaptive                bool
	DownAfter               int // missed intervals: the fixed rule and the ceiling
	SuspectPhi, DownPhi     float64
	Window, MinSamples      int
	MinStd, AcceptablePause float64 // in intervals
}

// For returns the settings of host, given the daemon's down_after.
func (l *Liveness) For(host string, downAfter int) Detection {
	d := l.Base(downAfter)
	for i := range l.Hosts {
		if ok, _ := path.Match(l.Hosts[i].Match, host); ok {
			l.Hosts[i].apply(&d)
			break
		}
	}
	return d
}

// Override returns the settings of the hosts that the i-th
// [[liveness.hosts]] table matches.
func (l *Liveness) Override(i, downAfter int) Detection {
	d := l.Base(downAfter)
	l.Hosts[i].apply(&d)
	return d
}

// Base returns [liveness]'s settings, without overrides.
func (l *Liveness) Base(downAfter int) Detection {
	return Detection{Adaptive: l.Detector != "fixed", DownAfter: downAfter, SuspectPhi: l.SuspectPhi, DownPhi: l.DownPhi,
		Window: l.Window, MinSamples: l.MinSamples, MinStd: l.MinStd, AcceptablePause: l.AcceptablePause}
}

func (h *LivenessHosts) apply(d *Detection) {
	if h.Detector != nil {
		d.Adaptive = *h.Detector != "fixed"
	}
	set(&d.DownAfter, h.DownAfter)
	set(&d.SuspectPhi, h.SuspectPhi)
	set(&d.DownPhi, h.DownPhi)
	set(&d.Window, h.Window)
	set(&d.MinSamples, h.MinSamples)
	set(&d.MinStd, h.MinStd)
	set(&d.AcceptablePause, h.AcceptablePause)
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (l *Liveness) validate(r *report, p keyPath, downAfter int) {
	if !slices.Contains(Detectors(), l.Detector) {
		r.invalid(p.key("detector"), "must be one of %s, got %q", strings.Join(Detectors(), ", "), l.Detector)
	}
	l.Base(downAfter).validate(r, p, func(string) bool { return true })
	seen := map[string]int{}
	for i := range l.Hosts {
		hp := p.key("hosts").at(i)
		h := &l.Hosts[i]
		switch _, err := path.Match(h.Match, ""); {
		case h.Match == "":
			r.invalid(hp.key("match"), "must be a host name or glob (path.Match syntax), got nothing")
		case errors.Is(err, path.ErrBadPattern):
			r.invalid(hp.key("match"), "bad host pattern %q: use path.Match syntax (*, ?, [a-z], \\ to escape)", h.Match)
		default:
			if j, dup := seen[h.Match]; dup {
				r.invalid(hp.key("match"), "duplicate pattern %q (also liveness.hosts[%d]): only the first would ever apply", h.Match, j)
			}
			seen[h.Match] = i
		}
		if h.Detector != nil && !slices.Contains(Detectors(), *h.Detector) {
			r.invalid(hp.key("detector"), "must be one of %s, got %q", strings.Join(Detectors(), ", "), *h.Detector)
		}
		if h.DownAfter != nil {
			intRange(r, hp.key("down_after"), *h.DownAfter, 1, 1000)
		}
		// The merged settings must hold together; a key the table sets is
		// blamed, one it inherits is [liveness]'s and checked there.
		d := l.Base(downAfter)
		h.apply(&d)
		d.validate(r, hp, func(key string) bool { return r.isSet(hp.key(key)) })
	}
}

// validate checks d's ranges; own reports whether p holds the key (the
// others were checked where they were set).
func (d Detection) validate(r *report, p keyPath, own func(key string) bool) {
	check := func(key string, ok bool, format string, args ...any) {
		if !ok && own(key) {
			r.invalid(p.key(key), format, args...)
		}
	}
	check("suspect_phi", isFinite(d.SuspectPhi) && d.SuspectPhi >= 0.5 && d.SuspectPhi <= 50,
		"must be between 0.5 and 50, got %g", d.SuspectPhi)
	// A relation between two keys is blamed on the second if p holds it,
	// else on the first: an override that sets one of them breaks it.
	pair := func(first, second string, ok bool, format string, args ...any) {
		if ok {
			return
		}
		if own(second) {
			r.invalid(p.key(second), format, args...)
		} else if own(first) {
			r.invalid(p.key(first), format, args...)
		}
	}
	check("down_phi", isFinite(d.DownPhi) && d.DownPhi > 0 && d.DownPhi <= 50, "must be between suspect_phi and 50, got %g", d.DownPhi)
	if isFinite(d.DownPhi) && d.DownPhi > 0 && d.DownPhi <= 50 {
		// A DOWN threshold below SUSPECT's would skip SUSPECT.
		pair("suspect_phi", "down_phi", d.DownPhi >= d.SuspectPhi,
			"down_phi (%g) must be at least suspect_phi (%g)", d.DownPhi, d.SuspectPhi)
	}
	check("window", d.Window >= 2 && d.Window <= MaxPhiWindow, "must be between 2 and %d, got %d", MaxPhiWindow, d.Window)
	check("min_samples", d.MinSamples >= 2, "must be at least 2, got %d", d.MinSamples)
	if d.Window >= 2 && d.Window <= MaxPhiWindow && d.MinSamples >= 2 {
		pair("window", "min_samples", d.MinSamples <= d.Window,
			"min_samples (%d) must be at most window (%d)", d.MinSamples, d.Window)
	}
	check("min_std", isFinite(d.MinStd) && d.MinStd >= 0.01 && d.MinStd <= 10,
		"must be between 0.01 and 10 intervals, got %g", d.MinStd)
	check("acceptable_pause", isFinite(d.AcceptablePause) && d.AcceptablePause >= 0 && d.AcceptablePause <= 100,
		"must be between 0 and 100 intervals, got %g", d.AcceptablePause)
}
