package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestDependenciesParse(t *testing.T) {
	t.Parallel()
	src := `[[dependencies]]
hosts = ["rack1-*"]
parents = ["rack1-sw"]

[[dependencies]]
hosts = ["rack1-sw", "rack2-sw"]
parents = ["core-a", "core-b"]
`
	d, err := ParseDaemon("t.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Dependencies) != 2 || d.Dependencies[0].Line != 1 || d.Dependencies[1].Line != 5 {
		t.Fatalf("rules %+v", d.Dependencies)
	}
	rs := d.DependencyRules()
	// The switch matches rack1-* too, but is not its own parent.
	if got := rs.ParentsOf("rack1-sw"); !reflect.DeepEqual(got, []string{"core-a", "core-b"}) {
		t.Errorf("rack1-sw's parents %q", got)
	}
	if got := rs.ParentsOf("rack1-web"); !reflect.DeepEqual(got, []string{"rack1-sw"}) {
		t.Errorf("rack1-web's parents %q", got)
	}
}

// Every problem comes out with its line, loops included, each loop once
// at the rule that closes it.
func TestDependenciesErrors(t *testing.T) {
	t.Parallel()
	src := `[[dependencies]]
parents = ["bad name", "sw", "sw"]

[[dependencies]]
hosts = ["[a-"]
parents = []
`
	_, err := ParseDaemon("t.toml", []byte(src))
	want := strings.Join([]string{
		`t.toml:1: dependencies[0].hosts: required: globs of the hosts that depend on the parents, e.g. ["rack1-*"]`,
		`t.toml:2: dependencies[0].parents[0]: invalid host name "bad name": use 1-253 ASCII letters, digits, '-', '.' and '_', not starting with '.' or '-'`,
		`t.toml:2: dependencies[0].parents[2]: "sw" is listed twice`,
		`t.toml:5: dependencies[1].hosts[0]: bad host pattern "[a-": use path.Match syntax (*, ?, [a-z], \ to escape)`,
		`t.toml:6: dependencies[1].parents: required: the hosts these depend on, e.g. ["rack1-switch"]`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
}

func TestDependencyLoops(t *testing.T) {
	t.Parallel()
	src := `[[dependencies]]
hosts = ["web*"]
parents = ["sw-a"]

[[dependencies]]
hosts = ["sw-*"]
parents = ["core"]

[[dependencies]]
hosts = ["core"]
parents = ["sw-b"]

[[dependencies]]
hosts = ["hv1"]
parents = ["hv2"]

[[dependencies]]
hosts = ["hv2"]
parents = ["hv1"]
`
	_, err := ParseDaemon("t.toml", []byte(src))
	want := strings.Join([]string{
		`t.toml:7: dependencies[1].parents: dependency loop: core -> sw-b -> core (sw-b matches this rule's hosts and would depend on core, which already depends on it)`,
		`t.toml:19: dependencies[4].parents: dependency loop: hv1 -> hv2 -> hv1 (hv2 matches this rule's hosts and would depend on hv1, which already depends on it)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
}

func TestAgentParents(t *testing.T) {
	t.Parallel()
	a, err := ParseAgent("a.toml", []byte("name = \"web1\"\nparents = [\"sw1\", \"hv2\"]\n"), nil)
	if err != nil || !a.DeclareParents || !reflect.DeepEqual(a.Parents, []string{"sw1", "hv2"}) {
		t.Fatalf("ParseAgent = %+v, %v", a, err)
	}
	if a, err := ParseAgent("a.toml", []byte("name = \"web1\"\n"), nil); err != nil || a.DeclareParents {
		t.Fatalf("without parents: declares %v, %v", a.DeclareParents, err)
	}
	_, err = ParseAgent("a.toml", []byte("name = \"web1\"\nparents = [\"web1\", \"a b\", \"sw\", \"sw\"]\n"), nil)
	want := strings.Join([]string{
		`a.toml:2: parents[0]: "web1" is this host itself`,
		`a.toml:2: parents[1]: invalid host name "a b": use 1-253 ASCII letters, digits, '-', '.' and '_', not starting with '.' or '-'`,
		`a.toml:2: parents[3]: "sw" is listed twice`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
	long := `name = "web1"` + "\nparents = [" + strings.Repeat(`"`+strings.Repeat("p", 200)+`",`, 1) + `"` + strings.Repeat("q", 200) + `", "` +
		strings.Repeat("r", 200) + `", "` + strings.Repeat("s", 200) + `", "` + strings.Repeat("t", 200) + `", "` + strings.Repeat("u", 200) + "\"]\n"
	if _, err := ParseAgent("a.toml", []byte(long), nil); err == nil || !strings.Contains(err.Error(), "too long for one datagram") {
		t.Errorf("six 200-byte parents: %v", err)
	}
}
