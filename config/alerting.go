package config

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"
)

// Threshold is one [[threshold]] rule: raise an alert on a host when a
// metric crosses a warning or critical value. The alert engine compiles the
// rules when the daemon starts; this package checks the mistakes that can be
// seen in the file alone.
type Threshold struct {
	// Metric is the plugin name, then the path of keys inside the sample's
	// data, joined by dots: "cpu_monitor.cpu_percent". "*" matches one key
	// and must be a whole segment after the plugin name:
	// "disk_monitor.*.percent".
	Metric string `toml:"metric"`
	// Warning and Critical are in the metric's own unit; nil = that level
	// never fires. At least one is required.
	Warning  *float64 `toml:"warning"`
	Critical *float64 `toml:"critical"`
	Operator string   `toml:"operator"` // > >= < <= == !=; default ">"
	// Hysteresis (metric unit, >= 0) is how far the value must move back
	// past a threshold before its alert clears, so a value hovering at the
	// threshold does not alert and clear on every sample. Default 0.
	Hysteresis float64  `toml:"hysteresis"`
	For        Duration `toml:"for"`   // how long a level must hold before it is raised; default 0 = at once
	Hosts      []string `toml:"hosts"` // path.Match globs on host names; empty = watchhosts (and dynamic hosts with alert_dynamic)

	// Line is the line of the rule's [[threshold]] header, set by
	// LoadDaemon (0 for rules built in code), so that the daemon can point
	// at the rule when the alert engine rejects it.
	Line int `toml:"-"`
}

// Alerting tunes flap detection ([alerting]). An alert that changes level
// more than flap_start times within flap_window is flapping: its level
// changes are not notified until the changes within the window fall to
// flap_stop or fewer. The gap between the two keeps the flapping state
// itself from flapping.
//
// It also holds what shapes pages beyond one alert: how long a STOPPED
// host may stay stopped, and how transitions are grouped into one
// notification and a mass outage into one page.
type Alerting struct {
	FlapWindow Duration `toml:"flap_window"` // default 10m; > 0
	FlapStart  int      `toml:"flap_start"`  // default 6; >= 2
	FlapStop   int      `toml:"flap_stop"`   // default 2; 0 <= flap_stop < flap_start

	// StoppedAfter is how long a host that shut down cleanly may stay
	// STOPPED before its heartbeat alert turns WARNING; 0 (the default)
	// = never.
	StoppedAfter Duration `toml:"stopped_after"`
	// UnreportedAfter is how long a host in watchhosts may stay unheard
	// from after the daemon starts before its heartbeat alert is CRITICAL;
	// 0 (the default) = down_after times the default 10 s interval.
	UnreportedAfter Duration `toml:"unreported_after"`
	// GroupWait is how long the first transition of a kind waits for
	// others of the same kind (same alert, level and change) before they go
	// out as one notification; 0 = every transition on its own. Default
	// 30s, at most 10m. A [[notify]] channel can opt out with group = false.
	GroupWait Duration `toml:"group_wait"`
	// OutageFraction: when more than this share of the hosts that were UP
	// stop reporting within one group, the channels get one "mass outage"
	// notification instead of the list. Default 0.2; 0 turns it off.
	OutageFraction float64 `toml:"outage_fraction"`
	// OutageMinHosts is the fewest hosts a mass outage takes, so that in a
	// small fleet two hosts down are two hosts down. Default 10.
	OutageMinHosts int `toml:"outage_min_hosts"`
}

func (t *Threshold) setDefaults() { t.Operator = ">" }

func defaultAlerting() Alerting {
	return Alerting{FlapWindow: Duration{10 * time.Minute}, FlapStart: 6, FlapStop: 2,
		GroupWait: Duration{30 * time.Second}, OutageFraction: 0.2, OutageMinHosts: 10}
}

// thresholdOperators are the accepted operator values.
func thresholdOperators() []string { return []string{">", ">=", "<", "<=", "==", "!="} }

