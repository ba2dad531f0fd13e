package logx

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Records below the level are dropped, also through With and WithGroup;
// the others pass with their attributes.
func TestAtLeast(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(AtLeast(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelWarn)).With("lib", "x").WithGroup("g")
	log.Info("routine")
	log.Warn("kept", "k", 1)
	out := buf.String()
	if strings.Contains(out, "routine") || !strings.Contains(out, "msg=kept lib=x g.k=1") {
		t.Fatalf("output %q: want only the warning, with its attributes", out)
	}
}
