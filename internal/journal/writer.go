package journal

import (
	"bytes"
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

// file is what a Writer needs of its open file; *os.File has it, and tests
// put a file in front that fails as a full disk does.
type file interface {
	Write(p []byte) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	Stat() (fs.FileInfo, error)
	Sync() error
	Truncate(size int64) error
	Close() error
}

// IOError is a write or fsync of the journal file that failed. Lost is how
// many records of the batch did not reach the file (0 for an fsync: what
// was written may or may not be on disk). Write returns it joined with any
// other error; errors.As finds it.
type IOError struct {
	Op   string // "write" or "fsync"
	Lost int
	Err  error
}

func (e *IOError) Error() string {
	if e.Lost > 0 {
		return fmt.Sprintf("journal %s failed, %d records lost: %v", e.Op, e.Lost, e.Err)
	}
	return fmt.Sprintf("journal %s failed: %v", e.Op, e.Err)
}

func (e *IOError) Unwrap() error { return e.Err }

// loss is what failed writes lost since the journal last took a batch.
type loss struct {
	n           int
	first, last time.Time
	cause       error // the latest failure's
}

// Writer appends batches of records to the journal. It is not safe for
// concurrent use: one goroutine owns it.
type Writer struct {
	cfg  Config
	path string
	f    file

	size     int64     // bytes in the current file
	needNL   bool      // the file ends in a torn line: start the next write with '\n'
	dirty    bool      // bytes written since the last fsync
	lastSync time.Time // zero until the first fsync, so the first batch syncs at once
	buf      []byte
	lost     loss  // records lost to failed writes, not yet recorded in the file
	repaired int64 // bytes of a torn last line that Open removed

	syncs int // fsyncs of the journal file, for tests
}

// Open opens the journal for appending, creating Config.Dir (mode 0750)
// and the file (mode 0640) as needed. If a crash left a torn line at the
// end, Open removes it (Repaired says how many bytes); a torn line it
// cannot remove stays, the next write starts on a fresh line and readers
// skip it.
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
	if w.needNL {
		w.repair()
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

// repair removes the torn line a crash left at the end of the file: the
// bytes after the last newline, when they are shorter than the longest
// line the writer writes (so they can only be part of one of its lines).
// On failure the torn line stays and readers skip it.
func (w *Writer) repair() {
	tail := min(w.size, maxLineBytes+1)
	buf := make([]byte, tail)
	if _, err := w.f.ReadAt(buf, w.size-tail); err != nil {
		return
	}
	keep := int64(0)
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		keep = w.size - tail + int64(i) + 1
	} else if tail < w.size {
		return // no newline in the last MiB: not one of our lines
	}
	if err := w.f.Truncate(keep); err != nil {
		return
	}
	w.repaired = w.size - keep
	w.size, w.needNL = keep, false
}

// Repaired returns how many bytes of a torn last line Open removed; 0 if
// the file ended cleanly.
func (w *Writer) Repaired() int64 { return w.repaired }

// Lost returns how many records failed writes lost that the file does not
// record yet, and when the first and the latest were lost. The next
// successful Write records them first.
func (w *Writer) Lost() (n int, first, last time.Time) {
	return w.lost.n, w.lost.first, w.lost.last
}

// Path returns the path of the current journal file.
func (w *Writer) Path() string { return w.path }

// Write appends recs with one write(2), rotating first if they would take
// the file past MaxSize, and fsyncs if the last fsync is at least Fsync
// ago. A record whose line would exceed 1 MiB is not written, and a
// failed rotation does not stop the batch (it goes to the file still
// open); both are reported in the returned error.
//
// A failed write (a full disk, an I/O error) is an *IOError in the
// returned error: the part of the batch that reached the file is cut off
// again, so no torn line is left (if that fails too, the next Write starts
// on a fresh line), and the batch's records count as lost. The next Write
// that succeeds starts with a record saying how many were lost, between
// when and why: "12 events lost between T1 and T2: no space left on
// device". Loss is never silent.
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
	lostLine := 0
	if w.lost.n > 0 {
		b = w.lost.record(now).AppendJSON(b)
		b = append(b, '\n')
		lostLine = 1
	}
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
	before, hadNL := w.size, w.needNL
	n, err := w.f.Write(out)
	w.size += int64(n)
	if n > 0 {
		w.dirty = true
		w.needNL = out[n-1] != '\n'
	}
	if err != nil {
		lost := len(recs) - tooLarge
		if n > 0 && w.f.Truncate(before) == nil {
			w.size, w.needNL = before, hadNL
		} else if n > 0 {
			// The lines that made it stay; the torn one is skipped by readers.
			lines := bytes.Count(out[:n], []byte{'\n'})
			if hadNL {
				lines-- // the newline that ended the earlier torn line
			}
			if lostLine == 1 && lines > 0 {
				lines-- // the record of the earlier loss made it
				w.lost = loss{}
			}
			lost -= lines
		}
		w.lost.add(lost, now, err)
		errs = append(errs, &IOError{Op: "write", Lost: lost, Err: fmt.Errorf("cannot append to journal %s: %w", w.path, err)})
		return errors.Join(errs...)
	}
	w.lost = loss{}
	if w.syncDue(now) {
		if err := w.sync(now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (l *loss) add(n int, now time.Time, cause error) {
	if n <= 0 {
		return
	}
	if l.n == 0 {
		l.first = now
	}
	l.n += n
	l.last, l.cause = now, cause
}

// record is the line that tells readers what was lost.
func (l *loss) record(now time.Time) Record {
	noun := "events"
	if l.n == 1 {
		noun = "event"
	}
	cause := "write failed"
	if l.cause != nil {
		cause = l.cause.Error()
		// The innermost cause ("no space left on device") says it best.
		for u := errors.Unwrap(l.cause); u != nil; u = errors.Unwrap(u) {
			cause = u.Error()
		}
	}
	return Record{
		Time: now,
		Kind: KindDropped,
		Msg: fmt.Sprintf("%d %s lost between %s and %s: %s", l.n, noun,
			l.first.UTC().Format(time.RFC3339), l.last.UTC().Format(time.RFC3339), cause),
		Fields: map[string]any{"count": l.n, "from": unixSecondsOf(l.first), "to": unixSecondsOf(l.last), "error": cause},
	}
}

func unixSecondsOf(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

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
		return &IOError{Op: "fsync", Err: fmt.Errorf("cannot fsync journal %s: %w", w.path, err)}
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
	var lostErr error
	if w.lost.n > 0 {
		// A last try to say what was lost: the disk may have room now.
		lostErr = w.writeLost()
	}
	syncErr := w.sync(w.cfg.Now())
	closeErr := w.f.Close()
	w.f = nil
	if closeErr != nil {
		closeErr = fmt.Errorf("cannot close journal %s: %w", w.path, closeErr)
	}
	return errors.Join(lostErr, syncErr, closeErr)
}

// writeLost writes the record of what was lost on its own.
func (w *Writer) writeLost() error {
	line := append(w.lost.record(w.cfg.Now()).AppendJSON(nil), '\n')
	if w.needNL {
		line = append([]byte{'\n'}, line...)
	}
	n, err := w.f.Write(line)
	w.size += int64(n)
	if err != nil {
		return &IOError{Op: "write", Err: fmt.Errorf("cannot append to journal %s: %w", w.path, err)}
	}
	w.dirty, w.needNL, w.lost = true, false, loss{}
	return nil
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