func (t *Threshold) validate(r *report, p keyPath) {
	mp := p.key("metric")
	if t.Metric == "" {
		r.invalidAt(p, mp, `required: the plugin name and the path of a value in its samples, e.g. "cpu_monitor.cpu_percent"`)
	} else if err := checkMetricPattern(t.Metric); err != nil {
		r.invalid(mp, "%s", err.Error())
	}

	op, opOK := t.Operator, slices.Contains(thresholdOperators(), t.Operator)
	if !opOK {
		r.invalid(p.key("operator"), "must be one of %s, got %q", strings.Join(thresholdOperators(), " "), op)
	}

	wp, cp := p.key("warning"), p.key("critical")
	if t.Warning == nil && t.Critical == nil && r.decoded(wp, cp) {
		r.invalid(p, "needs warning, critical or both")
	}
	finite := true
	for _, v := range []struct {
		p keyPath
		v *float64
	}{{wp, t.Warning}, {cp, t.Critical}} {
		if v.v != nil && !isFinite(*v.v) {
			r.invalid(v.p, "must be a finite number, got %v", *v.v)
			finite = false
		}
	}
	// Critical is checked before warning, so a warning on the far side of
	// critical could never fire: a common slip when copying a rule and
	// flipping its operator.
	if finite && opOK && t.Warning != nil && t.Critical != nil && r.decoded(p.key("operator")) {
		w, c := *t.Warning, *t.Critical
		switch {
		case (op == ">" || op == ">=") && w > c:
			r.invalid(wp, "%v is above critical %v: with operator %s the warning could never fire", w, c, op)
		case (op == "<" || op == "<=") && w < c:
			r.invalid(wp, "%v is below critical %v: with operator %s the warning could never fire", w, c, op)
		}
	}

	if h := t.Hysteresis; !isFinite(h) || h < 0 {
		r.invalid(p.key("hysteresis"), "must be a finite number >= 0, got %v", h)
	}
	if t.For.Duration < 0 {
		r.invalid(p.key("for"), "must not be negative, got %s", fmtDuration(t.For.Duration))
	}
	validateGlobs(r, p.key("hosts"), t.Hosts)
}

// checkMetricPattern applies the alert engine's pattern rules, so that
// -check-config catches them with a line number.
func checkMetricPattern(m string) error {
	segs := strings.Split(m, ".")
	if len(segs) < 2 {
		return fmt.Errorf("must be plugin.key[.key...] (the plugin name, then the path of a value), got %q", m)
	}
	for i, s := range segs {
		switch {
		case s == "":
			return fmt.Errorf("%q has an empty segment", m)
		case i == 0 && s == "*":
			return fmt.Errorf("%q: the plugin name (first segment) must be spelled out, not \"*\"", m)
		case s != "*" && strings.Contains(s, "*"):
			return fmt.Errorf("%q: \"*\" must be a whole segment (it matches one key)", m)
		}
	}
	return nil
}

// validateGlobs checks a list of path.Match host patterns.
func validateGlobs(r *report, p keyPath, globs []string) {
	for i, g := range globs {
		if g == "" {
			r.invalid(p.at(i), "empty host pattern")
			continue
		}
		// Matching against "" still parses the whole pattern.
		if _, err := path.Match(g, ""); errors.Is(err, path.ErrBadPattern) {
			r.invalid(p.at(i), "bad host pattern %q: use path.Match syntax (*, ?, [a-z], \\ to escape)", g)
		}
	}
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func (a *Alerting) validate(r *report, p keyPath) {
	if a.FlapWindow.Duration <= 0 {
		r.invalid(p.key("flap_window"), "must be greater than 0, got %s", fmtDuration(a.FlapWindow.Duration))
	}
	sp, tp := p.key("flap_start"), p.key("flap_stop")
	if a.FlapStart < 2 {
		// One change is any alert at all, not flapping.
		r.invalid(sp, "must be at least 2, got %d", a.FlapStart)
	}
	switch {
	case a.FlapStop < 0:
		r.invalid(tp, "must be at least 0, got %d", a.FlapStop)
	case a.FlapStop >= a.FlapStart && r.decoded(sp):
		// Otherwise an alert could be flapping and not flapping at once.
		r.invalid(tp, "must be less than flap_start (%d), got %d", a.FlapStart, a.FlapStop)
	}
	if d := a.StoppedAfter.Duration; d != 0 && d < time.Second {
		r.invalid(p.key("stopped_after"), "must be 0 (never) or at least 1s, got %s", fmtDuration(d))
	}
	if d := a.UnreportedAfter.Duration; d != 0 && d < time.Second {
		r.invalid(p.key("unreported_after"), "must be 0 (down_after intervals) or at least 1s, got %s", fmtDuration(d))
	}
	durationRange(r, p.key("group_wait"), a.GroupWait, 0, 10*time.Minute)
	if f := a.OutageFraction; !(f >= 0 && f <= 1) {
		r.invalid(p.key("outage_fraction"), "must be between 0 (off) and 1, got %g", f)
	}
	if a.OutageMinHosts < 1 {
		r.invalid(p.key("outage_min_hosts"), "must be at least 1, got %d", a.OutageMinHosts)
	}
}
