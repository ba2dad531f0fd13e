// Package deps is the model of host dependencies: the hosts a host
// depends on (its parents: the switch it hangs off, the hypervisor it runs
// on), from the daemon's [[dependencies]] rules and from what agents
// declare, and the loop-free graph the liveness rule walks. A host whose
// parent is DOWN is UNREACHABLE rather than DOWN: the parent's page covers it.
//
// Everything here is plain values: no clock, no I/O, no locks. A Graph is
// immutable once built, so readers on any goroutine share it.
package deps

import (
	"path"
	"slices"
)

// MaxParents bounds the parents of one host, from every source together:
// a host hangs off a few switches or hypervisors, not dozens, and each
// parent is looked up whenever the host is about to turn DOWN.
const MaxParents = 8

// Rule is one [[dependencies]] rule: the hosts matching any of Hosts
// (path.Match globs) depend on Parents.
type Rule struct {
	Hosts   []string
	Parents []string
}

// Rules are the daemon's [[dependencies]] rules, in file order. The zero
// value and nil have none.
type Rules struct {
	rules []Rule
}

// NewRules returns the rules; nil when there are none.
func NewRules(rs []Rule) *Rules {
	if len(rs) == 0 {
		return nil
	}
	return &Rules{rules: slices.Clone(rs)}
}

// Matches reports whether rule r applies to host.
func (r *Rule) Matches(host string) bool {
	for _, g := range r.Hosts {
		if ok, _ := path.Match(g, host); ok {
			return true
		}
	}
	return false
}

// ParentsOf lists the parents the rules give host, in file order, without
// duplicates and without host itself: `hosts = ["rack1-*"]` with
// `parents = ["rack1-sw"]` does not make the switch its own parent.
func (rs *Rules) ParentsOf(host string) []string {
	if rs == nil {
		return nil
	}
	var out []string
	for i := range rs.rules {
		r := &rs.rules[i]
		if !r.Matches(host) {
			continue
		}
		out = appendParents(out, host, r.Parents)
	}
	return out
}

// Merge is a host's parents: the daemon's rules' first, then the agent's,
// without duplicates or the host itself, at most MaxParents. The operator's
// config comes first so that an agent cannot crowd it out.
func Merge(host string, config, agent []string) []string {
	if len(agent) == 0 {
		if len(config) > MaxParents {
			return config[:MaxParents:MaxParents]
		}
		return config
	}
	return appendParents(appendParents(nil, host, config), host, agent)
}

func appendParents(out []string, host string, ps []string) []string {
	for _, p := range ps {
		if len(out) >= MaxParents {
			break
		}
		if p != host && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Edge is a dependency of Child on Parent that Build left out because it
// closed a loop; Cycle is the loop it closed, from Parent back to Parent
// ("a", "b", "a": a depends on b, which depends on a).
type Edge struct {
	Child, Parent string
	Cycle         []string
}

// Graph is a loop-free dependency graph. Immutable once built.
type Graph struct {
	parents  map[string][]string
	children map[string][]string
	// Broken are the dependencies left out to break loops, in the order
	// found (deterministic: see Build).
	Broken []Edge
}

// Build makes the graph of declared (host -> its parents). Loops are
// broken deterministically: hosts are visited in name order, each host's
// parents in name order, depth first, and a dependency on a host already
// on the current path (a back edge) is left out and listed in Broken. The
// same declarations always give the same graph, whatever order they
// arrived in. The walk keeps its own stack: a long chain cannot exhaust
// the goroutine's.
func Build(declared map[string][]string) *Graph {
	g := &Graph{parents: make(map[string][]string, len(declared)), children: make(map[string][]string)}
	hosts := make([]string, 0, len(declared))
	for h, ps := range declared {
		if len(ps) > 0 {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	sorted := func(h string) []string {
		ps := slices.Clone(declared[h])
		slices.Sort(ps)
		return slices.Compact(ps)
	}
	const (
		white = iota
		grey  // on the current path
		black // done
	)
	color := make(map[string]uint8, len(hosts))
	type frame struct {
		host    string
		parents []string
		next    int
	}
	var stack []frame
	onPath := make(map[string]int) // host -> position in stack
	for _, root := range hosts {
		if color[root] != white {
			continue
		}
		color[root] = grey
		onPath[root] = 0
		stack = append(stack[:0], frame{host: root, parents: sorted(root)})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next == len(top.parents) {
				color[top.host] = black
				delete(onPath, top.host)
				stack = stack[:len(stack)-1]
				continue
			}
			p := top.parents[top.next]
			top.next++
			child := top.host
			if p == child {
				continue
			}
			switch color[p] {
			case grey:
				cycle := []string{p}
				for _, f := range stack[onPath[p]+1:] {
					cycle = append(cycle, f.host)
				}
				g.Broken = append(g.Broken, Edge{Child: child, Parent: p, Cycle: append(cycle, p)})
				continue
			case white:
				color[p] = grey
				onPath[p] = len(stack)
				stack = append(stack, frame{host: p, parents: sorted(p)})
			}
			g.parents[child] = append(g.parents[child], p)
			g.children[p] = append(g.children[p], child)
		}
	}
	for _, cs := range g.children {
		slices.Sort(cs)
	}
	return g
}

// Parents are host's parents in the graph (loops broken), sorted; nil for
// none. The slice is shared: do not modify it.
func (g *Graph) Parents(host string) []string {
	if g == nil {
		return nil
	}
	return g.parents[host]
}

// Children are the hosts that depend on host directly, sorted. Shared.
func (g *Graph) Children(host string) []string {
	if g == nil {
		return nil
	}
	return g.children[host]
}

// Affected counts the hosts that depend on host, directly or through
// others, and names up to max of them: its own children first, in name
// order, then theirs.
func (g *Graph) Affected(host string, max int) (int, []string) {
	if g == nil || len(g.children[host]) == 0 {
		return 0, nil
	}
	seen := map[string]bool{host: true}
	queue := []string{host}
	var names []string
	n := 0
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		for _, c := range g.children[h] {
			if seen[c] {
				continue
			}
			seen[c] = true
			n++
			if len(names) < max {
				names = append(names, c)
			}
			queue = append(queue, c)
		}
	}
	return n, names
}

// Len is the number of hosts with at least one parent in the graph.
func (g *Graph) Len() int {
	if g == nil {
		return 0
	}
	return len(g.parents)
}
