package plugins

import (
	"slices"
	"testing"
)

// Each registry row builds a collector that reports under the row's name,
// so a sample is stored under the name its [plugins.NAME] table has.
func TestBuiltinsNameTheirCollectors(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range Builtins() {
		if seen[b.Name] {
			t.Errorf("plugin %q is registered twice", b.Name)
		}
		seen[b.Name] = true
		if got := b.New().Name(); got != b.Name {
			t.Errorf("registry row %q builds a collector named %q", b.Name, got)
		}
	}
	names := Names()
	if len(names) != len(Builtins()) || len(names) == 0 {
		t.Fatalf("Names() = %v for %d rows", names, len(Builtins()))
	}
	names[0] = "changed"
	if slices.Contains(Names(), "changed") {
		t.Error("Names returned shared state")
	}
}
