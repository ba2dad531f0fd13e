package config

import (
	"strings"
	"time"
)

// Journal configures the message journal ([journal]): every alert and
// host event, appended as one JSON line to a file that is rotated by size,
// with the latest events also kept in memory for /api/0/messages.
type Journal struct {
	Enabled bool   `toml:"enabled"` // default true; false keeps events in memory only
	Dir     string `toml:"dir"`     // "" = the daemon's data directory; use Daemon.JournalDir
	File    string `toml:"file"`    // file name inside Dir, no slashes; default "hbd-journal.jsonl"
	// MaxSize is the size in bytes at which the file is rotated; default
	// 64 MiB, at least 4096 so that a rotation holds more than a few events.
	MaxSize    int64 `toml:"max_size"`
	MaxBackups int   `toml:"max_backups"` // rotated files kept (file.1 ...); 0..1000, default 5
	// Fsync is how often written events are synced to disk: a crash loses
	// at most this much. Default 1s; 0 = after every batch, which costs a
	// disk flush per batch.
	Fsync Duration `toml:"fsync"`
	Keep  int      `toml:"keep"` // events kept in memory for /api/0/messages; 1000..1000000, default 10000
}

// Journal defaults.
const (
	DefaultJournalFile    = "hbd-journal.jsonl"
	DefaultJournalMaxSize = 64 << 20 // bytes
	minJournalMaxSize     = 4096     // bytes
)

func defaultJournal() Journal {
	return Journal{
		Enabled:    true,
		File:       DefaultJournalFile,
		MaxSize:    DefaultJournalMaxSize,
		MaxBackups: 5,
		Fsync:      Duration{time.Second},
		Keep:       10000,
	}
}

func (j *Journal) validate(r *report, p keyPath) {
	// Rotation renames the file next to itself, so it must be a name, not
	// a path; the directory is dir's job.
	if f := j.File; f == "" || f == "." || f == ".." || strings.ContainsAny(f, "/\\\x00") {
		r.invalid(p.key("file"), "must be a plain file name such as %q, without slashes (set the directory with dir), got %q", DefaultJournalFile, f)
	}
	if strings.ContainsRune(j.Dir, 0) {
		r.invalid(p.key("dir"), "must not contain NUL")
	}
	if j.MaxSize < minJournalMaxSize {
		r.invalid(p.key("max_size"), "must be at least %d bytes, got %d", minJournalMaxSize, j.MaxSize)
	}
	intRange(r, p.key("max_backups"), j.MaxBackups, 0, 1000)
	if j.Fsync.Duration < 0 {
		r.invalid(p.key("fsync"), "must not be negative (0 = after every batch), got %s", fmtDuration(j.Fsync.Duration))
	}
	intRange(r, p.key("keep"), j.Keep, 1000, 1000000)
}
