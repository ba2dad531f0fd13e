package actors

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/hbd-project/hbd/internal/journal"
)

// The journal writer's failures are counted for /metrics and logged once,
// not once per batch, and the recovery is logged once; errors that are not
// the disk's are logged but not counted as lost.
func TestJournalFailuresCountedAndLoggedOnce(t *testing.T) {
	w, err := journal.Open(journal.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var logBuf bytes.Buffer
	st := NewStats()
	f := journalFailures{w: w, stats: st, log: slog.New(slog.NewTextHandler(&logBuf, nil))}
	for range 100 {
		f.note("write", &journal.IOError{Op: "write", Lost: 7, Err: fmt.Errorf("cannot append: %w", syscall.ENOSPC)})
	}
	f.note("sync", &journal.IOError{Op: "fsync", Err: syscall.EIO})
	if got := st.JournalWriteErrors.Load(); got != 101 {
		t.Errorf("write errors = %d, want 101", got)
	}
	if got := st.JournalEventsLost.Load(); got != 700 {
		t.Errorf("events lost = %d, want 700", got)
	}
	if n := strings.Count(logBuf.String(), "cannot write the journal file"); n != 1 || !strings.Contains(logBuf.String(), "no space left on device") {
		t.Errorf("log has %d failure lines, want 1 naming the cause:\n%s", n, logBuf.String())
	}
	f.note("write", nil)
	f.note("write", nil)
	if n := strings.Count(logBuf.String(), "written again"); n != 1 || !strings.Contains(logBuf.String(), "lost_events=700") {
		t.Errorf("recovery logged %d times, want once with the loss:\n%s", n, logBuf.String())
	}
	f.note("write", fmt.Errorf("journal refused 1 records longer than 1048576 bytes"))
	if got := st.JournalWriteErrors.Load(); got != 101 {
		t.Errorf("a refused record counted as a write error")
	}
}
