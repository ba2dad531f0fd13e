package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/config"
	"github.com/hbd-project/hbd/internal/journal"
)

// The [journal] keys reach the journal writer with their documented
// meaning; max_backups = 0 keeps no rotated file at all.
func TestJournalConfigBackups(t *testing.T) {
	for _, tt := range []struct {
		backups int
		want    []string // files in the journal directory after rotations
	}{
		{0, []string{"j.jsonl"}},
		{2, []string{"j.jsonl", "j.jsonl.1", "j.jsonl.2"}},
	} {
		t.Run(fmt.Sprint("max_backups=", tt.backups), func(t *testing.T) {
			dir := t.TempDir()
			text := fmt.Sprintf("[journal]\ndir = %q\nfile = \"j.jsonl\"\nmax_size = 4096\nmax_backups = %d\n", dir, tt.backups)
			cfg, err := config.ParseDaemon("hbd.toml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			w, err := journal.Open(*journalConfig(cfg))
			if err != nil {
				t.Fatal(err)
			}
			// 40 batches of ~1 KiB: the 4 KiB file rotates about ten times.
			for i := range 40 {
				rec := journal.Record{Time: time.Unix(int64(i), 0), Kind: "system", Msg: strings.Repeat("x", 1000)}
				if err := w.Write([]journal.Record{rec}); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("files %v, want %v", got, tt.want)
			}
			st, err := os.Stat(filepath.Join(dir, "j.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() > 4096 {
				t.Errorf("current file has %d bytes, want at most 4096", st.Size())
			}
		})
	}
}
