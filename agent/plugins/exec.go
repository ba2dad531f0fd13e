package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/hbd-project/hbd/internal/procgroup"
)

const (
	// maxExecOutput is the most stdout, in bytes, an exec plugin may print:
	// the sample must still fit the agent's datagrams after compression.
	maxExecOutput = 60 << 10
	// maxExecStderr is how many trailing bytes of stderr are kept for the
	// error message; the end of stderr is where tracebacks say what failed.
	maxExecStderr = 2 << 10
	// execWaitDelay bounds how long Collect waits for stdout and stderr to
	// close after the plugin exited or was killed, for when a descendant
	// that escaped the process group still holds them open.
	execWaitDelay = time.Second
)

var errOutputTooLarge = fmt.Errorf("stdout exceeds %d bytes", maxExecOutput)

// execCollector runs an external command for each sample. It keeps no
// state between calls.
type execCollector struct {
	name    string
	argv    []string
	timeout time.Duration
	check   bool // a monitoring-plugins check (NewCheck), not JSON
}

// NewExec returns a collector named name that runs argv (argv[0] is the
// program, looked up in PATH; no shell is involved) for each sample and
// returns the single JSON object the command prints on stdout, compacted.
// The command must exit 0 within timeout (timeout <= 0: only Collect's
// context limits it) and print at most 60 KiB. On timeout the command's
// whole process group is killed (on Unix; elsewhere the process only).
// Every failure (non-zero exit, timeout, output too large, anything but
// one JSON object) is an error naming the plugin and quoting the end of the
// command's stderr.
func NewExec(name string, argv []string, timeout time.Duration) Collector {
	return &execCollector{name: name, argv: slices.Clone(argv), timeout: timeout}
}

// NewCheck returns a collector named name that runs argv as NewExec does,
// but reads it as a monitoring-plugins check (check_load, check_disk, ...):
// its exit status, first output line and performance data become the
// sample described at CheckResult.AppendJSON. A check never fails Collect:
// whatever goes wrong (a status outside 0..3, a timeout, a missing
// program) is an UNKNOWN result that says what happened.
func NewCheck(name string, argv []string, timeout time.Duration) Collector {
	return &execCollector{name: name, argv: slices.Clone(argv), timeout: timeout, check: true}
}

func (e *execCollector) Name() string { return e.name }

func (e *execCollector) Collect(ctx context.Context) ([]byte, error) {
	if len(e.argv) == 0 {
		return nil, fmt.Errorf("plugin %q: no command to run", e.name)
	}
	if e.check {
		return e.collectCheck(ctx)
	}
	run := e.run(ctx)
	switch {
	case run.overflow:
		return nil, e.fail(errOutputTooLarge, run.stderr)
	case run.err == nil:
	case run.stopped:
		return nil, e.fail(fmt.Errorf("stopped: %w", ctx.Err()), run.stderr)
	case run.timedOut:
		// err only says "signal: killed"; the deadline is the news.
		return nil, e.fail(fmt.Errorf("timed out after %v: %w", e.timeout, context.DeadlineExceeded), run.stderr)
	default:
		return nil, e.fail(run.err, run.stderr)
	}

	out := bytes.TrimSpace(run.stdout)
	if len(out) == 0 || out[0] != '{' {
		return nil, e.fail(fmt.Errorf("stdout is not a JSON object: %q", excerpt(out)), run.stderr)
	}
	var compact bytes.Buffer
	compact.Grow(len(out))
	// Compact also rejects anything after the object, so "{} {}" fails.
	if err := json.Compact(&compact, out); err != nil {
		return nil, e.fail(fmt.Errorf("stdout is not a JSON object: %w", err), run.stderr)
	}
	return compact.Bytes(), nil
}

