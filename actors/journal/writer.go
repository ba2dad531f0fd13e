package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrClosed is returned by Write on a closed Writer.
var ErrClosed = errors.New("journal writer is closed")

// keepBufBytes is the largest encode buffer a Writer keeps between
// batches; one unusually large batch should not pin its buffer forever.
const keepBufBytes = 4 << 20

// Writer appends batches of records to the journal. It is not safe for
// concurrent use: one goroutine owns it.
type Writer struct {
	cfg  Config
	path string
	f    *os.File

	size     int64     // bytes in the current file
	needNL   bool      // the file ends in a torn line: start the next write with '\n'
	dirty    bool      // bytes written since the last fsync
	lastSync time.Time // zero until the first fsync, so the first batch syncs at once
	buf      []byte

	syncs int // fsyncs of the journal file, for tests
}

// Open opens the journal for appending, creating Config.Dir (mode 0750)
// and the file (mode 0640) as needed. If a crash left a torn line at the
// end, the next write starts on a fresh line and readers skip the torn one.
func Open(c Config) (*Writer, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, fmt.Errorf("cannot open journal: %w", err)
	}
	if err := os.MkdirAll(c.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create journal dir: %w", err)
	}
	w := &Writer{cfg: c, path: c.path()}
	if err := w.openFile(); err != nil {
		return nil, err
	}
	// Make the new file's directory entry durable too.
	if err := syncDir(c.Dir); err != nil {
		w.f.Close()
		return nil, err
	}
	return w, nil
}

// openFile opens (or creates) the current file and learns its size and
// whether it ends mid-line.
func (w *Writer) openFile() error {
	// Read access lets us look at the last byte; O_APPEND keeps every
	// write at the end even if something else appended meanwhile.
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("cannot open journal: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("cannot open journal: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("cannot open journal: %s is not a regular file", w.path)
	}
	needNL := false
	if st.Size() > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], st.Size()-1); err != nil {
			f.Close()
			return fmt.Errorf("cannot open journal: cannot read its last byte: %w", err)
		}
		needNL = last[0] != '\n'
	}
	w.f, w.size, w.needNL = f, st.Size(), needNL
	return nil
}

// Path returns the path of the current journal file.
func (w *Writer) Path() string { return w.path }

// Write appends recs with one write(2), rotating first if they would take
// the file past MaxSize, and fsyncs if the last fsync is at least Fsync
// ago. A record whose line would exceed 1 MiB is not written, and a
// failed rotation does not stop the batch (it goes to the file still
// open); both are reported in the returned error. On a write error the
// batch may be partly written; the next Write starts on a fresh line.
func (w *Writer) Write(recs []Record) error {
	if w.f == nil {
		return ErrClosed
	}
	if len(recs) == 0 {
		return nil
	}
	now := w.cfg.Now()
	// b[0] is a reserved newline, sent only when the file ends in a torn
	// line, so that the batch still goes out in one write.
	b := append(w.buf[:0], '\n')
	tooLarge := 0
	for i := range recs {
		start := len(b)
		r := &recs[i]
		if r.Time.IsZero() {
			stamped := *r
			stamped.Time = now
			b = stamped.AppendJSON(b)
		} else {
			b = r.AppendJSON(b)
		}
		if len(b)-start > maxLineBytes {
			b = b[:start]
			tooLarge++
			continue
		}
		b = append(b, '\n')
	}
	if cap(b) <= keepBufBytes {
		w.buf = b
	} else {
		w.buf = nil
	}
	var errs []error
	if tooLarge > 0 {
		errs = append(errs, fmt.Errorf("journal refused %d records longer than %d bytes", tooLarge, maxLineBytes))
	}
	payload := int64(len(b) - 1)
	if payload == 0 {
		return errors.Join(errs...)
	}
	if w.size > 0 && w.size+payload > w.cfg.MaxSize {
		if err := w.rotate(); err != nil {
			errs = append(errs, err)
		}
	}
	out := b[1:]
	if w.needNL {
		out = b
	}
	n, err := w.f.Write(out)
	w.size += int64(n)
	if n > 0 {
		w.dirty = true
		w.needNL = out[n-1] != '\n'
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("cannot append to journal %s: %w", w.path, err))
		return errors.Join(errs...)
	}
	if w.syncDue(now) {
		if err := w.sync(now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncDue reports whether the fsync policy calls for a sync at now. A
// clock that went backwards counts as due, or a step back of an hour
// would hold off syncing for an hour.
func (w *Writer) syncDue(now time.Time) bool {
	return w.cfg.Fsync < 0 || now.Before(w.lastSync) || now.Sub(w.lastSync) >= w.cfg.Fsync
}

// Sync fsyncs the journal file if anything was written since the last
// fsync, regardless of the Fsync interval.
func (w *Writer) Sync() error {
	if w.f == nil {
		return ErrClosed
	}
	return w.sync(w.cfg.Now())
}

func (w *Writer) sync(now time.Time) error {
	if !w.dirty {
		return nil
	}
	w.syncs++
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("cannot fsync journal %s: %w", w.path, err)
	}
	w.dirty = false
	w.lastSync = now
	return nil
}

// Close fsyncs and closes the file. It is safe to call more than once.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	syncErr := w.sync(w.cfg.Now())
	closeErr := w.f.Close()
	w.f = nil
	if closeErr != nil {
		closeErr = fmt.Errorf("cannot close journal %s: %w", w.path, closeErr)
	}
	return errors.Join(syncErr, closeErr)
}

