package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplitCommand(t *testing.T) {
	t.Parallel()
	good := []struct {
		line string
		want []string
	}{
		{"/bin/true", []string{"/bin/true"}},
		{"  /usr/bin/probe   -x\t-y  ", []string{"/usr/bin/probe", "-x", "-y"}},
		{`check_procs -a 'nginx: worker' -w 1:`, []string{"check_procs", "-a", "nginx: worker", "-w", "1:"}},
		{`p "a \"b\" \$c" 'd\e'`, []string{"p", `a "b" $c`, `d\e`}},
		{`p "" x`, []string{"p", "", "x"}},
		{`p a\ b c\\d`, []string{"p", "a b", `c\d`}},
		{`p ~ *.log [ab] 50%`, []string{"p", "~", "*.log", "[ab]", "50%"}},
		{"p # a comment", []string{"p"}},
		{"p x#y", []string{"p", "x#y"}},
		{`p '$HOME'`, []string{"p", "$HOME"}},
	}
	for _, tt := range good {
		got, err := SplitCommand(tt.line)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
	bad := []struct{ line, wantErr string }{
		{"", "no program"},
		{"# only a comment", "no program"},
		{"p $HOME", "the variable $HOME, which needs a shell"},
		{`p "${X:-y}"`, "the variable $X"},
		{"p $(date)", "command substitution"},
		{"p `date`", "command substitution"},
		{"p $((1+2))", "arithmetic"},
		{"a | b", "needs a shell"},
		{"a && b", "needs a shell"},
		{"a; b", "more than one command"},
		{"a\nb", "more than one command"},
		{"a &", "needs a shell"},
		{"! a", "needs a shell"},
		{"a > /tmp/x", "redirection"},
		{"X=1 a", "assigns a variable"},
		{"p {a,b}", "brace expansion"},
		{`p "unterminated`, "cannot split into words"},
		{"if true; then a; fi", "needs a shell"},
	}
	for _, tt := range bad {
		got, err := SplitCommand(tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("SplitCommand(%q) = %q, %v; want an error with %q", tt.line, got, err, tt.wantErr)
		}
	}
}

// TestExecTimeoutDefault: a timeout nobody wrote follows the interval,
// in a file and in a config built in code.
func TestExecTimeoutDefault(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		interval, want time.Duration
	}{
		{time.Second, 800 * time.Millisecond},
		{5 * time.Second, 4 * time.Second},
		{12500 * time.Millisecond, 10 * time.Second},
		{time.Hour, 10 * time.Second},
	} {
		file := "name = \"web1\"\n[[exec]]\nname = \"x\"\ncommand = \"/bin/x\"\ninterval = \"" + tt.interval.String() + "\"\n"
		a, err := ParseAgent("a.toml", []byte(file), testBuiltins)
		if err != nil {
			t.Fatalf("interval %s: %v", tt.interval, err)
		}
		if got := a.Exec[0].Timeout.Duration; got != tt.want {
			t.Errorf("interval %s: timeout %s, want %s", tt.interval, got, tt.want)
		}

		c := DefaultAgent(testBuiltins)
		c.Name = "web1"
		c.Exec = []Exec{{Name: "x", Command: Command{Line: "/bin/x -y"}, Interval: dur(tt.interval), Format: "json"}}
		if err := c.Validate(); err != nil {
			t.Fatalf("in code, interval %s: %v", tt.interval, err)
		}
		if got := c.Exec[0].Timeout.Duration; got != tt.want {
			t.Errorf("in code, interval %s: timeout %s, want %s", tt.interval, got, tt.want)
		}
		if got := c.Exec[0].Command.Args; !reflect.DeepEqual(got, []string{"/bin/x", "-y"}) {
			t.Errorf("in code: args %q", got)
		}
	}
}
