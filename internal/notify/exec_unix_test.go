//go:build unix

package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeScript writes an executable shell script into a fresh directory.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "notify.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecPassesJSONAndEnv(t *testing.T) {
	t.Setenv("HBD_TEST_INHERITED", "from-daemon")
	script := writeScript(t, `cat > "$0.stdin"
env > "$0.env"
`)
	e, err := NewExec(ExecConfig{Name: "script", Command: []string{script, "--flag"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Send(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}

	stdin, err := os.ReadFile(script + ".stdin")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := testNotification().MarshalJSON()
	if !bytes.Equal(stdin, want) {
		t.Errorf("stdin = %s\nwant    %s", stdin, want)
	}
	var decoded map[string]any
	if err := json.Unmarshal(stdin, &decoded); err != nil || decoded["host"] != "web01" {
		t.Errorf("stdin does not decode to the notification: %v %v", decoded, err)
	}

	envText, err := os.ReadFile(script + ".env")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(envText), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	for k, v := range map[string]string{
		"HBD_KIND":               "problem",
		"HBD_HOST":               "web01",
		"HBD_METRIC":             "cpu_monitor.cpu_percent",
		"HBD_LEVEL":              "CRITICAL",
		"HBD_PREV_LEVEL":         "WARNING",
		"HBD_VALUE":              "95.5",
		"HBD_SINCE":              "1711234000.000",
		"HBD_TIME":               "1711234567.123",
		"HBD_MESSAGE":            "web01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)",
		"HBD_NOTIFICATION_COUNT": "2",
		"HBD_TEST_INHERITED":     "from-daemon",
	} {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("env %s = %q (set %v), want %q", k, got, ok, v)
		}
	}
}

func TestExecFailureCarriesStderr(t *testing.T) {
	script := writeScript(t, `echo "  mail relay refused us  " >&2
exit 3
`)
	e, err := NewExec(ExecConfig{Name: "script", Command: []string{script}})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Send(context.Background(), testNotification())
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	if !strings.HasSuffix(err.Error(), "exit status 3: mail relay refused us") {
		t.Errorf("err = %q, want the exit status and trimmed stderr", err)
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	// The script starts a helper in the background and waits: at the
	// timeout both must die, or the helper would keep stderr open.
	script := writeScript(t, `sleep 60 &
echo $! > "$0.child"
wait
`)
	e, err := NewExec(ExecConfig{Name: "script", Command: []string{script}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Send(context.Background(), testNotification())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed after 300ms timeout") {
		t.Fatalf("err = %v, want a timeout kill", err)
	}
	pidText, err := os.ReadFile(script + ".child")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc to check the helper process")
	}
	// SIGKILL is delivered asynchronously; the orphaned helper is then
	// reaped by init (or left a zombie, which is dead too).
	deadline := time.Now().Add(waitLimit)
	for processRunning(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("helper process %d survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	fields := strings.Fields(string(rest))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func TestNewExecErrors(t *testing.T) {
	if _, err := NewExec(ExecConfig{Name: "x"}); err == nil || !strings.Contains(err.Error(), "empty command") {
		t.Errorf("empty command: err = %v", err)
	}
	if _, err := NewExec(ExecConfig{Name: "x", Command: []string{filepath.Join(t.TempDir(), "missing")}}); err == nil {
		t.Error("missing program: no error")
	}
}
