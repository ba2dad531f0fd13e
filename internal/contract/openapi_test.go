package contract

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// The API's document, docs/openapi.yaml, describes every body this package
// writes. These tests hold the golden files against its schemas, so that a
// change of the contract without the matching change of the document fails
// here, next to the change, before any daemon runs (e2e/openapi_test.go
// then checks the real daemon's answers).

// goldenSchemas names, for each golden file, the schemas of docs/openapi.yaml
// it must satisfy. A golden file missing here fails TestGoldenFilesMatchOpenAPI:
// a new public shape needs its schema.
var goldenSchemas = map[string][]string{
	"alerts.json":               {"FleetAlerts"},
	"cluster.json":              {"Cluster"},
	"cluster_disabled.json":     {"Cluster"},
	"error.json":                {"Error"},
	"frame_alert.json":          {"AlertFrame", "Frame"},
	"frame_error.json":          {"ErrorFrame", "Frame"},
	"frame_host.json":           {"HostFrame", "Frame"},
	"frame_message.json":        {"MessageFrame", "Frame"},
	"frame_plugin.json":         {"PluginFrame", "Frame"},
	"frame_snapshot.json":       {"SnapshotFrame", "Frame"},
	"frame_snapshot_empty.json": {"SnapshotFrame", "Frame"},
	"host.json":                 {"Host"},
	"host_suspect.json":         {"Host"},
	"host_alerts.json":          {"HostAlerts"},
	"host_unreported.json":      {"Host"},
	"hosts.json":                {"Hosts"},
	"hosts_empty.json":          {"Hosts"},
	"messages.json":             {"Messages"},
	"plugin_samples.json":       {"PluginSamples"},
	"plugins.json":              {"Plugins"},
	"rtt.json":                  {"HostRTT"},
	"rtt_empty.json":            {"HostRTT"},
	"silence.json":              {"Silence"},
	"silence_deleted.json":      {"SilenceDeleted"},
	"silences.json":             {"Silences"},
	"silences_empty.json":       {"Silences"},
	"stats.json":                {"Stats"},
}

// optionalFields are the fields the document does not require: a message's
// kind (absent on old journal lines).
var optionalFields = map[string]bool{"kind": true}

// keyedObjects are the objects keyed by a name rather than by fields (a
// host's plugins): any of their entries may be absent.
var keyedObjects = map[string]bool{"$.plugins": true}

// loadOpenAPI loads and validates docs/openapi.yaml.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatalf("docs/openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func schema(t *testing.T, doc *openapi3.T, name string) *openapi3.Schema {
	t.Helper()
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		t.Fatalf("docs/openapi.yaml has no schema %q", name)
	}
	return ref.Value
}

// Every golden file satisfies its schemas, and every schema is strict
// enough to notice a change: a field added to any object the encoders
// write, or a field taken away, breaks it.
func TestGoldenFilesMatchOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		names, ok := goldenSchemas[name]
		if !ok {
			t.Errorf("%s: no schema of docs/openapi.yaml is named for it in goldenSchemas; document the new shape", name)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, sn := range names {
			s := schema(t, doc, sn)
			if err := s.VisitJSON(decode(t, b)); err != nil {
				t.Errorf("%s does not match schema %s of docs/openapi.yaml: %v", name, sn, err)
				continue
			}
			frame := strings.HasPrefix(name, "frame_")
			for _, m := range mutations(decode(t, b), frame) {
				if s.VisitJSON(m.value) == nil {
					t.Errorf("%s with %s still matches schema %s: the schema is not strict there", name, m.what, sn)
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(goldenSchemas)) {
		if !seen[name] {
			t.Errorf("goldenSchemas names %s, which is not in testdata", name)
		}
	}
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("golden file is not JSON: %v", err)
	}
	return v
}

// mutation is a golden value changed in one place.
type mutation struct {
	what  string
	value any
}

// mutations returns copies of v, each with one object changed: a field
// added, or a required field removed. Sample data (a "data" object, except
// a frame's own) is the agent's JSON and free-form, so it is left alone.
func mutations(v any, frame bool) []mutation {
	var out []mutation
	var walk func(path string, node any, depth int, set func(any) any)
	walk = func(path string, node any, depth int, set func(any) any) {
		switch n := node.(type) {
		case map[string]any:
			extra := maps.Clone(n)
			extra["undocumented"] = 1.0
			out = append(out, mutation{"a field added at " + path, set(extra)})
			for _, k := range slices.Sorted(maps.Keys(n)) {
				if !optionalFields[k] && !keyedObjects[path] {
					less := maps.Clone(n)
					delete(less, k)
					out = append(out, mutation{"no " + path + "." + k, set(less)})
				}
				if k == "data" && !(frame && depth == 0) {
					continue
				}
				walk(path+"."+k, n[k], depth+1, func(x any) any {
					c := maps.Clone(n)
					c[k] = x
					return set(c)
				})
			}
		case []any:
			for i, e := range n {
				walk(path+"[]", e, depth+1, func(x any) any {
					c := slices.Clone(n)
					c[i] = x
					return set(c)
				})
				break // the first element stands for the others
			}
		}
	}
	walk("$", v, 0, func(x any) any { return x })
	return out
}
