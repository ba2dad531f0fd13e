package journal

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// Defaults applied to zero Config fields.
const (
	DefaultFile       = "hbd-journal.jsonl"
	DefaultMaxSize    = 64 << 20 // bytes
	DefaultMaxBackups = 5
	DefaultFsync      = time.Second
)

// SyncEveryBatch as Config.Fsync makes Write fsync after every batch. (A
// zero Fsync means the default, one second, like every other zero field.)
const SyncEveryBatch time.Duration = -1

// maxLineBytes bounds one encoded record. The writer refuses larger
// records and readers skip longer lines, so a corrupt file without
// newlines cannot make a reader buffer all of it.
const maxLineBytes = 1 << 20

// Config says where the journal lives and how it rotates and syncs. Zero
// fields take the defaults above; Dir is required.
type Config struct {
	// Dir holds the journal and its backups; Open creates it (mode 0750).
	Dir string
	// File is the current file's name inside Dir; backups are File.1
	// (newest) to File.MaxBackups (oldest).
	File string
	// MaxSize is the size in bytes past which the file is rotated.
	MaxSize int64
	// MaxBackups is how many rotated files are kept; a negative value
	// keeps none (rotation just starts the file over).
	MaxBackups int
	// Fsync is the minimum interval between fsyncs made by Write;
	// SyncEveryBatch syncs after each batch.
	Fsync time.Duration
	// Now is the clock for the fsync policy and for stamping records
	// without a time; nil means time.Now. Tests inject their own.
	Now func() time.Time
}

// normalize returns c with defaults applied, or an error naming every
// invalid field.
func (c Config) normalize() (Config, error) {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("journal dir is empty"))
	}
	if c.File == "" {
		c.File = DefaultFile
	}
	if c.File != filepath.Base(c.File) || c.File == "." || c.File == ".." {
		errs = append(errs, fmt.Errorf("journal file %q must be a plain file name", c.File))
	}
	switch {
	case c.MaxSize == 0:
		c.MaxSize = DefaultMaxSize
	case c.MaxSize < 0:
		errs = append(errs, fmt.Errorf("journal max size %d bytes is negative", c.MaxSize))
	}
	switch {
	case c.MaxBackups == 0:
		c.MaxBackups = DefaultMaxBackups
	case c.MaxBackups < 0:
		c.MaxBackups = 0
	}
	if c.Fsync == 0 {
		c.Fsync = DefaultFsync
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, errors.Join(errs...)
}

func (c Config) path() string { return filepath.Join(c.Dir, c.File) }

// backupPath returns the path of backup i (1 is the newest).
func (c Config) backupPath(i int) string {
	return filepath.Join(c.Dir, c.File+"."+strconv.Itoa(i))
}
