package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hbd-project/hbd/agent/plugins"
	"github.com/hbd-project/hbd/config"
)

// An unknown [plugins.NAME] table is a config error naming the file, the
// line of its header and the registry's plugins; the agent exits 1 on it
// rather than panicking at start.
func TestUnknownPluginIsConfigError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hbd-agent.toml")
	text := "name = \"web1\"\n\n[plugins.cpu_monitor]\ninterval = \"10s\"\n\n[plugins.gpu_monitor]\nenabled = true\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.LoadAgent(path, plugins.Names())
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("LoadAgent = %v, want one config error", err)
	}
	e := errs[0]
	want := `unknown plugin "gpu_monitor"; the built-in plugins are ` + strings.Join(plugins.Names(), ", ") + " (use [[exec]] to run other commands)"
	if e.File != path || e.Line != 6 || e.Key != "plugins.gpu_monitor" || e.Msg != want {
		t.Errorf("error = %+v, want %s:6: plugins.gpu_monitor: %s", e, path, want)
	}
	for _, args := range [][]string{{"-config", path, "-check-config"}, {"-config", path, "-once"}} {
		if code := run(args); code != 1 {
			t.Errorf("hbd-agent %v exited %d, want 1", args, code)
		}
	}
}

// config's tests stand in for the registry with a list of their own; its
// bad-config fixture must read the same with the real one.
func TestConfigFixtureMatchesRegistry(t *testing.T) {
	const name = "testdata/agent/bad/unknown_plugin.toml"
	data, err := os.ReadFile(filepath.Join("..", "..", "config", name))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "config", name+".err"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.ParseAgent(name, data, plugins.Names())
	if err == nil || err.Error()+"\n" != string(want) {
		t.Errorf("with the registry's plugins:\n%v\nwant:\n%s", err, want)
	}
}

// Every enabled built-in plugin is built from the registry, in its order,
// followed by the [[exec]] plugins; a disabled one is left out.
func TestBuildPlugins(t *testing.T) {
	text := "name = \"web1\"\n[plugins.disk_monitor]\nenabled = false\n[plugins.cpu_monitor]\ninterval = \"5s\"\n" +
		"[[exec]]\nname = \"queue\"\ncommand = [\"/bin/true\"]\ninterval = \"1m\"\n"
	cfg, err := config.ParseAgent("a.toml", []byte(text), plugins.Names())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range plugins.Names() {
		if n != "disk_monitor" {
			want = append(want, n)
		}
	}
	want = append(want, "queue")
	var got []string
	for _, p := range buildPlugins(cfg) {
		got = append(got, p.Collector.Name())
		if p.Collector.Name() == "cpu_monitor" && p.Interval.String() != "5s" {
			t.Errorf("cpu_monitor interval %s, want 5s", p.Interval)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("plugins %v, want %v", got, want)
	}
}

// -once -plugin NAME runs that plugin alone: how a plugin's author tests
// it. A name that is not enabled is an error.
func TestOncePlugin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.toml")
	text := "name = \"web1\"\n[[exec]]\nname = \"answer\"\ncommand = \"/bin/echo '{\\\"answer\\\": 42}'\"\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadAgent(path, plugins.Names())
	if err != nil {
		t.Fatal(err)
	}
	ps := onlyPlugin(buildPlugins(cfg), "answer")
	if len(ps) != 1 || ps[0].Collector.Name() != "answer" {
		t.Fatalf("onlyPlugin = %v", ps)
	}
	data, err := ps[0].Collector.Collect(context.Background())
	if err != nil || string(data) != `{"answer":42}` {
		t.Errorf("answer's sample %s, %v", data, err)
	}
	if ps := onlyPlugin(buildPlugins(cfg), "nope"); ps != nil {
		t.Errorf("onlyPlugin(nope) = %v", ps)
	}
	if code := run([]string{"-config", path, "-once", "-plugin", "nope"}); code != 1 {
		t.Errorf("-once -plugin nope exited %d, want 1", code)
	}
}
