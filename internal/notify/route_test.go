package notify

import (
	"context"
	"strings"
	"testing"
)

// nameOnly is a Channel that is never sent on; route tests only need a
// non-nil channel.
type nameOnly string

func (c nameOnly) Name() string                             { return string(c) }
func (c nameOnly) Send(context.Context, Notification) error { panic("not for sending") }

func TestRouteAccepts(t *testing.T) {
	tests := []struct {
		name  string
		route Route
		n     Notification
		want  bool
	}{
		{"warning passes warning", Route{MinLevel: "WARNING"}, Notification{Kind: KindProblem, Host: "a", Level: "WARNING"}, true},
		{"critical passes warning", Route{MinLevel: "WARNING"}, Notification{Kind: KindProblem, Host: "a", Level: "CRITICAL"}, true},
		{"OK problem never passes", Route{MinLevel: "WARNING"}, Notification{Kind: KindProblem, Host: "a", Level: "OK"}, false},
		{"empty min level is warning", Route{}, Notification{Kind: KindProblem, Host: "a", Level: "WARNING"}, true},
		{"empty min level rejects OK", Route{}, Notification{Kind: KindProblem, Host: "a", Level: "OK"}, false},
		{"warning fails critical", Route{MinLevel: "CRITICAL"}, Notification{Kind: KindProblem, Host: "a", Level: "WARNING"}, false},
		{"unknown fails critical", Route{MinLevel: "CRITICAL"}, Notification{Kind: KindProblem, Host: "a", Level: "UNKNOWN"}, false},
		{"unknown passes unknown", Route{MinLevel: "UNKNOWN"}, Notification{Kind: KindProblem, Host: "a", Level: "UNKNOWN"}, true},
		{"warning fails unknown", Route{MinLevel: "UNKNOWN"}, Notification{Kind: KindProblem, Host: "a", Level: "WARNING"}, false},
		{"critical passes unknown", Route{MinLevel: "UNKNOWN"}, Notification{Kind: KindProblem, Host: "a", Level: "CRITICAL"}, true},
		{"levels are case-insensitive", Route{MinLevel: "critical"}, Notification{Kind: KindProblem, Host: "a", Level: "Critical"}, true},
		{"unrecognised level counts as unknown", Route{MinLevel: "UNKNOWN"}, Notification{Kind: KindProblem, Host: "a", Level: "BOGUS"}, true},
		{"recovery uses prev level", Route{MinLevel: "CRITICAL"}, Notification{Kind: KindRecovery, Host: "a", Level: "OK", PrevLevel: "CRITICAL"}, true},
		{"recovery from warning fails critical", Route{MinLevel: "CRITICAL"}, Notification{Kind: KindRecovery, Host: "a", Level: "OK", PrevLevel: "WARNING"}, false},
		{"recovery from warning passes warning", Route{MinLevel: "WARNING"}, Notification{Kind: KindRecovery, Host: "a", Level: "OK", PrevLevel: "WARNING"}, true},
		{"repeat uses level", Route{MinLevel: "CRITICAL"}, Notification{Kind: KindRepeat, Host: "a", Level: "CRITICAL", PrevLevel: "OK"}, true},
		{"host glob matches", Route{Hosts: []string{"web*"}}, Notification{Kind: KindProblem, Host: "web01", Level: "CRITICAL"}, true},
		{"host glob misses", Route{Hosts: []string{"web*"}}, Notification{Kind: KindProblem, Host: "db01", Level: "CRITICAL"}, false},
		{"second glob matches", Route{Hosts: []string{"web*", "db0?"}}, Notification{Kind: KindProblem, Host: "db01", Level: "CRITICAL"}, true},
		{"glob is anchored", Route{Hosts: []string{"web"}}, Notification{Kind: KindProblem, Host: "web01", Level: "CRITICAL"}, false},
		{"class glob", Route{Hosts: []string{"db[12]"}}, Notification{Kind: KindProblem, Host: "db3", Level: "CRITICAL"}, false},
		{"host and level both needed", Route{MinLevel: "CRITICAL", Hosts: []string{"web*"}}, Notification{Kind: KindProblem, Host: "web01", Level: "WARNING"}, false},
		{"bad glob matches nothing", Route{Hosts: []string{"[web"}}, Notification{Kind: KindProblem, Host: "[web", Level: "CRITICAL"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.route.Channel = nameOnly("c")
			if got := tc.route.Accepts(tc.n); got != tc.want {
				t.Errorf("Accepts = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRouteValidate(t *testing.T) {
	if err := (&Route{Channel: nameOnly("c"), MinLevel: "CRITICAL", Hosts: []string{"web*"}}).Validate(); err != nil {
		t.Errorf("valid route: %v", err)
	}
	err := (&Route{MinLevel: "OK", Hosts: []string{"[x"}, Repeat: -1}).Validate()
	if err == nil {
		t.Fatal("invalid route: no error")
	}
	for _, want := range []string{"no channel", `min_level "OK"`, `host glob "[x"`, "repeat"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
