package config

import (
	"slices"
	"strings"

	"github.com/hbd-project/hbd/internal/deps"
)

// Dependency is one [[dependencies]] rule: the hosts matching Hosts depend
// on Parents (a switch, a hypervisor). When a parent is DOWN, a child that
// stops reporting is UNREACHABLE instead of DOWN and pages nobody: the
// parent's page covers it. A host gets the parents of every rule that
// matches it, merged with those its agent declares (agent config
// `parents`), the rules' first, at most deps.MaxParents in all.
type Dependency struct {
	Hosts   []string `toml:"hosts"`   // path.Match globs on host names; required
	Parents []string `toml:"parents"` // host names; required, at most deps.MaxParents

	// Line is the line of the rule's [[dependencies]] header (0 for rules
	// built in code).
	Line int `toml:"-"`
}

func (dp *Dependency) validate(r *report, p keyPath) {
	hp, pp := p.key("hosts"), p.key("parents")
	if len(dp.Hosts) == 0 {
		r.invalidAt(p, hp, `required: globs of the hosts that depend on the parents, e.g. ["rack1-*"]`)
	}
	validateGlobs(r, hp, dp.Hosts)
	switch {
	case len(dp.Parents) == 0:
		r.invalidAt(p, pp, `required: the hosts these depend on, e.g. ["rack1-switch"]`)
	case len(dp.Parents) > deps.MaxParents:
		r.invalid(pp, "at most %d parents, got %d", deps.MaxParents, len(dp.Parents))
	}
	for i, name := range dp.Parents {
		switch {
		case !ValidHostName(name):
			r.invalid(pp.at(i), "invalid host name %q: %s", name, hostNameRule)
		case slices.Index(dp.Parents, name) < i:
			r.invalid(pp.at(i), "%q is listed twice", name)
		}
	}
}

// DependencyRules are the [[dependencies]] rules as the daemon applies them.
func (d *Daemon) DependencyRules() *deps.Rules {
	rs := make([]deps.Rule, len(d.Dependencies))
	for i, dp := range d.Dependencies {
		rs[i] = deps.Rule{Hosts: dp.Hosts, Parents: dp.Parents}
	}
	return deps.NewRules(rs)
}

// validateDependencyLoops reports every loop the [[dependencies]] rules
// make among the hosts they name as parents (only a parent can be on a
// loop), at the rule that closes it: "a depends on b, which depends on a"
// would leave neither able to page when both stop. Rules whose own
// problems were reported are left out, so that a bad glob does not also
// show up as a loop.
func (d *Daemon) validateDependencyLoops(r *report) {
	if len(d.Dependencies) == 0 || len(r.errs) > 0 && d.hasDependencyErrors(r) {
		return
	}
	rules := d.DependencyRules()
	decl := make(map[string][]string)
	for _, dp := range d.Dependencies {
		for _, p := range dp.Parents {
			if _, ok := decl[p]; !ok {
				decl[p] = rules.ParentsOf(p)
			}
		}
	}
	for _, e := range deps.Build(decl).Broken {
		// The first rule that gives the child this parent closed the loop.
		i := slices.IndexFunc(d.Dependencies, func(dp Dependency) bool {
			return slices.Contains(dp.Parents, e.Parent) && (&deps.Rule{Hosts: dp.Hosts}).Matches(e.Child)
		})
		p := top("dependencies").at(i)
		r.invalid(p.key("parents"), "dependency loop: %s (%s matches this rule's hosts and would depend on %s, which already depends on it)",
			strings.Join(e.Cycle, " -> "), e.Child, e.Parent)
	}
}

// hasDependencyErrors reports whether a [[dependencies]] rule already has
// a problem reported.
func (d *Daemon) hasDependencyErrors(r *report) bool {
	for _, e := range r.errs {
		if strings.HasPrefix(e.Key, "dependencies[") {
			return true
		}
	}
	return false
}
