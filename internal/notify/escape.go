package notify

import (
	"fmt"
	"mime"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"
	"unicode/utf8"
)

// Host names and metric paths come from the network. The daemon refuses
// unsafe ones before they become alerts (host names by the wire rule,
// metric paths by [limits]), and the channels do not trust that: each makes
// what it sends safe for where it goes.
//
//   - exec: environment values cannot hold NUL, and a CR or LF in one
//     misleads the scripts that read it: cleanText replaces control
//     characters.
//   - email: the subject is one header line and the body a list of
//     fields: the same.
//   - webhook: a template whose body is JSON (content type application/json
//     or */*+json) escapes every value it prints for the inside of a JSON
//     string, so a key cannot close the string and add fields of its own.
//     {{json .X}} still prints X as a complete JSON value.
//   - the chat and push services: render.go's markups. HTML-escaped text
//     for Matrix and Telegram; code spans for Slack and Mattermost (with
//     &, <, > escaped for Slack); one line of plain text for the others.
//     Their JSON bodies come from encoding/json.

// replacement stands for a character a channel cannot carry.
const replacement = '\uFFFD'

// cleanText returns s with control characters (C0, DEL, C1), U+2028,
// U+2029 and invalid UTF-8 replaced by U+FFFD; s itself when it has none.
func cleanText(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, size) {
			r = replacement
		}
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

func isClean(s string) bool {
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, size) {
			return false
		}
		i += size
	}
	return true
}

func unsafeRune(r rune, size int) bool {
	return (r == utf8.RuneError && size == 1) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// jsonEscapeFunc is the function escapeJSONActions appends to the
// pipelines of a JSON template. The name cannot collide with a function a
// template writer would choose.
const jsonEscapeFunc = "hbd_json_string_escape"

// isJSONType reports whether a content type is JSON: application/json or
// any */*+json, with or without parameters.
func isJSONType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// escapeJSONActions rewrites every template of t so that each action that
// prints a value prints it escaped for the inside of a JSON string, as
// html/template adds its escapers to the actions of an HTML template. An
// action whose pipeline already ends in json is left alone: it prints a
// complete JSON value. t's functions must include jsonEscapeFunc.
func escapeJSONActions(t *template.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			escapeNode(tt.Tree.Root)
		}
	}
}

func escapeNode(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			escapeNode(c)
		}
	case *parse.ActionNode:
		p := n.Pipe
		if p == nil || len(p.Decl) > 0 || p.IsAssign || len(p.Cmds) == 0 {
			return // an assignment prints nothing
		}
		if endsIn(p, "json") || endsIn(p, jsonEscapeFunc) {
			return
		}
		p.Cmds = append(p.Cmds, &parse.CommandNode{
			NodeType: parse.NodeCommand,
			Pos:      n.Pos,
			Args:     []parse.Node{parse.NewIdentifier(jsonEscapeFunc).SetPos(n.Pos)},
		})
	case *parse.IfNode:
		escapeNode(n.List)
		escapeNode(n.ElseList)
	case *parse.RangeNode:
		escapeNode(n.List)
		escapeNode(n.ElseList)
	case *parse.WithNode:
		escapeNode(n.List)
		escapeNode(n.ElseList)
	}
}

// endsIn reports whether the pipeline's last command is a call of fn.
func endsIn(p *parse.PipeNode, fn string) bool {
	last := p.Cmds[len(p.Cmds)-1]
	if len(last.Args) == 0 {
		return false
	}
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == fn
}

// jsonStringEscape prints its argument as text/template would and escapes
// the text for the inside of a JSON string (without the quotes).
func jsonStringEscape(args ...any) string {
	for i, a := range args {
		args[i] = indirectToStringerOrError(a)
	}
	b := appendJSONString(nil, fmt.Sprint(args...))
	return string(b[1 : len(b)-1])
}

var (
	errorType       = reflect.TypeFor[error]()
	fmtStringerType = reflect.TypeFor[fmt.Stringer]()
)

// indirectToStringerOrError dereferences pointers until it reaches a
// Stringer, an error or a non-pointer, as html/template's escapers do, so
// that {{.Value}} prints the number rather than the pointer.
func indirectToStringerOrError(a any) any {
	if a == nil {
		return nil
	}
	v := reflect.ValueOf(a)
	for !v.Type().Implements(fmtStringerType) && !v.Type().Implements(errorType) && v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	return v.Interface()
}