// collectCheck runs a monitoring-plugins check and returns its result as
// a sample (CheckResult.AppendJSON). A check that cannot be run, times out
// or dies of a signal is an UNKNOWN result, as Nagios reports it, so the
// daemon's alert says so; only the agent stopping is an error.
func (e *execCollector) collectCheck(ctx context.Context) ([]byte, error) {
	run := e.run(ctx)
	var res CheckResult
	var exitErr *exec.ExitError
	switch {
	case run.stopped:
		return nil, e.fail(fmt.Errorf("stopped: %w", ctx.Err()), run.stderr)
	case run.overflow:
		res = checkFailure(errOutputTooLarge.Error(), run.stderr.String())
	case run.timedOut:
		res = checkFailure(fmt.Sprintf("check timed out after %v", e.timeout), run.stderr.String())
	case run.err == nil:
		res = ParseCheckOutput(run.stdout, 0)
	case errors.As(run.err, &exitErr) && exitErr.ExitCode() >= 0:
		res = ParseCheckOutput(run.stdout, exitErr.ExitCode())
		if code := exitErr.ExitCode(); code > StatusUnknown {
			// The guidelines: a status outside 0..3 is UNKNOWN; say which.
			res.Output = cleanText(fmt.Sprintf("(exit status %d is not a check status) %s", code, res.Output), maxCheckOutput)
		}
	default:
		res = checkFailure("cannot run the check: "+run.err.Error(), run.stderr.String())
	}
	if res.Output == "" {
		// The alert's text must say something; Nagios says this.
		res.Output = checkFailure("no output on stdout", run.stderr.String()).Output
	}
	return res.AppendJSON(make([]byte, 0, 256)), nil
}

// runResult is one run of the command.
type runResult struct {
	stdout   []byte
	stderr   *tailBuffer
	err      error // from exec.Cmd.Run
	overflow bool  // stdout exceeded maxExecOutput; the command was killed
	stopped  bool  // Collect's context ended
	timedOut bool  // the plugin's own timeout ended it
}

// run runs the command once, within the timeout, keeping at most
// maxExecOutput of stdout and the end of stderr.
func (e *execCollector) run(ctx context.Context) runResult {
	// runCtx is always cancellable: too much output cancels it too.
	var runCtx context.Context
	var cancel context.CancelFunc
	if e.timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, e.timeout)
	} else {
		runCtx, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	cmd := exec.CommandContext(runCtx, e.argv[0], e.argv[1:]...)
	// Killing as soon as the output is too large saves waiting for a
	// runaway plugin's timeout.
	stdout := &cappedBuffer{limit: maxExecOutput, onOverflow: cancel}
	stderr := &tailBuffer{limit: maxExecStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = execWaitDelay
	procgroup.KillOnCancel(cmd)

	err := cmd.Run()
	r := runResult{stdout: stdout.buf, stderr: stderr, err: err, overflow: stdout.overflow}
	if err != nil && !r.overflow {
		r.stopped = ctx.Err() != nil
		r.timedOut = !r.stopped && runCtx.Err() != nil
	}
	return r
}

// fail wraps cause with the plugin's name and the end of its stderr.
func (e *execCollector) fail(cause error, stderr *tailBuffer) error {
	msg := stderr.String()
	if msg == "" {
		return fmt.Errorf("plugin %q: %w", e.name, cause)
	}
	return fmt.Errorf("plugin %q: %w; stderr: %s", e.name, cause, msg)
}

// excerpt returns the start of b for an error message.
func excerpt(b []byte) []byte {
	const n = 64
	if len(b) > n {
		return b[:n]
	}
	return b
}

// cappedBuffer keeps everything written to it up to limit bytes; a write
// past the limit fails, which stops os/exec copying the plugin's stdout.
// Only the os/exec copy goroutine writes it, and it is read after Wait.
type cappedBuffer struct {
	buf        []byte
	limit      int
	overflow   bool
	onOverflow func()
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if len(b.buf)+len(p) > b.limit {
		if !b.overflow {
			b.overflow = true
			b.onOverflow()
		}
		return 0, errOutputTooLarge
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// tailBuffer keeps the last limit bytes written to it and never fails, so
// a chatty stderr neither grows memory nor kills the plugin with SIGPIPE.
type tailBuffer struct {
	buf       []byte
	limit     int
	truncated bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.limit {
		b.truncated = b.truncated || len(b.buf) > 0 || len(p) > b.limit
		b.buf = append(b.buf[:0], p[len(p)-b.limit:]...)
		return n, nil
	}
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.truncated = true
		b.buf = b.buf[:copy(b.buf, b.buf[over:])]
	}
	return n, nil
}

// String returns the kept stderr trimmed of surrounding white space,
// marked with a leading "..." when earlier output was dropped.
func (b *tailBuffer) String() string {
	s := strings.TrimSpace(string(b.buf))
	if b.truncated && s != "" {
		return "..." + s
	}
	return s
}
