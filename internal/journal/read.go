package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"
	"unicode/utf8"
)

// readChunkBytes is how much a reader reads per step backwards: enough
// for a few hundred typical records, small enough that fetching the last
// 30 lines of a 64 MiB file costs one read.
const readChunkBytes = 64 << 10

// sinceSlack bounds how far Read looks past Since. Records are appended in
// time order, give or take clock steps, so once Read meets a record more
// than this much older than Since it stops, rather than scanning every
// backup to its start for a query that has already found all it can.
const sinceSlack = 5 * time.Minute

// Query selects records for Read.
type Query struct {
	// Limit is the most records to return; it must be positive.
	Limit int
	// Host keeps only records whose Host is exactly this; "" keeps all.
	Host string
	// Since keeps only records at or after this time; zero keeps all.
	Since time.Time
}

// Read returns the records matching q, newest first, from the current file
// and then its backups, stopping once q.Limit records matched. With
// q.Since set it also stops at the first record more than five minutes
// older than Since: records are appended in time order, give or take clock
// steps, so nothing further back can match. A journal that does not exist
// yet reads as empty; on an I/O error the records found so far are
// returned with it. Read is safe to call while a Writer appends.
func Read(c Config, q Query) ([]Record, error) {
	return read(c, q, readOptions{})
}

// Tail returns the newest n records in chronological order (newest last),
// e.g. to warm an in-memory ring at start. n <= 0 returns nothing.
func Tail(c Config, n int) ([]Record, error) {
	if n <= 0 {
		return nil, nil
	}
	recs, err := Read(c, Query{Limit: n})
	slices.Reverse(recs)
	return recs, err
}

// readOptions are the knobs tests turn: small chunks and lines exercise
// the boundaries, and stats shows how much was read.
type readOptions struct {
	chunk   int // bytes per backward read; 0 means readChunkBytes
	maxLine int // longest line kept, in bytes; 0 means maxLineBytes
	stats   *readStats
}

type readStats struct {
	bytesRead int64 // bytes read from files
	decoded   int   // lines fully decoded
}