// rotate moves File to File.1 (shifting older backups up and deleting the
// oldest) and starts a new File. On failure the Writer keeps the file it
// has open, so the batch at hand is still written somewhere.
func (w *Writer) rotate() error {
	if err := w.sync(w.cfg.Now()); err != nil {
		return fmt.Errorf("cannot rotate journal: %w", err)
	}
	c := w.cfg
	if err := w.removeExtraBackups(); err != nil {
		return fmt.Errorf("cannot rotate journal: %w", err)
	}
	// Rename over the oldest backup rather than deleting it first: rename
	// replaces atomically.
	for i := c.MaxBackups - 1; i >= 1; i-- {
		if err := os.Rename(c.backupPath(i), c.backupPath(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot rotate journal: %w", err)
		}
	}
	if c.MaxBackups == 0 {
		// Nothing to keep: start the same file over. O_APPEND makes the
		// next write land at the new end, offset 0.
		if err := w.f.Truncate(0); err != nil {
			return fmt.Errorf("cannot rotate journal: %w", err)
		}
		w.size, w.needNL = 0, false
		return nil
	}
	if err := os.Rename(w.path, c.backupPath(1)); err != nil {
		return fmt.Errorf("cannot rotate journal: %w", err)
	}
	old := w.f
	if err := w.openFile(); err != nil {
		// Put the old file back under its name, so the next rotation
		// does not shift the backups again and delete the oldest.
		return errors.Join(err, os.Rename(c.backupPath(1), w.path))
	}
	old.Close()
	w.dirty = false
	return syncDir(c.Dir)
}

// removeExtraBackups deletes backups numbered above MaxBackups, left by
// an earlier run with a larger MaxBackups.
func (w *Writer) removeExtraBackups() error {
	entries, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		return err
	}
	prefix := w.cfg.File + "."
	var errs []error
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		// Only numbers exactly as backupPath writes them, so a file like
		// "hbd-journal.jsonl.07" made by someone else is left alone.
		i, err := strconv.Atoi(suffix)
		if err != nil || i <= w.cfg.MaxBackups || strconv.Itoa(i) != suffix {
			continue
		}
		if err := os.Remove(w.cfg.backupPath(i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncDir fsyncs a directory so that created and renamed entries survive
// a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot fsync journal dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot fsync journal dir: %w", err)
	}
	return nil
}
