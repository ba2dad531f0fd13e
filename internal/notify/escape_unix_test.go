//go:build unix

package notify

import (
	"context"
	"os"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A NUL in a metric path does not stop the exec channel: the variable
// carries U+FFFD instead, and stdin the escaped JSON.
func TestExecEnvCleansControlCharacters(t *testing.T) {
	script := writeScript(t, `printf '%s' "$HBD_METRIC" > "$0.metric"
printf '%s' "$HBD_MESSAGE" > "$0.message"
`)
	e, err := NewExec(ExecConfig{Name: "script", Command: []string{script}})
	if err != nil {
		t.Fatal(err)
	}
	n := testNotification()
	n.MetricPath = "disk_monitor.a\x00b\r\nHBD_LEVEL=OK.percent"
	n.Message = "line1\nline2"
	if err := e.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v (a NUL must not make exec fail)", err)
	}
	for suffix, want := range map[string]string{
		".metric":  "disk_monitor.a\uFFFDb\uFFFD\uFFFDHBD_LEVEL=OK.percent",
		".message": "line1\uFFFDline2",
	} {
		b := readFile(t, script+suffix)
		if b != want {
			t.Errorf("%s = %q, want %q", suffix, b, want)
		}
	}
}
