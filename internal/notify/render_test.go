package notify

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// nastyNotification has what a hostile or unlucky host could put in a
// name, a metric path or a message: markup of every format at hand.
func nastyNotification() Notification {
	n := testNotification()
	n.Host = `db_1*<b>&"x"`
	n.MetricPath = "disk_monitor._root_.`percent`"
	n.Message = "*bold* _it_ ~del~ <!channel> @here <script>alert(1)</script> & done\nsecond line"
	return n
}

func TestRenderEscapes(t *testing.T) {
	n := nastyNotification()
	tests := []struct {
		name string
		m    markup
		want string
	}{
		{"plain", plainMarkup,
			"CRITICAL db_1*<b>&\"x\" disk_monitor._root_.`percent`\n" +
				"*bold* _it_ ~del~ <!channel> @here <script>alert(1)</script> & done second line"},
		{"html", htmlMarkup("<br>"),
			"<b>CRITICAL</b> <code>db_1*&lt;b&gt;&amp;&#34;x&#34;</code> <code>disk_monitor._root_.`percent`</code><br>" +
				"*bold* _it_ ~del~ &lt;!channel&gt; @here &lt;script&gt;alert(1)&lt;/script&gt; &amp; done second line"},
		{"slack", markdownMarkup(true),
			"*CRITICAL* `db_1*&lt;b&gt;&amp;\"x\"` `disk_monitor._root_.ˋpercentˋ`\n" +
				"`*bold* _it_ ~del~ &lt;!channel&gt; @here &lt;script&gt;alert(1)&lt;/script&gt; &amp; done second line`"},
		{"mattermost", markdownMarkup(false),
			"**CRITICAL** `db_1*<b>&\"x\"` `disk_monitor._root_.ˋpercentˋ`\n" +
				"`*bold* _it_ ~del~ <!channel> @here <script>alert(1)</script> & done second line`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(n, tt.m, true, 1<<20); got != tt.want {
				t.Errorf("render =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// A group lists its members, at most MaxListed, then says how many more.
func TestRenderGroup(t *testing.T) {
	var members []Notification
	for i := range MaxListed + 5 {
		m := testNotification()
		m.Host = fmt.Sprintf("web%03d", i)
		m.Message = "heartbeat OK -> CRITICAL: host DOWN"
		members = append(members, m)
	}
	g := Group(members, nil)
	got := render(g, plainMarkup, true, 1<<20)
	lines := strings.Split(got, "\n")
	if lines[0] != "CRITICAL 105 hosts cpu_monitor.cpu_percent" {
		t.Errorf("title line = %q", lines[0])
	}
	if want := "- web000: heartbeat OK -> CRITICAL: host DOWN"; lines[2] != want {
		t.Errorf("first member line = %q, want %q", lines[2], want)
	}
	if len(lines) != 2+MaxListed+1 || lines[len(lines)-1] != "… and 5 more" {
		t.Errorf("%d lines, last %q; want %d, the last \"… and 5 more\"", len(lines), lines[len(lines)-1], 2+MaxListed+1)
	}
}

// Within a size limit, hosts are dropped first, then the message is cut;
// an HTML rendering keeps its tags whole.
func TestRenderFitsLimit(t *testing.T) {
	var members []Notification
	for i := range 1000 {
		m := testNotification()
		m.Host = fmt.Sprintf("<web%04d>", i)
		members = append(members, m)
	}
	g := Group(members, nil)
	got := render(g, htmlMarkup("\n"), true, telegramTextMax)
	if len(got) > telegramTextMax {
		t.Fatalf("rendered %d bytes, limit %d", len(got), telegramTextMax)
	}
	if !strings.Contains(got, " more") || strings.Count(got, "<code>") != strings.Count(got, "</code>") {
		t.Errorf("rendering is not whole:\n%s", got)
	}
	long := testNotification()
	long.Message = strings.Repeat("é", 5000)
	got = render(long, htmlMarkup("\n"), true, 1000)
	if len(got) > 1000 || !utf8.ValidString(got) || !strings.HasPrefix(got, "<b>CRITICAL</b> <code>web01</code>") || !strings.HasSuffix(got, "…") {
		t.Errorf("long message rendered as %d bytes: %.80q...%q", len(got), got, got[max(0, len(got)-10):])
	}
}

// A limit below the title's length still ends, with the title cut and
// its markup whole.
func TestRenderTinyLimit(t *testing.T) {
	for name, m := range map[string]markup{"html": htmlMarkup("\n"), "slack": markdownMarkup(true), "plain": plainMarkup} {
		for limit := range 200 {
			got := render(nastyNotification(), m, true, limit)
			amp := strings.LastIndexByte(got, '&')
			if len(got) > limit || !utf8.ValidString(got) || strings.Count(got, "<code>") != strings.Count(got, "</code>") ||
				strings.Count(got, "`")%2 != 0 || (name != "plain" && amp >= 0 && !strings.Contains(got[amp:], ";")) {
				t.Errorf("%s, limit %d: %q", name, limit, got)
			}
		}
	}
}

func TestEscapePathSegment(t *testing.T) {
	for in, want := range map[string]string{
		"!abc:example.org": "%21abc%3Aexample.org",
		"a b/c?d#e%":       "a%20b%2Fc%3Fd%23e%25",
		"AC0123-_.~":       "AC0123-_.~",
	} {
		if got := escapePathSegment(in); got != want {
			t.Errorf("escapePathSegment(%q) = %q, want %q", in, got, want)
		}
	}
}
