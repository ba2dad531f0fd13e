package deps

import (
	"fmt"
	"reflect"
	"testing"
)

func TestRulesParentsOf(t *testing.T) {
	rs := NewRules([]Rule{
		{Hosts: []string{"rack1-*"}, Parents: []string{"rack1-sw", "core"}},
		{Hosts: []string{"rack1-db*", "db-*"}, Parents: []string{"core", "san"}},
	})
	for host, want := range map[string][]string{
		"rack1-web1": {"rack1-sw", "core"},
		"rack1-db1":  {"rack1-sw", "core", "san"},
		"rack1-sw":   {"core"}, // never its own parent
		"db-1":       {"core", "san"},
		"web9":       nil,
	} {
		if got := rs.ParentsOf(host); !reflect.DeepEqual(got, want) {
			t.Errorf("ParentsOf(%q) = %q, want %q", host, got, want)
		}
	}
	if got := (*Rules)(nil).ParentsOf("x"); got != nil {
		t.Errorf("nil rules: %q", got)
	}
}

func TestMerge(t *testing.T) {
	got := Merge("h", []string{"a", "b"}, []string{"b", "h", "c"})
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Merge = %q, want %q", got, want)
	}
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprintf("p%02d", i))
	}
	if got := Merge("h", []string{"cfg"}, many); len(got) != MaxParents || got[0] != "cfg" {
		t.Errorf("Merge of 21 parents = %q: want %d, config's first", got, MaxParents)
	}
}

func TestBuildTransitiveAndAffected(t *testing.T) {
	g := Build(map[string][]string{
		"web1": {"rack1-sw"}, "web2": {"rack1-sw"}, "rack1-sw": {"core"}, "db1": {"core"},
	})
	if len(g.Broken) != 0 {
		t.Fatalf("no loop, but broke %v", g.Broken)
	}
	if got := g.Parents("rack1-sw"); !reflect.DeepEqual(got, []string{"core"}) {
		t.Errorf("Parents(rack1-sw) = %q", got)
	}
	n, names := g.Affected("core", 2)
	if n != 4 || !reflect.DeepEqual(names, []string{"db1", "rack1-sw"}) {
		t.Errorf("Affected(core) = %d %q, want 4 [db1 rack1-sw]", n, names)
	}
	if n, _ := g.Affected("web1", 5); n != 0 {
		t.Errorf("a leaf affects %d hosts", n)
	}
}

// A loop is broken at the same edge whatever order the declarations came in.
func TestBuildBreaksLoopsDeterministically(t *testing.T) {
	decl := map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}, "x": {"x", "a"}}
	var first *Graph
	for range 20 { // map iteration order varies between runs
		g := Build(decl)
		if len(g.Broken) != 1 {
			t.Fatalf("broke %v, want one edge", g.Broken)
		}
		if first == nil {
			first = g
			continue
		}
		if !reflect.DeepEqual(g.Broken, first.Broken) || !reflect.DeepEqual(g.parents, first.parents) {
			t.Fatalf("loop broken differently: %v vs %v", g.Broken, first.Broken)
		}
	}
	e := first.Broken[0]
	if e.Child != "c" || e.Parent != "a" || !reflect.DeepEqual(e.Cycle, []string{"a", "b", "c", "a"}) {
		t.Errorf("broke %+v, want c -> a closing a b c a", e)
	}
	if got := first.Parents("x"); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("x's parents %q: a self-dependency is dropped", got)
	}
	// What is left is loop-free: every host's ancestors are finite.
	if n, _ := first.Affected("c", 10); n != 3 { // b, a and x
		t.Errorf("Affected(c) = %d, want 3", n)
	}
}

// A chain as long as a fleet does not exhaust the stack.
func TestBuildLongChain(t *testing.T) {
	decl := make(map[string][]string)
	const n = 50_000
	for i := range n {
		decl[fmt.Sprintf("h%06d", i)] = []string{fmt.Sprintf("h%06d", i+1)}
	}
	decl[fmt.Sprintf("h%06d", n)] = []string{"h000000"}
	g := Build(decl)
	if len(g.Broken) != 1 || len(g.Broken[0].Cycle) != n+2 {
		t.Fatalf("broke %d edges", len(g.Broken))
	}
}

// BenchmarkBuild100k is the fleet index's rebuild of the graph of 100,000
// hosts, each under one of 2,000 switches under 20 routers.
func BenchmarkBuild100k(b *testing.B) {
	decl := make(map[string][]string, 102_020)
	for i := range 100_000 {
		decl[fmt.Sprintf("h%06d", i)] = []string{fmt.Sprintf("sw%04d", i%2000)}
	}
	for i := range 2000 {
		decl[fmt.Sprintf("sw%04d", i)] = []string{fmt.Sprintf("r%02d", i%20)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if g := Build(decl); g.Len() != 102_000 {
			b.Fatal(g.Len())
		}
	}
}