func read(c Config, q Query, o readOptions) ([]Record, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, fmt.Errorf("cannot read journal: %w", err)
	}
	if q.Limit <= 0 {
		return nil, fmt.Errorf("cannot read journal: limit %d is not positive", q.Limit)
	}
	if o.chunk <= 0 {
		o.chunk = readChunkBytes
	}
	if o.maxLine <= 0 {
		o.maxLine = maxLineBytes
	}
	if o.stats == nil {
		o.stats = new(readStats)
	}
	files, err := openForRead(c)
	defer func() {
		for _, f := range files {
			f.f.Close()
		}
	}()
	if err != nil {
		return nil, err
	}

	m := newMatcher(q)
	out := make([]Record, 0, min(q.Limit, 1024))
	var s backScanner
	for _, f := range files {
		s.reset(f.f, f.size, o)
		for {
			line, ok, err := s.prev()
			if err != nil {
				return out, fmt.Errorf("cannot read journal %s: %w", f.f.Name(), err)
			}
			if !ok {
				break
			}
			rec, v := m.match(line, o.stats)
			switch v {
			case stop:
				return out, nil
			case keep:
				out = append(out, rec)
				if len(out) == q.Limit {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

type openFile struct {
	f    *os.File
	size int64
}

// openForRead opens the current file and its backups, newest first,
// skipping missing ones. Opening them all before reading any means a
// rotation during the Read cannot shift which file we read next; a file
// seen twice (renamed between two opens) is read once. Rotations while
// the files are being opened could still hand it a newer file under an
// older name (two rotations: the file opened as current is now .2, and .1
// is newer than it), so the names are checked again once all are open,
// and the opening is repeated until no rotation came between.
func openForRead(c Config) ([]openFile, error) {
	for attempt := 0; ; attempt++ {
		files, paths, err := openFiles(c)
		if err != nil || attempt == maxOpenAttempts-1 || unmoved(files, paths) {
			return files, err
		}
		for _, f := range files {
			f.f.Close()
		}
	}
}

// maxOpenAttempts bounds openForRead's retries; a journal rotating faster
// than that is read as the last attempt found it.
const maxOpenAttempts = 10

// unmoved reports whether every path still names the file opened under it.
func unmoved(files []openFile, paths []string) bool {
	for i, f := range files {
		opened, err := f.f.Stat()
		if err != nil {
			return false
		}
		now, err := os.Stat(paths[i])
		if err != nil || !os.SameFile(opened, now) {
			return false
		}
	}
	return true
}

// openFiles opens what openForRead reads once, with the path each file
// was opened under.
func openFiles(c Config) ([]openFile, []string, error) {
	var files []openFile
	var paths []string
	var infos []fs.FileInfo
	for i := 0; i <= c.MaxBackups; i++ {
		path := c.path()
		if i > 0 {
			path = c.backupPath(i)
		}
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return files, paths, fmt.Errorf("cannot read journal: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return files, paths, fmt.Errorf("cannot read journal: %w", err)
		}
		if !st.Mode().IsRegular() || slices.ContainsFunc(infos, func(fi fs.FileInfo) bool { return os.SameFile(fi, st) }) {
			f.Close()
			continue
		}
		infos = append(infos, st)
		files = append(files, openFile{f: f, size: st.Size()})
		paths = append(paths, path)
	}
	return files, paths, nil
}

type verdict int

const (
	skip verdict = iota
	keep
	stop
)

// matcher applies a Query to raw lines, rejecting most non-matching lines
// without decoding them: a full decode costs far more than a byte search.
type matcher struct {
	q          Query
	stopBefore time.Time // records older than this end the Read
}

func newMatcher(q Query) *matcher {
	m := &matcher{q: q}
	if !q.Since.IsZero() {
		m.stopBefore = q.Since.Add(-sinceSlack)
	}
	return m
}

func (m *matcher) match(line []byte, st *readStats) (Record, verdict) {
	h := lineHead(line)
	// A line too old to match is skipped undecoded, except past the
	// slack, where the full decode below confirms the record before it
	// ends the Read: a corrupt line must not cut a query short.
	if !m.q.Since.IsZero() && h.timeOK && h.time.Before(m.q.Since) && !h.time.Before(m.stopBefore) {
		return Record{}, skip
	}
	if m.q.Host != "" && h.hostOK && string(h.host) != m.q.Host {
		return Record{}, skip
	}
	st.decoded++
	var r Record
	if err := r.UnmarshalJSON(line); err != nil {
		return Record{}, skip
	}
	if m.q.Host != "" && r.Host != m.q.Host {
		return Record{}, skip
	}
	if !m.q.Since.IsZero() {
		if r.Time.Before(m.stopBefore) {
			return Record{}, stop
		}
		if r.Time.Before(m.q.Since) {
			return Record{}, skip
		}
	}
	return r, keep
}

// head is what lineHead finds at the start of a line.
type head struct {
	time   time.Time
	timeOK bool
	host   []byte // the host's bytes, when hostOK
	hostOK bool
}

// lineHead reads the time and host of a line in the writer's own layout,
// {"time":<number>,"host":"<host>",... without decoding the rest, which
// is what lets a filtered Read pass over non-matching lines at the speed
// of a byte search. Whatever it cannot vouch for is left not OK and the
// caller decodes the line in full: another layout, or a host spelled
// with escapes or invalid UTF-8 (whose decoded form differs from its
// bytes). A line that repeats a key is judged by the first one, where a
// full decode would take the last; the writer never repeats keys.
func lineHead(line []byte) head {
	var h head
	rest, ok := bytes.CutPrefix(line, []byte(`{"time":`))
	if !ok {
		return h
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return h
	}
	t, err := parseUnixTime(rest[:end])
	if err != nil {
		return h
	}
	h.time, h.timeOK = t, true
	rest, ok = bytes.CutPrefix(rest[end:], []byte(`,"host":"`))
	if !ok {
		return h
	}
	end = bytes.IndexByte(rest, '"')
	if end < 0 {
		return h
	}
	host := rest[:end]
	if bytes.IndexByte(host, '\\') >= 0 || !utf8.Valid(host) {
		return h
	}
	h.host, h.hostOK = host, true
	return h
}

// backScanner yields a file's lines from last to first, reading it
// backwards in chunks. Empty lines and lines longer than maxLine are
// skipped.
type backScanner struct {
	r       io.ReaderAt
	off     int64  // bytes [0, off) of the file are not read yet
	buf     []byte // buf[lo:hi] holds file bytes [off, off+hi-lo) not yet returned
	lo, hi  int
	chunk   int
	maxLine int
	skipEnd bool // dropping the rest of an overlong line
	stats   *readStats
}

// reset points s at a file of the given size, keeping its buffer.
func (s *backScanner) reset(r io.ReaderAt, size int64, o readOptions) {
	s.r, s.off = r, size
	s.lo, s.hi = len(s.buf), len(s.buf)
	s.chunk, s.maxLine, s.stats = o.chunk, o.maxLine, o.stats
	s.skipEnd = false
}

// prev returns the line before the ones already returned, without its
// '\n'. The slice is valid until the next call. ok is false at the start
// of the file.
func (s *backScanner) prev() (line []byte, ok bool, err error) {
	for {
		data := s.buf[s.lo:s.hi]
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			line = data[i+1:]
			s.hi = s.lo + i
			if s.skipEnd {
				// This was the start of the overlong line.
				s.skipEnd = false
				continue
			}
			if len(line) == 0 || len(line) > s.maxLine {
				continue
			}
			return line, true, nil
		}
		// No newline in data: it is the end of a line that starts
		// earlier in the file, or at its very start.
		if len(data) > s.maxLine {
			s.skipEnd = true
		}
		if s.skipEnd {
			// Drop what we have so an overlong line never sits in
			// memory whole.
			s.lo, s.hi = len(s.buf), len(s.buf)
			data = nil
		}
		if s.off == 0 {
			s.lo = s.hi
			s.skipEnd = false
			if len(data) == 0 {
				return nil, false, nil
			}
			return data, true, nil
		}
		if err := s.fill(); err != nil {
			return nil, false, err
		}
	}
}

// fill reads the chunk before the buffered data into the buffer.
func (s *backScanner) fill() error {
	n := int(min(int64(s.chunk), s.off))
	if s.lo < n {
		// Not enough room before the data: move it to the end of a
		// buffer with room for at least one more chunk.
		used := s.hi - s.lo
		size := len(s.buf)
		if size < used+n {
			size = max(2*size, used+n)
		}
		nb := s.buf
		if size > len(s.buf) {
			nb = make([]byte, size)
		}
		copy(nb[size-used:], s.buf[s.lo:s.hi])
		s.buf, s.lo, s.hi = nb, size-used, size
	}
	got, err := s.r.ReadAt(s.buf[s.lo-n:s.lo], s.off-int64(n))
	s.stats.bytesRead += int64(got)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			// The file shrank under us (a rotation with no backups
			// truncates it): nothing older is left to read.
			err = nil
		}
		s.off, s.lo, s.hi = 0, len(s.buf), len(s.buf)
		return err
	}
	s.off -= int64(n)
	s.lo -= n
	return nil
}
