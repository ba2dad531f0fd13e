package alert

import (
	"encoding/json"
	"testing"
)

func TestLevelNamesAndSeverity(t *testing.T) {
	for _, tc := range []struct {
		l        Level
		name     string
		severity int
	}{
		{LevelOK, "OK", 0},
		{LevelWarning, "WARNING", 1},
		{LevelUnknown, "UNKNOWN", 2},
		{LevelCritical, "CRITICAL", 3},
		{Level(9), "Level(9)", -1},
	} {
		if got := tc.l.String(); got != tc.name {
			t.Errorf("Level(%d).String() = %q, want %q", tc.l, got, tc.name)
		}
		if got := tc.l.Severity(); got != tc.severity {
			t.Errorf("%s.Severity() = %d, want %d", tc.name, got, tc.severity)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Level
		ok   bool
	}{
		{"OK", LevelOK, true},
		{"ok", LevelOK, true},
		{"Warning", LevelWarning, true},
		{"cRiTiCaL", LevelCritical, true},
		{"unknown", LevelUnknown, true},
		{"", 0, false},
		{"WARN", 0, false},
		{" OK", 0, false},
	} {
		got, ok := ParseLevel(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLevelJSON(t *testing.T) {
	b, err := json.Marshal(struct{ L Level }{LevelCritical})
	if err != nil || string(b) != `{"L":"CRITICAL"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var v struct{ L Level }
	if err := json.Unmarshal([]byte(`{"L":"warning"}`), &v); err != nil || v.L != LevelWarning {
		t.Fatalf("Unmarshal = %v, %v", v.L, err)
	}
	if err := json.Unmarshal([]byte(`{"L":"bad"}`), &v); err == nil {
		t.Fatal("Unmarshal of an unknown level succeeded")
	}
	if _, err := json.Marshal(Level(7)); err == nil {
		t.Fatal("Marshal of an out-of-range level succeeded")
	}
}

func TestParseOp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Op
	}{{">", OpGT}, {">=", OpGE}, {"<", OpLT}, {"<=", OpLE}, {"==", OpEQ}, {"!=", OpNE}} {
		got, err := ParseOp(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseOp(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
	for _, bad := range []string{"", "=", "=>", "> ", "gt", "<>"} {
		if _, err := ParseOp(bad); err == nil {
			t.Errorf("ParseOp(%q) succeeded", bad)
		}
	}
	if s := Op(0).String(); s != "Op(0)" {
		t.Errorf("Op(0).String() = %q", s)
	}
}

func TestSummaryAdd(t *testing.T) {
	var s Summary
	for _, l := range []Level{LevelOK, LevelOK, LevelWarning, LevelCritical, LevelCritical, LevelCritical, LevelUnknown, Level(42)} {
		s.Add(l)
	}
	if want := (Summary{OK: 2, Warning: 1, Critical: 3, Unknown: 1}); s != want {
		t.Fatalf("Summary = %+v, want %+v", s, want)
	}
}
