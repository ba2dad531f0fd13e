package alert

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"
)

// Rule is one [[threshold]] entry of the daemon config. Build it from the
// TOML table and hand the whole list, in config order, to [Compile]; after
// that, a *Rule passed to an Evaluate callback belongs to the compiled set
// and must not be modified.
type Rule struct {
	// Metric is the plugin name, then the path of keys inside the sample's
	// data, joined by dots: "cpu_monitor.cpu_percent". A segment "*" after
	// the plugin name matches exactly one key, whatever it contains:
	// "disk_monitor.*.percent".
	Metric string
	// Warning and Critical are the thresholds in the metric's own unit; a nil
	// threshold never fires. At least one must be set.
	Warning  *float64
	Critical *float64
	Op       Op
	// Hysteresis (metric unit, >= 0) delays clearing: an alert at a level
	// stays there until the value stops breaching the threshold shifted by
	// Hysteresis towards the clearing side. Must be 0 for == and !=.
	Hysteresis float64
	// For is how long the raw level must hold before a raise takes effect;
	// 0 raises at once. Lowering never waits.
	For time.Duration
	// Hosts are path.Match globs over host names. Empty (nil or []) means
	// the caller's default set; see [Rules.ForHost].
	Hosts []string
}

// RuleError is one problem with one rule. [Compile] returns every problem
// at once as errors.Join of *RuleError values, so the config layer can map
// each Index (0-based, config order) and Field (the TOML key: "metric",
// "warning", "critical", "operator", "hysteresis", "for", "hosts") to a
// file:line.
type RuleError struct {
	Index int
	Field string
	Err   error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("threshold rule %d: %s: %v", e.Index, e.Field, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// compiledRule is a validated deep copy of a Rule with its split pattern.
type compiledRule struct {
	rule  Rule
	index int      // position in config order; a higher index wins
	segs  []string // Metric split on "."; segs[0] is the plugin name's first part
	// wildcard is set when a segment is "*". Otherwise every concrete path
	// the pattern matches is spelled exactly like Metric, so Evaluate can
	// pass rule.Metric instead of building a string.
	wildcard bool
}

// Rules is a compiled, immutable rule list; safe for concurrent use.
type Rules struct {
	rules []compiledRule
	// unscoped is the HostRules of a default-set host that no Hosts glob
	// selects, the common case, built once and shared so that a large
	// fleet does not hold one copy per host. Nil when no rule is unscoped.
	unscoped *HostRules
}

// Compile validates rules and compiles them. Rules are copied, so the
// caller may reuse the slice. On error it returns every problem found,
// each a *RuleError, joined with errors.Join.
func Compile(rules []Rule) (*Rules, error) {
	out := &Rules{rules: make([]compiledRule, 0, len(rules))}
	var errs []error
	for i, r := range rules {
		bad := func(field, format string, args ...any) {
			errs = append(errs, &RuleError{Index: i, Field: field, Err: fmt.Errorf(format, args...)})
		}
		segs, err := splitPattern(r.Metric)
		if err != nil {
			errs = append(errs, &RuleError{Index: i, Field: "metric", Err: err})
		}
		validateThresholds(r, bad)
		if math.IsNaN(r.Hysteresis) || math.IsInf(r.Hysteresis, 0) || r.Hysteresis < 0 {
			bad("hysteresis", "must be a finite number >= 0, got %v", r.Hysteresis)
		} else if r.Hysteresis != 0 && (r.Op == OpEQ || r.Op == OpNE) {
			// Exact comparisons have no side to shift a threshold towards.
			bad("hysteresis", "has no meaning with operator %s; remove it", r.Op)
		}
		if r.For < 0 {
			bad("for", "must not be negative, got %s", r.For)
		}
		for _, g := range r.Hosts {
			if g == "" {
				bad("hosts", "empty host pattern")
			} else if _, err := path.Match(g, ""); err != nil {
				bad("hosts", "bad pattern %q: %w", g, err)
			}
		}
		if err != nil {
			continue
		}
		c := compiledRule{rule: r, index: i, segs: segs, wildcard: slices.Contains(segs, "*")}
		c.rule.Hosts = slices.Clone(r.Hosts)
		if r.Warning != nil {
			w := *r.Warning
			c.rule.Warning = &w
		}
		if r.Critical != nil {
			cr := *r.Critical
			c.rule.Critical = &cr
		}
		out.rules = append(out.rules, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out.unscoped = out.selectRules(func(c *compiledRule) bool { return len(c.rule.Hosts) == 0 })
	return out, nil
}

// splitPattern checks a metric pattern and splits it into segments.
func splitPattern(m string) ([]string, error) {
	if m == "" {
		return nil, errors.New("empty metric pattern")
	}
	segs := strings.Split(m, ".")
	if len(segs) < 2 {
		return nil, fmt.Errorf("pattern %q names no value: want plugin.key[.key...]", m)
	}
	for i, s := range segs {
		switch {
		case s == "":
			return nil, fmt.Errorf("pattern %q has an empty segment", m)
		case i == 0 && s == "*":
			return nil, fmt.Errorf("pattern %q: the plugin name must be spelled out, not \"*\"", m)
		case s != "*" && strings.Contains(s, "*"):
			return nil, fmt.Errorf("pattern %q: \"*\" must be a whole segment (it matches one key)", m)
		}
	}
	return segs, nil
}

// validateThresholds reports threshold problems of r through bad.
func validateThresholds(r Rule, bad func(field, format string, args ...any)) {
	if !r.Op.valid() {
		bad("operator", "unknown operator %s (want one of > >= < <= == !=)", r.Op)
	}
	if r.Warning == nil && r.Critical == nil {
		bad("warning", "set warning, critical or both")
		return
	}
	finite := true
	for _, t := range []struct {
		field string
		v     *float64
	}{{"warning", r.Warning}, {"critical", r.Critical}} {
		if t.v != nil && (math.IsNaN(*t.v) || math.IsInf(*t.v, 0)) {
			bad(t.field, "must be a finite number, got %v", *t.v)
			finite = false
		}
	}
	if !finite || r.Warning == nil || r.Critical == nil {
		return
	}
	w, c := *r.Warning, *r.Critical
	switch r.Op {
	case OpGT, OpGE:
		// Critical is checked first, so a warning above it could never fire.
		if w > c {
			bad("warning", "%v is above critical %v: with %s the warning would never fire", w, c, r.Op)
		}
	case OpLT, OpLE:
		if w < c {
			bad("warning", "%v is below critical %v: with %s the warning would never fire", w, c, r.Op)
		}
	case OpEQ:
		if w == c {
			bad("warning", "equals critical %v: with == the warning would never fire", c)
		}
	case OpNE:
		// With both set, WARNING would fire exactly when the value equals
		// the critical threshold, which nobody means.
		bad("warning", "operator != takes warning or critical, not both")
	}
}

// Len returns the number of rules.
func (r *Rules) Len() int {
	if r == nil {
		return 0
	}
	return len(r.rules)
}

// HostRules is the subset of [Rules] that applies to one host. It is
// immutable and safe for concurrent use. A nil *HostRules means no rule
// applies; its methods are safe to call.
type HostRules struct {
	// byPlugin groups rules by segs[0] (the plugin name up to its first
	// dot), each group in config order.
	byPlugin map[string][]*compiledRule
}

// ForHost selects the rules that apply to host. inDefault says whether the
// host is in the default set, which the caller decides (the host is in
// watchhosts, or alert_dynamic is on and the host is dynamic). A rule with
// Hosts applies when one of its globs matches host, whatever inDefault
// says; a rule without Hosts applies when inDefault. ForHost returns nil
// when no rule applies. Hosts that no Hosts glob selects share one
// HostRules.
func (r *Rules) ForHost(host string, inDefault bool) *HostRules {
	if r == nil {
		return nil
	}
	scoped := false
	for i := range r.rules {
		if g := r.rules[i].rule.Hosts; len(g) > 0 && appliesTo(g, host, inDefault) {
			scoped = true
			break
		}
	}
	if !scoped {
		if inDefault {
			return r.unscoped
		}
		return nil
	}
	return r.selectRules(func(c *compiledRule) bool { return appliesTo(c.rule.Hosts, host, inDefault) })
}

// selectRules returns the HostRules of the rules keep accepts, or nil.
func (r *Rules) selectRules(keep func(*compiledRule) bool) *HostRules {
	var hr *HostRules
	for i := range r.rules {
		c := &r.rules[i]
		if !keep(c) {
			continue
		}
		if hr == nil {
			hr = &HostRules{byPlugin: make(map[string][]*compiledRule)}
		}
		hr.byPlugin[c.segs[0]] = append(hr.byPlugin[c.segs[0]], c)
	}
	return hr
}

func appliesTo(globs []string, host string, inDefault bool) bool {
	if len(globs) == 0 {
		return inDefault
	}
	for _, g := range globs {
		// Patterns were checked by Compile, so err is always nil.
		if ok, _ := path.Match(g, host); ok {
			return true
		}
	}
	return false
}

// HasRule reports whether a rule with this metric pattern applies to the
// host.
func (hr *HostRules) HasRule(metric string) bool {
	if hr == nil {
		return false
	}
	for _, rules := range hr.byPlugin {
		for _, c := range rules {
			if c.rule.Metric == metric {
				return true
			}
		}
	}
	return false
}

// HasPlugin reports whether some rule applies to samples of plugin, so the
// caller can skip parsing the others.
func (hr *HostRules) HasPlugin(plugin string) bool {
	if hr == nil {
		return false
	}
	for _, c := range hr.byPlugin[pluginHead(plugin)] {
		if c.pluginEnd(plugin) > 0 {
			return true
		}
	}
	return false
}

// pluginHead returns plugin up to its first dot: plugin names may contain
// dots, and a pattern's first segment is the first part of the name.
func pluginHead(plugin string) string {
	if i := strings.IndexByte(plugin, '.'); i >= 0 {
		return plugin[:i]
	}
	return plugin
}

// pluginEnd returns the index of the first pattern segment after the
// plugin name, or -1 when the pattern is not for plugin.
func (c *compiledRule) pluginEnd(plugin string) int {
	p := consume(c.segs, 0, plugin)
	if p >= len(c.segs) {
		// The pattern would name the whole sample, which Compile forbids
		// for one-segment names; with a dotted plugin name it can happen.
		return -1
	}
	return p
}

// consume matches one key (or the plugin name) against the pattern at
// segment p and returns the next segment index, or -1. "*" takes exactly one
// key. A literal key containing dots takes as many literal segments as it
// has parts, so "net.eth0.100.rx" matches the key "eth0.100" (a VLAN
// interface) as well as the keys "eth0" then "100".
func consume[S string | []byte](segs []string, p int, key S) int {
	if segs[p] == "*" {
		return p + 1
	}
	for {
		s := segs[p]
		if len(key) < len(s) || string(key[:len(s)]) != s {
			return -1
		}
		key = key[len(s):]
		p++
		if len(key) == 0 {
			return p
		}
		if key[0] != '.' || p == len(segs) || segs[p] == "*" {
			return -1
		}
		key = key[1:]
	}
}
