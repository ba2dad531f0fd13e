package config

import (
	"errors"
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// Command is the command key of an [[exec]] plugin: a TOML list of
// strings (the program and its arguments, taken as written), or one
// string. A string is split into words by POSIX shell rules (quotes and
// backslashes) when the config is validated, or, with shell = true, run
// as it is by /bin/sh -c.
type Command struct {
	// Args is what runs: the list, the string's words, or /bin/sh -c and
	// the string. Set by validation for a string.
	Args []string
	// Line is the string as written; "" when the command was a list.
	Line string
}

// shellPath is the shell a shell = true command runs under.
const shellPath = "/bin/sh"

// SplitCommand splits line into words as a POSIX shell would (quotes,
// backslashes, comments), without running or expanding anything: a line
// that needs a shell (a $variable, $(command), `command`, $((arithmetic)),
// a redirection, a pipe, a list with ; or &&, a variable assignment, a
// {brace,expansion}) is an error that says so. ~ and glob characters stay
// literal, as they would in a list.
//
// The parser is mvdan.cc/sh/v3's, the one behind shfmt: well kept and
// exact about quoting. Its convenience shell.Fields is not used because it
// expands $VARIABLES from the agent's environment and ~, which would make
// what runs depend on where the agent was started; this refuses them
// instead, and shell = true is there for whoever wants them.
func SplitCommand(line string) ([]string, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
	if err != nil {
		return nil, fmt.Errorf("cannot split into words: %w", err)
	}
	if len(f.Stmts) != 1 {
		if len(f.Stmts) == 0 {
			return nil, errors.New("no program in it")
		}
		return nil, errors.New("it is more than one command; set shell = true to run it with " + shellPath)
	}
	st := f.Stmts[0]
	call, ok := st.Cmd.(*syntax.CallExpr)
	switch {
	case !ok || st.Negated || st.Background || st.Coprocess:
		return nil, errors.New("it needs a shell (a pipe, a list or a compound command); set shell = true to run it with " + shellPath)
	case len(st.Redirs) > 0:
		return nil, errors.New("it has a redirection, which needs a shell; set shell = true to run it with " + shellPath)
	case len(call.Assigns) > 0:
		return nil, errors.New("it assigns a variable, which needs a shell; set shell = true to run it with " + shellPath)
	case len(call.Args) == 0:
		return nil, errors.New("no program in it")
	}
	var needs string
	syntax.Walk(call, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.ParamExp:
			needs = "the variable $" + n.Param.Value
		case *syntax.CmdSubst:
			needs = "a command substitution"
		case *syntax.ArithmExp:
			needs = "an arithmetic expansion"
		case *syntax.ProcSubst:
			needs = "a process substitution"
		case *syntax.ExtGlob:
			needs = "an extended glob"
		}
		return needs == ""
	})
	if needs != "" {
		return nil, fmt.Errorf("it uses %s, which needs a shell; set shell = true to run it with %s, or quote it with '...'", needs, shellPath)
	}
	// No environment (nothing left to expand, and ~ stays as written) and
	// no ReadDir (no globbing): only quote removal happens here.
	cfg := &expand.Config{Env: expand.ListEnviron(), NoUnset: true}
	args := make([]string, 0, len(call.Args))
	for _, w := range call.Args {
		fields, err := expand.Fields(cfg, w)
		if err != nil {
			return nil, fmt.Errorf("cannot split into words: %w", err)
		}
		if len(fields) != 1 {
			return nil, fmt.Errorf("the word %q is a brace expansion, which needs a shell; set shell = true to run it with %s, or quote it", wordText(line, w), shellPath)
		}
		args = append(args, fields[0])
	}
	return args, nil
}

// wordText is w as written in line.
func wordText(line string, w *syntax.Word) string {
	s, e := int(w.Pos().Offset()), int(w.End().Offset())
	if s < 0 || e > len(line) || s > e {
		return ""
	}
	return line[s:e]
}
