//go:build unix

package plugins

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeScript writes an executable /bin/sh script to a temporary
// directory and returns its path. The exec tests do not run in parallel:
// forking while another test holds a fresh executable open for writing
// fails with ETXTBSY.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExecOutputs(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		want    string // the sample on success
		wantErr []string
	}{
		{
			name:   "object, compacted",
			script: `printf '{\n  "queue_depth": 12,\n  "workers": {"busy": 3, "idle": 5}\n}\n'`,
			want:   `{"queue_depth":12,"workers":{"busy":3,"idle":5}}`,
		},
		{
			name:   "warnings on stderr are fine on success",
			script: `echo 'deprecated flag' >&2; echo '{"ok":true}'`,
			want:   `{"ok":true}`,
		},
		{name: "array", script: `echo '[1,2,3]'`, wantErr: []string{"not a JSON object", "[1,2,3]"}},
		{name: "garbage", script: `echo 'hello world'`, wantErr: []string{"not a JSON object", "hello world"}},
		{name: "truncated object", script: `echo '{"a": 1'`, wantErr: []string{"not a JSON object"}},
		{name: "two objects", script: `echo '{"a":1} {"b":2}'`, wantErr: []string{"not a JSON object"}},
		{name: "no output", script: `true`, wantErr: []string{"not a JSON object"}},
		{
			name:    "non-zero exit quotes stderr",
			script:  `echo '{"partial":1}'; echo 'cannot reach database' >&2; exit 2`,
			wantErr: []string{"exit status 2", "stderr: cannot reach database"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewExec("queue_check", []string{writeScript(t, tt.script)}, 10*time.Second)
			if c.Name() != "queue_check" {
				t.Errorf("Name() = %q", c.Name())
			}
			got, err := c.Collect(context.Background())
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Collect: %v", err)
				}
				if string(got) != tt.want {
					t.Errorf("Collect = %s, want %s", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Collect = %s, want an error", got)
			}
			for _, w := range append(tt.wantErr, `plugin "queue_check"`) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestExecExitErrorIsWrapped(t *testing.T) {
	c := NewExec("x", []string{"/bin/sh", writeScript(t, "exit 3")}, 10*time.Second)
	_, err := c.Collect(context.Background())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("err = %v, want an *exec.ExitError with code 3", err)
	}
}

func TestExecOutputLimit(t *testing.T) {
	// A JSON object of exactly n bytes: {"p":"aaa..."}.
	object := func(n int) string { return `{"p":"` + strings.Repeat("a", n-8) + `"}` }
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		size int
		ok   bool
	}{
		{"exactly 60 KiB", maxExecOutput, true},
		{"one byte over", maxExecOutput + 1, false},
		{"far over", 10 * maxExecOutput, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, strconv.Itoa(tt.size))
			if err := os.WriteFile(out, []byte(object(tt.size)), 0o644); err != nil {
				t.Fatal(err)
			}
			// After printing, the script would sleep for a long time and
			// has no timeout: too much output alone must kill it.
			c := NewExec("big", []string{writeScript(t, "cat "+out+"; exec sleep 30")}, 0)
			if tt.ok {
				c = NewExec("big", []string{"cat", out}, 20*time.Second)
			}
			start := time.Now()
			got, err := c.Collect(context.Background())
			if tt.ok {
				if err != nil || len(got) != tt.size {
					t.Fatalf("Collect = %d bytes, %v; want %d bytes", len(got), err, tt.size)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "stdout exceeds 61440 bytes") {
				t.Fatalf("err = %v, want the size limit named", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Collect took %v: the runaway plugin was not killed", d)
			}
		})
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	// The script starts a child in the background, then waits: both must
	// die when the plugin times out.
	script := writeScript(t, `
echo $$ > `+dir+`/parent.pid
sleep 30 &
echo $! > `+dir+`/child.pid
echo 'still working' >&2
wait`)
	c := NewExec("slow", []string{script}, 300*time.Millisecond)
	start := time.Now()
	_, err := c.Collect(context.Background())
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Collect succeeded, want a timeout error")
	}
	for _, w := range []string{`plugin "slow"`, "timed out after 300ms", "stderr: still working"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not wrap context.DeadlineExceeded", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Collect took %v with a 300ms timeout", elapsed)
	}
	for _, name := range []string{"parent.pid", "child.pid"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("the script did not record its pid: %v", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		waitGone(t, pid)
	}
}

// waitGone fails the test unless process pid is gone (or a zombie, which
// has released everything and only waits for its parent to reap it) soon.
// SIGKILL is delivered asynchronously, hence the short poll.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if processGone(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("process %d still running after the timeout", pid)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	// A killed child reparented to an init that does not reap leaves a
	// zombie; /proc tells (field 3 of stat is the state).
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return os.IsNotExist(err)
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}

func TestExecContextCancelled(t *testing.T) {
	c := NewExec("x", []string{writeScript(t, `echo '{}'`)}, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Collect(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestExecBadCommand(t *testing.T) {
	for _, tt := range []struct {
		name string
		argv []string
	}{
		{"empty argv", nil},
		{"missing program", []string{filepath.Join(t.TempDir(), "nope")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewExec("ghost", tt.argv, time.Second).Collect(context.Background())
			if err == nil || !strings.Contains(err.Error(), `plugin "ghost"`) {
				t.Fatalf("err = %v, want an error naming the plugin", err)
			}
		})
	}
}

func TestExecArgvIsCopied(t *testing.T) {
	argv := []string{"/bin/sh", "-c", `echo '{"v":1}'`}
	c := NewExec("x", argv, 10*time.Second)
	argv[2] = "exit 1"
	if got, err := c.Collect(context.Background()); err != nil || string(got) != `{"v":1}` {
		t.Fatalf("Collect = %s, %v; the caller's later change to argv leaked in", got, err)
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		writes []string
		want   string
	}{
		{"fits", 10, []string{"ab", "cd"}, "abcd"},
		{"trimmed", 10, []string{"  oops \n"}, "oops"},
		{"keeps the tail across writes", 5, []string{"abc", "def", "gh"}, "...defgh"},
		{"one big write", 4, []string{"0123456789"}, "...6789"},
		{"exactly the limit", 4, []string{"wxyz"}, "wxyz"},
		{"big write after small", 4, []string{"a", "bcde"}, "...bcde"},
		{"empty", 4, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &tailBuffer{limit: tt.limit}
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if len(b.buf) > tt.limit {
				t.Errorf("kept %d bytes, limit %d", len(b.buf), tt.limit)
			}
		})
	}
}
