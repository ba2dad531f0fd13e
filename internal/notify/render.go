package notify

import (
	"html"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The chat and push channels say the same things in their own formats: a
// title ("CRITICAL web01 cpu_monitor.cpu_percent"), the message, and for a
// group its hosts, as many as fit the service's size limit. A markup says
// how one format writes each part; what comes from the network (host
// names, metric paths, messages) always goes through its text or code
// function, never into the markup raw.

// markup is one message format.
type markup struct {
	text func(string) string // untrusted text, escaped for the format
	code func(string) string // untrusted text as a literal (code) span
	bold func(string) string // our own words (levels), emphasised
	nl   string              // a line break
	item string              // what starts a listed host's line
}

// plainMarkup is for services that show text as it is (pushover, signal,
// sms, ntfy): nothing to escape, but one line per part.
var plainMarkup = markup{
	text: oneLine,
	code: oneLine,
	bold: func(s string) string { return s },
	nl:   "\n",
	item: "- ",
}

// htmlMarkup is for Matrix's formatted_body and Telegram's parse_mode HTML.
// html.EscapeString escapes <, >, &, ' and ", the last two as numeric
// entities, which Telegram accepts too.
func htmlMarkup(nl string) markup {
	esc := func(s string) string { return html.EscapeString(oneLine(s)) }
	return markup{
		text: esc,
		code: func(s string) string { return "<code>" + esc(s) + "</code>" },
		bold: func(s string) string { return "<b>" + esc(s) + "</b>" },
		nl:   nl,
		item: "• ",
	}
}

// markdownMarkup is for Slack's mrkdwn and Mattermost's Markdown. Untrusted
// text goes in code spans, where neither formats *, _ or ~ nor turns
// "@channel" into a mention; a backquote, which would end the span, becomes
// a look-alike. Slack also reads <...> as links and mentions ("<!channel>")
// and asks that &, < and > always be sent escaped, so slack escapes them,
// in code spans too; Mattermost shows code spans literally, so it must not.
func markdownMarkup(slack bool) markup {
	emphasis := "**" // Markdown's bold
	if slack {
		emphasis = "*" // mrkdwn's
	}
	code := func(s string) string {
		s = strings.ReplaceAll(oneLine(s), "`", "\u02cb")
		if slack {
			s = slackEscape(s)
		}
		if s == "" {
			return ""
		}
		return "`" + s + "`"
	}
	return markup{
		text: code,
		code: code,
		bold: func(s string) string { return emphasis + oneLine(s) + emphasis },
		nl:   "\n",
		item: "• ",
	}
}

// slackEscape escapes the three characters Slack's formatting reads as
// control characters.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// title is the notification's one-line headline, as plain text: level,
// host and metric, with the kind when it is not a plain change of level.
// Email's default subject says the same after "[hbd]".
func title(n Notification) string {
	parts := []string{levelWord(n), n.Host, n.MetricPath}
	return oneLine(strings.Join(nonEmpty(parts), " "))
}

// levelWord is the level with the kind when that adds something.
func levelWord(n Notification) string {
	switch n.Kind {
	case KindRepeat:
		return n.Level + " (still)"
	case KindFlappingStart:
		return "FLAPPING"
	case KindFlappingStop:
		return n.Level + " (flapping stopped)"
	case KindTest:
		return "TEST"
	}
	return n.Level
}

func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// render writes n in m: the headline (unless withTitle is false, for
// services that show the title apart), the message, and a group's hosts;
// the result is at most limit bytes. Hosts are dropped from the end (with
// "... and N more") until it fits, then the message is shortened.
func render(n Notification, m markup, withTitle bool, limit int) string {
	listed := min(len(n.Members), MaxListed)
	if n.GroupSize == 0 {
		listed = 0
	}
	msg, keep := n.Message, len(n.Message)
	for {
		s := renderParts(n, m, withTitle, msg, listed)
		if len(s) <= limit {
			return s
		}
		switch {
		case listed > 0:
			listed /= 2
		case msg != "":
			// The message alone is too long: halve what is kept of it,
			// on a rune boundary; keep shrinks every time, so this ends.
			keep /= 2
			msg = ""
			if keep >= 8 {
				msg = truncateUTF8(n.Message, keep) + "…"
			}
		default:
			// Only the title is left, and it is too long: the plain
			// title, cut so that escaped (each byte 5 at most: "&amp;")
			// and marked up (2: a code span's backquotes) it fits.
			return m.text(truncateUTF8(title(n), max(0, limit-2)/5))
		}
	}
}

func renderParts(n Notification, m markup, withTitle bool, msg string, listed int) string {
	var b strings.Builder
	line := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString(m.nl)
		}
		b.WriteString(s)
	}
	if withTitle {
		line(headline(n, m))
	}
	line(m.text(msg))
	if n.GroupSize > 0 {
		for _, mem := range n.Members[:listed] {
			line(m.item + m.code(mem.Host) + ": " + m.text(mem.Message))
		}
		if more := n.GroupSize - listed; more > 0 {
			line("… and " + strconv.Itoa(more) + " more")
		}
	}
	return b.String()
}

// headline is title in m: the level emphasised, host and metric literal.
func headline(n Notification, m markup) string {
	parts := []string{m.bold(levelWord(n)), m.code(n.Host), m.code(n.MetricPath)}
	return strings.Join(nonEmpty(parts), " ")
}

// truncateUTF8 returns the longest prefix of s of at most n bytes that
// does not split a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
