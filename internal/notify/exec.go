package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/hbd-project/hbd/internal/procgroup"
)

// ExecConfig configures an Exec channel.
type ExecConfig struct {
	Name    string
	Command []string      // program and arguments; run directly, no shell
	Timeout time.Duration // per run, default 30 s
}

// Exec runs a command for each notification, with the notification's JSON
// on stdin and its fields in HBD_* environment variables:
//
//	HBD_KIND HBD_HOST HBD_METRIC HBD_LEVEL HBD_PREV_LEVEL HBD_VALUE
//	HBD_SINCE HBD_TIME HBD_MESSAGE HBD_NOTIFICATION_COUNT
//	HBD_GROUP_SIZE HBD_HOSTS HBD_DEPENDENTS HBD_DEPENDENT_HOSTS
//
// HBD_GROUP_SIZE is 0 for one alert, else how many hosts a grouped
// notification stands for; HBD_HOSTS lists them (at most MaxListed),
// separated by spaces. HBD_DEPENDENTS is how many hosts depend on the
// host of a heartbeat alert (0 for other alerts), HBD_DEPENDENT_HOSTS names
// a few of them (at most MaxDependentsListed), separated by spaces.
//
// HBD_VALUE is empty when the value is unknown; HBD_SINCE and HBD_TIME are
// unix seconds with millisecond precision. Control characters in the
// values (never in what the daemon accepts, but a channel does not rely on
// that) are replaced by U+FFFD. The command also inherits the
// daemon's environment. A non-zero exit is an error carrying the command's
// trimmed stderr; at the timeout the command's whole process group is
// killed, so helpers it started do not linger.
type Exec struct {
	name    string
	path    string
	args    []string
	timeout time.Duration
}

// maxStderr is how much of a failed command's stderr goes into the error
// (bytes); the rest is discarded so a chatty command cannot grow memory.
const maxStderr = 4 << 10

// waitDelay bounds how long Send waits for the command's output pipes to
// close after it exits or is killed: a descendant that left the process
// group could otherwise hold them open forever.
const waitDelay = 2 * time.Second

// NewExec checks c and resolves the program, so a missing program is a
// configuration error rather than a failure at the first alert.
func NewExec(c ExecConfig) (*Exec, error) {
	name := c.Name
	if name == "" {
		name = "exec"
	}
	if len(c.Command) == 0 || c.Command[0] == "" {
		return nil, fmt.Errorf("exec %s: empty command", name)
	}
	path, err := exec.LookPath(c.Command[0])
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", name, err)
	}
	e := &Exec{name: name, path: path, args: c.Command[1:], timeout: c.Timeout}
	if e.timeout <= 0 {
		e.timeout = 30 * time.Second
	}
	return e, nil
}

// Name returns the channel's configured name.
func (e *Exec) Name() string { return e.name }

// Send runs the command for n and waits for it, at most the timeout.
func (e *Exec) Send(ctx context.Context, n Notification) error {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.path, e.args...)
	cmd.Stdin = bytes.NewReader(n.appendJSON(make([]byte, 0, 256)))
	// Values from the network may not carry NUL (exec would fail) or line
	// breaks (scripts would misread them): cleanText replaces those.
	cmd.Env = append(os.Environ(),
		"HBD_KIND="+cleanText(n.Kind),
		"HBD_HOST="+cleanText(n.Host),
		"HBD_METRIC="+cleanText(n.MetricPath),
		"HBD_LEVEL="+cleanText(n.Level),
		"HBD_PREV_LEVEL="+cleanText(n.PrevLevel),
		"HBD_VALUE="+n.ValueText(),
		"HBD_SINCE="+unixText(n.Since),
		"HBD_TIME="+unixText(n.Time),
		"HBD_MESSAGE="+cleanText(n.Message),
		"HBD_NOTIFICATION_COUNT="+strconv.Itoa(n.NotificationCount),
		"HBD_GROUP_SIZE="+strconv.Itoa(n.GroupSize),
		"HBD_HOSTS="+cleanText(strings.Join(n.HostNames(), " ")),
		"HBD_DEPENDENTS="+strconv.Itoa(n.Dependents),
		"HBD_DEPENDENT_HOSTS="+cleanText(strings.Join(n.DependentHosts, " ")),
	)
	stderr := &limitedBuffer{max: maxStderr}
	cmd.Stderr = stderr
	cmd.WaitDelay = waitDelay
	procgroup.KillOnCancel(cmd)
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("exec %s: killed after %s timeout: %w", e.name, e.timeout, ctxErr)
		}
		return fmt.Errorf("exec %s: killed: %w", e.name, ctxErr)
	}
	msg := strings.TrimSpace(strings.ToValidUTF8(stderr.String(), "\uFFFD"))
	if msg == "" {
		return fmt.Errorf("exec %s: %w", e.name, err)
	}
	return fmt.Errorf("exec %s: %w: %s", e.name, err, msg)
}

// limitedBuffer keeps the first max bytes written and discards the rest,
// while telling the writer everything was written (so the command does not
// see a broken pipe).
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string { return b.buf.String() }

var _ Channel = (*Exec)(nil)
